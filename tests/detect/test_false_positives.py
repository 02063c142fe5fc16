"""All rules over the benign part of the shared datasets: the share of texts flagged per category must stay
under the agreed rates.

Benign labels are those the datasets' README names: davidson `neither`, tweeteval `not-hate` /
`not-offensive`, stormfront `noHate`, emotion `joy` / `optimism`, and every `none`. These are adult
social-media texts labelled for hate, not for safeguarding: many "benign" ones still contain slurs
("nigga", "retarded", "faggot") that a school monitoring service is right to record, so the two
slur-driven categories are allowed more. The rates are a regression guard set a little above what
the packs measure today (see the report of issue 4 for the measured figures).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from console.detect import Detector, ScanItem
from console.detect.rules import CATEGORIES

BENIGN = {"neither", "not-hate", "not-offensive", "noHate", "joy", "optimism", "none"}
AGREED_RATE = {
    "discrimination": 0.015,
    "bullying": 0.010,
    "pornography": 0.005,
    "drugs": 0.005,
    "violence": 0.0025,
    "extremism": 0.0025,
    "suicide": 0.001,
    "grooming": 0.001,
    "self_harm": 0.001,
    "gambling": 0.001,
    "eating_disorders": 0.001,
}


def benign_texts(datasets: Path) -> list[str]:
    texts = []
    for path in sorted(datasets.glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            texts += [r["text"] for r in map(json.loads, lines) if r["label"] in BENIGN]
    return texts


def test_false_positive_rate_per_category(shared_datasets: Path) -> None:
    texts = benign_texts(shared_datasets)
    assert len(texts) > 50_000
    results = Detector.load().scan([ScanItem(t, "text") for t in texts])
    flagged = Counter(f.category for r in results for f in r.findings)
    rates = {c: flagged[c] / len(texts) for c in CATEGORIES}
    over = {c: f"{rates[c]:.3%} > {AGREED_RATE[c]:.3%}" for c in CATEGORIES if rates[c] > AGREED_RATE[c]}
    assert not over, over
