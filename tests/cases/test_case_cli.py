"""`safeguard incident|case|records`: escalation set-up and records commands, with their refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from console.cli import app


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SAFEGUARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SAFEGUARD_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    return invoke


def test_escalation_setup_and_records_commands(run, tmp_path: Path) -> None:
    assert run("school", "create", "Hillside", "--phase", "secondary")[0] == 0
    code, out = run("incident", "contacts", "Hillside", "dsl:Dana Lead:dsl@h.example", "deputy:Derek:deputy@h.example")
    assert code == 0 and out.splitlines() == ["1. dsl\tDana Lead <dsl@h.example>", "2. deputy\tDerek <deputy@h.example>"]
    code, out = run("incident", "contacts", "Hillside", "dsl:Dana Lead")
    assert code == 1 and 'expected "role:Name:email"' in out
    code, out = run("incident", "contacts", "Hillside", "boss:Dana:dsl@h.example")
    assert code == 1 and "role" in out
    assert run("incident", "contacts", "Nowhere")[1].strip() == "no school named 'Nowhere'"
    assert run("incident", "rule", "Hillside", "4", "30") == (0, "level 4: acknowledge within 30 minutes\n")
    assert run("incident", "rule", "Hillside", "3", "digest")[0] == 0
    code, out = run("incident", "rule", "Hillside", "4", "soon")
    assert code == 1 and "whole number" in out
    code, out = run("incident", "webhook", "Hillside", "https://cases.h.example/in", "--secret", "short")
    assert code == 1 and "at least 16 characters" in out
    assert run("case", "list") == (0, "")

    code, out = run("records", "purge")
    assert code == 0 and out.startswith("0 cases")
    code, out = run("records", "subject-access", "Hillside", "p.smith", str(tmp_path / "sar.zip"))
    assert code == 1 and "nothing is held about 'p.smith'" in out and not (tmp_path / "sar.zip").exists()
    code, out = run("records", "statistics", "--start", "2026-01-01", "--end", "2026-02-01")
    assert code == 0 and out.splitlines() == ["measure,value,count"]
    code, out = run("records", "statistics", "--start", "2026-02-01", "--end", "2026-01-01")
    assert code == 1 and "end of the period must be after" in out
