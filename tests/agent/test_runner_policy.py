"""The agent keeps its policy when the console pushes one its capture cannot apply."""

from __future__ import annotations

from pathlib import Path

from agent.capture.desktop import DesktopCapture
from agent.runner import Agent
from agent.settings import AgentSettings
from safeguard_proto.v1 import agent_pb2 as pb


def test_a_policy_the_capture_refuses_is_neither_applied_nor_kept(tmp_path: Path) -> None:
    settings = AgentSettings(state_dir=tmp_path)
    agent = Agent(settings, DesktopCapture(settings))
    good = pb.Policy(version=2, capture_text=True, heartbeat_seconds=60)
    agent.apply_policy(good)
    assert agent.policy.version == 2
    bad = pb.Policy(version=3, capture_text=True, school_hours=[pb.SchoolHours(weekday=9, start="08:30", end="15:30")])
    agent.apply_policy(bad)
    assert agent.policy.version == 2
    assert pb.Policy.FromString((tmp_path / "policy.bin").read_bytes()).version == 2
    agent.spool.close()
