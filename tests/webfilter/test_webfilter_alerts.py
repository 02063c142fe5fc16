"""`safeguard webfilter import` stores flagged requests as alerts, on SQLite and PostgreSQL (migrated schema):
school from the device at the address then or from the school's networks, idempotent on re-import, malformed
lines reported with their line number while the rest is imported."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from console.alerts.models import Alert
from console.alerts.service import context_events
from console.cli import app
from console.devices.models import Device
from console.events.models import Event
from console.schools.models import School
from console.store import transaction
from console.webfilter.models import WebRequest
from console.webfilter.service import record_addresses, schools_at, set_networks

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def _line(at: datetime, client: str, method: str, url: str, user: str = "-", status: str = "TCP_MISS/200") -> str:
    kind = "-" if method == "CONNECT" else "text/html"
    return f"{at.timestamp():.3f}    123 {client} {status} 4512 {method} {url} {user} HIER_DIRECT/93.184.216.34 {kind}\n"


@pytest.fixture
def school_ids(sessions: sessionmaker[Session], database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    monkeypatch.setenv("SAFEGUARD_DATABASE_URL", database_url)
    monkeypatch.setenv("SAFEGUARD_CLASSIFIER_ENABLED", "false")
    with transaction(sessions) as session:
        hill = School(name="Hill Primary", phase="primary")
        vale = School(name="Vale Academy", phase="secondary")
        session.add_all([hill, vale])
        session.flush()
        session.add(Device(id="dev-vale-1", school_id=vale.id, certificate_serial="11"))
        session.flush()
        # An agent's device was at 10.2.0.5 this morning; Hill Primary's other machines have no agent.
        record_addresses(session=session, seen=[("dev-vale-1", "10.2.0.5", T0 - timedelta(minutes=30))])
        session.add(Event(device_id="dev-vale-1", seq=1, event_id="e1", kind="typed_text", time=T0, text="hello"))
        return {"hill": hill.id, "vale": vale.id}


def _import(log: Path):
    done = CliRunner().invoke(app, ["webfilter", "import", str(log)])
    assert done.exit_code == 0, (done.stdout, done.stderr)
    return done


def test_import_stores_flagged_requests_as_alerts_once(
    sessions: sessionmaker[Session], school_ids: dict[str, int], tmp_path: Path
) -> None:
    runner = CliRunner()
    networks = runner.invoke(app, ["webfilter", "networks", "Hill Primary", "10.1.0.0/16"])
    assert networks.exit_code == 0, networks.stderr
    log = tmp_path / "access.log"
    log.write_text(
        _line(T0, "10.2.0.5", "CONNECT", "www.pornhub.com:443", user="alice", status="TCP_TUNNEL/200")
        + "1700000000.000 10 10.2.0.5 TCP_MISS/200\n"  # truncated by a rotated log
        + _line(T0 + timedelta(seconds=1), "10.1.3.4", "GET", "http://www.bing.com/search?q=where+to+buy+w33d&form=QBLH")
        + "not a squid line at all\n"
        + _line(T0 + timedelta(seconds=2), "10.1.3.4", "GET", "https://www.bbc.co.uk/bitesize/guides/zc9tyrd")
        + "1700000000.000 10 10.300.0.1 TCP_MISS/200 1 GET http://x.test/ - - -\n"  # bad client address
        + _line(T0 + timedelta(seconds=3), "172.16.9.9", "CONNECT", "www.xvideos.com:443", status="TCP_TUNNEL/200")
    )

    first = _import(log)
    assert f"{log}:2: skipped: expected at least 7 fields, got 4" in first.stderr
    assert f"{log}:4: skipped: expected at least 7 fields, got 6" in first.stderr
    assert f"{log}:6: skipped: client '10.300.0.1' is not an IP address" in first.stderr
    assert "4 requests scanned, 3 flagged, 3 malformed lines skipped" in first.stderr
    assert "2 flagged requests stored as 2 alerts, 0 already stored, 1 from addresses of no known" in first.stderr

    with transaction(sessions) as session:
        alerts = session.scalars(select(Alert).order_by(Alert.event_time)).all()
        porn, drugs = alerts
        assert (porn.school_id, porn.device_id, porn.user, porn.source, porn.category) == (
            school_ids["vale"], "dev-vale-1", "alice", "weblog", "pornography"
        )
        assert porn.text == "www.pornhub.com:443" and porn.text[porn.match_start:porn.match_end] == "pornhub.com"
        assert porn.event_time == T0 and porn.status == "new" and porn.risk == 2  # secondary, web-filter line
        assert porn.evidence["client_ip"] == "10.2.0.5" and porn.evidence["school_from"] == "device"
        assert porn.evidence["hits"][0]["rule"] == "pornography.sites"
        # Not an agent's event: the device's own stream is not its context.
        assert context_events(session=session, alert=porn) == []

        assert (drugs.school_id, drugs.device_id, drugs.user, drugs.category) == (school_ids["hill"], "", "", "drugs")
        assert drugs.text == "http://www.bing.com/search?q=where+to+buy+w33d&form=QBLH"
        assert drugs.evidence["search_terms"] == "where to buy w33d" and drugs.evidence["school_from"] == "network"
        requests = session.scalars(select(WebRequest).order_by(WebRequest.time)).all()
        assert [(-r.id, r.device_id, r.client_ip) for r in requests] == [
            (porn.event_seq, "dev-vale-1", "10.2.0.5"),
            (drugs.event_seq, None, "10.1.3.4"),
        ]

    again = _import(log)
    assert "0 flagged requests stored as 0 alerts, 2 already stored" in again.stderr
    # The log grows: only the new line's alerts are added.
    with log.open("a") as more:
        more.write(_line(T0 + timedelta(seconds=4), "10.1.3.4", "CONNECT", "www.bet365.com:443", status="TCP_TUNNEL/200"))
    grown = _import(log)
    assert "1 flagged requests stored as 1 alerts, 2 already stored" in grown.stderr
    with transaction(sessions) as session:
        counts = dict(session.execute(select(Alert.category, func.count()).group_by(Alert.category)).all())
    assert counts == {"pornography": 1, "drugs": 1, "gambling": 1}


def test_repetition_raises_risk_per_named_pupil_only(
    sessions: sessionmaker[Session], school_ids: dict[str, int], tmp_path: Path
) -> None:
    with transaction(sessions) as session:
        set_networks(session=session, school=session.get(School, school_ids["vale"]), networks=["10.2.0.0/16"])
    sites = ["www.pornhub.com", "www.xvideos.com", "www.xnxx.com", "www.xhamster.com"]
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            _line(T0 + timedelta(minutes=i), client, "CONNECT", f"{site}:443", user=user, status="TCP_TUNNEL/200")
            for client, user in (("10.2.7.7", "bob"), ("10.2.7.8", "-"))
            for i, site in enumerate(sites)
        )
    )
    _import(log)
    with transaction(sessions) as session:
        rows = session.execute(select(Alert.user, Alert.risk).order_by(Alert.user, Alert.event_time)).all()
    # From the 3rd prior alert about bob the risk rises; unauthenticated requests are no one pupil's history.
    assert rows == [("", 2), ("", 2), ("", 2), ("", 2), ("bob", 2), ("bob", 2), ("bob", 2), ("bob", 3)]


def test_school_networks(sessions: sessionmaker[Session], school_ids: dict[str, int]) -> None:
    with transaction(sessions) as session:
        hill, vale = session.get(School, school_ids["hill"]), session.get(School, school_ids["vale"])
        assert set_networks(session=session, school=hill, networks=[" 10.1.0.0/16", "2001:db8:1::/48", "192.168.4.7/24"]) == [
            "10.1.0.0/16", "2001:db8:1::/48", "192.168.4.0/24"
        ]
        with pytest.raises(ValueError, match="'10.2.0/33' is not a network in CIDR form"):
            set_networks(session=session, school=vale, networks=["10.2.0/33"])
        with pytest.raises(ValueError, match="10.0.0.0/8 overlaps 10.1.0.0/16 of Hill Primary"):
            set_networks(session=session, school=vale, networks=["10.0.0.0/8"])
    with transaction(sessions) as session:
        assert session.get(School, school_ids["vale"]).networks == []
        found = schools_at(session=session, ips=["10.1.200.3", "2001:db8:1::9", "10.2.0.1", "192.168.4.255"])
    assert [s.school_id if s else None for s in found] == [school_ids["hill"], school_ids["hill"], None, school_ids["hill"]]
    assert found[0].phase == "primary"


def test_networks_command_refuses_unknown_school_and_bad_ranges(school_ids: dict[str, int]) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["webfilter", "networks", "Nowhere High", "10.9.0.0/16"])
    assert unknown.exit_code == 1 and "no school named 'Nowhere High'" in unknown.stderr
    bad = runner.invoke(app, ["webfilter", "networks", "Vale Academy", "not-a-range"])
    assert bad.exit_code == 1 and "'not-a-range' is not a network in CIDR form" in bad.stderr
