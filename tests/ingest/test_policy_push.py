"""A policy change on the console reaches a connected agent and takes effect without a restart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from console.events.models import Event
from console.people import service as people
from console.people.models import Role
from console.schools.models import School
from console.store import make_engine, make_sessionmaker, transaction
from safeguard_proto.v1 import agent_pb2 as pb
from support.processes import AgentProcess, ConsoleProcess, prepare_school, stored_seqs, wait_for


@pytest.fixture
def running(tmp_path: Path):
    database_url = f"sqlite:///{tmp_path / 'safeguard.db'}"
    console = ConsoleProcess(data_dir=tmp_path / "console", database_url=database_url)
    console.data_dir.mkdir()
    token = prepare_school(database_url)
    console.start()
    agent = AgentProcess(tmp_path / "agent", console, token, ["--rate", "40"]).start().wait_enrolled()
    yield console, agent
    agent.stop()
    console.stop()


def _agent_policy(agent: AgentProcess) -> pb.Policy:
    path = agent.state_dir / "policy.bin"
    return pb.Policy.FromString(path.read_bytes()) if path.exists() else pb.Policy()


def _last_text_seq(database_url: str, device_id: str) -> int:
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session:
        seq = session.scalar(
            select(func.max(Event.seq)).where(Event.device_id == device_id, Event.kind == "typed_text")
        )
    engine.dispose()
    return seq or 0


def test_policy_changed_through_the_api_is_pushed_and_applied(running) -> None:
    console, agent = running
    wait_for(lambda: _last_text_seq(console.database_url, agent.device_id) > 0, timeout=30, what="typed text")
    before = _agent_policy(agent).version
    with transaction(make_sessionmaker(make_engine(console.database_url))) as session:
        admin = people.create(session=session, username="admin", password="a long passphrase 1", role=Role.admin)
        token, _ = people.create_api_token(session=session, user=admin, name="test")
        school_id = session.scalar(select(School.id))
    url = f"http://127.0.0.1:{console.web_port}/api/schools/{school_id}/policy"
    headers = {"Authorization": f"Bearer {token}"}
    refused = httpx.patch(url, json={"captureTexts": "yes"}, headers=headers)
    assert refused.status_code == 422
    assert "captureTexts" in refused.json()["detail"]
    response = httpx.patch(url, json={"captureText": False}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == str(before + 1)
    wait_for(lambda: _agent_policy(agent).version == before + 1, timeout=10, what="the agent to get the policy")
    assert _agent_policy(agent).capture_text is False
    applied_at = max(agent.produced_seqs())
    wait_for(lambda: applied_at in stored_seqs(console.database_url, agent.device_id), timeout=15, what="storing")
    last_text = _last_text_seq(console.database_url, agent.device_id)
    wait_for(lambda: max(stored_seqs(console.database_url, agent.device_id)) >= applied_at + 40, timeout=15,
             what="more capture")
    assert _last_text_seq(console.database_url, agent.device_id) == last_text, "no typed text after capture was turned off"


def test_policy_changed_from_another_process_reaches_the_agent(running) -> None:
    console, agent = running
    wait_for(lambda: _agent_policy(agent).version >= 1, timeout=30, what="the first policy")
    before = _agent_policy(agent).version
    subprocess.run(
        [sys.executable, "-m", "console", "policy", "set", "Test School", '{"prefilterPhrases": ["zebra crossing"]}'],
        env=console.env, check=True, capture_output=True,
    )
    wait_for(lambda: _agent_policy(agent).version == before + 1, timeout=15, what="the agent to get the policy")
    assert list(_agent_policy(agent).prefilter_phrases) == ["zebra crossing"]
