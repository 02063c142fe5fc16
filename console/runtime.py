"""The console process: migrations, CA, gRPC ingest and the web console in one event loop."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvicorn
from grpc_health.v1 import health_pb2

from console import metrics
from console.detection import build_detector
from console.identity.ca import CertificateAuthority
from console.ingest.bus import Bus, InProcessBus
from console.ingest.nats_bus import NatsBus
from console.ingest.seen import SeenRecorder
from console.ingest.server import AgentService, build_server, limits_from
from console.ingest.streams import LiveStreams
from console.ingest.writelock import ingest_write_lock
from console.scheduler import create_scheduler
from console.settings import Settings
from console.store import make_engine, make_sessionmaker
from console.store.migrate import upgrade
from console.web.app import create_app

log = logging.getLogger(__name__)


class Console:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.resolved_database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.ca = CertificateAuthority.load_or_create(settings.data_dir / "pki")
        self.streams = LiveStreams()
        self.detector = build_detector(settings)
        self.bus: Bus = self._bus()
        self.web = create_app(settings=settings, sessions=self.sessions, streams=self.streams)
        metrics.track_connected_agents(lambda: len(self.streams))

    def _bus(self) -> Bus:
        if self.settings.bus == "nats":
            return NatsBus(url=self.settings.nats_url, limits=limits_from(self.settings))
        return InProcessBus(
            sessions=self.sessions,
            detector=self.detector,
            limits=limits_from(self.settings),
            flush_seconds=self.settings.ingest_flush_ms / 1000,
            max_pending=self.settings.ingest_max_pending_batches,
            max_events=self.settings.ingest_max_set_events,
        )

    async def run(self, *, web: bool = True) -> None:
        """Serve until SIGINT/SIGTERM, then drain: stop taking streams, finish stored batches."""
        await asyncio.to_thread(upgrade, self.engine)
        seen = SeenRecorder(sessions=self.sessions, lock=ingest_write_lock(self.engine))
        key_pem, cert_pem = self.ca.server_credentials(self.settings.data_dir / "pki", self.settings.server_names)
        service = AgentService(
            settings=self.settings, sessions=self.sessions, ca=self.ca, bus=self.bus, streams=self.streams, seen=seen
        )
        server, health, stream_port, enrol_port = build_server(
            settings=self.settings, service=service, ca=self.ca, key_pem=key_pem, cert_pem=cert_pem
        )
        await self.bus.start()
        seen.start()
        scheduler = create_scheduler(sessions=self.sessions, settings=self.settings)
        scheduler.start()
        await server.start()
        await health.set("", health_pb2.HealthCheckResponse.SERVING)
        self.web.state.ready = True
        log.info("agent streams on port %d (mTLS), enrolment on port %d", stream_port, enrol_port)
        web_server = None
        tasks = []
        if web:
            config = uvicorn.Config(
                self.web, host=self.settings.web_host, port=self.settings.web_port, log_level="warning"
            )
            web_server = uvicorn.Server(config)
            web_server.install_signal_handlers = lambda: None
            tasks.append(asyncio.create_task(web_server.serve()))
            log.info("web console on http://%s:%d", self.settings.web_host, self.settings.web_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("shutting down: draining in-flight batches")
        self.web.state.ready = False
        await health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        self.streams.disconnect_all()
        await server.stop(grace=5)
        await self.bus.close()
        await seen.close()
        scheduler.shutdown(wait=False)
        if web_server is not None:
            web_server.should_exit = True
            await asyncio.gather(*tasks)
        self.engine.dispose()
