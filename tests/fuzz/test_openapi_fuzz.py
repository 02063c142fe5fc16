"""Schemathesis against the console's OpenAPI: generated requests to every documented route, signed in
as an administrator and anonymous, never get an undocumented 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from support.web import WebConsole, seed, serve

from console.store import make_engine, make_sessionmaker
from console.store.migrate import upgrade


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[WebConsole]:
    root = tmp_path_factory.mktemp("openapi")
    engine = make_engine(f"sqlite:///{root / 'safeguard.db'}")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    seed(sessions)
    with serve(sessions, root) as console:
        yield console
    engine.dispose()


@pytest.fixture(scope="module")
def admin_token(web: WebConsole) -> str:
    return web.api_token("admin")


@pytest.fixture(scope="module")
def console_schema(web: WebConsole):
    return schemathesis.openapi.from_url(f"{web.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("console_schema")


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_route_answers_500(case, web: WebConsole, admin_token: str):
    for headers in ({"Authorization": f"Bearer {admin_token}"}, {}):
        response = case.call(base_url=web.url, headers=headers)
        documented = str(response.status_code) in case.operation.definition.raw.get("responses", {})  # /readyz's 503
        assert response.status_code < 500 or documented, (
            f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:500]}"
        )
