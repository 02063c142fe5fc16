"""Detection: normalise text, match every rule at once, add the classifier's view, score the risk.

This package knows nothing of the web or the database: it takes texts and their context and returns
findings, so the console's ingest, ``safeguard scan`` and the agent's prefilter all share it.
"""

from __future__ import annotations

import bisect
import ctypes
import itertools
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from console.detect.domains import host_of, host_suffixes
from console.detect.matcher import Matcher, Pattern, build_matcher
from console.detect.normalise import SPACED_LETTERS, SPACED_TRIGGER, Normalised, NormalisedBatch, normalise
from console.detect.rules import Rule, load_rules
from console.detect.scoring import adjust_for_repetition, rule_risk

if TYPE_CHECKING:
    from console.detect.classifier import Classifier

__all__ = [
    "Detector",
    "Finding",
    "Hit",
    "ScanItem",
    "ScanResult",
    "adjust_for_repetition",
    "default_rules_dir",
]

WEB_SOURCES = ("url", "weblog")


class ScanItem(NamedTuple):  # a tuple: made, hashed and compared in C, once or twice per event on the ingest path
    text: str
    source: str  # "text" | "window" | "url" | "weblog"
    phase: str = "secondary"  # "primary" | "secondary" (the school's phase)
    application: str = ""  # process name the text was typed in / window belongs to
    url: str = ""  # page url for web items (title goes in text): for domain rules and site context


@dataclass(frozen=True)
class Hit:
    rule_id: str
    category: str
    phrase: str  # the phrase or pattern as written in the rule
    start: int  # span of the match in the ORIGINAL text (best effort after normalisation)
    end: int


@dataclass(frozen=True)
class Finding:
    """One per flagged category of one item."""

    category: str
    risk: int  # 1..5 after severity, phase and source (repetition is the caller's: adjust_for_repetition)
    hits: tuple[Hit, ...]  # rule evidence (empty when only the model flagged it)
    model_score: float | None  # classifier probability for this category, None without a model
    model_features: tuple[str, ...]  # the model's top features for this text and category


@dataclass(frozen=True)
class ScanResult:
    findings: tuple[Finding, ...]  # empty = not flagged
    scores: dict[str, float]  # per-category score 0..1 (model probability, or 1.0 for a rule hit)


def default_rules_dir() -> Path:
    """The repository's rules/ folder (console/detect/__init__.py -> the repository root)."""
    return Path(__file__).resolve().parents[2] / "rules"


@dataclass(frozen=True)
class _Use:
    """One use of a compiled pattern by a rule."""

    rule: int
    kind: str  # "phrase" | "regex" | "all_of" | "near"
    group: int  # which group of all_of / near terms
    phrase: str  # as written in the rule
    runs: tuple[int, ...]  # least run length per character of the literal (empty for a regex)

    @property
    def doubled(self) -> tuple[tuple[int, int], ...]:
        """(offset, least run) of the literal's characters that need a run longer than one."""
        return tuple((i, need) for i, need in enumerate(self.runs) if need > 1)


# One match of a use in one normalised text: (use, start, end, text), start and end in the normalised text.
# A plain tuple: the close look makes several per candidate text.
_Occurrence = tuple[_Use, int, int, Normalised]


def keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed memory for the next allocation instead of handing it back to the
    system (once per process; nothing elsewhere). A scan allocates and frees numpy arrays of a few MB each;
    by default each comes fresh from mmap and costs a page fault per 4 kB touched, which was about a tenth
    of the detector's CPU. The process keeps its peak heap (a few tens of MB more) instead."""
    global _MEMORY_KEPT
    if _MEMORY_KEPT or not sys.platform.startswith("linux"):
        return
    _MEMORY_KEPT = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 128 << 20)  # allocations below 128 MB from the heap, not mmap
        libc.mallopt(_M_TRIM_THRESHOLD, 512 << 20)  # free heap kept up to 512 MB
    except (OSError, AttributeError):  # not glibc (musl, ...): leave malloc as it is
        pass


_MEMORY_KEPT = False
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt() parameters, from glibc's malloc.h


def _word_index(text: str, position: int) -> int:
    return text.count(" ", 0, position)


