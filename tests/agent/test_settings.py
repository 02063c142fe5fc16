"""The agent's settings: defaults, environment, agent.env, and a clear error for a bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from agent.settings import AgentSettings, SettingsError


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no agent.env but the test's own
    for name in [n for n in os.environ if n.upper().startswith("SAFEGUARD_AGENT_")]:
        monkeypatch.delenv(name)


def test_defaults_each_documented() -> None:
    settings = AgentSettings()
    assert settings.console_host == "localhost"
    assert settings.stream_port == 50051
    assert settings.ca_file is None
    assert settings.state_dir == Path("agent-state")
    assert settings.history_paths == []
    assert settings.window_poll_seconds == 0.5
    assert all(f.metadata["description"] for f in fields(AgentSettings))


def test_environment_then_file_then_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "agent.env").write_text(
        "# the installer's file\n"
        "SAFEGUARD_AGENT_CONSOLE_HOST=console.county.example\n"
        "SAFEGUARD_AGENT_STREAM_PORT=6000\n"
        "export SAFEGUARD_AGENT_CA_FILE='/etc/safeguard/ca.pem'\n"
        "OTHER_VARIABLE=ignored\n"
    )
    monkeypatch.setenv("SAFEGUARD_AGENT_STREAM_PORT", "7000")
    monkeypatch.setenv("safeguard_agent_window_poll_seconds", "0.25")
    monkeypatch.setenv("SAFEGUARD_AGENT_HISTORY_PATHS", '["/home/pupil/.config/chromium/Default/History"]')
    settings = AgentSettings(enrol_port=7001)
    assert settings.console_host == "console.county.example"
    assert settings.stream_port == 7000  # the environment wins over agent.env
    assert settings.enrol_port == 7001
    assert settings.ca_file == Path("/etc/safeguard/ca.pem")
    assert settings.window_poll_seconds == 0.25
    assert settings.history_paths == [Path("/home/pupil/.config/chromium/Default/History")]


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAFEGUARD_AGENT_STREAM_PORT", "abc")
    with pytest.raises(SettingsError, match=r"SAFEGUARD_AGENT_STREAM_PORT='abc' \(environment\) is not a whole number"):
        AgentSettings()
    monkeypatch.delenv("SAFEGUARD_AGENT_STREAM_PORT")
    (tmp_path / "agent.env").write_text("\nSAFEGUARD_AGENT_WATCHDOG_CPU_PERCENT=ten\n")
    with pytest.raises(SettingsError, match=r"WATCHDOG_CPU_PERCENT='ten' \(agent.env line 2\) is not a number"):
        AgentSettings()
    with pytest.raises(TypeError, match="no setting stream_prot"):
        AgentSettings(stream_prot=1)


def test_agent_refuses_to_start_with_a_bad_value(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent", "run"],
        env={"SAFEGUARD_AGENT_STREAM_PORT": "abc", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "SAFEGUARD_AGENT_STREAM_PORT='abc'" in result.stderr
    assert "Traceback" not in result.stderr
