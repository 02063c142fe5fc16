"""Organisations: schools with their contacts, DSLs, groups, pupils and device inventory; CSV imports."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.alerts.models import Alert
from console.audit.service import record
from console.dependencies import get_session
from console.devices.models import Device
from console.people.auth import can_see_content, csrf_protect, require_roles, visible_school_ids
from console.people.models import Role, User
from console.schools import service
from console.schools.models import ImportResult, Phase, Pupil, PupilRead, School, SchoolRead, Trust
from console.templating import templates
from console.web.scope import visible_school

api = APIRouter(prefix="/api/schools", tags=["schools"], dependencies=[Depends(csrf_protect)])
pages = APIRouter(prefix="/schools", include_in_schema=False, dependencies=[Depends(csrf_protect)])

school_readers = require_roles(Role.admin, Role.officer, Role.dsl, Role.technician, Role.governance)
admin_only = require_roles(Role.admin)
pupil_readers = require_roles(Role.admin, Role.officer, Role.dsl)
pupil_importers = require_roles(Role.admin, Role.dsl)
device_importers = require_roles(Role.admin, Role.technician)
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


def _visible_pupil(session: Session, user: User, school_id: int, pupil_id: int) -> tuple[School, Pupil]:
    school = visible_school(session, user, school_id)
    pupil = service.pupil(session=session, pupil_id=pupil_id)
    if pupil is None or pupil.school_id != school.id:
        raise HTTPException(404, f"no pupil {pupil_id} at {school.name}")
    return school, pupil


def _decode(data: bytes) -> str:
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")  # what older MIS exports on Windows write
        except UnicodeDecodeError as error:
            raise HTTPException(422, "the file is not text (UTF-8 or Windows-1252 CSV)") from error


def _import(session: Session, user: User, school: School, kind: str, text: str) -> ImportResult:
    importer = service.import_pupils if kind == "pupils" else service.import_devices
    try:
        result = importer(session=session, school=school, text=text)
    except service.ImportRefused as error:
        raise HTTPException(422, str(error)) from error
    record(session=session, actor=user.username, action=f"import_{kind}", object_type="school", object_id=school.id,
           detail={"created": result.created, "updated": result.updated, "refused": len(result.errors)})
    return result


# --- JSON API -------------------------------------------------------------------------------------------


@api.get("", response_model=list[SchoolRead])
def list_schools(user: User = Depends(school_readers), session: Session = Depends(get_session)) -> list[School]:
    return service.list_schools(session=session, school_ids=visible_school_ids(user, session))


@api.get("/{school_id}/pupils", response_model=list[PupilRead])
def list_pupils(school_id: int, user: User = Depends(pupil_readers), session: Session = Depends(get_session)) -> list[Pupil]:
    school = visible_school(session, user, school_id)
    record(session=session, actor=user.username, action="list", object_type="pupils", object_id=school.id)
    return service.pupils(session=session, school_id=school.id)


_CSV_BODY = Body(..., media_type="text/csv", description="The CSV file's text, header row first.")


@api.post("/{school_id}/pupils/import", response_model=ImportResult)
def import_pupils_api(
    school_id: int, csv_text: str = _CSV_BODY, user: User = Depends(pupil_importers),
    session: Session = Depends(get_session),
) -> ImportResult:
    """Columns: UPN, Surname, Forename, Year, Reg, Username, and optionally Date of Birth (or DOB) as DD/MM/YYYY
    or YYYY-MM-DD. Pupils are matched by UPN."""
    return _import(session, user, visible_school(session, user, school_id), "pupils", csv_text)


@api.post("/{school_id}/devices/import", response_model=ImportResult)
def import_devices_api(
    school_id: int, csv_text: str = _CSV_BODY, user: User = Depends(device_importers),
    session: Session = Depends(get_session),
) -> ImportResult:
    """Columns: Hostname, Asset Tag, Room, Operating System. Devices are matched by hostname."""
    return _import(session, user, visible_school(session, user, school_id), "devices", csv_text)


# --- pages ----------------------------------------------------------------------------------------------


def _schools_page(
    request: Request, session: Session, user: User, *, problem: str = "", status_code: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "schools/list.html",
        {"schools": service.list_schools(session=session, school_ids=visible_school_ids(user, session)),
         "trusts": service.trusts(session=session), "phases": list(Phase), "problem": problem},
        status_code=status_code,
    )


@pages.get("", response_class=HTMLResponse)
def schools_page(
    request: Request, user: User = Depends(school_readers), session: Session = Depends(get_session)
) -> HTMLResponse:
    return _schools_page(request, session, user)


@pages.post("")
def create_school(
    request: Request,
    name: str = Form(...),
    phase: Phase = Form(...),
    trust: str = Form(""),
    user: User = Depends(admin_only),
    session: Session = Depends(get_session),
) -> Response:
    name = name.strip()
    if not name or len(name) > 200:
        return _schools_page(request, session, user, problem="a school needs a name of 1 to 200 characters",
                             status_code=422)
    if service.get_by_name(session=session, name=name) is not None:
        return _schools_page(request, session, user, problem=f"a school named {name!r} already exists", status_code=422)
    school = service.create(session=session, name=name, phase=phase)
    if trust.strip():
        school.trust_id = service.trust_named(session=session, name=trust.strip()[:200]).id
    record(session=session, actor=user.username, action="create_school", object_type="school", object_id=school.id,
           detail={"name": name, "phase": phase.value})
    return RedirectResponse(f"/schools/{school.id}", status_code=303)


def _school_page(request: Request, session: Session, user: User, school: School, *, result: ImportResult | None = None,
                 imported: str = "", problem: str = "", status_code: int = 200) -> HTMLResponse:
    content = can_see_content(user) and user.role != Role.governance
    staff = session.scalars(
        select(User).where(User.school_id == school.id, User.active).order_by(User.deputy, User.username)
    )
    return templates.TemplateResponse(
        request,
        "schools/detail.html",
        {
            "school": school,
            "trust": session.get(Trust, school.trust_id) if school.trust_id else None,
            "staff": list(staff),
            "groups": service.groups(session=session, school_id=school.id),
            "pupils": service.pupils(session=session, school_id=school.id) if content else None,
            "inventory": service.inventory(session=session, school_id=school.id),
            "enrolled": list(session.scalars(select(Device).where(Device.school_id == school.id).order_by(Device.hostname))),
            "result": result,
            "imported": imported,
            "problem": problem,
            "can_edit": user.role == Role.admin,
            "can_import_pupils": user.role in (Role.admin, Role.dsl),
            "can_import_devices": user.role in (Role.admin, Role.technician),
        },
        status_code=status_code,
    )


@pages.get("/{school_id}", response_class=HTMLResponse)
def school_page(
    school_id: int, request: Request, user: User = Depends(school_readers), session: Session = Depends(get_session)
) -> HTMLResponse:
    return _school_page(request, session, user, visible_school(session, user, school_id))


@pages.post("/{school_id}/contacts")
def set_contacts(
    school_id: int,
    contact_name: str = Form(""),
    contact_email: str = Form(""),
    contact_phone: str = Form(""),
    user: User = Depends(admin_only),
    session: Session = Depends(get_session),
) -> Response:
    school = visible_school(session, user, school_id)
    service.set_contacts(school=school, name=contact_name, email=contact_email, phone=contact_phone)
    record(session=session, actor=user.username, action="set_contacts", object_type="school", object_id=school.id,
           detail={"name": school.contact_name, "email": school.contact_email, "phone": school.contact_phone})
    return RedirectResponse(f"/schools/{school.id}", status_code=303)


async def _upload_text(file: UploadFile) -> str:
    return _decode(await file.read(MAX_UPLOAD_BYTES + 1))


async def _import_form(request: Request, session: Session, user: User, school_id: int, kind: str,
                       file: UploadFile) -> HTMLResponse:
    """An uploaded pupil or device list imported from the school page, which shows the result or the problem."""
    school = visible_school(session, user, school_id)
    text = await _upload_text(file)
    try:
        result = _import(session, user, school, kind, text)
    except HTTPException as error:
        return _school_page(request, session, user, school, problem=str(error.detail), status_code=error.status_code)
    return _school_page(request, session, user, school, result=result, imported=kind)


@pages.post("/{school_id}/pupils/import", response_class=HTMLResponse)
async def import_pupils_form(
    school_id: int, request: Request, file: UploadFile = File(...), user: User = Depends(pupil_importers),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    return await _import_form(request, session, user, school_id, "pupils", file)


@pages.post("/{school_id}/devices/import", response_class=HTMLResponse)
async def import_devices_form(
    school_id: int, request: Request, file: UploadFile = File(...), user: User = Depends(device_importers),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    return await _import_form(request, session, user, school_id, "devices", file)


@pages.get("/{school_id}/pupils/{pupil_id}", response_class=HTMLResponse)
def pupil_page(
    school_id: int, pupil_id: int, request: Request, user: User = Depends(pupil_readers),
    session: Session = Depends(get_session),
) -> HTMLResponse:
    school, pupil = _visible_pupil(session, user, school_id, pupil_id)
    record(session=session, actor=user.username, action="view", object_type="pupil", object_id=pupil.id)
    alerts = session.scalars(
        select(Alert).where(Alert.school_id == school.id, Alert.user == pupil.username).order_by(Alert.event_time.desc())
    )
    groups = {group.id: group for group in service.groups(session=session, school_id=school.id)}
    return templates.TemplateResponse(
        request, "schools/pupil.html", {"school": school, "pupil": pupil, "alerts": list(alerts), "groups": groups}
    )
