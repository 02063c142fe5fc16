"""Text normalisation and the rule loader never crash: normalisation keeps its offsets inside the
original text, and any rule file either loads or fails with a RuleError naming file:line."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.detect import default_rules_dir
from console.detect.normalise import normalise, normalise_batch
from console.detect.rules import RuleError, load_file

# Letters, leetspeak, spacing tricks, zero-width and combining characters, separators, anything.
tricky = st.text(alphabet=st.sampled_from(list("aeiklsy013457@$!.-_ *\u200b\u200d\u0301\u00e9\u0130\ufb01\n\t\u2028")), max_size=80)
texts = st.one_of(tricky, st.text(max_size=200))


@given(texts, st.booleans())
@settings(max_examples=300, deadline=None)
def test_normalise_keeps_offsets_inside_the_original(text, join_spaced):
    result = normalise(text, join_spaced=join_spaced)
    assert len(result.text) == len(result.starts) == len(result.ends) == len(result.runs)
    assert all(0 <= s <= e <= len(text) for s, e in zip(result.starts, result.ends))
    for start in range(0, len(result.text), 3):
        begin, end = result.original_span(start, min(len(result.text), start + 4))
        assert 0 <= begin <= end <= len(text)


@given(st.lists(texts, max_size=8))
@settings(max_examples=150, deadline=None)
def test_normalise_batch_gives_one_line_per_text(batch):
    assert isinstance(normalise_batch(batch), str)


REAL_PACK = (default_rules_dir() / "self_harm.yaml").read_text(encoding="utf-8")
LOCATED = re.compile(r"^.+\.yaml:\d+: \S")


@st.composite
def mutated_packs(draw) -> str:
    """A real pack with lines dropped, duplicated, re-indented or replaced by junk."""
    lines = REAL_PACK.splitlines()
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "dup", "indent", "junk", "truncate"]))
        if action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "indent":
            lines[i] = " " * draw(st.integers(0, 5)) + lines[i].lstrip()
        elif action == "junk":
            lines[i] = draw(st.text(alphabet=st.sampled_from(list("ab:-[]{}'\"#&*!|>% 0123456789\\")), max_size=30))
        else:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        if not lines:
            break
    return "\n".join(lines)


@given(st.one_of(mutated_packs(), st.text(max_size=300)))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_rule_file_loads_or_fails_with_file_and_line(tmp_path: Path, content):
    path = tmp_path / "fuzzed.yaml"
    path.write_text(content, encoding="utf-8")
    try:
        rules = load_file(path)
    except RuleError as error:
        assert LOCATED.match(str(error)), f"error without file:line: {error}"
        return
    assert all(rule.id for rule in rules)


@given(st.binary(max_size=200))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_undecodable_rule_file_is_a_clear_error(tmp_path: Path, content):
    path = tmp_path / "bytes.yaml"
    path.write_bytes(content)
    try:
        load_file(path)
    except RuleError as error:
        assert LOCATED.match(str(error)), f"error without file:line: {error}"
