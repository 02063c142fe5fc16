"""CPU per event of the ingest hot path (`prepare_batches` + `write_prepared`), stage by stage, on SQLite.

The machine running the benchmarks is shared, so wall-clock figures are noisy: this measures
process CPU time (`time.process_time`) and reports medians over several rounds. Each round is
one gathered set like the in-process bus builds: `--devices` devices × `--events` events of the
simulated pupil's scenario (typed text, windows, web visits, some of it concerning), stored and
detected in one transaction and committed.

    python bench/store_bench.py                  # 64 devices x 100 events, 15 rounds
    python bench/store_bench.py --profile 30     # and the 30 most expensive functions (cProfile)

Stages, measured separately on the same sets:
  parse       AgentMessage bytes -> protobuf events (what the gRPC server does; the ceiling's work)
  validate    EventCheck.problem() on every event
  detect      Detector.scan over the set's scan items (rules + classifier)
  store       the whole prepare_batches + write_prepared + commits (includes validate and detect)
  write       write_prepared + commit alone: the part that holds the database's write lock
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from safeguard_proto.v1 import agent_pb2 as pb  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.load import make_event  # noqa: E402
from console.detect import ScanItem  # noqa: E402
from console.detection import build_detector  # noqa: E402
from console.ingest.service import DeviceBatch, prepare_batches, settle_collector, write_prepared  # noqa: E402
from console.ingest.validate import EventCheck, Limits  # noqa: E402
from console.settings import Settings  # noqa: E402
from console.store import make_engine, make_sessionmaker, transaction, utcnow  # noqa: E402
from console.store.migrate import upgrade  # noqa: E402

LIMITS = Limits(max_batch_events=1000, max_text_chars=10_000, max_future_skew=timedelta(minutes=5), max_age=timedelta(days=30))


def scan_items(batches: list[DeviceBatch]) -> list[ScanItem]:
    items = []
    for batch in batches:
        for event in batch.events:
            kind = event.WhichOneof("kind")
            if kind == "typed_text":
                body = event.typed_text
                items.append(ScanItem(body.text, "text", batch.phase, body.application))
                if body.deleted_text:
                    items.append(ScanItem(body.deleted_text, "text", batch.phase, body.application))
            elif kind == "window_focus":
                items.append(ScanItem(event.window_focus.title, "window", batch.phase, event.window_focus.process_name))
            elif kind == "web_visit":
                body = event.web_visit
                items.append(ScanItem(body.title, "url", batch.phase, body.browser, body.url))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=64)
    parser.add_argument("--events", type=int, default=100, help="events per device per round (one batch)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the N top functions by cumulative time")
    parser.add_argument("--no-classifier", action="store_true")
    parser.add_argument(
        "--default-gc", action="store_true", help="leave the cyclic collector as Python sets it up (no settle_collector)"
    )
    parser.add_argument(
        "--repeat-text", action="store_true",
        help="send the scenario's typed text verbatim, as bench/load.py does (by default each typed text gets a "
        "distinct number appended so that no per-set de-duplication of texts flatters the figures; window "
        "titles and urls repeat as they do in a class)",
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="store-bench-"))
    engine = make_engine(f"sqlite:///{root / 'bench.db'}")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    settings = Settings(classifier_enabled=not args.no_classifier)
    detector = build_detector(settings)
    device_ids = [f"00000000-0000-7000-8000-{i:012d}" for i in range(args.devices)]
    with transaction(sessions) as session:
        # Plain SQL: the models may be ahead of the migrations while others work on the tree.
        school_id = session.execute(
            text("INSERT INTO schools (name, phase, contact_name, contact_email, contact_phone, created_at) "
                 "VALUES ('Bench School', 'secondary', '', '', '', :now) RETURNING id"),
            {"now": utcnow()},
        ).scalar_one()
        session.execute(
            text("INSERT INTO devices (id, school_id, hostname, os, certificate_serial, enrolled_at, revoked_reason, "
                 "agent_version, stored_through_seq, dropped_events, policy_version) "
                 "VALUES (:id, :school, '', '', '0', :now, '', '', 0, 0, 0)"),
            [{"id": d, "school": school_id, "now": utcnow()} for d in device_ids],
        )

    seqs = dict.fromkeys(device_ids, 0)
    if not args.default_gc:
        settle_collector()  # as the buses do once the console has loaded

    def next_set() -> tuple[list[bytes], list[DeviceBatch]]:
        raws, batches = [], []
        for index, device in enumerate(device_ids):
            events = []
            for _ in range(args.events):
                seqs[device] += 1
                mark = None if args.repeat_text else seqs[device] * 1000 + index
                events.append(make_event(seqs[device] + index, seqs[device], f"pupil{index}", mark))
            raw = pb.AgentMessage(batch=pb.EventBatch(batch_id=seqs[device], events=events)).SerializeToString()
            raws.append(raw)
            message = pb.AgentMessage.FromString(raw)
            batches.append(DeviceBatch(device, school_id, "secondary", message.batch.events))
        return raws, batches

    n = args.devices * args.events
    figures: dict[str, list[float]] = {"parse": [], "validate": [], "detect": [], "store": [], "write": []}
    profiler = cProfile.Profile() if args.profile else None
    next_set()  # warm up: the first scan compiles the hyperscan scratch, fills the fold table...
    for round_ in range(args.rounds + 1):
        raws, batches = next_set()
        started = time.process_time()
        for raw in raws:
            pb.AgentMessage.FromString(raw)
        parse = time.process_time() - started
        started = time.process_time()
        check = EventCheck(LIMITS, utcnow())
        for batch in batches:
            for event in batch.events:
                check.problem(event, event.WhichOneof("kind"))
        validate = time.process_time() - started
        items = scan_items(batches)
        started = time.process_time()
        detector.scan(items)
        detect = time.process_time() - started
        if profiler is not None and round_ > 0:
            profiler.enable()
        started = time.process_time()
        with transaction(sessions) as session:
            prepared = prepare_batches(session=session, detector=detector, batches=batches, limits=LIMITS, now=utcnow())
        writing = time.process_time()
        with transaction(sessions) as session:
            outcomes = write_prepared(session=session, prepared=prepared)
        store = time.process_time() - started
        write = time.process_time() - writing
        if profiler is not None:
            profiler.disable()
        assert sum(o.stored for o in outcomes) == n, "every event is stored"
        if round_ == 0:
            continue  # warm-up round
        for name, value in (("parse", parse), ("validate", validate), ("detect", detect), ("store", store), ("write", write)):
            figures[name].append(value / n * 1e6)

    alerts = sum(o.alerts for o in outcomes)
    print(f"{args.devices} devices x {args.events} events per round, {args.rounds} rounds, "
          f"classifier {'off' if args.no_classifier else 'on'}, engine {detector.engine}, "
          f"typed text {'repeated' if args.repeat_text else 'distinct'}; "
          f"{len(items)} scan items and {alerts} alerts in the last round")
    print(f"{'stage':<10} {'CPU µs/event (median)':>22} {'min':>8} {'events/s per core':>18}")
    for name, values in figures.items():
        median = statistics.median(values)
        print(f"{name:<10} {median:>22.1f} {min(values):>8.1f} {1e6 / median:>18,.0f}")
    store = statistics.median(figures["store"])
    parse = statistics.median(figures["parse"])
    print(f"store / parse ceiling: {store / parse:.0f}× the CPU of parsing alone")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.profile)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.profile)
        print(out.getvalue())
    engine.dispose()


if __name__ == "__main__":
    main()
