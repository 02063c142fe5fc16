"""Text normalisation before matching, with a map back to the original text.

The normalised form is ASCII: lowercase letters, digits and single spaces. Steps, in order:

1. fold each character: NFKC, casefold, accents stripped, look-alike letters mapped to Latin, zero-width
   characters and apostrophes dropped, everything else that is not a letter, digit or leet symbol -> space;
2. leetspeak inside words that contain a letter (``k1ll``, ``$elf``, ``h@rm``), then leftover symbols -> space;
3. runs of spaces -> one space;
4. (variant only) letters spelled out one by one are joined (``k i l l``, ``k.i.l.l`` -> ``kill``);
5. runs of a repeated letter -> one letter (``diiiie`` -> ``die``), remembering each run's length so that a
   match can require at least the doubled letters its phrase has (``weed`` must not match ``wed``).

``normalise_batch`` is the hot path: it joins a whole batch and runs each step once, in C, over the joined
string. ``normalise`` does the same steps on one text while tracking offsets (3 and 5 in one pass; step by
step in ``normalise_stepwise``); the detector calls it only for texts that matched something.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
APOSTROPHES = "'\u2019\u2018`\u00b4\u02bc"
LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "i"}
LEET_SYMBOLS = "@$!|"
# Cyrillic and Greek letters that look like Latin ones (after casefold).
CONFUSABLES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "ο": "o",
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ß": "ss",
}
SEPARATOR = "\n"  # between the texts of a batch; no step below crosses it


def _fold_char(char: str) -> str:
    if char in ZERO_WIDTH or char in APOSTROPHES:
        return ""
    folded = unicodedata.normalize("NFKC", char).casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    out = []
    for c in decomposed:
        if unicodedata.combining(c) or c in ZERO_WIDTH or c in APOSTROPHES:
            continue
        c = CONFUSABLES.get(c, c)
        out.append(c if c.isascii() and (c.isalnum() or c in LEET_SYMBOLS) else " ")
    return "".join(out)


class _FoldTable(dict[int, str]):
    """A str.translate table filled on first sight of each character."""

    def __missing__(self, codepoint: int) -> str:
        folded = self[codepoint] = _fold_char(chr(codepoint))
        return folded


FOLD = _FoldTable()
for _c in range(128):
    FOLD[_c]  # fill ASCII up front so that str.translate takes its fast path
FOLD[ord(SEPARATOR)] = SEPARATOR
ASCII_FOLD = bytes(ord(FOLD[c] or " ") for c in range(128)) + bytes(range(128, 256))
ASCII_APOSTROPHES = APOSTROPHES.encode("ascii", "ignore")  # the ASCII characters FOLD drops
assert ASCII_APOSTROPHES == b"'`", "NormalisedBatch.normalised() knows which ASCII characters FOLD drops"
SYMBOLS_TO_SPACE = str.maketrans({s: " " for s in LEET_SYMBOLS})

LEET_RUN = re.compile(r"[0-9@$!|]+")
SPACES = re.compile(r" {2,}")
SPACED_LETTERS = re.compile(r"(?<![a-z0-9])[a-z](?: [a-z]){2,}(?![a-z0-9])")
SPACED_TRIGGER = re.compile(r" [a-z] [a-z] [a-z] ")  # the same, found faster in normalised text
DOUBLE_ONES = re.compile(r"1{2,}")
REPEATS = re.compile(r"([a-z])\1+")
COLLAPSE = re.compile(r"([a-z ])\1+")  # a run of one letter (step 5) or of spaces (step 3)


def _unleet_run(match: re.Match[str]) -> str:
    """A run of digits and leet symbols, rewritten as letters when it touches a letter (k1ll, $elf, h@rm, d13)."""
    run = match.group()
    text, (start, end) = match.string, match.span()
    letter_before = start > 0 and "a" <= text[start - 1] <= "z"
    letter_after = end < len(text) and "a" <= text[end] <= "z"
    if not (letter_before or letter_after):
        return run
    # Symbols around a word are punctuation ("help!!", "@jack"); only those inside it stand for letters.
    core = run if letter_before else run.lstrip("@!|")
    core = core if letter_after else core.rstrip("!|")
    if not core:
        return " " * len(run)
    head = len(run) - len(run.lstrip("@!|")) if not letter_before else 0
    tail = len(run) - head - len(core)
    core = DOUBLE_ONES.sub(lambda m: "l" * len(m.group()), core)  # "ki11" is "kill", "k1ll" too
    return " " * head + "".join(LEET.get(c, c) for c in core) + " " * tail


def _first_letter(match: re.Match[str]) -> str:
    return match.group(1)


def _join_spaced(match: re.Match[str]) -> str:
    return match.group().replace(" ", "")


def _single_line_ascii(text: str) -> str:
    if not text.isascii():
        text = text.translate(FOLD)
    return text.replace(SEPARATOR, " ") if SEPARATOR in text else text


def normalise_batch(texts: Sequence[str]) -> str:
    """All texts normalised and joined by SEPARATOR, each padded by a space on both sides."""
    return NormalisedBatch.of(texts).text


_RUN_BYTE = np.zeros(256, dtype=bool)  # the characters whose runs are shortened to one: letters and spaces
_RUN_BYTE[list(b"abcdefghijklmnopqrstuvwxyz ")] = True


@dataclass(frozen=True)
class NormalisedBatch:
    """normalise_batch() of some texts, with what it takes to give any of them as normalise() does."""

    texts: Sequence[str]
    text: str  # normalise_batch(texts)
    positions: np.ndarray  # per character left of the folded batch (separators included): its position there
    runs: np.ndarray  # and how many characters of the folded batch it stands for
    separators: np.ndarray  # which of those characters are the separators between texts

    @classmethod
    def of(cls, texts: Sequence[str]) -> NormalisedBatch:
        # Texts that are not ASCII are folded one by one (str.translate leaves its fast path at the first
        # non-ASCII character); then the whole batch, now ASCII, goes through bytes.translate at once.
        joined = SEPARATOR.join(map(_single_line_ascii, texts)).encode("ascii")
        folded = joined.translate(ASCII_FOLD, ASCII_APOSTROPHES).decode("ascii")
        folded = LEET_RUN.sub(_unleet_run, folded).translate(SYMBOLS_TO_SPACE)
        # Steps 3 and 5 in numpy, as the regular expressions would run per character: each run of spaces or
        # of one letter shortened to its first character, then the spaces at either end of a text dropped.
        data = np.frombuffer(folded.encode("ascii"), dtype=np.uint8)
        first = np.ones(len(data), dtype=bool)
        first[1:] = (data[1:] != data[:-1]) | ~_RUN_BYTE[data[1:]]
        positions = np.flatnonzero(first)
        runs = np.diff(positions, append=len(data))
        chars = data[positions]
        edge = np.concatenate(([True], chars == ord(SEPARATOR), [True]))  # spaces are single now
        kept = (chars != ord(" ")) | ~(edge[:-2] | edge[2:])
        positions, runs, chars = positions[kept], runs[kept], chars[kept]
        text = " " + chars.tobytes().decode("ascii").replace(SEPARATOR, " \n ") + " "
        return cls(texts, text, positions, runs, np.flatnonzero(chars == ord(SEPARATOR)))

    def normalised(self, indexes: Sequence[int]) -> list[Normalised]:
        """normalise(texts[i]) for each i of indexes (ASCII texts without apostrophes, whose folded
        characters stand where they stood in the text, from the batch; others one by one)."""
        simple, out = [], {}
        for i in indexes:
            text = self.texts[i]
            if text.isascii() and "'" not in text and "`" not in text:
                simple.append(i)
            else:
                out[i] = normalise(text)
        if simple:
            # Where each text starts in the folded batch, and its run of characters left.
            separators = self.separators
            text_starts = np.concatenate(([0], self.positions[separators] + 1))
            bounds = np.concatenate(([0], separators + 1, [len(self.positions) + 1]))
            wanted = np.array(simple, dtype=np.int64)
            lengths = bounds[wanted + 1] - 1 - bounds[wanted]
            at = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            at += np.repeat(bounds[wanted], lengths)
            starts = self.positions[at] - np.repeat(text_starts[wanted], lengths)
            runs = self.runs[at]
            starts_list, ends_list, runs_list = starts.tolist(), (starts + runs).tolist(), runs.tolist()
            # Text i, padded, in self.text: each separator before it stands there as " \n ".
            text_at = (bounds[wanted] + 2 * wanted).tolist()
            end = 0
            for i, at, length in zip(simple, text_at, lengths.tolist()):
                start, end = end, end + length
                if length:
                    first, last = starts_list[start], ends_list[end - 1]
                else:
                    first = last = 0
                out[i] = Normalised(
                    text=self.text[at : at + length + 2],
                    starts=(first, *starts_list[start:end], last),
                    ends=(first, *ends_list[start:end], last),
                    runs=(1, *runs_list[start:end], 1),
                )
        return [out[i] for i in indexes]


@dataclass(frozen=True)
class Normalised:
    """One text normalised (padded by a space on both sides) with, for each of its characters, the span of
    the original text it came from and the length of the run of that letter before repeats were collapsed."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    runs: tuple[int, ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text behind normalised text[start:end]."""
        while start < end - 1 and self.text[start] == " ":
            start += 1
        while end - 1 > start and self.text[end - 1] == " ":
            end -= 1
        return self.starts[start], self.ends[end - 1]


