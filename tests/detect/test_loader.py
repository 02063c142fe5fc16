"""Broken rule files fail with file:line: what is wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from console.detect.rules import RuleError, load_file, load_rules

GOOD_RULE = """\
  - id: drugs.test
    title: A test rule
    severity: 3
    match:
      phrases: [weed]
    examples:
      hit: [weed, "smoking weed", "w33d"]
      miss: [wed, "weeding", "seaweed"]
"""


def write(tmp_path: Path, body: str, name: str = "pack.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_a_good_file_loads_into_typed_rules(tmp_path: Path) -> None:
    [rule] = load_file(write(tmp_path, "category: drugs\nrules:\n" + GOOD_RULE))
    assert (rule.id, rule.category, rule.severity, rule.status) == ("drugs.test", "drugs", 3, "stable")
    assert rule.phases == {"primary": 3, "secondary": 3}
    assert rule.sources == ("text", "window", "url", "weblog")
    assert rule.line == 3 and len(rule.hit_examples) == 3


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("category: drugs\nrules: [\n", 3, "not valid YAML"),
        ("", 1, "the file is empty"),
        ("category: drugz\nrules: []\n", 1, "'drugz' is not one of"),
        ("category: drugs\n", 1, "missing 'rules'"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace("severity: 3", "severity: 9"), 5, "severity must be from 1 to 5"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace("severity: 3", "severity: high"), 5, "severity must be a whole number"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace("    title: A test rule\n", ""), 3, "missing 'title'"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace("title:", "titel:"), 4, "unknown key 'titel'"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace("phrases: [weed]", "regex: ['(unclosed']"), 7, "does not compile"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace("phrases: [weed]", "regex: ['(?=look)ahead']"), 7, "hyperscan"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace("phrases: [weed]", "phrases: ['!!!']"), 7, "empty once normalised"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace("phrases: [weed]", "regex: ['\\bWeed\\b']"), 7, "lowercase ASCII"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace("phrases: [weed]", "regex: ['\\bweed\\b']"), 7, "can never match 'ee'"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace('miss: [wed, "weeding", "seaweed"]', "miss: [wed]"), 10, "at least 3"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace("id: drugs.test", "id: Drugs Test"), 3, "must look like"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace("phrases: [weed]", "near: {within: 3, terms: [[a]]}"), 7, "two non-empty groups"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace("phrases: [weed]", "domains: [Not A Domain]"), 7, "not a lowercase domain"),
        ("category: drugs\nrules:\n" + GOOD_RULE.replace("phrases: [weed]", "domain_lists: [missing.txt]"), 7, "is not a file"),
        ("category: drugs\nrules:\n" + GOOD_RULE + "    sources: [email]\n", 11, "'email' is not one of"),
        ("category: drugs\nrules:\n" + GOOD_RULE + "    phases: {infant: 2}\n", 11, "unknown key 'infant'"),
        ("category: drugs\nrules:\n" + GOOD_RULE + "    status: beta\n", 11, "'beta' is not one of"),
    ],
)
def test_errors_point_at_the_line(tmp_path: Path, body: str, line: int, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(RuleError) as caught:
        load_file(path)
    assert str(caught.value).startswith(f"{path}:{line}: "), str(caught.value)
    assert message in str(caught.value)


def test_duplicate_ids_across_files_name_both_places(tmp_path: Path) -> None:
    first = write(tmp_path, "category: drugs\nrules:\n" + GOOD_RULE, "a.yaml")
    second = write(tmp_path, "category: drugs\nrules:\n" + GOOD_RULE, "b.yaml")
    with pytest.raises(RuleError, match=f"^{second}:3: rule id 'drugs.test' is already used at {first}:3$"):
        load_rules(tmp_path)


def test_missing_rules_folder(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="not a directory"):
        load_rules(tmp_path / "nowhere")
