from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from console.alerts import service
from console.alerts.models import Alert, AlertRead, AlertStatus
from console.dependencies import get_session
from console.people.auth import require_roles, visible_school_ids
from console.people.models import Role, User
from console.templating import templates

readers = require_roles(Role.admin, Role.officer, Role.dsl)

api = APIRouter(prefix="/api/alerts", tags=["alerts"])
pages = APIRouter(prefix="/alerts", include_in_schema=False)


def _alert_or_404(session: Session, user: User, alert_id: int) -> Alert:
    alert = service.get(session=session, alert_id=alert_id)
    visible = visible_school_ids(user, session)
    if alert is None or (visible is not None and alert.school_id not in visible):
        raise HTTPException(status_code=404, detail=f"no alert {alert_id}")
    return alert


@api.get("", response_model=list[AlertRead])
def list_alerts(
    status: AlertStatus | None = None,
    category: str | None = None,
    min_risk: int | None = None,
    user: User = Depends(readers),
    session: Session = Depends(get_session),
) -> list[Alert]:
    return service.list_alerts(session=session, school_ids=visible_school_ids(user, session), status=status, category=category, min_risk=min_risk)


@api.get("/{alert_id}", response_model=AlertRead)
def read_alert(alert_id: int, user: User = Depends(readers), session: Session = Depends(get_session)) -> Alert:
    return _alert_or_404(session, user, alert_id)


@pages.get("", response_class=HTMLResponse)
def alert_list_page(request: Request, user: User = Depends(readers), session: Session = Depends(get_session)) -> HTMLResponse:
    alerts = service.list_alerts(session=session, school_ids=visible_school_ids(user, session))
    return templates.TemplateResponse(request, "alerts/list.html", {"alerts": alerts})


@pages.get("/{alert_id}", response_class=HTMLResponse)
def alert_detail_page(
    alert_id: int, request: Request, user: User = Depends(readers), session: Session = Depends(get_session)
) -> HTMLResponse:
    alert = _alert_or_404(session, user, alert_id)
    return templates.TemplateResponse(
        request,
        "alerts/detail.html",
        {
            "alert": alert,
            "context": service.context_events(session=session, alert=alert),
            "screenshots": service.screenshots(session=session, alert=alert),
        },
    )
