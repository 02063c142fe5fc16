"""The rule format: YAML files under rules/, loaded into typed objects.

A file holds one category's pack::

    category: self_harm
    rules:
      - id: self_harm.cutting
        title: Talk of cutting oneself
        severity: 4                      # 1..5
        phases: {primary: 5, secondary: 4}   # or a list: [primary, secondary] (default: both, at severity)
        match:
          phrases: [cut myself, cutting myself]
          regex: ['\\bcut(ting)? (my|her|his) (wrists?|arms?)\\b']
          all_of: [[razor, blade], [myself, my arm]]       # one phrase of each group anywhere in the text
          near: {within: 5, terms: [[cut, cutting], [myself]]}  # one of each group within 5 words
          domains: [example.com]          # web items whose host is (under) one of these
          domain_lists: [self_harm.txt]   # files under rules/domains/ (see `safeguard rules import-domains`)
        sources: [text, window, url, weblog]
        context: {applications: [], sites: []}            # if given, the rule applies only there
        exceptions: {phrases: [], applications: [], sites: []}   # any of these cancels the hit
        status: stable                    # or testing
        examples:
          hit: [...]                      # strings, or {text, source, phase, application, url}
          miss: [...]

A broken file raises RuleError with ``file:line: what is wrong``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from console.detect.domains import read_domain_list
from console.detect.matcher import hyperscan_error
from console.detect.normalise import normalise

CATEGORIES = (
    "grooming",
    "bullying",
    "discrimination",
    "drugs",
    "extremism",
    "gambling",
    "pornography",
    "self_harm",
    "suicide",
    "violence",
    "eating_disorders",
)
SOURCES = ("text", "window", "url", "weblog")
PHASES = ("primary", "secondary")
STATUSES = ("stable", "testing")
MIN_EXAMPLES = 3
RULE_ID = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_-]+)+$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


class RuleError(ValueError):
    """A rule file is broken; the message is ``file:line: what is wrong``."""


@dataclass(frozen=True)
class Near:
    within: int  # words between the end of one term and the start of the next, at most
    terms: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Match:
    phrases: tuple[str, ...] = ()
    regex: tuple[str, ...] = ()
    all_of: tuple[tuple[str, ...], ...] = ()
    near: Near | None = None
    domains: tuple[str, ...] = ()
    domain_lists: tuple[str, ...] = ()


@dataclass(frozen=True)
class Conditions:
    phrases: tuple[str, ...] = ()
    applications: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()


@dataclass(frozen=True)
class Example:
    text: str = ""
    source: str = "text"
    phase: str = "secondary"
    application: str = ""
    url: str = ""


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    category: str
    severity: int
    phases: dict[str, int]  # phase -> severity there; a phase not listed is not covered by the rule
    match: Match
    sources: tuple[str, ...]
    context: Conditions
    exceptions: Conditions
    status: str
    hit_examples: tuple[Example, ...]
    miss_examples: tuple[Example, ...]
    file: str = ""
    line: int = 0
    domains: frozenset[str] = field(default=frozenset())  # match.domains plus the domain lists' contents

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _error(path: Path, node: Node, message: str) -> RuleError:
    return RuleError(f"{path}:{node.start_mark.line + 1}: {message}")


class _Reader:
    """Turns YAML nodes into values, raising errors that point at the node."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, node: Node, message: str) -> RuleError:
        return _error(self.path, node, message)

    def mapping(self, node: Node, what: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            raise self.error(node, f"{what} must be a mapping")
        out: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key not in allowed:
                raise self.error(key_node, f"unknown key {key!r} in {what} (allowed: {', '.join(allowed)})")
            if key in out:
                raise self.error(key_node, f"duplicate key {key!r} in {what}")
            out[key] = value_node
        for key in required:
            if key not in out:
                raise self.error(node, f"{what} is missing {key!r}")
        return out

    def string(self, node: Node, what: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag == "tag:yaml.org,2002:null" or not str(node.value).strip():
            raise self.error(node, f"{what} must be a non-empty string")
        return str(node.value)

    def integer(self, node: Node, what: str, low: int, high: int) -> int:
        if not isinstance(node, ScalarNode) or not re.fullmatch(r"-?\d+", str(node.value)):
            raise self.error(node, f"{what} must be a whole number from {low} to {high}")
        value = int(node.value)
        if not low <= value <= high:
            raise self.error(node, f"{what} must be from {low} to {high}, not {value}")
        return value

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, f"{what} must be a list")
        return list(node.value)

    def strings(self, node: Node, what: str) -> tuple[str, ...]:
        return tuple(self.string(item, f"each of {what}") for item in self.sequence(node, what))

    def choice(self, node: Node, what: str, choices: tuple[str, ...]) -> str:
        value = self.string(node, what)
        if value not in choices:
            raise self.error(node, f"{what} {value!r} is not one of {', '.join(choices)}")
        return value

    def phrases(self, node: Node, what: str) -> tuple[str, ...]:
        values = self.strings(node, what)
        for item, value in zip(self.sequence(node, what), values):
            if not normalise(value).text.strip():
                raise self.error(item, f"phrase {value!r} in {what} is empty once normalised")
        return values

    def groups(self, node: Node, what: str) -> tuple[tuple[str, ...], ...]:
        groups = tuple(self.phrases(group, f"each group of {what}") for group in self.sequence(node, what))
        if len(groups) < 2 or any(not g for g in groups):
            raise self.error(node, f"{what} needs at least two non-empty groups of phrases")
        return groups


def _compile_regex(reader: _Reader, node: Node, pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise reader.error(node, f"regex {pattern!r} does not compile: {exc}") from None
    problem = hyperscan_error(pattern)
    if problem:
        raise reader.error(node, f"regex {pattern!r} is not supported by hyperscan: {problem}")
    if re.search(pattern, " "):
        raise reader.error(node, f"regex {pattern!r} matches a blank text")
    literal = re.sub(r"\\.", "", pattern)  # what is left once escapes such as \b and \d are removed
    if not literal.isascii() or any(c.isupper() for c in literal):
        raise reader.error(node, f"regex {pattern!r} can never match: texts are normalised to lowercase ASCII")
    doubled = re.search(r"([a-z])\1", literal)
    if doubled:
        raise reader.error(
            node, f"regex {pattern!r} can never match {doubled.group()!r}: repeated letters are normalised to one"
        )


def _match(reader: _Reader, node: Node, domain_dir: Path) -> tuple[Match, frozenset[str]]:
    keys = ("phrases", "regex", "all_of", "near", "domains", "domain_lists")
    fields = reader.mapping(node, "match", keys)
    if not fields:
        raise reader.error(node, "match needs at least one of " + ", ".join(keys))
    phrases = reader.phrases(fields["phrases"], "match.phrases") if "phrases" in fields else ()
    regex = reader.strings(fields["regex"], "match.regex") if "regex" in fields else ()
    for item, pattern in zip(reader.sequence(fields["regex"], "match.regex") if regex else (), regex):
        _compile_regex(reader, item, pattern)
    all_of = reader.groups(fields["all_of"], "match.all_of") if "all_of" in fields else ()
    near = None
    if "near" in fields:
        near_fields = reader.mapping(fields["near"], "match.near", ("within", "terms"), ("within", "terms"))
        near = Near(
            within=reader.integer(near_fields["within"], "match.near.within", 1, 50),
            terms=reader.groups(near_fields["terms"], "match.near.terms"),
        )
    domains = reader.strings(fields["domains"], "match.domains") if "domains" in fields else ()
    for item, domain in zip(reader.sequence(fields["domains"], "match.domains") if domains else (), domains):
        if not DOMAIN.match(domain):
            raise reader.error(item, f"{domain!r} is not a lowercase domain name")
    domain_lists = reader.strings(fields["domain_lists"], "match.domain_lists") if "domain_lists" in fields else ()
    listed: set[str] = set(domains)
    for item, name in zip(reader.sequence(fields["domain_lists"], "match.domain_lists") if domain_lists else (), domain_lists):
        list_path = domain_dir / name
        if "/" in name or not list_path.is_file():
            raise reader.error(item, f"domain list {name!r} is not a file in {domain_dir}")
        listed.update(read_domain_list(list_path))
    match = Match(phrases, regex, all_of, near, domains, domain_lists)
    return match, frozenset(listed)


def _conditions(reader: _Reader, node: Node, what: str, keys: tuple[str, ...]) -> Conditions:
    fields = reader.mapping(node, what, keys)
    values: dict[str, Any] = {}
    for key, value in fields.items():
        values[key] = reader.phrases(value, f"{what}.{key}") if key == "phrases" else tuple(
            v.lower() for v in reader.strings(value, f"{what}.{key}")
        )
    return Conditions(**values)


def _example(reader: _Reader, node: Node, default_source: str, default_phase: str) -> Example:
    if isinstance(node, ScalarNode):
        return Example(text=reader.string(node, "an example"), source=default_source, phase=default_phase)
    fields = reader.mapping(node, "an example", ("text", "source", "phase", "application", "url"))
    if "text" not in fields and "url" not in fields:
        raise reader.error(node, "an example needs a text or a url")
    return Example(
        text=reader.string(fields["text"], "example text") if "text" in fields else "",
        source=(
            reader.choice(fields["source"], "example source", SOURCES)
            if "source" in fields
            else "url" if "text" not in fields else default_source
        ),
        phase=reader.choice(fields["phase"], "example phase", PHASES) if "phase" in fields else default_phase,
        application=reader.string(fields["application"], "example application") if "application" in fields else "",
        url=reader.string(fields["url"], "example url") if "url" in fields else "",
    )


RULE_KEYS = (
    "id", "title", "category", "severity", "phases", "match", "sources", "context", "exceptions", "status",
    "examples",
)


def _rule(reader: _Reader, node: Node, file_category: str, domain_dir: Path) -> Rule:
    fields = reader.mapping(node, "a rule", RULE_KEYS, ("id", "title", "severity", "match", "examples"))
    rule_id = reader.string(fields["id"], "id")
    if not RULE_ID.match(rule_id):
        raise reader.error(fields["id"], f"id {rule_id!r} must look like category.name (lowercase, digits, _ -)")
    category = reader.choice(fields["category"], "category", CATEGORIES) if "category" in fields else file_category
    severity = reader.integer(fields["severity"], "severity", 1, 5)
    phases = {phase: severity for phase in PHASES}
    if "phases" in fields:
        phases_node = fields["phases"]
        if isinstance(phases_node, MappingNode):
            phase_fields = reader.mapping(phases_node, "phases", PHASES)
            phases = {p: reader.integer(n, f"severity for {p}", 1, 5) for p, n in phase_fields.items()}
        else:
            phases = {
                reader.choice(n, "phase", PHASES): severity for n in reader.sequence(phases_node, "phases")
            }
        if not phases:
            raise reader.error(phases_node, "phases must name at least one phase")
    match, domains = _match(reader, fields["match"], domain_dir)
    text_matchers = match.phrases or match.regex or match.all_of or match.near
    default_sources = SOURCES if text_matchers else ("url", "weblog")
    sources = default_sources
    if "sources" in fields:
        sources = tuple(reader.choice(n, "source", SOURCES) for n in reader.sequence(fields["sources"], "sources"))
        if not sources:
            raise reader.error(fields["sources"], "sources must name at least one source")
    context = (
        _conditions(reader, fields["context"], "context", ("applications", "sites"))
        if "context" in fields
        else Conditions()
    )
    exceptions = (
        _conditions(reader, fields["exceptions"], "exceptions", ("phrases", "applications", "sites"))
        if "exceptions" in fields
        else Conditions()
    )
    status = reader.choice(fields["status"], "status", STATUSES) if "status" in fields else "stable"
    examples = reader.mapping(fields["examples"], "examples", ("hit", "miss"), ("hit", "miss"))
    default_phase = "secondary" if "secondary" in phases else "primary"
    built: dict[str, tuple[Example, ...]] = {}
    for kind in ("hit", "miss"):
        items = reader.sequence(examples[kind], f"examples.{kind}")
        if len(items) < MIN_EXAMPLES:
            raise reader.error(examples[kind], f"examples.{kind} needs at least {MIN_EXAMPLES} examples, has {len(items)}")
        built[kind] = tuple(_example(reader, item, sources[0], default_phase) for item in items)
    return Rule(
        id=rule_id,
        title=reader.string(fields["title"], "title"),
        category=category,
        severity=severity,
        phases=phases,
        match=match,
        sources=sources,
        context=context,
        exceptions=exceptions,
        status=status,
        hit_examples=built["hit"],
        miss_examples=built["miss"],
        file=str(reader.path),
        line=node.start_mark.line + 1,
        domains=domains,
    )


def load_file(path: Path) -> list[Rule]:
    """The rules of one pack file."""
    reader = _Reader(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise RuleError(f"{path}:{line}: not valid YAML: {exc.problem or exc}") from None
    except yaml.reader.ReaderError as exc:  # a control character, found before the parser has marks
        line = path.read_text(encoding="utf-8")[: exc.position].count("\n") + 1
        raise RuleError(f"{path}:{line}: not valid YAML: character {exc.character!r} is not allowed") from None
    except UnicodeDecodeError as exc:
        raise RuleError(f"{path}:1: not UTF-8 text: {exc}") from None
    if root is None:
        raise RuleError(f"{path}:1: the file is empty")
    fields = reader.mapping(root, "a rule file", ("category", "rules"), ("category", "rules"))
    category = reader.choice(fields["category"], "category", CATEGORIES)
    domain_dir = path.parent / "domains"
    return [_rule(reader, node, category, domain_dir) for node in reader.sequence(fields["rules"], "rules")]


def load_rules(rules_dir: Path) -> list[Rule]:
    """Every rule of every pack in rules_dir; rule ids are unique across packs."""
    if not rules_dir.is_dir():
        raise RuleError(f"{rules_dir}:1: not a directory of rule files")
    rules: list[Rule] = []
    seen: dict[str, Rule] = {}
    for path in sorted(rules_dir.glob("*.yaml")):
        for rule in load_file(path):
            if rule.id in seen:
                raise RuleError(f"{rule.where}: rule id {rule.id!r} is already used at {seen[rule.id].where}")
            seen[rule.id] = rule
            rules.append(rule)
    return rules
