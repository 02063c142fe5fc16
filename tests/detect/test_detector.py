"""The detector on the shipped packs and on small hand-made packs: matching, scoring, context, the web."""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from console.detect import Detector, ScanItem, adjust_for_repetition, default_rules_dir
from console.detect.classifier import Classifier
from console.detect.cli import run_examples
from console.detect.rules import CATEGORIES, load_file, load_rules


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.load()


def categories(detector: Detector, text: str, **context) -> set[str]:
    [result] = detector.scan([ScanItem(text, context.pop("source", "text"), **context)])
    return {f.category for f in result.findings}


def test_every_category_has_a_pack_with_rules_and_examples() -> None:
    rules = load_rules(default_rules_dir())
    for category in CATEGORIES:
        pack = [r for r in rules if r.category == category]
        assert len(pack) >= 4, category
        assert all(len(r.hit_examples) >= 3 and len(r.miss_examples) >= 3 for r in pack)


@pytest.mark.parametrize("engine", ["hyperscan", "pyahocorasick"])
def test_every_example_passes_on_both_engines(engine: str) -> None:
    rules = load_rules(default_rules_dir())
    failures = run_examples(rules) if engine == "hyperscan" else _run_with_engine(rules, engine)
    assert failures == []


def _run_with_engine(rules, engine: str) -> list[str]:
    detector = Detector(rules, engine=engine)
    assert detector.engine == engine
    failures = []
    for rule in rules:
        for example, should_hit in [(e, True) for e in rule.hit_examples] + [(e, False) for e in rule.miss_examples]:
            [result] = detector.scan([ScanItem(example.text, example.source, example.phase, example.application, example.url)])
            if any(h.rule_id == rule.id for f in result.findings for h in f.hits) != should_hit:
                failures.append(f"{rule.id}: {example}")
    return failures


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("i want to k1ll myself", "suicide"),  # leetspeak
        ("$elf h@rm is all i think about", "self_harm"),
        ("i just want to diiiiie", "suicide"),  # repeated letters
        ("k i l l   m y s e l f", "suicide"),  # spaced letters
        ("k.i.l.l.m.y.s.e.l.f", "suicide"),  # punctuated letters
        ("KILL MYSELF", "suicide"),  # case
        ("kíll mysélf", "suicide"),  # accents
        ("kill\u200b myself", "suicide"),  # zero-width characters
        ("ｋｉｌｌ ｍｙｓｅｌｆ", "suicide"),  # full-width (NFKC)
        ("killmyself", "suicide"),  # run together
        ("who sells w33d round here", "drugs"),
    ],
)
def test_obfuscations_are_caught(detector: Detector, text: str, category: str) -> None:
    assert category in categories(detector, text)


@pytest.mark.parametrize(
    "text",
    [
        "you were killing it in the match today",
        "I was dying of laughter at that video",
        "dying laughing omg",
        "my mum will kill me if I'm late again",
        "I'm gay and I'm proud of who I am",
        "she came out as lesbian to her friends",
        "LGBTQ+ history month assembly on Friday",
        "Our history lesson today was about the rise of the Nazi party in 1930s Germany",
        "In history we learned how the Holocaust happened and why extremism spreads",
        "Samaritans: if you are having thoughts of suicide, call 116 123",
        "Relationships and sex education: contraception and consent",
        "Brook sexual health service: free condoms and STI testing",
        "Childline: talking about self harm and how to get support",
        "the weed in the garden needs pulling",
        "see you on Wed for netball",
    ],
)
def test_innocent_phrases_are_not_flagged(detector: Detector, text: str) -> None:
    assert categories(detector, text) == set()


def test_help_pages_are_not_flagged(detector: Detector) -> None:
    assert not categories(detector, "Self-harm - NHS", source="url", url="https://www.nhs.uk/mental-health/conditions/self-harm/")
    assert not categories(detector, "Masturbation | Brook", source="url", url="https://www.brook.org.uk/your-life/masturbation/")
    assert not categories(detector, "Suicide prevention", source="url", url="https://www.samaritans.org/how-we-can-help/")


def test_hit_records_rule_phrase_and_span(detector: Detector) -> None:
    text = "honestly i want to K1LL  myself"
    [result] = detector.scan([ScanItem(text, "text")])
    [finding] = result.findings
    hit = next(h for h in finding.hits if h.rule_id == "suicide.intent")
    assert (hit.category, hit.phrase) == ("suicide", "kill myself")
    assert text[hit.start : hit.end] == "K1LL  myself"
    assert result.scores == {"suicide": 1.0}
    assert finding.model_score is None and finding.model_features == ()


