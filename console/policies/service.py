"""School capture policies: stored as JSON overrides of the defaults, served as `pb.Policy`."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from sqlalchemy.orm import Session

from console.policies.models import SchoolPolicy
from console.store import utcnow
from safeguard_proto.v1 import agent_pb2 as pb

DEFAULTS: dict[str, Any] = {
    "captureText": True,
    "captureWindows": True,
    "captureWeb": True,
    "captureScreenshots": True,
    "excludedApplications": ["keepassxc", "1password", "bitwarden"],
    "prefilterPhrases": ["kill myself", "want to die", "end it all", "self harm", "hurt myself", "suicide"],
    "screenshotMinIntervalSeconds": 30,
    "screenshotMaxWidth": 1280,
    "screenshotQuality": 60,
    "screenshotFormat": "jpeg",
    "byod": False,
    "heartbeatSeconds": 60,
    "textPauseSeconds": 5,
}


class PolicyError(ValueError):
    pass


def to_message(version: int, body: dict[str, Any]) -> pb.Policy:
    policy = pb.Policy()
    try:
        json_format.ParseDict({**DEFAULTS, **body}, policy)
    except json_format.ParseError as error:
        raise PolicyError(f"invalid policy: {error}") from None
    policy.version = version
    return policy


def get(*, session: Session, school_id: int) -> pb.Policy:
    record = session.get(SchoolPolicy, school_id)
    return to_message(record.version, record.body) if record else to_message(1, {})


def update(*, session: Session, school_id: int, changes: dict[str, Any], updated_by: str = "") -> pb.Policy:
    """Merge ``changes`` (proto JSON names, e.g. ``prefilterPhrases``) into the policy; bump its version."""
    record = session.get(SchoolPolicy, school_id)
    if record is None:
        record = SchoolPolicy(school_id=school_id, version=1, body={})
        session.add(record)
    body = {**record.body, **changes}
    policy = to_message(record.version + 1, body)  # validates before anything is changed
    record.body = body
    record.version = policy.version
    record.updated_at = utcnow()
    record.updated_by = updated_by
    session.flush()
    return policy
