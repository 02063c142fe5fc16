"""Risk levels 1-5 from a rule's severity at the school's phase, the source, and repetition."""

from __future__ import annotations

# What a pupil typed says most about them; a window title or page they had open says less; a web-filter
# log line says least (only the host is known, and the device may be shared).
SOURCE_OFFSET = {"text": 0, "window": 0, "url": -1, "weblog": -1}
# Prior alerts of the same pupil in the same category that raise the risk by one, and by two.
REPEAT_STEPS = (3, 10)


def clamp(risk: int) -> int:
    return max(1, min(5, risk))


def rule_risk(severity_at_phase: int, source: str) -> int:
    return clamp(severity_at_phase + SOURCE_OFFSET[source])


def adjust_for_repetition(risk: int, prior_alerts: int) -> int:
    """The risk raised by one level from the 3rd prior alert and by two from the 10th (capped at 5)."""
    return clamp(risk + sum(1 for step in REPEAT_STEPS if prior_alerts >= step))