def _substitute(
    pattern: re.Pattern[str], replace, text: str, starts: list[int], ends: list[int], runs: list[int]
) -> tuple[str, list[int], list[int], list[int]]:
    """re.sub that carries the per-character spans and run lengths along.

    ``replace(match)`` returns the replacement; each of its characters takes the span of the matched
    characters it stands for: one for one when lengths are equal, else the whole match (a collapsed run
    keeps the run's length)."""
    out: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    new_runs: list[int] = []
    pos = 0
    for match in pattern.finditer(text):
        a, b = match.span()
        out.append(text[pos:a])
        new_starts += starts[pos:a]
        new_ends += ends[pos:a]
        new_runs += runs[pos:a]
        replacement = replace(match)
        out.append(replacement)
        if len(replacement) == b - a:
            new_starts += starts[a:b]
            new_ends += ends[a:b]
            new_runs += runs[a:b]
        elif pattern is SPACED_LETTERS:
            kept = [i for i in range(a, b) if text[i] != " "]
            new_starts += [starts[i] for i in kept]
            new_ends += [ends[i] for i in kept]
            new_runs += [runs[i] for i in kept]
        else:
            new_starts += [starts[a]] * len(replacement)
            new_ends += [ends[b - 1]] * len(replacement)
            new_runs += [sum(runs[a:b])] * len(replacement)
        pos = b
    out.append(text[pos:])
    new_starts += starts[pos:]
    new_ends += ends[pos:]
    new_runs += runs[pos:]
    return "".join(out), new_starts, new_ends, new_runs


