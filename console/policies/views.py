"""A school's capture policy: read it, change it; connected agents receive the change at once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, HTTPException
from google.protobuf import json_format
from sqlalchemy.orm import Session

from console.audit import service as audit
from console.dependencies import get_session, get_streams
from console.ingest.streams import LiveStreams
from console.people.auth import csrf_protect, require_roles, visible_school_ids
from console.people.models import Role, User
from console.policies import service
from console.schools.models import School

api = APIRouter(prefix="/api/schools/{school_id}/policy", tags=["policies"])


def _school(session: Session, user: User, school_id: int) -> School:
    school = session.get(School, school_id)
    visible = visible_school_ids(user, session)
    if school is None or (visible is not None and school_id not in visible):
        raise HTTPException(404, f"no school {school_id}")
    return school


@api.get("")
def read_policy(
    school_id: int,
    user: User = Depends(require_roles(Role.admin, Role.officer, Role.technician)),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    """The policy in force, with every field (proto JSON names)."""
    _school(session, user, school_id)
    policy = service.get(session=session, school_id=school_id)
    return json_format.MessageToDict(policy, always_print_fields_with_no_presence=True)


@api.patch("", dependencies=[Depends(csrf_protect)])
def change_policy(
    school_id: int,
    background: BackgroundTasks,
    changes: dict[str, Any] = Body(..., examples=[{"captureText": False, "prefilterPhrases": ["kms"]}]),
    user: User = Depends(require_roles(Role.admin)),
    session: Session = Depends(get_session),
    streams: LiveStreams = Depends(get_streams),
) -> dict[str, Any]:
    """Merge the changes into the school's policy, bump its version and push it to connected agents."""
    _school(session, user, school_id)
    try:
        policy = service.update(session=session, school_id=school_id, changes=changes, updated_by=user.username)
    except service.PolicyError as error:
        raise HTTPException(422, str(error)) from None
    audit.record(session=session, actor=user.username, action="change", object_type="policy",
                 object_id=school_id, detail={"version": policy.version, "changes": changes})
    # Pushed after the response, when the request's transaction is committed: agents never get an unstored policy.
    background.add_task(streams.push_policy, school_id, policy)
    return json_format.MessageToDict(policy, always_print_fields_with_no_presence=True)
