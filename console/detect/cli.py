"""`safeguard rules lint|test|import-domains` and `safeguard scan`."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, TextIO

import typer

from console.detect import Detector, ScanItem, ScanResult, default_rules_dir
from console.detect.domains import DomainListError, import_domain_list
from console.detect.rules import CATEGORIES, PHASES, SOURCES, Example, Rule, RuleError, load_rules

rules_app = typer.Typer(help="Check, test and extend the rule packs.", no_args_is_help=True)

RulesDir = Annotated[Path | None, typer.Option(help="Folder of rule packs (default: the shipped rules/).")]


def _load(rules_dir: Path | None) -> list[Rule]:
    try:
        return load_rules(rules_dir or default_rules_dir())
    except RuleError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@rules_app.command()
def lint(rules_dir: RulesDir = None) -> None:
    """Load every pack and report broken files (file:line) and doubtful rules."""
    rules = _load(rules_dir)
    warnings = []
    owner: dict[str, Rule] = {}
    for rule in rules:
        for phrase in rule.match.phrases:
            other = owner.setdefault(phrase.lower(), rule)
            if other is not rule:
                warnings.append(f"{rule.where}: phrase {phrase!r} of {rule.id} is also in {other.id}")
    for warning in warnings:
        typer.echo(f"warning: {warning}")
    per_category = Counter(rule.category for rule in rules)
    phrases = Counter()
    for rule in rules:
        phrases[rule.category] += len(rule.match.phrases) + sum(
            len(g) for g in rule.match.all_of + (rule.match.near.terms if rule.match.near else ())
        )
    for category in CATEGORIES:
        typer.echo(f"{category:18} {per_category[category]:4} rules {phrases[category]:5} phrases")
    testing = sum(1 for rule in rules if rule.status == "testing")
    typer.echo(f"{len(rules)} rules ({testing} testing), matcher: {Detector(rules).engine}")


def _item(example: Example) -> ScanItem:
    return ScanItem(example.text, example.source, example.phase, example.application, example.url)


def run_examples(rules: list[Rule]) -> list[str]:
    """Every rule's examples through one detector holding all rules; returns the failures."""
    detector = Detector(rules)
    cases = [(rule, e, True) for rule in rules for e in rule.hit_examples]
    cases += [(rule, e, False) for rule in rules for e in rule.miss_examples]
    results = detector.scan([_item(e) for _, e, _ in cases])
    failures = []
    for (rule, example, should_hit), result in zip(cases, results):
        hit = any(h.rule_id == rule.id for f in result.findings for h in f.hits)
        if hit != should_hit:
            what = example.text or example.url
            failures.append(f"{rule.where}: {rule.id} should {'hit' if should_hit else 'miss'} {what!r}")
    return failures


@rules_app.command()
def test(rules_dir: RulesDir = None) -> None:
    """Run every rule's hit and miss examples; print each failure."""
    rules = _load(rules_dir)
    failures = run_examples(rules)
    for failure in failures:
        typer.echo(failure)
    examples = sum(len(r.hit_examples) + len(r.miss_examples) for r in rules)
    typer.echo(f"{examples} examples of {len(rules)} rules: {len(failures)} failed")
    if failures:
        raise typer.Exit(1)


@rules_app.command("import-domains")
def import_domains(
    file: Annotated[Path, typer.Argument(help="Plain domain list, hosts file or adblock list.", exists=True, dir_okay=False)],
    category: Annotated[str, typer.Option(help="Category the domains belong to: " + ", ".join(CATEGORIES))],
    rules_dir: RulesDir = None,
) -> None:
    """Merge a public categorised domain list into rules/domains/<category>.txt."""
    if category not in CATEGORIES:
        typer.echo(f"error: unknown category {category!r} (one of {', '.join(CATEGORIES)})", err=True)
        raise typer.Exit(2)
    folder = (rules_dir or default_rules_dir()) / "domains"
    target = folder / f"{category}.txt"
    try:
        added = import_domain_list(file, target)
    except DomainListError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{target}: {added} domains added")
    rules = _load(rules_dir)
    if not any(target.name in rule.match.domain_lists and rule.category == category for rule in rules):
        typer.echo(f"warning: no {category} rule lists {target.name} in match.domain_lists, so it is not used")


class ScanInputError(ValueError):
    pass


def _read_items(lines: TextIO, origin: str) -> Iterator[tuple[object, ScanItem]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{origin}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ScanInputError(f"{where}: not JSON: {exc.msg}") from None
        if not isinstance(record, dict) or not isinstance(record.get("text", ""), str):
            raise ScanInputError(f'{where}: expected an object with a "text" string')
        source = record.get("source", "text")
        phase = record.get("phase", "secondary")
        if source not in SOURCES:
            raise ScanInputError(f"{where}: source {source!r} is not one of {', '.join(SOURCES)}")
        if phase not in PHASES:
            raise ScanInputError(f"{where}: phase {phase!r} is not one of {', '.join(PHASES)}")
        url = record.get("url", "")
        text = record.get("text", "")
        if source in ("url", "weblog") and not url and "://" in text:
            url = text  # {"source": "url", "text": "https://..."} as the issue shows it
        yield record.get("id"), ScanItem(text, source, phase, str(record.get("application", "")), str(url))


def result_record(item_id: object, result: ScanResult) -> dict:
    return {
        "id": item_id,
        "flagged": bool(result.findings),
        "risk": max((f.risk for f in result.findings), default=0),
        "categories": result.scores,
        "hits": [
            {"rule": h.rule_id, "category": h.category, "phrase": h.phrase, "start": h.start, "end": h.end}
            for f in result.findings
            for h in f.hits
        ],
    }


def scan(
    file: Annotated[
        Path | None, typer.Argument(help="JSON lines file (default: standard input).", exists=True, dir_okay=False)
    ] = None,
    rules_dir: RulesDir = None,
    no_model: Annotated[bool, typer.Option("--no-model", help="Rules only, without the classifier.")] = False,
    batch: Annotated[int, typer.Option(help="Lines scanned together.", min=1)] = 2000,
) -> None:
    """Scan JSON lines {"id", "text", "source", "phase"} with the rules (and the classifier) as the console
    does; write one JSON line per input {"id", "flagged", "risk", "categories", "hits"}."""
    classifier = None
    if not no_model:
        # Imported here so that the rule commands do not pay for loading scikit-learn.
        from console.detect.classifier import Classifier, ModelFormatError

        try:
            classifier = Classifier.load()
        except ModelFormatError as exc:
            typer.echo(f"error: {exc} (use --no-model to scan with the rules only)", err=True)
            raise typer.Exit(1) from None
    detector = Detector(_load(rules_dir), classifier)
    lines = file.open(encoding="utf-8") if file else sys.stdin
    origin = str(file) if file else "<stdin>"
    pending: list[tuple[object, ScanItem]] = []

    def flush() -> None:
        for (item_id, _), result in zip(pending, detector.scan([item for _, item in pending])):
            sys.stdout.write(json.dumps(result_record(item_id, result)) + "\n")
        pending.clear()

    try:
        for entry in _read_items(lines, origin):
            pending.append(entry)
            if len(pending) >= batch:
                flush()
        flush()
    except ScanInputError as exc:
        flush()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        if file:
            lines.close()
