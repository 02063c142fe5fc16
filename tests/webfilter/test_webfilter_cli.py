"""`safeguard webfilter import` on a real log file and database, and the syslog listener on a real UDP port."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import free_port
from typer.testing import CliRunner

import console.models
from console.cli import app
from console.store import make_engine
from console.webfilter.flows import listen_syslog
from console.webfilter.squid import AccessRecord


def test_import_prints_flagged_requests_and_skips_malformed_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'safeguard.db'}"
    engine = make_engine(url)
    console.models.metadata.create_all(engine)
    engine.dispose()
    monkeypatch.setenv("SAFEGUARD_DATABASE_URL", url)
    log = tmp_path / "access.log"
    log.write_text(
        "1700000000.000 10 10.0.0.5 TCP_TUNNEL/200 100 CONNECT www.xvideos.com:443 bob HIER_DIRECT/1.2.3.4 -\n"
        "garbage line\n"
        "\n"
        "1700000001.000 10 10.0.0.5 TCP_TUNNEL/200 100 CONNECT www.bbc.co.uk:443 bob HIER_DIRECT/1.2.3.4 -\n"
    )
    done = CliRunner().invoke(app, ["webfilter", "import", str(log)])
    assert done.exit_code == 0, done.output
    [line] = done.stdout.splitlines()
    record = json.loads(line)
    assert (record["client_ip"], record["user"], record["device_id"]) == ("10.0.0.5", "bob", None)
    assert record["hits"] == [{"rule": "pornography.sites", "phrase": "xvideos.com"}]
    assert f"{log}:2: skipped: expected at least 7 fields, got 2" in done.stderr
    assert "2 requests scanned, 1 flagged, 1 malformed lines skipped" in done.stderr


async def test_syslog_listener_batches_records_from_udp() -> None:
    port = free_port()
    batches: list[list[AccessRecord]] = []
    started = asyncio.Event()
    task = asyncio.create_task(
        listen_syslog(host="127.0.0.1", port=port, handle=batches.append, flush_seconds=0.05, started=started)
    )
    await asyncio.wait_for(started.wait(), 5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"<190>Nov 23 10:00:01 proxy squid[1]: 1700000000.000 5 10.0.0.9 TCP_MISS/200 1 GET http://a.test/ - - -", ("127.0.0.1", port))
        sock.sendto(b"<190>Nov 23 10:00:01 proxy squid[1]: not a record\n", ("127.0.0.1", port))
        sock.sendto(
            b"<190>Nov 23 10:00:02 proxy squid[1]: 1700000001.000 5 10.0.0.9 TCP_MISS/200 1 GET http://b.test/ - - -\n"
            b"<190>Nov 23 10:00:02 proxy squid[1]: 1700000002.000 5 10.0.0.9 TCP_MISS/200 1 GET http://c.test/ - - -\n",
            ("127.0.0.1", port),
        )
        for _ in range(200):
            if sum(len(b) for b in batches) >= 3:
                break
            await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    received = [r for batch in batches for r in batch]
    assert [r.url for r in received] == ["http://a.test/", "http://b.test/", "http://c.test/"]
    assert received[0].time == datetime.fromtimestamp(1700000000, tz=timezone.utc)
