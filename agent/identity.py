"""The device's identity: a key made on the device and a certificate from the console CA."""

from __future__ import annotations

import asyncio
import platform
import socket
from dataclasses import dataclass
from pathlib import Path

from grpclib.client import UnaryUnaryMethod

from agent import transport
from agent.settings import VERSION, AgentSettings
from safeguard_proto.v1 import agent_pb2 as pb

ENROLL = transport.method("Enroll")


class EnrolmentFailed(Exception):
    pass


@dataclass(frozen=True)
class DeviceIdentity:
    """The enrolled device: its id, and the files TLS loads its key, certificate and the console CA from."""

    device_id: str
    key_path: Path
    certificate_path: Path
    ca_path: Path


def _paths(state_dir: Path) -> dict[str, Path]:
    return {name: state_dir / name for name in ("device_id", "device.key", "device.pem", "ca.pem")}


def load(state_dir: Path) -> DeviceIdentity | None:
    paths = _paths(state_dir)
    if not all(path.exists() for path in paths.values()):
        return None
    return _identity(paths["device_id"].read_text().strip(), paths)


def _identity(device_id: str, paths: dict[str, Path]) -> DeviceIdentity:
    return DeviceIdentity(
        device_id=device_id,
        key_path=paths["device.key"],
        certificate_path=paths["device.pem"],
        ca_path=paths["ca.pem"],
    )


def enrol(settings: AgentSettings, timeout: float = 30.0) -> tuple[DeviceIdentity, pb.Policy]:
    """Exchange the school's enrolment token for a device certificate and keep it in state_dir."""
    # Imported here: enrolment happens once per device, and cryptography costs the agent ~8 MB for good.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    if not settings.enrolment_token:
        raise EnrolmentFailed("not enrolled and no enrolment token given (SAFEGUARD_AGENT_ENROLMENT_TOKEN)")
    if settings.ca_file is None or not settings.ca_file.exists():
        raise EnrolmentFailed(f"the console CA certificate is needed to enrol (SAFEGUARD_AGENT_CA_FILE={settings.ca_file})")
    key = ec.generate_private_key(ec.SECP256R1())
    hostname = socket.gethostname()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .sign(key, hashes.SHA256())
    )
    request = pb.EnrollRequest(
        enrolment_token=settings.enrolment_token,
        csr_pem=csr.public_bytes(serialization.Encoding.PEM),
        hostname=hostname,
        os=f"{platform.system()} {platform.release()}",
        agent_version=VERSION,
    )
    try:
        response = asyncio.run(_enroll(settings, settings.ca_file, request, timeout))
    except transport.CALL_FAILURES as error:
        raise EnrolmentFailed(transport.describe(error)) from None
    paths = _paths(settings.state_dir)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    paths["device.key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    paths["device.key"].chmod(0o600)
    paths["device.pem"].write_bytes(response.certificate_pem)
    paths["ca.pem"].write_bytes(response.ca_certificate_pem)
    paths["device_id"].write_text(response.device_id)  # written last: its presence means "enrolled"
    return _identity(response.device_id, paths), response.policy


async def _enroll(
    settings: AgentSettings, ca_file: Path, request: pb.EnrollRequest, timeout: float
) -> pb.EnrollResponse:
    """The Enroll call, over TLS that checks the console against the CA shipped with the installer."""
    context = transport.tls_context(ca_file)
    async with transport.channel(settings.console_host, settings.enrol_port, context) as channel:
        return await UnaryUnaryMethod(channel, ENROLL, pb.EnrollRequest, pb.EnrollResponse)(
            request, timeout=timeout
        )
