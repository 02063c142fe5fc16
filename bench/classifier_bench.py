"""Classifier throughput on one core: texts/s batched (batches of 500) and one text at a time, and their ratio.

Run: ``python bench/classifier_bench.py [--texts 20000]``. The texts are synthetic pupil-like lines
(no training data is needed), so the figure measures the shipped model as the console runs it.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from console.detect.classifier import Classifier

WORDS = (
    "i you we they the a my your is are was not dont cant want need to go home school lesson maths teacher "
    "friend mum dad phone game tonight tomorrow homework football lunch break bus late sorry lol omg why what "
    "hate love sad happy tired nobody everyone life anymore help please stop leave alone stupid funny"
).split()


def texts(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(4, 20))) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=20_000, help="texts scored batched")
    parser.add_argument("--single", type=int, default=2_000, help="texts scored one at a time")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    classifier = Classifier.load()
    sample = texts(args.texts)
    classifier.predict_proba(sample[: args.batch])  # warm up

    wall, cpu = time.perf_counter(), time.process_time()
    for offset in range(0, len(sample), args.batch):
        classifier.predict_proba(sample[offset : offset + args.batch])
    batched = len(sample) / (time.perf_counter() - wall), len(sample) / (time.process_time() - cpu)

    wall, cpu = time.perf_counter(), time.process_time()
    for text in sample[: args.single]:
        classifier.predict_proba([text])
    single = args.single / (time.perf_counter() - wall), args.single / (time.process_time() - cpu)

    mean_chars = sum(map(len, sample)) / len(sample)
    print(f"model {classifier.version}, {len(classifier.categories)} categories, mean text {mean_chars:.0f} chars")
    # Per CPU-second as well as per wall-clock second: on a busy machine the second is the honest figure.
    print(f"batched ({args.batch}/batch): {batched[0]:10,.0f} texts/s wall {batched[1]:10,.0f} per CPU-s"
          "  (target 20,000)")
    print(f"one at a time:       {single[0]:10,.0f} texts/s wall {single[1]:10,.0f} per CPU-s")
    print(f"ratio batched/single: {batched[0] / single[0]:.1f}x wall, {batched[1] / single[1]:.1f}x CPU")


if __name__ == "__main__":
    main()