def _fold(text: str) -> tuple[str, Sequence[int]]:
    """Step 1 (with the leetspeak of step 2): the folded text and, per character, where it starts in text
    (each character comes from one character of text and ends one after its start)."""
    if text.isascii():
        # Each ASCII character folds to one character, apostrophes to none: bytes.translate does it in C.
        folded = text.replace(SEPARATOR, " ").encode("ascii").translate(ASCII_FOLD, ASCII_APOSTROPHES).decode("ascii")
        starts: Sequence[int] = range(len(text)) if len(folded) == len(text) else [
            i for i, char in enumerate(text) if char not in APOSTROPHES
        ]
    else:
        chars: list[str] = []
        starts = []
        for i, char in enumerate(text):
            folded = FOLD[ord(" " if char == SEPARATOR else char)]
            chars.append(folded)
            starts += [i] * len(folded)
        folded = "".join(chars)
    # Leetspeak keeps the length: offsets are unchanged.
    if LEET_RUN.search(folded):
        folded = LEET_RUN.sub(_unleet_run, folded).translate(SYMBOLS_TO_SPACE)
    return folded, starts


def normalise(text: str, *, join_spaced: bool = False) -> Normalised:
    """One text normalised exactly as normalise_batch does, with offsets; join_spaced gives the variant in
    which letters spelled out one by one are joined."""
    if join_spaced:
        return normalise_stepwise(text, join_spaced=True)
    folded, starts = _fold(text)
    ends = range(1, len(folded) + 1) if isinstance(starts, range) else [s + 1 for s in starts]
    # Steps 3 and 5 at once: no run of spaces ends next to a letter run of the same letter, so shortening
    # both kinds of run to their first character in one pass is the same as doing it in two.
    lead = len(folded) - len(folded.lstrip(" "))
    stop = max(len(folded.rstrip(" ")), lead)
    kept_starts: list[int] = []
    kept_ends: list[int] = []
    long_runs: list[tuple[int, int]] = []
    pos = lead
    for match in COLLAPSE.finditer(folded, lead, stop):
        a, b = match.span()
        kept_starts += starts[pos : a + 1]
        kept_ends += ends[pos:a]
        kept_ends.append(ends[b - 1])
        long_runs.append((len(kept_starts), b - a))  # its index once padded
        pos = b
    kept_starts += starts[pos:stop]
    kept_ends += ends[pos:stop]
    runs = [1] * (len(kept_starts) + 2)
    for index, run in long_runs:
        runs[index] = run
    first, last = (kept_starts[0], kept_ends[-1]) if kept_starts else (0, 0)
    return Normalised(
        text=" " + (COLLAPSE.sub(_first_letter, folded[lead:stop]) if long_runs else folded[lead:stop]) + " ",
        starts=(first, *kept_starts, last),
        ends=(first, *kept_ends, last),
        runs=tuple(runs),
    )


def normalise_stepwise(text: str, *, join_spaced: bool = False) -> Normalised:
    """normalise() one step after the other (the reference it is tested against; the spelled-out variant)."""
    folded, fold_starts = _fold(text)
    starts = list(fold_starts)
    ends = [s + 1 for s in starts]
    runs = [1] * len(folded)
    folded, starts, ends, runs = _substitute(SPACES, lambda m: " ", folded, starts, ends, runs)
    if folded.startswith(" "):
        folded, starts, ends, runs = folded[1:], starts[1:], ends[1:], runs[1:]
    if folded.endswith(" "):
        folded, starts, ends, runs = folded[:-1], starts[:-1], ends[:-1], runs[:-1]
    if join_spaced:
        folded, starts, ends, runs = _substitute(SPACED_LETTERS, _join_spaced, folded, starts, ends, runs)
    folded, starts, ends, runs = _substitute(REPEATS, _first_letter, folded, starts, ends, runs)
    first, last = (starts[0], ends[-1]) if starts else (0, 0)
    return Normalised(
        text=" " + folded + " ",
        starts=(first, *starts, last),
        ends=(first, *ends, last),
        runs=(1, *runs, 1),
    )

