"""Detection throughput: the full packs, a 50-rule subset and a naive per-rule `re` loop, in one run.

    python bench/detect_bench.py [--lines 100000] [--seed 1]

Lines are synthetic but shaped like what agents send: typed chat and homework text, window titles and
page titles with urls, about 2 % of them concerning (some obfuscated). Prints lines/s for:
- matcher: normalisation of the whole batch plus one pass of the compiled automaton (the hot path's core);
- detector: `Detector.scan` end to end (close look at candidates, exceptions, scoring);
- naive: for every line, every rule's phrases as one `re` pattern each, searched in turn (lowercased text,
  no other normalisation: it does less work than the detector and still loses);
and the ratios full/subset (goal: within 2x) and compiled/naive (goal: at least 20x).
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections.abc import Callable, Sequence

from console.detect import Detector, ScanItem, default_rules_dir
from console.detect.normalise import normalise_batch
from console.detect.rules import Rule, load_rules

WORDS = (
    "the a to and of in is it you that for on was with he she they we are be this have from or one had by word "
    "but not what all were when your can said there use an each which do how their if will up other about out "
    "many then them these so some her would make like him into time has look two more write go see number no way "
    "could people my than first water been call who oil its now find long down day did get come made may part "
    "homework maths science english teacher lesson lunch break football match game minecraft roblox fortnite "
    "youtube video song music tiktok snap chat group friends mum dad brother sister weekend party tomorrow today "
    "tonight school bus class test exam revision essay project history geography art drama pe netball trip "
    "lol omg idk tbh ngl fr rn bro bruh lmao haha yeah nah ok okay pls thanks sorry love hate bored tired happy"
).split()
TITLES = (
    "Google Docs", "Microsoft Word", "Google Classroom", "YouTube", "Minecraft", "Roblox", "Discord", "Spotify",
    "BBC Bitesize", "Sparx Maths", "Seneca Learning", "Quizlet", "Microsoft Teams", "Google Chrome", "Scratch",
)
SITES = ("www.google.com/search?q=", "www.youtube.com/results?search_query=", "www.bing.com/search?q=")
CONCERNING = (
    "i want to kill myself", "i w4nt to d1e", "$elf h@rm again", "k i l l myself", "kys loser", "go die",
    "whos the plug for weed", "send me a pic dont tell ur mum", "ur so ugly no one likes you", "im bringing a knife",
    "how to make a pipe bomb", "pornhub", "free spins no deposit bonus", "i made myself sick after dinner",
    "thinspo", "heil hitler", "shut up you retard", "ill wet you up",
)


def make_lines(count: int, seed: int) -> list[ScanItem]:
    rng = random.Random(seed)
    items = []
    for _ in range(count):
        words = " ".join(rng.choices(WORDS, k=rng.randint(3, 14)))
        if rng.random() < 0.02:
            words = f"{words} {rng.choice(CONCERNING)}"
        kind = rng.random()
        if kind < 0.6:
            items.append(ScanItem(words.capitalize() if rng.random() < 0.5 else words, "text"))
        elif kind < 0.85:
            items.append(ScanItem(f"{words} - {rng.choice(TITLES)}", "window"))
        else:
            site = rng.choice(SITES)
            items.append(ScanItem(f"{words} - Search", "url", url=f"https://{site}{words.replace(' ', '+')}"))
    return items


def naive_patterns(rules: Sequence[Rule]) -> list[re.Pattern[str]]:
    """One regex per rule: its phrases and near/all_of terms as an alternation, on word boundaries."""
    patterns = []
    for rule in rules:
        terms = list(rule.match.phrases) + list(rule.match.regex)
        terms += [t for group in rule.match.all_of for t in group]
        terms += [t for group in (rule.match.near.terms if rule.match.near else ()) for t in group]
        if terms:
            patterns.append(re.compile(r"\b(?:" + "|".join(re.escape(t.lower()) for t in terms) + r")\b"))
    return patterns


def rate(label: str, count: int, run: Callable[[], object], repeat: int) -> float:
    """Lines per second of the best of `repeat` runs (the machine may be busy with other work)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    print(f"{label:42} {count / best:12,.0f} lines/s   (best of {repeat}: {best:.2f} s)")
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=2000, help="items per Detector.scan call, as ingest batches")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each compiled measurement (the naive loop runs once)")
    args = parser.parse_args()

    rules = load_rules(default_rules_dir())
    subset = sorted(rules, key=lambda r: r.id)[:50]
    full, small = Detector(rules), Detector(subset)
    items = make_lines(args.lines, args.seed)
    texts = [item.text for item in items]
    batches = [items[i : i + args.batch] for i in range(0, len(items), args.batch)]
    print(f"{len(items):,} lines, {len(rules)} rules ({len(full.uses)} patterns) vs {len(subset)} rules "
          f"({len(small.uses)} patterns), matcher: {full.engine}, batches of {args.batch}")

    def matcher(detector: Detector) -> Callable[[], object]:
        return lambda: [detector.matcher.scan(normalise_batch([t.text for t in b])) for b in batches]

    def detector_scan(detector: Detector) -> Callable[[], object]:
        return lambda: [detector.scan(b) for b in batches]

    naive = naive_patterns(rules)

    def naive_loop() -> list[int]:
        return [sum(1 for p in naive if p.search(t.lower())) for t in texts]

    matcher_full = rate("matcher, full packs", len(items), matcher(full), args.repeat)
    matcher_subset = rate("matcher, 50-rule subset", len(items), matcher(small), args.repeat)
    detector_full = rate("detector, full packs", len(items), detector_scan(full), args.repeat)
    detector_subset = rate("detector, 50-rule subset", len(items), detector_scan(small), args.repeat)
    naive_full = rate(f"naive per-rule re loop ({len(naive)} patterns)", len(items), naive_loop, 1)
    flagged = sum(1 for b in batches for r in full.scan(b) if r.findings)
    print(f"flagged {flagged:,} of {len(items):,} lines")
    print(f"ratio full/subset cost, matcher:  {matcher_subset / matcher_full:5.2f}x (goal: within 2x)")
    print(f"ratio full/subset cost, detector: {detector_subset / detector_full:5.2f}x")
    print(f"ratio compiled/naive, matcher:    {matcher_full / naive_full:5.1f}x (goal: at least 20x)")
    print(f"ratio compiled/naive, detector:   {detector_full / naive_full:5.1f}x")


if __name__ == "__main__":
    main()
