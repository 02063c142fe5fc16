"""How the agent reaches the console: gRPC with grpclib (pure Python, HTTP/2 over asyncio) over TLS.

grpclib rather than grpcio: grpcio's C core costs the agent some 15 MB of memory more, which a 40 MB agent
cannot spare (the console keeps grpcio; the wire is the same).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from grpclib.client import Channel
from grpclib.config import Configuration
from grpclib.exceptions import GRPCError, StreamTerminatedError

from safeguard_proto.v1 import agent_pb2 as pb

# HTTP/2 pings every 30 s, the connection dropped after 10 s without an answer. grpclib marks its keepalive
# options experimental (hence the underscores); its default floor between pings is 300 s, so it is set to
# the console's own (console/ingest/server.py accepts pings 10 s apart at the closest).
KEEPALIVE = Configuration(
    _keepalive_time=30.0, _keepalive_timeout=10.0, _http2_min_sent_ping_interval_without_data=10.0
)

_SERVICE = pb.DESCRIPTOR.services_by_name["AgentService"].full_name

# What ends a call: a status from the console, or a connection that failed, timed out or was lost.
CALL_FAILURES = (GRPCError, StreamTerminatedError, OSError)


def method(name: str) -> str:
    """The gRPC path of an AgentService method, as the proto names it."""
    return f"/{_SERVICE}/{name}"


def tls_context(ca: Path, *, certificate: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """The console CA as the only root, the console's name checked against its certificate, HTTP/2; with the
    device's certificate and key when given (the stream port requires them)."""
    context = ssl.create_default_context(cafile=ca)
    # The console CA's certificates carry no key identifiers, which VERIFY_X509_STRICT (Python 3.13's default)
    # refuses; grpcio never asked for them.
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    if certificate is not None:
        context.load_cert_chain(certificate, key)
    context.set_alpn_protocols(["h2"])
    return context


def channel(host: str, port: int, context: ssl.SSLContext) -> Channel:
    # An IPv6 literal is written in brackets for grpcio ("[::1]"); the socket and TLS APIs take it bare.
    return Channel(host.strip("[]"), port, ssl=context, config=KEEPALIVE)


def describe(error: BaseException) -> str:
    """A failed call as grpcio put it, "STATUS: details"; a connection failed or lost is UNAVAILABLE."""
    if isinstance(error, GRPCError):
        return f"{error.status.name}: {error.message}"
    if isinstance(error, TimeoutError):
        return "DEADLINE_EXCEEDED: the console did not answer in time"
    return f"UNAVAILABLE: {error}"
