"""The agent's spool: durable, ordered, deletes only acked events, bounded by dropping low-value events."""

from __future__ import annotations

from pathlib import Path

from agent.spool import Spool
from safeguard_proto.v1 import agent_pb2 as pb


def _text(text: str = "typed") -> pb.Event:
    return pb.Event(event_id="e", typed_text=pb.TypedText(text=text))


def _window() -> pb.Event:
    return pb.Event(event_id="e", window_focus=pb.WindowFocus(title="t" * 200))


def _shot(trigger_seq: int) -> pb.Event:
    return pb.Event(event_id="e", screenshot=pb.Screenshot(image=b"\xff" * 400, format="jpeg", trigger_seq=trigger_seq))


def test_seqs_are_increasing_and_survive_reopening(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=10**6, max_age_seconds=3600)
    assert [spool.put(_text()) for _ in range(3)] == [1, 2, 3]
    spool.ack(3)
    spool.close()
    reopened = Spool(tmp_path / "spool.db", max_bytes=10**6, max_age_seconds=3600)
    assert reopened.put(_text()) == 4, "a seq is never reused, even after the spool was emptied"


def test_only_acked_events_are_deleted(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=10**6, max_age_seconds=3600)
    for index in range(5):
        spool.put(_text(f"t{index}"))
    assert [event.seq for event in spool.pending(0, 10)] == [1, 2, 3, 4, 5]
    assert [event.seq for event in spool.pending(3, 10)] == [4, 5]
    assert spool.ack(3) == 3
    assert [event.typed_text.text for event in spool.pending(0, 10)] == ["t3", "t4"]
    assert spool.stats().depth == 2


def test_full_spool_drops_lowest_value_oldest_first_and_counts_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=2000, max_age_seconds=3600)
    for _ in range(5):
        spool.put(_window())
    spool.put(_text("i want to die"))
    protected = spool.put(_shot(trigger_seq=6))
    for _ in range(10):
        spool.put(_window())
    kept = spool.pending(0, 100)
    kinds = [event.WhichOneof("kind") for event in kept]
    assert "typed_text" in kinds
    assert protected in [event.seq for event in kept]
    stats = spool.stats()
    assert stats.bytes <= 2000
    assert stats.dropped["window_focus"] == 15 - kinds.count("window_focus")
    assert "typed_text" not in stats.dropped


def test_detection_screenshots_are_never_dropped_even_over_the_limit(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=500, max_age_seconds=3600)
    seqs = [spool.put(_shot(trigger_seq=1)) for _ in range(3)]
    assert [event.seq for event in spool.pending(0, 10)] == seqs


def test_events_older_than_the_age_bound_are_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=10**6, max_age_seconds=0)
    spool.put(_text("old"))
    spool.put(_shot(trigger_seq=1))
    remaining = spool.pending(0, 10)
    assert [event.WhichOneof("kind") for event in remaining] == ["screenshot"]
    assert spool.stats().dropped == {"typed_text": 1}
