"""An agent reaching the console over IPv6 streams like any other.

The agent is given the console's IPv6 address (``::1``, named in the server certificate) rather than
``localhost``: whether ``localhost`` resolves to ``::1`` depends on the machine's hosts file, which the agent's
resolver (the operating system's) follows."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.events.models import Event
from console.ingest.server import peer_address
from console.webfilter.models import DeviceAddress
from support.processes import AgentProcess, ConsoleProcess, count_rows, prepare_school, wait_for


@pytest.mark.parametrize(("peer", "address"), [
    ("ipv4:10.1.2.3:5678", "10.1.2.3"),
    ("ipv6:%5B::1%5D:5678", "::1"),
    ("ipv6:[2001:db8::7]:443", "2001:db8::7"),
    ("unix:/run/safeguard.sock", None),
    ("ipv4:not-an-address:1", None),
    ("", None),
])
def test_peer_address_reads_what_grpc_reports(peer: str, address: str | None) -> None:
    assert peer_address(peer) == address


def test_agent_streams_over_ipv6(tmp_path: Path, database_url: str) -> None:
    console = ConsoleProcess(data_dir=tmp_path / "console", database_url=database_url,
                             extra_env={"SAFEGUARD_GRPC_HOST": "[::1]",
                                        "SAFEGUARD_SERVER_NAMES": '["localhost", "127.0.0.1", "::1"]'})
    console.data_dir.mkdir()
    token = prepare_school(database_url)
    console.start()
    agent = AgentProcess(tmp_path / "agent", console, token, ["--count", "10", "--rate", "50"],
                         extra_env={"SAFEGUARD_AGENT_CONSOLE_HOST": "::1"})
    try:
        agent.start().wait_enrolled()
        wait_for(lambda: count_rows(database_url, Event, Event.device_id == agent.device_id) >= 10,
                 timeout=90, what="all events stored over IPv6")
    finally:
        agent.stop()
        console.stop()
    assert count_rows(database_url, DeviceAddress, DeviceAddress.device_id == agent.device_id,
                      DeviceAddress.ip == "::1") == 1
