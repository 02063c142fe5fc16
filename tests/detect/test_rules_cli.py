"""`safeguard rules lint|test|import-domains` and `safeguard scan`, run through the real `safeguard` app."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from console.cli import app
from console.detect import default_rules_dir


def safeguard(*args: str, stdin: str = "") -> Result:
    # Wide enough that the error box never wraps a message, whatever the length of pytest's temporary paths.
    return CliRunner().invoke(app, list(args), input=stdin, env={"COLUMNS": "1000"})


def test_rules_test_passes_on_the_shipped_packs() -> None:
    done = safeguard("rules", "test")
    assert done.exit_code == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith(": 0 failed")


def test_rules_test_prints_failures(tmp_path: Path) -> None:
    (tmp_path / "drugs.yaml").write_text(
        "category: drugs\nrules:\n  - id: drugs.x\n    title: x\n    severity: 2\n    match: {phrases: [weed]}\n"
        "    examples: {hit: [weed, w33d, forest], miss: [wed, seaweed, weeds]}\n"
    )
    done = safeguard("rules", "test", "--rules-dir", str(tmp_path))
    assert done.exit_code == 1
    assert f"{tmp_path / 'drugs.yaml'}:3: drugs.x should hit 'forest'" in done.stdout
    assert "drugs.x should miss 'weeds'" not in done.stdout  # "weeds" is not the phrase "weed"


def test_rules_lint_reports_counts_and_broken_files(tmp_path: Path) -> None:
    done = safeguard("rules", "lint")
    assert done.exit_code == 0 and "matcher: hyperscan" in done.stdout
    (tmp_path / "bad.yaml").write_text("category: drugs\nrules:\n  - id: drugs.x\n    severity: 2\n")
    done = safeguard("rules", "lint", "--rules-dir", str(tmp_path))
    assert done.exit_code == 1
    assert f"error: {tmp_path / 'bad.yaml'}:3: a rule is missing 'title'" in done.stderr


def test_scan_reads_and_writes_json_lines(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "text": "I want to k1ll myself", "source": "text", "phase": "primary"},
        {"id": 2, "text": "what is for lunch", "source": "window", "phase": "secondary"},
        {"id": "c", "text": "https://www.pornhub.com/", "source": "url", "phase": "primary"},
    ]
    stdin = "\n".join(json.dumps(x) for x in lines) + "\n"
    done = safeguard("scan", "--no-model", stdin=stdin)
    assert done.exit_code == 0, done.stderr
    out = [json.loads(x) for x in done.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", 2, "c"]
    assert out[0]["flagged"] and out[0]["risk"] == 5 and out[0]["categories"] == {"suicide": 1.0}
    assert out[0]["hits"][0]["rule"] == "suicide.intent" and out[0]["hits"][0]["phrase"] == "kill myself"
    assert out[1] == {"id": 2, "flagged": False, "risk": 0, "categories": {}, "hits": []}
    assert out[2]["flagged"] and "pornography" in out[2]["categories"]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(stdin)
    with_model = safeguard("scan", str(corpus))
    assert with_model.exit_code == 0, with_model.stderr
    assert "bullying" in json.loads(with_model.stdout.splitlines()[1])["categories"]  # the model scores all


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "<stdin>:2: not JSON"),
        ('["a list"]', '<stdin>:2: expected an object with a "text" string'),
        ('{"id": 1, "text": "x", "source": "email"}', "<stdin>:2: source 'email' is not one of"),
        ('{"id": 1, "text": "x", "phase": "nursery"}', "<stdin>:2: phase 'nursery' is not one of"),
    ],
)
def test_scan_refuses_bad_lines(line: str, message: str) -> None:
    done = safeguard("scan", "--no-model", stdin='{"id": 0, "text": "fine"}\n' + line + "\n")
    assert done.exit_code == 2
    assert message in done.stderr
    assert json.loads(done.stdout)["id"] == 0  # what came before was still written


def test_scan_refuses_a_missing_file(tmp_path: Path) -> None:
    done = safeguard("scan", "--no-model", str(tmp_path / "missing.jsonl"))
    assert done.exit_code == 2 and "does not exist" in done.stderr


def test_import_domains_merges_a_list_that_a_rule_uses(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    public = tmp_path / "hosts.txt"
    public.write_text("# a public list\n0.0.0.0 new-casino.test\n||other-bets.test^\nnew-casino.test\n\n")
    done = safeguard("rules", "import-domains", str(public), "--category", "gambling", "--rules-dir", str(rules))
    assert done.exit_code == 0, done.stderr
    assert "2 domains added" in done.stdout and "warning" not in done.stdout
    scan = safeguard("scan", "--no-model", "--rules-dir", str(rules), stdin='{"id": 1, "text": "https://www.new-casino.test/", "source": "url"}\n')
    assert json.loads(scan.stdout)["hits"][0]["rule"] == "gambling.sites"


def test_import_domains_refuses_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("good.test\nnot a domain at all\n")
    done = safeguard("rules", "import-domains", str(bad), "--category", "gambling", "--rules-dir", str(tmp_path))
    assert done.exit_code == 1 and f"{bad}:2: expected one domain" in done.stderr
    done = safeguard("rules", "import-domains", str(bad), "--category", "sweets", "--rules-dir", str(tmp_path))
    assert done.exit_code == 2 and "unknown category 'sweets'" in done.stderr