class Detector:
    def __init__(self, rules: Sequence[Rule], classifier: Classifier | None = None, *, engine: str = "auto") -> None:
        keep_freed_memory()
        self.rules = list(rules)
        self.classifier = classifier
        patterns: dict[Pattern, int] = {}
        self.uses: list[list[_Use]] = []

        def add(pattern: Pattern, use: _Use) -> None:
            index = patterns.setdefault(pattern, len(patterns))
            if index == len(self.uses):
                self.uses.append([])
            self.uses[index].append(use)

        def add_phrase(rule: int, kind: str, group: int, phrase: str) -> None:
            norm = normalise(phrase)
            add(Pattern(norm.text, False), _Use(rule, kind, group, phrase, norm.runs))
            words = norm.text.split()
            # "kill myself" is also written "killmyself" (and spelled out, "k i l l m y s e l f").
            if len(words) > 1 and len("".join(words)) >= 6:
                runs = tuple(r for c, r in zip(norm.text, norm.runs) if c != " ")
                add(Pattern(f" {''.join(words)} ", False), _Use(rule, kind, group, phrase, (1, *runs, 1)))

        self.domains: dict[str, list[int]] = defaultdict(list)
        for index, rule in enumerate(self.rules):
            for phrase in rule.match.phrases:
                add_phrase(index, "phrase", -1, phrase)
            for regex in rule.match.regex:
                add(Pattern(regex, True), _Use(index, "regex", -1, regex, ()))
            for group, phrases in enumerate(rule.match.all_of):
                for phrase in phrases:
                    add_phrase(index, "all_of", group, phrase)
            if rule.match.near:
                for group, phrases in enumerate(rule.match.near.terms):
                    for phrase in phrases:
                        add_phrase(index, "near", group, phrase)
            for domain in rule.domains:
                self.domains[domain].append(index)
        self.group_counts = [
            len(rule.match.all_of) or (len(rule.match.near.terms) if rule.match.near else 0) for rule in self.rules
        ]
        self.exception_phrases = [
            tuple(normalise(p).text for p in rule.exceptions.phrases) for rule in self.rules
        ]
        self.matcher: Matcher = build_matcher(list(patterns), engine=engine)
        # Per pattern, for the close look: each use with its rule and the doubled letters it needs.
        self._uses = [tuple((use, use.rule, use.doubled) for use in uses) for uses in self.uses]
        self._covered: dict[tuple[str, str], list[bool]] = {}
        # Per pattern, for the prefilter: does a match make its text a candidate, else the (rule, group) it counts for.
        self._direct = [any(use.group < 0 for use in uses) for uses in self.uses]
        self._grouped = [[(use.rule, use.group) for use in uses] for uses in self.uses]

    @classmethod
    def load(cls, rules_dir: Path | None = None, classifier: Classifier | None = None) -> Detector:
        return cls(load_rules(rules_dir or default_rules_dir()), classifier)

    @property
    def engine(self) -> str:
        return self.matcher.engine

    def candidates(self, items: Sequence[ScanItem]) -> set[int]:
        """Indexes of the items worth a close look: a phrase or regex matched, every group of a near or
        all_of rule matched, letters are spelled out, or the url is on a domain list. A superset: doubled
        letters, sources, phases, context and exceptions are checked in the close look."""
        return self._candidates(items)[0]

    def _candidates(self, items: Sequence[ScanItem]) -> tuple[set[int], NormalisedBatch]:
        batch = NormalisedBatch.of([item.text for item in items])
        big = batch.text
        starts = list(itertools.accumulate((len(part) + 1 for part in big.split("\n")), initial=0))
        found: set[int] = set()
        groups: dict[tuple[int, int], set[int]] = defaultdict(set)
        direct, grouped = self._direct, self._grouped
        for pattern, start, _ in self.matcher.scan(big):
            item = bisect.bisect_right(starts, start) - 1
            if direct[pattern]:
                found.add(item)
                continue
            for rule, group in grouped[pattern]:
                groups[item, rule].add(group)
        found.update(item for (item, rule), seen in groups.items() if len(seen) == self.group_counts[rule])
        found.update(bisect.bisect_right(starts, m.start()) - 1 for m in SPACED_TRIGGER.finditer(big))
        if self.domains:
            on_list: dict[str, bool] = {}  # per url: a page of a class is visited by many
            for index, item in enumerate(items):
                if item.url and item.source in WEB_SOURCES:
                    listed = on_list.get(item.url)
                    if listed is None:
                        listed = on_list[item.url] = bool(self._domain_rules(item.url))
                    if listed:
                        found.add(index)
        return found, batch

    def _domain_rules(self, url: str) -> list[tuple[int, str]]:
        return [(r, suffix) for suffix in host_suffixes(host_of(url)) for r in self.domains.get(suffix, ())]

    def scan(self, items: Sequence[ScanItem]) -> list[ScanResult]:
        """One result per item, in order, each with a scores dict of its own. Batched: call it with a whole batch.
        An item that occurs more than once (a page or a window a whole class has open) is scanned once."""
        distinct = list(dict.fromkeys(items))
        if len(distinct) == len(items):
            return self._scan(items)
        scanned = dict(zip(distinct, self._scan(distinct)))
        results = []
        given: set[ScanItem] = set()
        for item in items:
            result = scanned[item]
            if item in given:
                result = ScanResult(result.findings, dict(result.scores))
            else:
                given.add(item)
            results.append(result)
        return results

    def _scan(self, items: Sequence[ScanItem]) -> list[ScanResult]:
        """`scan` of distinct items."""
        hits: list[list[tuple[Hit, int]]] = [[] for _ in items]
        found, batch = self._candidates(items)
        looked = sorted(found)
        for index, norm in zip(looked, batch.normalised(looked)):
            hits[index] = self._hits(items[index], norm)
        model, features = self._model(items)
        return [
            ScanResult((), scores)
            if not (item_hits or risks)
            else self._result(item, item_hits, scores, risks, features)
            for item, item_hits, (scores, risks) in zip(items, hits, model)
        ]

    def _rules_for(self, source: str, phase: str) -> list[bool]:
        """Per rule: does it cover this source at this phase."""
        covered = self._covered.get((source, phase))
        if covered is None:
            covered = self._covered[source, phase] = [
                source in rule.sources and phase in rule.phases for rule in self.rules
            ]
        return covered

    def _occurrences(self, text: Normalised, covered: list[bool], by_rule: dict[int, list[_Occurrence]]) -> None:
        """Add each use matched in text, of a rule in covered, with the doubled letters its literal has."""
        runs = text.runs
        for pattern, start, end in self.matcher.scan(text.text):
            for use, rule, doubled in self._uses[pattern]:
                if not covered[rule]:
                    continue
                if doubled and any(runs[start + i] < need for i, need in doubled):
                    continue
                occurrences = by_rule.get(rule)
                if occurrences is None:
                    by_rule[rule] = [(use, start, end, text)]
                else:
                    occurrences.append((use, start, end, text))

    def _hits(self, item: ScanItem, norm: Normalised | None = None) -> list[tuple[Hit, int]]:
        """The item's rule hits, each with its risk (norm: normalise(item.text), when known)."""
        norm = norm or normalise(item.text)
        texts = [norm]
        if SPACED_LETTERS.search(norm.text):
            texts.append(normalise(item.text, join_spaced=True))
        covered = self._rules_for(item.source, item.phase)
        by_rule: dict[int, list[_Occurrence]] = {}
        for text in texts:
            self._occurrences(text, covered, by_rule)
        domain_hits = self._domain_rules(item.url) if item.url and item.source in WEB_SOURCES else []
        for rule_index, _ in domain_hits:
            if covered[rule_index]:
                by_rule.setdefault(rule_index, [])
        if not by_rule:
            return []
        application = item.application.lower()
        host = host_of(item.url) if item.url else ""
        sites = set(host_suffixes(host)) if host else set()
        out: list[tuple[Hit, int]] = []
        for rule_index, occurrences in by_rule.items():
            rule = self.rules[rule_index]
            hit = self._rule_hit(rule, occurrences, domain_hits and [d for r, d in domain_hits if r == rule_index])
            if hit is None or not self._applies(rule_index, application, sites, texts):
                continue
            out.append((hit, rule_risk(rule.phases[item.phase], item.source)))
        return out

    def _rule_hit(self, rule: Rule, occurrences: list[_Occurrence], domains: list[str]) -> Hit | None:
        first = None
        for occurrence in occurrences:
            if occurrence[0].group < 0 and (first is None or occurrence[1] < first[1]):
                first = occurrence  # a phrase or regex: the first (leftmost) one
        if first is not None:
            use, start, end, text = first
            return Hit(rule.id, rule.category, use.phrase, *text.original_span(start, end))
        if domains:
            return Hit(rule.id, rule.category, domains[0], 0, 0)
        grouped: dict[int, list[_Occurrence]] = defaultdict(list)
        for o in occurrences:
            grouped[o[0].group].append(o)
        if rule.match.all_of and len(grouped) == len(rule.match.all_of):
            chosen = [min(grouped[g], key=lambda o: o[1]) for g in range(len(rule.match.all_of))]
            return self._combined_hit(rule, chosen, " AND ")
        if rule.match.near and len(grouped) == len(rule.match.near.terms):
            within = rule.match.near.within
            groups = [grouped[g] for g in range(len(rule.match.near.terms))]
            for chosen in itertools.islice(itertools.product(*groups), 10_000):
                if len({id(o[3]) for o in chosen}) != 1:
                    continue
                words = [_word_index(o[3].text, o[1]) for o in chosen]
                if max(words) - min(words) <= within:
                    return self._combined_hit(rule, list(chosen), f" NEAR/{within} ")
        return None

    @staticmethod
    def _combined_hit(rule: Rule, chosen: list[_Occurrence], joiner: str) -> Hit:
        text = chosen[0][3]
        start, end = min(o[1] for o in chosen), max(o[2] for o in chosen)
        return Hit(rule.id, rule.category, joiner.join(o[0].phrase for o in chosen), *text.original_span(start, end))

    def _applies(self, rule_index: int, application: str, sites: set[str], texts: list[Normalised]) -> bool:
        """The rule's context holds and none of its exceptions does (application lower-cased, sites the
        page's host and its parent domains)."""
        rule = self.rules[rule_index]
        context = rule.context
        if context.applications or context.sites:
            in_app = any(a in application for a in context.applications) if application else False
            on_site = bool(sites.intersection(context.sites))
            if not (in_app or on_site):
                return False
        exceptions = rule.exceptions
        if application and any(a in application for a in exceptions.applications):
            return False
        if sites and sites.intersection(exceptions.sites):
            return False
        return not any(p in t.text for p in self.exception_phrases[rule_index] for t in texts)

    def _model(
        self, items: Sequence[ScanItem]
    ) -> tuple[list[tuple[dict[str, float], dict[str, int]]], dict[tuple[str, str], tuple[str, ...]]]:
        """Per item: (the model's probability per category, a dict of the item's own; its risk per category) —
        empty without a model; and the model's top features of each (text, category) it flags, explained
        from the same featurisation."""
        classifier = self.classifier
        if classifier is None or not items:
            return [({}, {}) for _ in items], {}
        categories = classifier.categories
        texts = list(dict.fromkeys(item.text for item in items))  # each distinct text once
        scored = classifier.score(texts)
        probabilities = scored.probabilities
        over = probabilities >= classifier.thresholds  # numpy, row by category
        by_text: dict[str, tuple[dict[str, float], dict[str, int]]] = {}
        wanted: list[tuple[int, str]] = []
        no_risk: dict[str, int] = {}  # shared, never changed
        for index, text, row, row_over in zip(
            itertools.count(), texts, probabilities.tolist(), over.any(axis=1).tolist()
        ):
            scores = dict(zip(categories, row))
            risks = no_risk
            if row_over:
                risks = {c: r for c, p in scores.items() if (r := classifier.risk_for(c, p)) > 0}
                wanted += [(index, c) for c in risks]
            by_text[text] = (scores, risks)
        features = {(texts[i], c): tuple(names) for (i, c), names in zip(wanted, scored.explain(wanted))}
        out = []
        given: set[str] = set()  # each result has a scores dict of its own: the first of a text gets the one made
        for item in items:
            scores, risks = by_text[item.text]
            if item.text in given:
                scores = scores.copy()
            else:
                given.add(item.text)
            out.append((scores, risks))
        return out, features

    def _result(
        self,
        item: ScanItem,
        item_hits: list[tuple[Hit, int]],
        model_scores: dict[str, float],
        model_risks: dict[str, int],
        model_features: dict[tuple[str, str], tuple[str, ...]],
    ) -> ScanResult:
        if not item_hits and not model_risks:
            return ScanResult(findings=(), scores=dict(model_scores))
        by_category: dict[str, list[tuple[Hit, int]]] = defaultdict(list)
        for hit, risk in item_hits:
            by_category[hit.category].append((hit, risk))
        scores = dict(model_scores)
        findings = []
        for category in sorted(set(by_category) | set(model_risks)):
            rule_hits = by_category.get(category, [])
            risk = max([r for _, r in rule_hits] + [model_risks.get(category, 0)])
            if rule_hits:
                scores[category] = 1.0
            findings.append(
                Finding(
                    category=category,
                    risk=risk,
                    hits=tuple(h for h, _ in rule_hits),
                    model_score=model_scores.get(category),
                    model_features=model_features.get((item.text, category), ()),
                )
            )
        findings.sort(key=lambda f: -f.risk)
        return ScanResult(findings=tuple(findings), scores=scores)
