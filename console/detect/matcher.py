"""One compiled multi-pattern matcher for all rules: hyperscan when importable, else pyahocorasick.

Patterns are literals (a normalised phrase padded by spaces, so matches fall on word boundaries) and
regexes (matched against the normalised text). A scan returns every match, overlapping ones included, as
(pattern index, start, end) in the scanned string.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import ahocorasick

try:
    import hyperscan
except ImportError:  # not built for this platform: the Aho-Corasick automaton takes over
    hyperscan = None


@dataclass(frozen=True)
class Pattern:
    text: str
    is_regex: bool


def hyperscan_error(regex: str) -> str:
    """Why hyperscan cannot compile regex, or "" (also when hyperscan is not installed)."""
    if hyperscan is None:
        return ""
    try:
        hyperscan.Database().compile(expressions=[regex.encode()], ids=[0], flags=[hyperscan.HS_FLAG_SOM_LEFTMOST])
    except hyperscan.error as exc:
        return str(exc)
    return ""


def _literal_expression(literal: str) -> bytes:
    return "".join(c if c.isalnum() else f"\\x{ord(c):02x}" for c in literal).encode()


class HyperscanMatcher:
    engine = "hyperscan"

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self.lengths = [0 if p.is_regex else len(p.text) for p in patterns]
        self.database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        if patterns:
            self.database.compile(
                expressions=[p.text.encode() if p.is_regex else _literal_expression(p.text) for p in patterns],
                ids=list(range(len(patterns))),
                flags=[hyperscan.HS_FLAG_SOM_LEFTMOST if p.is_regex else 0 for p in patterns],
            )
        self.empty = not patterns
        # A scratch space can serve one scan at a time: one per thread (ingest scans in worker threads).
        self.local = threading.local()

    def scan(self, text: str) -> list[tuple[int, int, int]]:
        if self.empty:
            return []
        found: list[tuple[int, int, int]] = []
        lengths = self.lengths

        def on_match(index: int, start: int, end: int, flags: int, context: object) -> None:
            found.append((index, start if lengths[index] == 0 else end - lengths[index], end))

        scratch = getattr(self.local, "scratch", None)
        if scratch is None:
            scratch = self.local.scratch = hyperscan.Scratch(self.database)
        self.database.scan(text.encode("ascii"), match_event_handler=on_match, scratch=scratch)
        return found


class AhoCorasickMatcher:
    """Literals in one automaton; regexes (few in the packs) each run over the text with re."""

    engine = "pyahocorasick"

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self.automaton = ahocorasick.Automaton()
        for index, pattern in enumerate(patterns):
            if not pattern.is_regex:
                self.automaton.add_word(pattern.text, (index, len(pattern.text)))
        self.has_literals = len(self.automaton) > 0
        if self.has_literals:
            self.automaton.make_automaton()
        self.regexes = [(i, re.compile(p.text)) for i, p in enumerate(patterns) if p.is_regex]

    def scan(self, text: str) -> list[tuple[int, int, int]]:
        found: list[tuple[int, int, int]] = []
        if self.has_literals:
            found = [(index, end + 1 - length, end + 1) for end, (index, length) in self.automaton.iter(text)]
        for index, regex in self.regexes:
            found += [(index, m.start(), m.end()) for m in regex.finditer(text)]
        return found


Matcher = HyperscanMatcher | AhoCorasickMatcher


def build_matcher(patterns: Sequence[Pattern], *, engine: str = "auto") -> Matcher:
    """engine: "auto" (hyperscan if importable), "hyperscan" or "pyahocorasick"."""
    if engine == "hyperscan" or (engine == "auto" and hyperscan is not None):
        if hyperscan is None:
            raise RuntimeError("hyperscan is not installed on this platform")
        return HyperscanMatcher(patterns)
    if engine not in ("auto", "pyahocorasick"):
        raise ValueError(f"unknown matcher engine {engine!r}")
    return AhoCorasickMatcher(patterns)
