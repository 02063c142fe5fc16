"""The machine-learned classifier that sits beside the rules: calibrated probabilities per category.

Texts become hashed features (word 1-2-grams and character 3-5-grams, each TF-IDF weighted and
L2-normalised), one logistic model per category scores them and a Platt sigmoid calibrates the score.
Feature hashing keeps the model file free of any training text: it holds only numbers (IDF weights,
coefficients, calibration, thresholds), the version, the training-data fingerprint and the metrics.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from scipy import sparse

# Bump when the file layout or the featurisation changes: a file of another format is refused.
FORMAT_VERSION = 1
SHIPPED_MODEL_PATH = Path(__file__).parent / "model" / "classifier.joblib"

CATEGORIES = (
    "self_harm", "suicide", "bullying", "discrimination", "extremism", "grooming",
    "pornography", "drugs", "violence", "gambling", "eating_disorders",
)
# Risk given by the model for a probability just over the threshold and for a probability of 1.
RISK_RANGE: dict[str, tuple[int, int]] = {
    "self_harm": (3, 5), "suicide": (3, 5), "grooming": (3, 5), "extremism": (2, 4),
    "bullying": (2, 3), "discrimination": (2, 3), "violence": (2, 4), "pornography": (2, 3),
    "drugs": (2, 3), "gambling": (1, 2), "eating_disorders": (2, 4),
}

WORD_BITS = 18
CHAR_BITS = 18
CHAR_NGRAMS = (3, 4, 5)
MAX_WORD_BYTES = 24  # longer words are hashed on their first 24 bytes
MAX_CHUNK = 4096  # texts featurised together at most: (text, bucket) keys must fit in an int32

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_REPEAT = re.compile(r"(.)\1{2,}")
_SPACE = re.compile(r"\s+")
_APOSTROPHE = re.compile(r"['’`]")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_PAIR_SALT = np.uint64(0x5BD1E9955BD1E995)


class ModelFormatError(ValueError):
    """The file is not a Safeguard classifier this code can read."""


def normalise(text: str) -> str:
    """Lower-case, unescape HTML, and fold the accidents of social-media text (links, @names, 'soooo')."""
    text = html.unescape(text).lower()
    text = _URL.sub(" url ", text)
    text = _MENTION.sub(" @user ", text)
    text = _APOSTROPHE.sub("", text)
    text = _REPEAT.sub(r"\1\1", text)
    return _SPACE.sub(" ", text).strip()


_TEXT_SEPARATOR = "\x1e"  # whitespace to every step of normalise(); html.unescape never produces it


def normalise_many(texts: Sequence[str]) -> list[str]:
    """[normalise(text) for text in texts], with each step run once over the texts joined."""
    if len(texts) < 2 or any(_TEXT_SEPARATOR in text for text in texts):
        return [normalise(text) for text in texts]
    # Spaces around the separator end any entity, url or @name at a text's end; no run of one character
    # crosses it (the runs of spaces it may shorten are whitespace, folded below).
    joined = html.unescape(f" {_TEXT_SEPARATOR} ".join(texts)).lower()
    joined = _URL.sub(" url ", joined)
    joined = _MENTION.sub(" @user ", joined)
    joined = _APOSTROPHE.sub("", joined)
    joined = _REPEAT.sub(r"\1\1", joined)
    # str.split() and \s agree on what whitespace is: this is _SPACE.sub(" ", part).strip().
    return [" ".join(part.split()) for part in joined.split(_TEXT_SEPARATOR)]


_WORD_BYTE = np.zeros(256, dtype=bool)
_WORD_BYTE[list(b"0123456789_abcdefghijklmnopqrstuvwxyz")] = True
_WORD_BYTE[128:] = True  # the bytes of any non-ASCII character: letters of other scripts, emoji

Spans = tuple[np.ndarray, np.ndarray, np.ndarray]  # start offsets, end offsets, hash buckets


def _join(normalised: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The texts as one byte array, each padded with spaces and closed by a NUL, and where each text ends."""
    pieces = [f" {text} ".encode() for text in normalised]
    ends = np.cumsum([len(piece) + 1 for piece in pieces])
    return np.frombuffer(b"\0".join(pieces) + b"\0", dtype=np.uint8), ends