PACK = """\
category: drugs
rules:
  - id: drugs.demo
    title: Demo
    severity: 3
    phases: {primary: 4, secondary: 2}
    match:
      near: {within: 2, terms: [[buy, sell], [weed, zoot]]}
    sources: [text, window, url]
    context: {applications: [discord]}
    exceptions: {phrases: [drug education], applications: [teams]}
    examples:
      hit: [{text: buy weed, application: discord.exe}, {text: sell some zoot, application: Discord}, {text: buy zoot, application: discord}]
      miss: [buy weed, {text: buy a lot of bread and weed, application: discord}, {text: buy weed drug education, application: discord}]
  - id: drugs.demo_domains
    title: Demo domains
    severity: 3
    match:
      domains: [example-drugs.test]
    examples:
      hit: [{url: "https://example-drugs.test/"}, {url: "http://shop.example-drugs.test/x"}, {url: "example-drugs.test:443", source: weblog}]
      miss: [{url: "https://drugs.test/"}, {url: "https://example-drugs.test.evil.org/"}, {text: example-drugs.test}]
"""


@pytest.fixture
def demo(tmp_path: Path) -> Detector:
    path = tmp_path / "drugs.yaml"
    path.write_text(textwrap.dedent(PACK))
    return Detector(load_file(path))


def test_near_context_exceptions_and_scoring(demo: Detector) -> None:
    def risk(text: str, **context) -> int:
        [result] = demo.scan([ScanItem(text, context.pop("source", "text"), **context)])
        return max((f.risk for f in result.findings), default=0)

    assert risk("buy some weed", application="Discord.exe") == 2  # secondary severity
    assert risk("buy some weed", application="discord", phase="primary") == 4  # primary severity
    assert risk("buy some weed", application="discord", source="url", phase="primary") == 3  # web page: one less
    assert risk("buy some weed", application="discord", source="weblog") == 0  # source not covered
    assert risk("buy some weed", application="notepad") == 0  # outside the context
    assert risk("buy some weed", application="ms-teams discord") == 0  # excepted application
    assert risk("buy a lot of bread and weed", application="discord") == 0  # too far apart
    assert risk("weed buy", application="discord") == 2  # either order


def test_domains_match_the_host_and_its_subdomains_only(demo: Detector) -> None:
    items = [
        ScanItem("", "url", url="https://shop.example-drugs.test/cart"),
        ScanItem("", "weblog", url="example-drugs.test:443"),
        ScanItem("", "url", url="https://example-drugs.test.evil.org/"),
        ScanItem("", "text", url="https://example-drugs.test/"),
    ]
    flagged = [bool(r.findings) for r in demo.scan(items)]
    assert flagged == [True, True, False, False]
    hit = demo.scan(items[:1])[0].findings[0].hits[0]
    assert (hit.rule_id, hit.phrase) == ("drugs.demo_domains", "example-drugs.test")


def test_batch_results_line_up_with_items(detector: Detector) -> None:
    texts = ["hello", "i want to kill myself", "", "nothing here", "go kys", "maths homework"] * 50
    results = detector.scan([ScanItem(t, "text") for t in texts])
    assert len(results) == len(texts)
    assert [bool(r.findings) for r in results] == [t in ("i want to kill myself", "go kys") for t in texts]
    assert detector.scan([]) == []


def test_repetition_raises_risk_up_to_five() -> None:
    assert [adjust_for_repetition(2, n) for n in (0, 2, 3, 9, 10, 50)] == [2, 2, 3, 3, 4, 4]
    assert adjust_for_repetition(5, 10) == 5
    assert adjust_for_repetition(1, 0) == 1


def test_the_classifier_joins_the_rules() -> None:
    classifier = Classifier.load()
    detector = Detector.load(classifier=classifier)
    model_only = "i feel so empty and alone, nobody would notice if i was gone, i have been thinking about ending things"
    both, quiet, by_model = detector.scan(
        [ScanItem("i want to kill myself", "text"), ScanItem("what time is maths", "text"), ScanItem(model_only, "text")]
    )
    assert set(both.scores) >= set(classifier.categories)
    suicide = next(f for f in both.findings if f.category == "suicide")
    assert suicide.hits and suicide.model_score is not None and both.scores["suicide"] == 1.0
    assert quiet.findings == () and all(p < 0.5 for p in quiet.scores.values())
    [finding] = [f for f in by_model.findings if f.category == "suicide"]
    assert finding.hits == () and finding.risk == classifier.risk_for("suicide", finding.model_score) > 0
    assert finding.model_features


@pytest.mark.parametrize("engine", ["hyperscan", "pyahocorasick"])
def test_regex_hits_map_back_to_the_original_span(engine: str) -> None:
    detector = Detector(load_rules(default_rules_dir()), engine=engine)
    text = "honestly im GONNA st4b him tomorrow!!"
    [result] = detector.scan([ScanItem(text, "text")])
    hit = next(h for f in result.findings for h in f.hits if h.rule_id == "violence.regex_threat")
    assert text[hit.start : hit.end] == "im GONNA st4b him tomorrow"


def test_threads_can_scan_at_once(detector: Detector) -> None:
    items = [ScanItem(t, "text") for t in ["i want to kill myself", "hello there", "go kys", "weed for sale"] * 200]
    expected = detector.scan(items)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(detector.scan, [items] * 8))
    assert all(r == expected for r in results)
