"""Real console and real agent processes: enrol over mTLS, stream, alert; nothing lost, nothing twice."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from console.alerts.models import Alert
from console.events.models import Event, Screenshot
from console.people import service as people
from console.people.models import Role
from console.store import make_engine, make_sessionmaker, transaction
from console.webfilter.models import DeviceAddress
from support.processes import AgentProcess, ConsoleProcess, count_rows, prepare_school, stored_seqs, wait_for


@pytest.fixture
def console(tmp_path: Path, database_url: str):
    process = ConsoleProcess(data_dir=tmp_path / "console", database_url=database_url)
    process.data_dir.mkdir()
    yield process
    process.stop()


def _all_stored(agent: AgentProcess, database_url: str, count: int) -> bool:
    """The capture emitted its `count` events and everything the agent produced is stored."""
    return (
        agent.captured(count)
        and agent.spool_depth() == 0
        and set(stored_seqs(database_url, agent.device_id)) == agent.produced_seqs()
    )


def _assert_exactly_once(agent: AgentProcess, database_url: str) -> None:
    stored = stored_seqs(database_url, agent.device_id)
    assert stored == sorted(agent.produced_seqs()), "every produced event is stored exactly once"


def _suicide_alerts_per_event(database_url: str, device_id: str) -> tuple[int, int]:
    """(typed-text events saying 'kill myself', suicide alerts raised on them)."""
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session:
        events = set(
            session.scalars(
                select(Event.seq).where(
                    Event.device_id == device_id, Event.kind == "typed_text", Event.text.contains("kill myself")
                )
            )
        )
        alerts = list(
            session.scalars(
                select(Alert.event_seq).where(Alert.device_id == device_id, Alert.category == "suicide")
            )
        )
    engine.dispose()
    assert len(alerts) == len(set(alerts)), "an event raised the same alert twice"
    return len(events), len(events & set(alerts))


def test_agent_enrols_streams_and_raises_alerts(console: ConsoleProcess, database_url: str, tmp_path: Path) -> None:
    token = prepare_school(database_url)
    console.start()
    agent = AgentProcess(tmp_path / "agent", console, token, ["--count", "20", "--rate", "50", "--user", "pupil.one"])
    agent.start()
    try:
        wait_for(lambda: _all_stored(agent, database_url, 20), timeout=90, what="all events stored")
    finally:
        agent.stop()
    _assert_exactly_once(agent, database_url)
    said, alerted = _suicide_alerts_per_event(database_url, agent.device_id)
    assert said >= 1 and alerted == said
    assert count_rows(database_url, Screenshot, Screenshot.device_id == agent.device_id) >= 1
    assert count_rows(database_url, DeviceAddress, DeviceAddress.device_id == agent.device_id,
                      DeviceAddress.ip == "127.0.0.1") == 1, "the stream's address is kept for web-filter logs"

    engine = make_engine(database_url)
    with transaction(make_sessionmaker(engine)) as session:
        officer = people.create(session=session, username="officer", password="a long passphrase 1", role=Role.officer)
        token, _ = people.create_api_token(session=session, user=officer, name="e2e")
    engine.dispose()
    response = httpx.get(
        f"http://127.0.0.1:{console.web_port}/api/alerts",
        params={"category": "suicide"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    alerts = {alert["text"]: alert for alert in response.json()}
    said = alerts["sometimes i think about how i want to kill myself"]
    assert said["user"] == "pupil.one" and said["device_id"] == agent.device_id
    assert said["risk"] >= 4 and said["rule_id"], "a rule explains it"
    assert "kill myself" in said["text"][said["match_start"] : said["match_end"]].lower()
    unsaid = alerts["i dont want to be here anymore, nobody would notice if i was gone"]
    assert unsaid["rule_id"] == "" and unsaid["evidence"]["model_score"] > 0.5, "the classifier catches what rules miss"
    assert unsaid["evidence"]["model_features"]
    assert httpx.get(f"http://127.0.0.1:{console.web_port}/api/alerts").status_code == 401


def test_console_killed_mid_stream_loses_nothing(console: ConsoleProcess, database_url: str, tmp_path: Path) -> None:
    token = prepare_school(database_url)
    console.start()
    agent = AgentProcess(tmp_path / "agent", console, token, ["--count", "600", "--rate", "150"]).start()
    try:
        wait_for(lambda: count_rows(database_url, Event) > 50, timeout=60, what="streaming to start")
        console.kill()
        time.sleep(1.5)
        console.start()
        wait_for(lambda: _all_stored(agent, database_url, 600), timeout=120, what="the agent to catch up")
    finally:
        agent.stop()
    _assert_exactly_once(agent, database_url)
    said, alerted = _suicide_alerts_per_event(database_url, agent.device_id)
    assert said >= 1 and alerted == said


def test_agent_killed_with_unsent_events_resends_them(console: ConsoleProcess, database_url: str, tmp_path: Path) -> None:
    token = prepare_school(database_url)
    console.start()
    agent = AgentProcess(tmp_path / "agent", console, token, ["--count", "30", "--rate", "100"]).start()
    wait_for(lambda: _all_stored(agent, database_url, 30), timeout=90, what="enrolment and first events")
    console.stop()
    agent.kill()
    # The console is down: a new agent run captures into the spool only, then is killed with all of it unsent.
    before = len(agent.produced_seqs())
    offline = AgentProcess(agent.state_dir, console, "", ["--count", "200", "--rate", "400"]).start()
    wait_for(lambda: len(offline.produced_seqs()) >= before + 200, timeout=60, what="offline capture")
    offline.kill()
    unsent = offline.spool_depth()
    assert unsent >= 200
    console.start()
    again = AgentProcess(agent.state_dir, console, "", ["--count", "10", "--rate", "100"]).start()
    try:
        wait_for(lambda: _all_stored(again, database_url, 10), timeout=120, what="the spool to drain")
    finally:
        again.stop()
    _assert_exactly_once(again, database_url)


def test_console_unreachable_for_a_while_agent_catches_up(console: ConsoleProcess, database_url: str, tmp_path: Path) -> None:
    token = prepare_school(database_url)
    console.start()
    agent = AgentProcess(tmp_path / "agent", console, token, ["--count", "400", "--rate", "80"]).start()
    try:
        wait_for(lambda: count_rows(database_url, Event) > 20, timeout=60, what="streaming to start")
        console.stop()
        time.sleep(3)
        depth_while_down = agent.spool_depth()
        console.start()
        wait_for(lambda: _all_stored(agent, database_url, 400), timeout=120, what="the agent to catch up")
    finally:
        agent.stop()
    assert depth_while_down > 0, "the agent kept capturing into its spool while the console was down"
    _assert_exactly_once(agent, database_url)