def _bucket(hashes: np.ndarray, bits: int) -> np.ndarray:
    return ((hashes * _GOLDEN) >> np.uint64(64 - bits)).astype(np.int64)


# Featurisation runs in numpy over a whole batch at once: scikit-learn's analysers run in Python per
# text and would cap throughput near 10,000 texts/s.
def _char_ngrams(buf: np.ndarray) -> Spans:
    """Every character (byte) 3-, 4- and 5-gram that does not cross a text boundary."""
    data = buf.astype(np.uint64)
    starts, ends, buckets = [], [], []
    for n in CHAR_NGRAMS:
        count = len(data) - n + 1
        if count <= 0:
            continue
        h = np.full(count, _FNV_OFFSET, dtype=np.uint64)
        valid = np.ones(count, dtype=bool)
        for j in range(n):
            window = data[j : j + count]
            h = (h ^ window) * _FNV_PRIME
            valid &= window != 0
        position = np.flatnonzero(valid)
        starts.append(position)
        ends.append(position + n)
        buckets.append(_bucket(h[position], CHAR_BITS))
    return _concatenate(starts, ends, buckets)


def _word_ngrams(buf: np.ndarray) -> Spans:
    """Words of two or more letters and pairs of neighbouring words (as scikit-learn's word 1-2-grams)."""
    edges = np.diff(np.concatenate(([0], _WORD_BYTE[buf].astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long_enough = ends - starts >= 2
    starts, ends = starts[long_enough], ends[long_enough]
    data = buf.astype(np.uint64)
    h = np.full(len(starts), _FNV_OFFSET, dtype=np.uint64)
    for k in range(min(int((ends - starts).max(initial=0)), MAX_WORD_BYTES)):
        inside = starts + k < ends
        h[inside] = (h[inside] ^ data[starts[inside] + k]) * _FNV_PRIME
    texts_before = np.cumsum(buf == 0)
    same_text = texts_before[starts[1:]] == texts_before[ends[:-1]]
    pairs = (h[:-1] * _FNV_PRIME + (h[1:] ^ _PAIR_SALT))[same_text]
    return _concatenate(
        [starts, starts[:-1][same_text]],
        [ends, ends[1:][same_text]],
        [_bucket(h, WORD_BITS), _bucket(pairs, WORD_BITS)],
    )


def _concatenate(starts: list[np.ndarray], ends: list[np.ndarray], buckets: list[np.ndarray]) -> Spans:
    if not starts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(starts), np.concatenate(ends), np.concatenate(buckets)


def _counts(spans: Spans, text_ends: np.ndarray, bits: int) -> sparse.csr_matrix:
    """How often each bucket occurs in each text, as a (texts, 2**bits) matrix."""
    # (text, bucket) packed in one int32 key: sorting int32 is what makes this fast.
    rows = np.searchsorted(text_ends, spans[0], side="right").astype(np.int32)
    keys, counts = np.unique((rows << bits) | spans[2].astype(np.int32), return_counts=True)
    indptr = np.searchsorted(keys >> bits, np.arange(len(text_ends) + 1))
    return sparse.csr_matrix(
        (counts.astype(np.float32), keys & ((1 << bits) - 1), indptr), shape=(len(text_ends), 1 << bits)
    )


def _tfidf(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """Sublinear TF times IDF, then each row scaled to unit length."""
    data = (1.0 + np.log(counts.data)) * idf[counts.indices]
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=counts.shape[0]))
    norms[norms == 0] = 1.0
    data /= norms[rows]
    return sparse.csr_matrix((data.astype(np.float32), counts.indices, counts.indptr), shape=counts.shape)


def raw_counts(texts: Sequence[str]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Word and character n-gram counts of the texts, before IDF (training fits the IDF on these)."""
    if len(texts) > MAX_CHUNK:
        chunks = [raw_counts(texts[start : start + MAX_CHUNK]) for start in range(0, len(texts), MAX_CHUNK)]
        return tuple(sparse.vstack(part, format="csr") for part in zip(*chunks))  # type: ignore[return-value]
    buf, text_ends = _join(normalise_many(texts))
    return _counts(_word_ngrams(buf), text_ends, WORD_BITS), _counts(_char_ngrams(buf), text_ends, CHAR_BITS)


def features(
    word_counts: sparse.csr_matrix, char_counts: sparse.csr_matrix, word_idf: np.ndarray, char_idf: np.ndarray
) -> sparse.csr_matrix:
    return sparse.hstack(
        [_tfidf(word_counts, word_idf), _tfidf(char_counts, char_idf)], format="csr", dtype=np.float32
    )


@dataclass
class Classifier:
    version: str
    categories: list[str]
    word_idf: np.ndarray  # (2**WORD_BITS,)
    char_idf: np.ndarray  # (2**CHAR_BITS,)
    coef: np.ndarray  # (n_features, n_categories)
    intercept: np.ndarray  # (n_categories,)
    calibration: np.ndarray  # (n_categories, 2): probability = sigmoid(a * score + b)
    thresholds: np.ndarray  # (n_categories,)
    fingerprint: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Classifier:
        path = path or SHIPPED_MODEL_PATH
        try:
            stored = joblib.load(path)
        except FileNotFoundError:
            raise ModelFormatError(f"no classifier model file at {path}") from None
        except Exception as error:
            raise ModelFormatError(f"{path} is not a Safeguard classifier model file ({error})") from None
        if not isinstance(stored, dict) or stored.get("kind") != "safeguard-classifier":
            raise ModelFormatError(f"{path} is not a Safeguard classifier model file")
        if stored.get("format") != FORMAT_VERSION:
            raise ModelFormatError(
                f"{path} was written in classifier format version {stored.get('format')}, but this Safeguard "
                f"reads format version {FORMAT_VERSION}: retrain it with `safeguard model train`"
            )
        # Only the rows of features seen in training are stored; the others are zero.
        coef = np.zeros((len(stored["word_idf"]) + len(stored["char_idf"]), len(stored["categories"])), np.float32)
        coef[stored["coef_rows"]] = stored["coef"]
        return cls(
            version=stored["version"],
            categories=list(stored["categories"]),
            word_idf=stored["word_idf"].astype(np.float32),
            char_idf=stored["char_idf"].astype(np.float32),
            coef=coef,
            intercept=stored["intercept"],
            calibration=stored["calibration"],
            thresholds=stored["thresholds"],
            fingerprint=stored["fingerprint"],
            metrics=stored["metrics"],
        )

    def save(self, path: Path) -> None:
        """Write the model: float16 weights of the features seen in training, compressed (a few MB)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(
            {
                "kind": "safeguard-classifier",
                "format": FORMAT_VERSION,
                "version": self.version,
                "categories": list(self.categories),
                "word_idf": self.word_idf.astype(np.float16),
                "char_idf": self.char_idf.astype(np.float16),
                "coef_rows": (rows := np.flatnonzero(self.coef.any(axis=1)).astype(np.int32)),
                "coef": self.coef[rows].astype(np.float16),
                "intercept": self.intercept,
                "calibration": self.calibration,
                "thresholds": self.thresholds,
                "fingerprint": self.fingerprint,
                "metrics": self.metrics,
            },
            path,
            compress=("xz", 6),
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probability of each category for each text: shape (len(texts), len(categories))."""
        if len(texts) == 0:
            return np.zeros((0, len(self.categories)))
        word_counts, char_counts = raw_counts(texts)
        words = 1 << WORD_BITS
        scores = (
            _tfidf(word_counts, self.word_idf) @ self.coef[:words]
            + _tfidf(char_counts, self.char_idf) @ self.coef[words:]
            + self.intercept
        )
        return 1.0 / (1.0 + np.exp(-(scores * self.calibration[:, 0] + self.calibration[:, 1])))

    def _index(self, category: str) -> int:
        if category not in self.categories:
            raise ValueError(
                f"the classifier has no model for category {category!r}; it covers {', '.join(self.categories)}"
            )
        return self.categories.index(category)

    def risk_for(self, category: str, probability: float) -> int:
        """0 below the category's threshold, else a risk from the category's range, higher when surer."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, got {probability}")
        threshold = float(self.thresholds[self._index(category)])
        if probability < threshold:
            return 0
        low, high = RISK_RANGE[category]
        # Equal bands of [threshold, 1], one per risk level from low to high.
        band = int((high - low + 1) * (probability - threshold) / max(1.0 - threshold, 1e-9))
        return min(low + band, high)

    def explain(self, text: str, category: str, k: int = 5) -> list[str]:
        """The ``k`` words or character n-grams of ``text`` that pushed ``category``'s score up most."""
        return self.explain_many([(text, category)], k)[0]

    def explain_many(self, requests: Sequence[tuple[str, str]], k: int = 5) -> list[list[str]]:
        """``explain(text, category, k)`` for each (text, category), featurising all the texts at once.

        Each answer is the one the text alone gives: a batch does not change a text's feature row, and
        each feature is named by the first non-blank span of the text that has it (words before character
        n-grams, in order); features rank by contribution, ties by that first appearance."""
        columns = [self._index(category) for _, category in requests]
        texts = list(dict.fromkeys(text for text, _ in requests))
        named: dict[str, _Named] = {}
        for start in range(0, len(texts), MAX_CHUNK):
            named.update(self._named_features(texts[start : start + MAX_CHUNK]))
        out = []
        for (text, _), column in zip(requests, columns):
            row_features, row_values, buckets, firsts, piece_starts, piece_ends, raw = named[text]
            top: list[str] = []
            if len(buckets):
                contribution = row_values * self.coef[row_features, column]
                # Every named feature is in the text's row (unless its weight is an explicit zero).
                at = np.minimum(np.searchsorted(row_features, buckets), len(row_features) - 1)
                value = np.where(row_features[at] == buckets, contribution[at], np.float32(0))
                positive = np.flatnonzero(value > 0)
                for index in positive[np.lexsort((firsts[positive], -value[positive]))]:
                    if len(top) == k:
                        break
                    name = raw[piece_starts[index] : piece_ends[index]].decode(errors="ignore").strip()
                    if name not in top:
                        top.append(name)
            out.append(top)
        return out

    def _named_features(self, texts: Sequence[str]) -> dict[str, _Named]:
        buf, text_ends = _join(normalise_many(texts))
        word_spans, char_spans = _word_ngrams(buf), _char_ngrams(buf)
        rows = features(
            _counts(word_spans, text_ends, WORD_BITS), _counts(char_spans, text_ends, CHAR_BITS),
            self.word_idf, self.char_idf,
        )
        starts = np.concatenate((word_spans[0], char_spans[0]))
        ends = np.concatenate((word_spans[1], char_spans[1]))
        buckets = np.concatenate((word_spans[2], char_spans[2] + (1 << WORD_BITS)))
        # A span names nothing when it decodes to blanks: one with a printable ASCII character never does, one
        # of spaces only always does; the rest (non-ASCII bytes and spaces only: rare) are decoded to tell.
        printable = np.concatenate(([0], np.cumsum((buf > 0x20) & (buf < 0x7F))))
        spaces = np.concatenate(([0], np.cumsum(buf == 0x20)))
        n_printable = printable[ends] - printable[starts]
        nonblank = n_printable > 0
        raw = buf.tobytes()
        unsure = np.flatnonzero(~nonblank & (spaces[ends] - spaces[starts] < ends - starts))
        for i, start, end in zip(unsure.tolist(), starts[unsure].tolist(), ends[unsure].tolist()):
            nonblank[i] = bool(raw[start:end].decode(errors="ignore").strip())
        starts, ends, buckets = starts[nonblank], ends[nonblank], buckets[nonblank]
        text_of = np.searchsorted(text_ends, starts, side="right")
        order = np.argsort(text_of, kind="stable")  # span order kept within each text
        starts, ends, buckets = starts[order], ends[order], buckets[order]
        bounds = np.searchsorted(text_of[order], np.arange(len(texts) + 1))
        out = {}
        for t, text in enumerate(texts):
            a, b = bounds[t], bounds[t + 1]
            distinct, firsts = np.unique(buckets[a:b], return_index=True)
            out[text] = (
                rows.indices[rows.indptr[t] : rows.indptr[t + 1]].astype(np.int64),
                rows.data[rows.indptr[t] : rows.indptr[t + 1]],
                distinct,
                firsts,
                starts[a:b][firsts],
                ends[a:b][firsts],
                raw,
            )
        return out


# Per text: its feature row (sorted feature indexes, values) and, per distinct feature some non-blank span
# of it has: the feature (sorted), the index of its first such span, where that span starts and ends in
# the featurised bytes, and those bytes.
_Named = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, bytes]
