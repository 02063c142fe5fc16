"""Every route of the app, with every role: who may and who may not.

Routes come from ``app.routes`` (so routes added later are covered): each must either be listed as
public here, with the reason, or declare its roles with ``require_roles``; the test then calls it as
every role (by API token) and as nobody, and checks the declared roles get in and no one else does.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi.routing import iter_route_contexts
from sqlalchemy.orm import Session, sessionmaker

from console.ingest.streams import LiveStreams
from console.people.models import Role
from console.settings import Settings
from console.web.app import create_app
from support.web import STAFF, seed, serve

PUBLIC = {
    ("GET", "/login"): "the sign-in form",
    ("POST", "/login"): "signing in",
    ("GET", "/healthz"): "liveness probe, no data",
    ("GET", "/readyz"): "readiness probe, no data",
    ("GET", "/metrics"): "Prometheus scrape: counters only, no pupil data",
    ("GET", "/escalation/ack/{token}"): "emailed acknowledgement link: the signed token is the credential",
    ("POST", "/escalation/ack/{token}"): "emailed acknowledgement link: the signed token is the credential",
}
# Routes that show what pupils typed, saw or did: never technicians or auditors.
CONTENT = re.compile(r"^/(api/)?(alerts|incidents|cases)(/|$)|/pupils")
ONE_USER_PER_ROLE = {role: next(name for name, (r, _, _) in STAFF.items() if r == role) for role in Role}


def _declared_roles(dependant) -> set[frozenset[Role]]:
    found = set()
    for dependency in dependant.dependencies:
        roles = getattr(dependency.call, "roles", None)
        if roles is not None:
            found.add(roles)
        found |= _declared_roles(dependency)
    return found


def _routes() -> list[tuple[str, str, frozenset[Role] | None]]:
    app = create_app(settings=Settings(), sessions=None, streams=LiveStreams())  # type: ignore[arg-type]
    routes = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None:  # FastAPI's own /openapi.json and /docs pages, and /static
            continue
        declared = _declared_roles(dependant)
        assert len(declared) <= 1, f"{route.path} declares several role sets: {declared}"
        for method in sorted(route.methods - {"HEAD"}):
            routes.append((method, route.path, next(iter(declared)) if declared else None))
    return routes


ROUTES = _routes()


def test_every_route_is_public_by_intent_or_declares_its_roles() -> None:
    undeclared = [f"{method} {path}" for method, path, roles in ROUTES if roles is None and (method, path) not in PUBLIC]
    assert undeclared == [], "routes with neither require_roles nor a place in PUBLIC"
    stale = set(PUBLIC) - {(method, path) for method, path, _ in ROUTES}
    assert stale == set(), "PUBLIC names routes that no longer exist"


def test_content_routes_are_closed_to_technicians_and_auditors() -> None:
    leaks = [f"{method} {path}: {sorted(roles)}" for method, path, roles in ROUTES
             if roles is not None and CONTENT.search(path) and roles & {Role.technician, Role.auditor}]
    assert leaks == []


def _status(client: httpx.Client, method: str, path: str, headers: dict[str, str]) -> int:
    url = re.sub(r"\{[^}]+\}", "999999", path)
    with client.stream(method, url, headers=headers) as reply:
        return reply.status_code


def test_every_route_with_every_role(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    seed(sessions)
    with serve(sessions, tmp_path) as web:
        tokens = {role: web.api_token(username) for role, username in ONE_USER_PER_ROLE.items()}
        problems = []
        with web.client() as client:
            for method, path, roles in ROUTES:
                if roles is None:
                    continue
                anonymous = _status(client, method, path, {})
                # Pages redirect to /login, the API answers 401; a POST without a session fails CSRF first.
                if anonymous not in ((401, 303) if method == "GET" else (401, 303, 403)):
                    problems.append(f"{method} {path} as nobody: {anonymous}")
                for role, token in tokens.items():
                    status = _status(client, method, path, {"Authorization": f"Bearer {token}"})
                    if role in roles and (status in (401, 403) or status >= 500):
                        problems.append(f"{method} {path} as {role} (allowed): {status}")
                    if role not in roles and status != 403:
                        problems.append(f"{method} {path} as {role} (not allowed): {status}")
        assert problems == [], "\n".join(problems)


VISIBILITY = {  # username: (sees the Riverside alert, sees the Hillside alert)
    "admin": (True, True),
    "officer": (True, False),  # secondary console: Riverside is secondary
    "officer.primary": (False, True),
    "dsl": (True, False),
    "dsl.hillside": (False, True),
}


def test_alerts_are_visible_only_in_ones_own_schools(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    ids = seed(sessions)
    with serve(sessions, tmp_path) as web, web.client() as client:
        for username, (sees_riverside, sees_hillside) in VISIBILITY.items():
            client.headers["Authorization"] = f"Bearer {web.api_token(username)}"
            listed = {alert["id"] for alert in client.get("/api/alerts").json()}
            assert (ids.alert in listed, ids.hillside_alert in listed) == (sees_riverside, sees_hillside), username
            assert client.get(f"/api/alerts/{ids.alert}").status_code == (200 if sees_riverside else 404)
            assert client.get(f"/alerts/{ids.alert}/screenshots/{ids.screenshot}").status_code == (
                200 if sees_riverside else 404
            )
            assert client.get(f"/api/alerts/{ids.hillside_alert}").status_code == (200 if sees_hillside else 404)
            assert client.get(f"/api/schools/{ids.riverside}/pupils").status_code == (200 if sees_riverside else 404)


def test_exports_of_an_unknown_school_answer_404(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    ids = seed(sessions)
    with serve(sessions, tmp_path) as web, web.client() as client:
        client.headers["Authorization"] = f"Bearer {web.api_token(ONE_USER_PER_ROLE[Role.admin])}"
        for what in ("incidents", "cases"):
            assert client.get(f"/api/records/schools/{ids.riverside}/{what}.csv").status_code == 200
            missing = client.get(f"/api/records/schools/999999/{what}.csv")
            assert missing.status_code == 404 and "no school 999999" in missing.text
