"""The shipped packs: coverage per category, examples per rule, and the innocent texts of issue 4 not flagged."""

from __future__ import annotations

from collections import Counter

import pytest

from console.detect import Detector, ScanItem, default_rules_dir
from console.detect.rules import CATEGORIES, MIN_EXAMPLES, load_rules

RULES = load_rules(default_rules_dir())


def test_every_category_has_a_real_pack() -> None:
    rules = Counter(r.category for r in RULES)
    phrases = Counter()
    for rule in RULES:
        phrases[rule.category] += len(rule.match.phrases) + sum(len(g) for g in rule.match.all_of)
        phrases[rule.category] += sum(len(g) for g in rule.match.near.terms) if rule.match.near else 0
    thin = {c: (rules[c], phrases[c]) for c in CATEGORIES if rules[c] < 20 or phrases[c] < 200}
    assert not thin, f"categories below 20 rules / 200 phrases: {thin}"


def test_every_rule_has_enough_distinct_examples() -> None:
    short = [
        r.id for r in RULES
        if len(set(r.hit_examples)) < MIN_EXAMPLES or len(set(r.miss_examples)) < MIN_EXAMPLES
    ]
    assert not short


INNOCENT = [
    "you're killing it in that dress",
    "i was dying of laughter in maths",
    "my mum will kill me if i'm late",
    "I'm gay and my parents are supportive",
    "trans rights are human rights - pride month assembly",
    "GCSE history: how did Hitler and the Nazis come to power?",
    "Prevent lesson: how groups like ISIS recruit young people online",
    "Brook sexual health: free condoms and the morning after pill",
    "Childline: if you self harm you can talk to a counsellor",
    "Samaritans: if you are having thoughts of suicide, call 116 123",
    "beat eating disorders helpline for parents",
    "this homework is so hard i want to die lol it's so embarrassing",
    "bet you can't finish that for a fiver",
    "knife crime awareness assembly this afternoon",
]


@pytest.mark.parametrize("source", ["text", "url"])
def test_innocent_texts_are_not_flagged(source: str) -> None:
    results = Detector(RULES).scan([ScanItem(text, source) for text in INNOCENT])
    flagged = {text: [h.rule_id for f in r.findings for h in f.hits] for text, r in zip(INNOCENT, results) if r.findings}
    assert not flagged
