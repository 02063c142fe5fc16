"""The Squid access.log parser: any line parses or raises SquidParseError, never anything else."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from console.webfilter.squid import AccessRecord, SquidParseError, parse_line, parse_syslog_line

GOOD = "1700000000.123    45 10.1.2.3 TCP_MISS/200 1234 GET https://www.google.com/search?q=how+to - HIER_DIRECT/1.2.3.4 text/html"


@st.composite
def mangled_lines(draw) -> str:
    fields = GOOD.split()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(fields) - 1))
        fields[i] = draw(st.one_of(st.text(max_size=30), st.sampled_from(["-", "1e309", "nan", "::1", "999.1.1.1", "/", "a/b/c"])))
    return draw(st.sampled_from([" ", "\t", "  "])).join(fields)


def _check(parse, line: str) -> None:
    try:
        record = parse(line)
    except SquidParseError as error:
        assert str(error)
        return
    assert isinstance(record, AccessRecord)
    assert isinstance(record.search_terms, str)
    assert record.time.tzinfo is not None


@given(st.one_of(mangled_lines(), st.text(max_size=300)))
@settings(max_examples=300, deadline=None)
def test_any_native_line_parses_or_fails_clearly(line):
    _check(parse_line, line)


@given(st.text(max_size=60), st.one_of(mangled_lines(), st.text(max_size=200)))
@settings(max_examples=200, deadline=None)
def test_any_syslog_line_parses_or_fails_clearly(prefix, line):
    _check(parse_syslog_line, f"<190>Nov 23 10:00:01 proxy squid[42]: {prefix}{line}")
