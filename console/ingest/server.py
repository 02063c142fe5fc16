"""The agents' gRPC service: enrolment on a TLS port, the event stream on an mTLS port.

The stream port requires a client certificate signed by the console CA; the device's
identity is the certificate's common name, never a message field.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote

import grpc
from cryptography import x509
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.orm import Session, sessionmaker

from console.devices import service as devices
from console.identity.ca import CertificateAuthority, CertificateRequestError
from console.ingest.bus import Bus
from console.ingest.seen import Seen, SeenRecorder
from console.ingest.service import DeviceBatch
from console.ingest.streams import CloneSuspected, LiveStream, LiveStreams
from console.ingest.validate import BatchRefused, Limits, check_batch
from console.policies import service as policies
from console.schools.models import School
from console.schools.service import EnrolmentRefused
from console.settings import Settings
from console.store import transaction, utcnow
from safeguard_proto.v1 import agent_pb2 as pb
from safeguard_proto.v1 import agent_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["AgentService"].full_name
_READ_AHEAD = 16  # batches of a stream read ahead while its previous ones are being stored


def limits_from(settings: Settings) -> Limits:
    return Limits(
        max_batch_events=settings.max_batch_events,
        max_text_chars=settings.max_text_chars,
        max_future_skew=timedelta(seconds=settings.max_future_skew_seconds),
        max_age=timedelta(days=settings.max_event_age_days),
    )


@dataclass(frozen=True)
class _Admitted:
    device_id: str
    school_id: int
    phase: str
    policy: pb.Policy  # the school's, when the stream was admitted


class AgentService(pb_grpc.AgentServiceServicer):
    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        ca: CertificateAuthority,
        bus: Bus,
        streams: LiveStreams,
        seen: SeenRecorder,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._ca = ca
        self._bus = bus
        self._streams = streams
        self._seen = seen
        self._limits = limits_from(settings)

    # --- enrolment -------------------------------------------------------
    async def Enroll(self, request: pb.EnrollRequest, context: grpc.aio.ServicerContext) -> pb.EnrollResponse:
        if not request.enrolment_token or not request.csr_pem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "enrolment_token and csr_pem are required")
        try:
            issued, policy = await asyncio.to_thread(self._enrol, request)
        except EnrolmentRefused as error:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"enrolment refused: {error}")
        except CertificateRequestError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        log.info("enrolled device %s (%s)", issued.device_id, request.hostname)
        return pb.EnrollResponse(
            device_id=issued.device_id,
            certificate_pem=issued.certificate_pem,
            ca_certificate_pem=self._ca.certificate_pem,
            policy=policy,
        )

    def _enrol(self, request: pb.EnrollRequest):
        with transaction(self._sessions) as session:
            issued = devices.enrol(
                session=session,
                ca=self._ca,
                token=request.enrolment_token,
                csr_pem=request.csr_pem,
                hostname=request.hostname,
                os=request.os,
                agent_version=request.agent_version,
                certificate_days=self._settings.device_certificate_days,
            )
            school_id = devices.get(session=session, device_id=issued.device_id).school_id
            return issued, policies.get(session=session, school_id=school_id)

    # --- stream ----------------------------------------------------------
    async def Stream(
        self, request_iterator: AsyncIterator[pb.AgentMessage], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ConsoleMessage]:
        admitted = await self._admit(context)
        try:
            first = await anext(aiter(request_iterator))
        except StopAsyncIteration:
            return
        if first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the first message of a stream must be hello")
        stream = LiveStream(
            device_id=admitted.device_id,
            school_id=admitted.school_id,
            boot_id=first.hello.boot_id,
            peer=context.peer(),
        )
        try:
            self._streams.open(stream)
        except CloneSuspected as error:
            await asyncio.to_thread(self._mark_clone, admitted.device_id)
            log.warning("%s", error)
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(error))
        reader = asyncio.create_task(self._read(admitted, request_iterator, stream))
        reader.add_done_callback(lambda _: stream.wake())
        loop = asyncio.get_running_loop()
        interval = self._settings.stream_recheck_seconds
        try:
            policy_version = first.hello.policy_version
            if admitted.policy.version != policy_version:
                policy_version = admitted.policy.version
                yield pb.ConsoleMessage(policy=admitted.policy)
            next_check = loop.time() + interval
            while True:
                if loop.time() >= next_check:
                    # Revocation and policy changes made by another process (CLI, another console) reach here.
                    refusal, policy = await asyncio.to_thread(self._recheck, admitted.device_id, admitted.school_id)
                    if refusal is not None:
                        await context.abort(grpc.StatusCode.PERMISSION_DENIED, refusal)
                    if policy.version != policy_version:
                        policy_version = policy.version
                        yield pb.ConsoleMessage(policy=policy)
                    next_check = loop.time() + interval
                # One queue wakes this loop for everything (acks, pushes, the reader's end, being superseded):
                # no task per message.
                try:
                    async with asyncio.timeout(max(0.0, next_check - loop.time())):
                        message = await stream.outgoing.get()
                except TimeoutError:
                    continue
                if message is not None:
                    if message.WhichOneof("body") == "policy":
                        policy_version = message.policy.version
                    yield message
                    continue
                if stream.superseded.is_set():
                    await context.abort(grpc.StatusCode.ABORTED, "superseded by a newer stream or disconnected")
                if reader.done():
                    while not stream.outgoing.empty():
                        if (message := stream.outgoing.get_nowait()) is not None:
                            yield message
                    error = reader.exception()
                    if isinstance(error, BatchRefused):
                        await context.abort(error.code, str(error))
                    if error is not None:
                        log.error("stream of %s failed: %r", admitted.device_id, error)
                        await context.abort(grpc.StatusCode.UNAVAILABLE, f"storage unavailable, resend later: {error}")
                    return
        finally:
            reader.cancel()
            self._streams.close(stream)

    async def _read(
        self, admitted: _Admitted, request_iterator: AsyncIterator[pb.AgentMessage], stream: LiveStream
    ) -> None:
        """Store the stream's batches in order and ack each. While one publish is in hand the agent's next
        batches (it keeps a few in flight) are read ahead; they are then published together, as one batch of
        consecutive events, so that each commit takes all of a stream's waiting events and a stream never has
        two publishes in the bus at once (a later batch can never be stored over an earlier one that failed)."""
        waiting: asyncio.Queue[pb.EventBatch | Exception | None] = asyncio.Queue(maxsize=_READ_AHEAD)
        receiver = asyncio.create_task(self._receive(admitted, request_iterator, waiting))
        try:
            while True:
                items = [await waiting.get()]
                while isinstance(items[-1], pb.EventBatch) and not waiting.empty():
                    items.append(waiting.get_nowait())
                batches = [item for item in items if isinstance(item, pb.EventBatch)]
                if batches:
                    await self._publish(admitted, batches, stream)
                if items[-1] is None:
                    return
                if isinstance(items[-1], Exception):
                    raise items[-1]
        finally:
            receiver.cancel()

    async def _receive(
        self,
        admitted: _Admitted,
        request_iterator: AsyncIterator[pb.AgentMessage],
        waiting: asyncio.Queue[pb.EventBatch | Exception | None],
    ) -> None:
        """The stream's messages: batches (checked) into `waiting`, then None at its end or the error that ended it."""
        try:
            async for message in request_iterator:
                body = message.WhichOneof("body")
                if body == "batch":
                    check_batch(message.batch, self._limits)
                    await waiting.put(message.batch)
                elif body == "command_result":
                    log.info("device %s command %s: ok=%s %s", admitted.device_id, message.command_result.command_id,
                             message.command_result.ok, message.command_result.detail)
                elif body == "hello":
                    raise BatchRefused(grpc.StatusCode.FAILED_PRECONDITION, "hello may only be sent once per stream")
                else:
                    raise BatchRefused(grpc.StatusCode.INVALID_ARGUMENT, "empty message")
        except Exception as error:  # handed over in order: the batches read before it are stored and acked first
            await waiting.put(error)
            return
        await waiting.put(None)

    async def _publish(self, admitted: _Admitted, batches: list[pb.EventBatch], stream: LiveStream) -> None:
        events = batches[0].events if len(batches) == 1 else [event for batch in batches for event in batch.events]
        outcome = await self._bus.publish(
            DeviceBatch(device_id=admitted.device_id, school_id=admitted.school_id, phase=admitted.phase, events=events)
        )
        for index, batch in enumerate(batches):
            first, last = batch.events[0].seq, batch.events[-1].seq
            stream.outgoing.put_nowait(
                pb.ConsoleMessage(
                    ack=pb.Ack(
                        batch_id=batch.batch_id,
                        # everything up to the merged outcome's seq is stored once the whole set is
                        acked_through_seq=outcome.acked_through_seq if index == len(batches) - 1 else last,
                        rejected=[r for r in outcome.rejected if first <= r.seq <= last] if len(batches) > 1 else outcome.rejected,
                    )
                )
            )

    async def _admit(self, context: grpc.aio.ServicerContext) -> _Admitted:
        auth = context.auth_context()
        names = auth.get("x509_common_name") or []
        pems = auth.get("x509_pem_cert") or []
        if not names or not pems:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "no device certificate: enrol first, then stream over mTLS on the stream port",
            )
        device_id = names[0].decode()
        serial = format(x509.load_pem_x509_certificate(pems[0]).serial_number, "x")
        refusal, admitted = await asyncio.to_thread(self._load, device_id, serial)
        if refusal is not None:
            code, message = refusal
            await context.abort(code, message)
        # The address is kept so that web-filter log lines from it map to this device.
        self._seen.note(Seen(device_id=admitted.device_id, address=peer_address(context.peer()), at=utcnow()))
        return admitted

    def _load(self, device_id: str, serial: str):
        with transaction(self._sessions) as session:
            device = devices.get(session=session, device_id=device_id)
            if device is None:
                return (grpc.StatusCode.UNAUTHENTICATED, f"unknown device {device_id}"), None
            if device.revoked_at is not None:
                return (
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"device {device_id} was revoked at {device.revoked_at.isoformat()}: {device.revoked_reason}",
                ), None
            if device.certificate_serial != serial:
                return (grpc.StatusCode.PERMISSION_DENIED, f"certificate {serial} of device {device_id} was replaced"), None
            school = session.get_one(School, device.school_id)
            policy = policies.get(session=session, school_id=school.id)
            return None, _Admitted(device_id=device.id, school_id=school.id, phase=str(school.phase), policy=policy)

    def _recheck(self, device_id: str, school_id: int) -> tuple[str | None, pb.Policy]:
        with transaction(self._sessions) as session:
            device = devices.get(session=session, device_id=device_id)
            refusal = None
            if device is None or device.revoked_at is not None:
                refusal = f"device {device_id} was revoked"
            return refusal, policies.get(session=session, school_id=school_id)

    def _mark_clone(self, device_id: str) -> None:
        with transaction(self._sessions) as session:
            device = devices.get(session=session, device_id=device_id)
            if device is not None:
                device.clone_suspected_at = utcnow()


