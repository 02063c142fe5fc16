"""The device's identity: a key made on the device and a certificate from the console CA."""

from __future__ import annotations

import platform
import socket
from dataclasses import dataclass
from pathlib import Path

from agent.settings import VERSION, AgentSettings
from safeguard_proto.v1 import agent_pb2 as pb


class EnrolmentFailed(Exception):
    pass


@dataclass(frozen=True)
class DeviceIdentity:
    device_id: str
    key_pem: bytes
    certificate_pem: bytes
    ca_pem: bytes


def _paths(state_dir: Path) -> dict[str, Path]:
    return {name: state_dir / name for name in ("device_id", "device.key", "device.pem", "ca.pem")}


def load(state_dir: Path) -> DeviceIdentity | None:
    paths = _paths(state_dir)
    if not all(path.exists() for path in paths.values()):
        return None
    return DeviceIdentity(
        device_id=paths["device_id"].read_text().strip(),
        key_pem=paths["device.key"].read_bytes(),
        certificate_pem=paths["device.pem"].read_bytes(),
        ca_pem=paths["ca.pem"].read_bytes(),
    )


def enrol(settings: AgentSettings, timeout: float = 30.0) -> tuple[DeviceIdentity, pb.Policy]:
    """Exchange the school's enrolment token for a device certificate and keep it in state_dir."""
    # Imported here: enrolment happens once per device, and cryptography costs the agent ~8 MB for good.
    import grpc
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from safeguard_proto.v1 import agent_pb2_grpc as pb_grpc

    if not settings.enrolment_token:
        raise EnrolmentFailed("not enrolled and no enrolment token given (SAFEGUARD_AGENT_ENROLMENT_TOKEN)")
    if settings.ca_file is None or not settings.ca_file.exists():
        raise EnrolmentFailed(f"the console CA certificate is needed to enrol (SAFEGUARD_AGENT_CA_FILE={settings.ca_file})")
    ca_pem = settings.ca_file.read_bytes()
    key = ec.generate_private_key(ec.SECP256R1())
    hostname = socket.gethostname()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .sign(key, hashes.SHA256())
    )
    target = f"{settings.console_host}:{settings.enrol_port}"
    with grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca_pem)) as channel:
        try:
            response = pb_grpc.AgentServiceStub(channel).Enroll(
                pb.EnrollRequest(
                    enrolment_token=settings.enrolment_token,
                    csr_pem=csr.public_bytes(serialization.Encoding.PEM),
                    hostname=hostname,
                    os=f"{platform.system()} {platform.release()}",
                    agent_version=VERSION,
                ),
                timeout=timeout,
            )
        except grpc.RpcError as error:
            raise EnrolmentFailed(f"{error.code().name}: {error.details()}") from None
    identity = DeviceIdentity(
        device_id=response.device_id,
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        certificate_pem=response.certificate_pem,
        ca_pem=response.ca_certificate_pem,
    )
    paths = _paths(settings.state_dir)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    paths["device.key"].write_bytes(identity.key_pem)
    paths["device.key"].chmod(0o600)
    paths["device.pem"].write_bytes(identity.certificate_pem)
    paths["ca.pem"].write_bytes(identity.ca_pem)
    paths["device_id"].write_text(identity.device_id)  # written last: its presence means "enrolled"
    return identity, response.policy
