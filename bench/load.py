"""Load benchmark: N simulated agents on real mTLS streams against four topologies in one run.

    python bench/load.py [--agents 200] [--events 1000] [--batch 100] [--latency-seconds 10]

For each topology the bench enrols N devices (real Enroll RPCs), then a separate load
generator process holds N streams and
  0. connect: opens every stream and sends one event on each, and waits for their acks (a school's
     agents are connected long before the day's activity; how long N agents take to connect and be
     admitted at once is reported on its own, as "connect s");
  1. throughput: sends every device's pre-built batches (realistic pupil activity) as fast as
     acks come back (4 batches in flight per stream, like the agent), and the bench waits until
     every event is committed: events/s received (acked), committed (stored, detected and
     alerted in the same transaction);
  2. latency: offers a fixed 5,000 events/s, created on the fly, for --latency-seconds; the
     p50/p99 of (alert stored - event created) come from the alerts table.
It samples CPU and peak memory of every process and prints the ratio of each topology to the
ceiling: a bare gRPC server (same mTLS) that only parses each batch and acks it.

Topologies: (a) embedded console, SQLite, one process; (b) two consoles sharing the port
(SO_REUSEPORT) and one SQLite file; (c) PostgreSQL + NATS JetStream, --ingest consoles and
--workers detection workers; (d) the bare ceiling. Needs PostgreSQL at 127.0.0.1:5432 (db test)
and /usr/sbin/nats-server for (c); --only picks topologies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import psutil
import uuid6
from safeguard_proto.v1 import agent_pb2 as pb
from sqlalchemy import create_engine, text

from agent.capture.simulated import SCENARIO
from agent import transport
from agent.identity import enrol
from agent.settings import AgentSettings

POSTGRES = os.environ.get("SAFEGUARD_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NATS_SERVER = "/usr/sbin/nats-server"
STREAM_METHOD = transport.method("Stream")
LATENCY_RATE = 5000
IN_FLIGHT = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- realistic activity ------------------------------------------------------------------
def make_event(step: int, seq: int, user: str, mark: int | None = None) -> pb.Event:
    """The scenario's event at `step`; with a `mark`, typed text ends with that number, so that it differs from
    every other pupil's (the scenario's texts alone repeat across pupils, which detection deduplicates)."""
    kind, fields = SCENARIO[step % len(SCENARIO)]
    event = pb.Event(seq=seq, event_id=str(uuid6.uuid7()), user=user)
    event.time.GetCurrentTime()
    if kind == "text":
        event.typed_text.CopyFrom(
            pb.TypedText(
                text=fields["text"] if mark is None else f"{fields['text']} {mark}",
                deleted_text=fields.get("deleted", ""),
                application=fields["app"],
                window_title=fields["window"],
            )
        )
    elif kind == "window":
        event.window_focus.CopyFrom(pb.WindowFocus(title=fields["title"], process_name=fields["process"]))
    else:
        event.web_visit.CopyFrom(pb.WebVisit(url=fields["url"], title=fields["title"], browser="chrome"))
    return event


@dataclass
class Device:
    index: int
    state_dir: Path
    seq: int = 0
    step: int = 0
    batch_id: int = 0
    distinct_text: bool = False

    def batch(self, size: int) -> bytes:
        events = []
        for _ in range(size):
            self.seq += 1
            self.step += 1
            mark = self.seq * 1000 + self.index if self.distinct_text else None
            events.append(make_event(self.step, self.seq, f"pupil{self.index}", mark))
        self.batch_id += 1
        return pb.AgentMessage(batch=pb.EventBatch(batch_id=self.batch_id, events=events)).SerializeToString()


# --- the load generator process ----------------------------------------------------------
async def _stream(device: Device, target: str, outbox: asyncio.Queue, acked: list[int]) -> None:
    key = (device.state_dir / "device.key").read_bytes()
    cert = (device.state_dir / "device.pem").read_bytes()
    ca = (device.state_dir / "ca.pem").read_bytes()
    credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    async with grpc.aio.secure_channel(target, credentials) as channel:
        call = channel.stream_stream(STREAM_METHOD, response_deserializer=pb.ConsoleMessage.FromString)()
        hello = pb.AgentMessage(hello=pb.Hello(agent_version="bench", boot_id=str(uuid.uuid4())))
        await call.write(hello.SerializeToString())
        space = asyncio.Semaphore(IN_FLIGHT)
        sizes: dict[int, int] = {}

        async def read() -> None:
            async for message in call:
                if message.WhichOneof("body") == "ack":
                    acked[0] += sizes.pop(message.ack.batch_id)
                    space.release()

        reader = asyncio.create_task(read())
        while (item := await outbox.get()) is not None:
            batch_id, size, payload = item
            await space.acquire()
            sizes[batch_id] = size
            await call.write(payload)
        for _ in range(IN_FLIGHT):
            await space.acquire()
        await call.done_writing()
        await reader


async def generate(
    targets: str, state_dirs: list[str], events: int, batch: int, latency_seconds: float, distinct_text: bool
) -> None:
    devices = [Device(i, Path(d), distinct_text=distinct_text) for i, d in enumerate(state_dirs)]
    ports = targets.split(",")
    outboxes = [asyncio.Queue() for _ in devices]
    acked = [0]
    tasks = [
        asyncio.create_task(_stream(d, f"localhost:{ports[i % len(ports)]}", outboxes[i], acked))
        for i, d in enumerate(devices)
    ]
    # Phase 0: every agent connects and has one event stored.
    started = time.perf_counter()
    for outbox, device in zip(outboxes, devices):
        outbox.put_nowait((device.batch_id + 1, 1, device.batch(1)))
    while acked[0] < len(devices):
        await asyncio.sleep(0.01)
    print(json.dumps({"phase": "connect", "agents": len(devices), "seconds": time.perf_counter() - started}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    acked[0] = 0
    # Phase 1: pre-built batches (building them is not part of what is measured).
    per_device = [[(d.batch_id + 1, batch, d.batch(batch)) for _ in range(events // batch)] for d in devices]
    total = sum(len(b) * batch for b in per_device)
    started = time.perf_counter()
    for outbox, batches in zip(outboxes, per_device):
        for item in batches:
            outbox.put_nowait(item)
    while acked[0] < total:
        await asyncio.sleep(0.01)
    print(json.dumps({"phase": "throughput", "events": total, "seconds": time.perf_counter() - started}), flush=True)
    command = await asyncio.to_thread(sys.stdin.readline)
    if command.strip() == "latency":
        # Phase 2: a fixed offered load, events created when sent.
        tick = 0.2
        per_tick = LATENCY_RATE * tick / len(devices)
        carry = [random.random() for _ in devices]
        begin = time.perf_counter()
        sent = 0
        while time.perf_counter() - begin < latency_seconds:
            for i, device in enumerate(devices):
                carry[i] += per_tick
                size = int(carry[i])
                if size:
                    carry[i] -= size
                    outboxes[i].put_nowait((device.batch_id + 1, size, device.batch(size)))
                    sent += size
            await asyncio.sleep(max(0.0, begin + tick * (1 + round((time.perf_counter() - begin) / tick)) - time.perf_counter()))
        while acked[0] < total + sent:
            await asyncio.sleep(0.01)
        print(json.dumps({"phase": "latency", "events": sent, "seconds": time.perf_counter() - begin}), flush=True)
    for outbox in outboxes:
        outbox.put_nowait(None)
    await asyncio.gather(*tasks)


# --- the ceiling: parse and ack, nothing else --------------------------------------------
async def bare(port: int, pki: str) -> None:
    from console.identity.ca import CertificateAuthority

    ca = CertificateAuthority.load_or_create(Path(pki))
    key_pem, cert_pem = ca.server_credentials(Path(pki), ["localhost", "127.0.0.1"])

    async def stream(requests, context):
        async for message in requests:
            if message.WhichOneof("body") == "batch":
                events = message.batch.events
                yield pb.ConsoleMessage(ack=pb.Ack(batch_id=message.batch.batch_id, acked_through_seq=events[-1].seq))

    handler = grpc.method_handlers_generic_handler(
        "safeguard.v1.AgentService",
        {
            "Stream": grpc.stream_stream_rpc_method_handler(
                stream,
                request_deserializer=pb.AgentMessage.FromString,
                response_serializer=pb.ConsoleMessage.SerializeToString,
            )
        },
    )
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 8 * 1024 * 1024)])
    server.add_generic_rpc_handlers((handler,))
    credentials = grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=ca.certificate_pem, require_client_auth=True)
    server.add_secure_port(f"127.0.0.1:{port}", credentials)
    await server.start()
    await server.wait_for_termination()


# --- orchestration -----------------------------------------------------------------------
@dataclass
class Sampler:
    """CPU seconds and peak RSS of a set of processes over a phase."""

    processes: dict[str, psutil.Process]
    peak_rss: dict[str, int] = field(default_factory=dict)
    _cpu: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Sampler:
        self._cpu = {name: self._cpu_of(p) for name, p in self.processes.items()}
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _cpu_of(process: psutil.Process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            for name, process in self.processes.items():
                try:
                    self.peak_rss[name] = max(self.peak_rss.get(name, 0), process.memory_info().rss)
                except psutil.NoSuchProcess:
                    pass

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        wall = time.perf_counter() - self._started
        self.cpu_percent = {name: 100 * (self._cpu_of(p) - self._cpu[name]) / wall for name, p in self.processes.items()}


@dataclass
class Result:
    name: str
    received: float = 0.0
    committed: float | None = None
    alerts: int = 0
    p50: float | None = None
    p99: float | None = None
    latency_rate: float | None = None
    connect_seconds: float = 0.0
    usage: dict[str, str] = field(default_factory=dict)


class Run:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.root = root
        self.children: list[subprocess.Popen] = []

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")
        process = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=log, stderr=log, **kwargs)
        self.children.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.children.clear()

    # consoles and workers
    def console_env(self, data_dir: Path, database_url: str, grpc_port: int, enrol_port: int, **extra: str) -> dict[str, str]:
        return {
            "SAFEGUARD_DATA_DIR": str(data_dir),
            "SAFEGUARD_DATABASE_URL": database_url,
            "SAFEGUARD_GRPC_HOST": "127.0.0.1",
            "SAFEGUARD_GRPC_PORT": str(grpc_port),
            "SAFEGUARD_ENROL_PORT": str(enrol_port),
            "SAFEGUARD_LOG_FORMAT": "json",
            **{f"SAFEGUARD_{k.upper()}": v for k, v in extra.items()},
        }

    def start_consoles(self, name: str, count: int, database_url: str, **extra: str) -> tuple[int, int, dict[str, psutil.Process]]:
        data_dir = self.root / "pki-home"
        grpc_port, enrol_port = free_port(), free_port()
        processes = {}
        for i in range(count):
            web_port = free_port()
            env = self.console_env(data_dir, database_url, grpc_port, enrol_port, web_port=str(web_port),
                                   grpc_reuse_port="1" if count > 1 else "0", **extra)
            process = self.spawn(f"{name}-console{i}", [sys.executable, "-m", "console", "serve"], env)
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    raise SystemExit(f"{name} console {i} exited; see {self.root}/{name}-console{i}.log")
                try:
                    if httpx.get(f"http://127.0.0.1:{web_port}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} console {i} did not become ready")
                time.sleep(0.3)
            processes[f"console{i}"] = psutil.Process(process.pid)
        return grpc_port, enrol_port, processes

    def enrol_devices(self, name: str, database_url: str, enrol_port: int) -> list[Path]:
        from console.schools import service as schools
        from console.schools.models import Phase
        from console.store import make_engine, make_sessionmaker, transaction

        engine = make_engine(database_url)
        with transaction(make_sessionmaker(engine)) as session:
            school = schools.create(session=session, name=f"Bench {name}", phase=Phase.secondary)
            token = schools.create_enrolment_token(session=session, school=school, days=1, max_uses=self.args.agents)
        engine.dispose()
        ca_file = self.root / "pki-home" / "pki" / "ca.pem"
        dirs = [self.root / name / f"device{i}" for i in range(self.args.agents)]

        def one(state_dir: Path) -> None:
            enrol(AgentSettings(state_dir=state_dir, ca_file=ca_file, enrolment_token=token, enrol_port=enrol_port))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, dirs))
        return dirs

    def measure(self, name: str, ports: list[int], dirs: list[Path], processes: dict[str, psutil.Process],
                database_url: str | None) -> Result:
        args = self.args
        engine = create_engine(database_url) if database_url else None
        stored = self._count(engine, "events")  # before any agent connects
        generator = subprocess.Popen(
            [sys.executable, __file__, "_generate", ",".join(map(str, ports)), str(args.events), str(args.batch),
             str(args.latency_seconds), "distinct" if args.distinct_text else "verbatim", *map(str, dirs)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.root / f"{name}-generator.log", "ab"), text=True,
        )
        watched = {**processes, "load generator": psutil.Process(generator.pid)}
        result = Result(name)
        line = generator.stdout.readline()
        if not line:
            raise SystemExit(f"the load generator failed; see {self.root}/{name}-generator.log")
        phase = json.loads(line)
        result.connect_seconds = phase["seconds"]
        # Acked is stored for (a) and (b), only published for (c): each phase is counted from the events stored.
        stored += phase["agents"]  # one event each
        if engine is not None:
            self._wait_stored(engine, stored)
        generator.stdin.write("go\n")
        generator.stdin.flush()
        with Sampler(watched) as sampler:
            line = generator.stdout.readline()
            if not line:
                raise SystemExit(f"the load generator failed; see {self.root}/{name}-generator.log")
            phase = json.loads(line)
            result.received = phase["events"] / phase["seconds"]
            stored += phase["events"]
            if engine is not None:
                started = time.perf_counter() - phase["seconds"]
                self._wait_stored(engine, stored)
                result.committed = phase["events"] / (time.perf_counter() - started)
        result.usage = {n: f"{sampler.cpu_percent[n]:.0f}% CPU, {sampler.peak_rss.get(n, 0) / 2**20:.0f} MB" for n in watched}
        if engine is not None:
            window_start = time.time()
            generator.stdin.write("latency\n")
            generator.stdin.flush()
            phase = json.loads(generator.stdout.readline())
            result.latency_rate = phase["events"] / phase["seconds"]
            self._wait_stored(engine, stored + phase["events"])  # the slowest alerts come last
            latencies = self._latencies(engine, window_start)
            if latencies:
                result.alerts = len(latencies)
                result.p50 = statistics.median(latencies)
                result.p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]
            engine.dispose()
        else:
            generator.stdin.write("done\n")
            generator.stdin.flush()
        generator.wait(timeout=60)
        return result

    @classmethod
    def _wait_stored(cls, engine, events: int, timeout: float = 300) -> None:
        """Until the database holds `events` events; a pipeline that lost some is reported, not waited for forever."""
        deadline = time.monotonic() + timeout
        while (count := cls._count(engine, "events")) < events:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {count:,} of {events:,} acked events were stored after {timeout:.0f} s")
            time.sleep(0.1)

    @staticmethod
    def _count(engine, table: str) -> int:
        if engine is None:
            return 0
        with engine.connect() as connection:
            return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()

    @staticmethod
    def _latencies(engine, since: float) -> list[float]:
        from datetime import datetime, timezone

        from sqlalchemy.orm import Session

        import console.models  # noqa: F401
        from console.alerts.models import Alert

        with Session(engine) as session:
            rows = session.query(Alert.event_time, Alert.created_at).filter(
                Alert.event_time >= datetime.fromtimestamp(since, timezone.utc)
            )
            return [(created - created_event).total_seconds() for created_event, created in rows]


def postgres_schema() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return schema, f"{POSTGRES}?options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def run(args: argparse.Namespace) -> list[Result]:
    root = Path(tempfile.mkdtemp(prefix="safeguard-bench-"))
    print(f"working directory (logs): {root}", flush=True)
    run = Run(args, root)
    results: list[Result] = []
    try:
        sqlite_dirs: list[Path] = []
        if "a" in args.only or "d" in args.only:
            url = f"sqlite:///{root / 'a.db'}"
            grpc_port, enrol_port, processes = run.start_consoles("a", 1, url)
            sqlite_dirs = run.enrol_devices("a", url, enrol_port)
            if "a" in args.only:
                print("(a) embedded console, SQLite, one process ...", flush=True)
                results.append(run.measure("(a) embedded, 1 process", [grpc_port], sqlite_dirs, processes, url))
            run.stop_all()
        if "d" in args.only:
            print("(d) bare gRPC ceiling ...", flush=True)
            port = free_port()
            process = run.spawn("d-bare", [sys.executable, __file__, "_bare", str(port), str(root / "pki-home" / "pki")])
            time.sleep(3)
            results.insert(0, run.measure("(d) bare gRPC ceiling", [port], sqlite_dirs, {"bare server": psutil.Process(process.pid)}, None))
            run.stop_all()
        if "b" in args.only:
            print("(b) two consoles sharing the port, SQLite ...", flush=True)
            url = f"sqlite:///{root / 'b.db'}"
            grpc_port, enrol_port, processes = run.start_consoles("b", 2, url)
            dirs = run.enrol_devices("b", url, enrol_port)
            results.append(run.measure("(b) 2 consoles, SO_REUSEPORT", [grpc_port], dirs, processes, url))
            run.stop_all()
        if "c" in args.only:
            print(f"(c) PostgreSQL + JetStream, {args.ingest} ingest + {args.workers} workers ...", flush=True)
            schema, url = postgres_schema()
            nats_port = free_port()
            run.spawn("c-nats", [NATS_SERVER, "-a", "127.0.0.1", "-p", str(nats_port), "-js", "-sd", str(root / "nats")])
            time.sleep(1)
            try:
                nats_url = f"nats://127.0.0.1:{nats_port}"
                grpc_port, enrol_port, processes = run.start_consoles("c", args.ingest, url, bus="nats", nats_url=nats_url)
                env = run.console_env(root / "pki-home", url, grpc_port, enrol_port, bus="nats", nats_url=nats_url)
                for i in range(args.workers):
                    worker = run.spawn(f"c-worker{i}", [sys.executable, "-m", "console", "worker"], env)
                    processes[f"worker{i}"] = psutil.Process(worker.pid)
                dirs = run.enrol_devices("c", url, enrol_port)
                results.append(run.measure(f"(c) PostgreSQL+JetStream, {args.ingest}+{args.workers}", [grpc_port], dirs, processes, url))
            finally:
                run.stop_all()
                drop_schema(schema)
    finally:
        run.stop_all()
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return results


def report(results: list[Result], args: argparse.Namespace) -> None:
    ceiling = next((r.received for r in results if r.committed is None), None)
    print(f"\n{args.agents} agents, {args.events} events each in batches of {args.batch}; "
          f"latency at {LATENCY_RATE} events/s offered for {args.latency_seconds:.0f} s; "
          f"typed text {'distinct' if args.distinct_text else 'verbatim'}; {os.cpu_count()} CPUs\n")
    header = (f"{'topology':38} {'connect s':>9} {'received/s':>11} {'committed/s':>12} {'ratio':>6} {'sent/s':>7} "
              f"{'p50 ms':>7} {'p99 ms':>7} {'alerts':>7}")
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = f"{(r.committed or r.received) / ceiling:.2f}" if ceiling else "-"
        p50 = f"{r.p50 * 1000:.0f}" if r.p50 is not None else "-"
        p99 = f"{r.p99 * 1000:.0f}" if r.p99 is not None else "-"
        committed = f"{r.committed:,.0f}" if r.committed is not None else "-"
        sent = f"{r.latency_rate:,.0f}" if r.latency_rate is not None else "-"
        print(f"{r.name:38} {r.connect_seconds:>9.1f} {r.received:>11,.0f} {committed:>12} {ratio:>6} {sent:>7} {p50:>7} "
              f"{p99:>7} {r.alerts:>7}")
    print("\nprocesses during the throughput phase:")
    for r in results:
        print(f"  {r.name}: " + "; ".join(f"{n} {u}" for n, u in r.usage.items()))
    print("\nratio = committed (or, for the ceiling, received) events/s over the ceiling's; "
          "committed means stored, detected and alerted in one transaction; sent/s = the latency phase's events over "
          f"its time until the last was acked (it offers {LATENCY_RATE:,}/s and falls short when the CPUs are saturated).")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_generate":
        targets, events, batch, latency, text, *dirs = sys.argv[2:]
        asyncio.run(generate(targets, dirs, int(events), int(batch), float(latency), text == "distinct"))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_bare":
        asyncio.run(bare(int(sys.argv[2]), sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=200, help="simulated agents, each with its own mTLS stream")
    parser.add_argument("--events", type=int, default=1000, help="events per agent in the throughput phase")
    parser.add_argument("--batch", type=int, default=100, help="events per batch in the throughput phase")
    parser.add_argument("--latency-seconds", type=float, default=10, help="length of the fixed-rate latency phase")
    parser.add_argument("--ingest", type=int, default=2, help="ingest consoles in topology (c)")
    parser.add_argument("--workers", type=int, default=2, help="detection workers in topology (c)")
    parser.add_argument("--only", default="abcd", help="topologies to run, e.g. 'ad'")
    parser.add_argument("--keep", action="store_true", help="keep the working directory and its logs")
    parser.add_argument(
        "--distinct-text", action="store_true",
        help="every pupil's typed text differs (a number appended); by default pupils type the scenario's texts verbatim, "
        "which detection then scans once per set",
    )
    args = parser.parse_args()
    report(run(args), args)


if __name__ == "__main__":
    main()
