"""Bad input on the agent service: each case gets a clear status and nothing stored is lost."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from agent.identity import DeviceIdentity, EnrolmentFailed
from console.devices import service as devices
from console.devices.models import Device
from console.events.models import Event, QuarantinedEvent
from console.identity.ca import CertificateAuthority
from console.schools import service as schools
from console.store import make_engine, make_sessionmaker, transaction
from safeguard_proto.v1 import agent_pb2 as pb
from safeguard_proto.v1 import agent_pb2_grpc as pb_grpc
from support.client import Stream, enrol, text_event
from support.processes import ConsoleProcess, count_rows, prepare_school

MAX_BATCH = 50
MAX_MESSAGE = 256 * 1024


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bad-input")
    database_url = f"sqlite:///{root / 'safeguard.db'}"
    process = ConsoleProcess(
        data_dir=root / "console",
        database_url=database_url,
        extra_env={"SAFEGUARD_MAX_BATCH_EVENTS": str(MAX_BATCH), "SAFEGUARD_MAX_MESSAGE_BYTES": str(MAX_MESSAGE)},
    )
    process.data_dir.mkdir()
    prepare_school(database_url, uses=1)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def device(console: ConsoleProcess, tmp_path: Path) -> DeviceIdentity:
    return enrol(console, prepare_school(console.database_url, uses=1), tmp_path / "device")


def _sessions(console: ConsoleProcess):
    return make_sessionmaker(make_engine(console.database_url))


def _store_one(console: ConsoleProcess, device: DeviceIdentity) -> None:
    stream = Stream(console, device)
    stream.send_batch(1, [text_event(1, "first good event")])
    assert stream.receive().ack.acked_through_seq == 1
    stream.close()


def test_garbage_bytes_on_both_ports_leave_the_console_serving(console: ConsoleProcess, device: DeviceIdentity) -> None:
    for port in (console.grpc_port, console.enrol_port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01garbage that is not TLS nor HTTP/2" * 100)
            sock.settimeout(5)
            try:
                while sock.recv(4096):
                    pass
            except ConnectionResetError:
                pass  # closed on us: the clear answer for bytes that are not a TLS handshake
    _store_one(console, device)


def test_oversized_batch_is_refused_and_nothing_of_it_is_stored(console: ConsoleProcess, device: DeviceIdentity) -> None:
    _store_one(console, device)
    stream = Stream(console, device)
    stream.send_batch(2, [text_event(seq) for seq in range(2, MAX_BATCH + 3)])
    with pytest.raises(grpc.RpcError) as refused:
        stream.receive()
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"the limit is {MAX_BATCH}" in refused.value.details()
    stream.close()
    device_id = device.device_id
    assert count_rows(console.database_url, Event, Event.device_id == device_id) == 1


def test_message_over_the_size_limit_is_refused(console: ConsoleProcess, device: DeviceIdentity) -> None:
    stream = Stream(console, device)
    stream.send_batch(1, [text_event(1, "x" * (MAX_MESSAGE + 1))])
    with pytest.raises(grpc.RpcError) as refused:
        stream.receive()
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    stream.close()


def test_events_with_missing_or_bad_fields_are_quarantined_not_lost(console: ConsoleProcess, device: DeviceIdentity) -> None:
    good = text_event(1, "a good one")
    no_id = text_event(2)
    no_id.event_id = ""
    no_time = text_event(3)
    no_time.ClearField("time")
    no_kind = text_event(4)
    no_kind.ClearField("typed_text")
    future = text_event(5, time=datetime.now(timezone.utc) + timedelta(days=2))
    stream = Stream(console, device)
    stream.send_batch(1, [good, no_id, no_time, no_kind, future])
    ack = stream.receive().ack
    stream.close()
    assert ack.acked_through_seq == 5
    reasons = {rejected.seq: rejected.reason for rejected in ack.rejected}
    assert set(reasons) == {2, 3, 4, 5}
    assert "not a UUID" in reasons[2]
    assert reasons[3] == "missing time"
    assert reasons[4] == "missing event kind"
    assert "in the future" in reasons[5]
    assert count_rows(console.database_url, Event, Event.device_id == device.device_id) == 1
    assert count_rows(console.database_url, QuarantinedEvent, QuarantinedEvent.device_id == device.device_id) == 4


def test_seqs_that_go_backwards_refuse_the_batch(console: ConsoleProcess, device: DeviceIdentity) -> None:
    stream = Stream(console, device)
    stream.send_batch(1, [text_event(5), text_event(4)])
    with pytest.raises(grpc.RpcError) as refused:
        stream.receive()
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "seqs must be positive and increasing" in refused.value.details()


def test_a_resent_batch_is_acked_and_stored_once(console: ConsoleProcess, device: DeviceIdentity) -> None:
    events = [text_event(seq) for seq in (1, 2, 3)]
    stream = Stream(console, device)
    stream.send_batch(1, events)
    assert stream.receive().ack.acked_through_seq == 3
    stream.send_batch(2, events)
    assert stream.receive().ack.acked_through_seq == 3
    stream.close()
    assert count_rows(console.database_url, Event, Event.device_id == device.device_id) == 3


def test_stream_must_start_with_hello(console: ConsoleProcess, device: DeviceIdentity) -> None:
    stream = Stream(console, device, hello=False)
    stream.send_batch(1, [text_event(1)])
    with pytest.raises(grpc.RpcError) as refused:
        stream.receive()
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_revoked_device_is_refused_and_its_events_kept(console: ConsoleProcess, device: DeviceIdentity) -> None:
    _store_one(console, device)
    with transaction(_sessions(console)) as session:
        devices.revoke(session=session, device_id=device.device_id, reason="laptop reported stolen")
    stream = Stream(console, device)
    with pytest.raises(grpc.RpcError) as refused:
        stream.receive()
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "revoked" in refused.value.details() and "laptop reported stolen" in refused.value.details()
    assert count_rows(console.database_url, Event, Event.device_id == device.device_id) == 1


def test_a_second_live_stream_with_the_same_certificate_is_reported_as_a_clone(
    console: ConsoleProcess, device: DeviceIdentity
) -> None:
    first = Stream(console, device, boot_id="boot-a")
    first.send_batch(1, [text_event(1)])
    first.receive()
    clone = Stream(console, device, boot_id="boot-b")
    with pytest.raises(grpc.RpcError) as refused:
        clone.receive()
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "cloned machine" in refused.value.details()
    first.send_batch(2, [text_event(2)])
    assert first.receive().ack.acked_through_seq == 2
    first.close()
    with _sessions(console)() as session:
        assert session.get(Device, device.device_id).clone_suspected_at is not None


@pytest.mark.parametrize("problem", ["expired", "reused", "revoked", "unknown"])
def test_bad_enrolment_tokens_are_refused_with_the_reason(console: ConsoleProcess, tmp_path: Path, problem: str) -> None:
    token = prepare_school(console.database_url, uses=1, days=-1 if problem == "expired" else 1)
    if problem == "reused":
        enrol(console, token, tmp_path / "first")
    if problem == "revoked":
        with transaction(_sessions(console)) as session:
            schools.revoke_enrolment_token(session=session, token=token)
    if problem == "unknown":
        token = "sgt_not-a-token"
    with pytest.raises(EnrolmentFailed) as refused:
        enrol(console, token, tmp_path / "second")
    expected = {"expired": "expired", "reused": "already used", "revoked": "revoked", "unknown": "unknown"}[problem]
    assert "PERMISSION_DENIED" in str(refused.value) and expected in str(refused.value)


def test_a_malformed_csr_is_refused(console: ConsoleProcess) -> None:
    token = prepare_school(console.database_url, uses=1)
    credentials = grpc.ssl_channel_credentials(root_certificates=console.ca_file.read_bytes())
    with grpc.secure_channel(f"localhost:{console.enrol_port}", credentials) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            pb_grpc.AgentServiceStub(channel).Enroll(pb.EnrollRequest(enrolment_token=token, csr_pem=b"not a csr"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a PEM certificate signing request" in refused.value.details()


def test_a_certificate_from_another_ca_cannot_stream(console: ConsoleProcess, device: DeviceIdentity, tmp_path: Path) -> None:
    other_ca = CertificateAuthority.load_or_create(tmp_path / "other-ca", name="Someone else's CA")
    key = serialization.load_pem_private_key(device.key_path.read_bytes(), password=None)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    forged = other_ca.sign_device(csr.public_bytes(serialization.Encoding.PEM), school_id=1, days=1)
    forged_path = tmp_path / "forged.pem"
    forged_path.write_bytes(forged.certificate_pem)
    impostor = DeviceIdentity(
        device_id=device.device_id, key_path=device.key_path, certificate_path=forged_path, ca_path=device.ca_path
    )
    stream = Stream(console, impostor)
    with pytest.raises(grpc.RpcError) as refused:
        stream.receive()
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    _store_one(console, device)


def test_the_stream_port_requires_a_certificate_and_the_enrol_port_has_no_stream(console: ConsoleProcess) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=console.ca_file.read_bytes())
    hello = pb.AgentMessage(hello=pb.Hello(boot_id="x"))
    with grpc.secure_channel(f"localhost:{console.grpc_port}", credentials) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            list(pb_grpc.AgentServiceStub(channel).Stream(iter([hello]), timeout=10))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # TLS handshake: no client certificate
    with grpc.secure_channel(f"localhost:{console.enrol_port}", credentials) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            list(pb_grpc.AgentServiceStub(channel).Stream(iter([hello]), timeout=10))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "enrol first" in refused.value.details()