def peer_address(peer: str) -> str | None:
    """The IP address in a gRPC peer string such as ``ipv4:10.1.2.3:5678`` or ``ipv6:%5B::1%5D:5678`` (gRPC
    percent-encodes the brackets); None for anything else (a Unix socket, a string gRPC may change)."""
    family, _, rest = peer.partition(":")
    if family not in ("ipv4", "ipv6"):
        return None
    host = unquote(rest.rpartition(":")[0]).strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def build_server(
    *, settings: Settings, service: AgentService, ca: CertificateAuthority, key_pem: bytes, cert_pem: bytes
) -> tuple[grpc.aio.Server, health.aio.HealthServicer, int, int]:
    """A server with the stream port (mTLS) and the enrolment port (TLS), health and reflection."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 1 if settings.grpc_reuse_port else 0),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
        ]
    )
    pb_grpc.add_AgentServiceServicer_to_server(service, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    mutual = grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=ca.certificate_pem, require_client_auth=True)
    tls_only = grpc.ssl_server_credentials([(key_pem, cert_pem)])
    stream_port = server.add_secure_port(f"{settings.grpc_host}:{settings.grpc_port}", mutual)
    enrol_port = server.add_secure_port(f"{settings.grpc_host}:{settings.enrol_port}", tls_only)
    return server, health_servicer, stream_port, enrol_port
