"""The machine-learned classifier that sits beside the rules: calibrated probabilities per category.

Texts become hashed features (word 1-2-grams and character 3-5-grams, each TF-IDF weighted and
L2-normalised), one logistic model per category scores them and a Platt sigmoid calibrates the score.
Feature hashing keeps the model file free of any training text: it holds only numbers (IDF weights,
coefficients, calibration, thresholds), the version, the training-data fingerprint and the metrics.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
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
    joined = _shorten_repeats(joined)
    # str.split() and \s agree on what whitespace is: this is _SPACE.sub(" ", part).strip().
    return [" ".join(part.split()) for part in joined.split(_TEXT_SEPARATOR)]


def _shorten_repeats(text: str) -> str:
    """_REPEAT.sub(r"\1\1", text), in numpy: the third and later characters of a run go (not newlines:
    ``.`` does not match them)."""
    ascii_ = text.isascii()
    codes = (
        np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        if ascii_
        else np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    )
    third = (codes[2:] == codes[1:-1]) & (codes[1:-1] == codes[:-2]) & (codes[2:] != ord("\n"))
    if not third.any():
        return text
    kept = np.ones(len(codes), dtype=bool)
    kept[2:] = ~third
    data = codes[kept].tobytes()
    return data.decode("ascii") if ascii_ else data.decode("utf-32-le", "surrogatepass")


_WORD_BYTE = np.zeros(256, dtype=bool)
_WORD_BYTE[list(b"0123456789_abcdefghijklmnopqrstuvwxyz")] = True
_WORD_BYTE[128:] = True  # the bytes of any non-ASCII character: letters of other scripts, emoji

Spans = tuple[np.ndarray, np.ndarray, np.ndarray]  # start offsets, end offsets, hash buckets


def _join(normalised: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The texts as one byte array, each padded with spaces and closed by a NUL, and where each text ends."""
    pieces = [f" {text} ".encode() for text in normalised]
    ends = np.cumsum([len(piece) + 1 for piece in pieces])
    return np.frombuffer(b"\0".join(pieces) + b"\0", dtype=np.uint8), ends


def _bucket(hashes: np.ndarray, bits: int, dtype: type = np.int64) -> np.ndarray:
    return ((hashes * _GOLDEN) >> np.uint64(64 - bits)).astype(dtype)


# Featurisation runs in numpy over a whole batch at once: scikit-learn's analysers run in Python per
# text and would cap throughput near 10,000 texts/s.
def _char_windows(buf: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """For each n of CHAR_NGRAMS: n, where every n-byte window that does not cross a text boundary starts,
    and its FNV-1a hash."""
    data = buf.astype(np.uint64)
    # The hash of every window of n + 1 bytes is that of its first n bytes taken one step further: the
    # windows grow one byte at a time.
    h = valid = None
    for n in range(1, max(CHAR_NGRAMS) + 1):
        count = len(data) - n + 1
        if count <= 0:
            break
        window = data[n - 1 : n - 1 + count]
        if h is None or valid is None:
            h, valid = (np.full(count, _FNV_OFFSET, dtype=np.uint64) ^ window) * _FNV_PRIME, window != 0
        else:
            h, valid = (h[:count] ^ window) * _FNV_PRIME, valid[:count] & (window != 0)
        if n in CHAR_NGRAMS:
            position = np.flatnonzero(valid)
            yield n, position, h[position]


def _char_ngrams(buf: np.ndarray) -> Spans:
    """Every character (byte) 3-, 4- and 5-gram that does not cross a text boundary."""
    starts, ends, buckets = [], [], []
    for n, position, hashes in _char_windows(buf):
        starts.append(position)
        ends.append(position + n)
        buckets.append(_bucket(hashes, CHAR_BITS))
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

    @cached_property
    def idf(self) -> np.ndarray:
        """The word IDF, then the character IDF."""
        return np.concatenate((self.word_idf, self.char_idf))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probability of each category for each text: shape (len(texts), len(categories))."""
        return self.score(texts).probabilities

    def score(self, texts: Sequence[str]) -> Scored:
        """predict_proba(texts), kept featurised so that texts among them can be explained without
        featurising them again (Scored.explain)."""
        chunks = [
            _Chunk.featurise(texts[start : start + MAX_CHUNK], self.idf)
            for start in range(0, len(texts), MAX_CHUNK)
        ]
        if not chunks:
            return Scored(self, chunks, np.zeros((0, len(self.categories))))
        parts = []
        for chunk in chunks:
            scores = chunk.scores(self.coef) + self.intercept
            parts.append(1.0 / (1.0 + np.exp(-(scores * self.calibration[:, 0] + self.calibration[:, 1]))))
        return Scored(self, chunks, np.concatenate(parts) if len(parts) > 1 else parts[0])

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
        texts = list(dict.fromkeys(text for text, _ in requests))
        chunks = [
            _Chunk.featurise(texts[start : start + MAX_CHUNK], self.idf)
            for start in range(0, len(texts), MAX_CHUNK)
        ]
        position = {text: i for i, text in enumerate(texts)}
        return Scored(self, chunks, np.zeros((0, 0))).explain(
            [(position[text], c) for text, c in requests], k
        )


_WORDS = 1 << WORD_BITS  # features: the word n-gram buckets, then the character n-gram buckets from _WORDS
_KEY_BITS = WORD_BITS + 1  # (text, feature) keys: text << _KEY_BITS | feature
assert CHAR_BITS == WORD_BITS and MAX_CHUNK << _KEY_BITS <= 1 << 31, "(text, feature) keys fit an int32"


@dataclass
class _Chunk:
    """Up to MAX_CHUNK texts featurised: every span (words, then characters, each kind in order) with its
    (text, feature) key, and each distinct key with its TF-IDF value."""

    n_texts: int
    buf: np.ndarray  # the texts normalised and joined (_join)
    # The spans, a block per kind in order (words, then character n-grams by n): where they start in buf,
    # where they end (or their length, the same for the whole block), and their keys.
    spans: list[tuple[np.ndarray, np.ndarray | int, np.ndarray]]
    distinct: np.ndarray  # the distinct keys, text << _KEY_BITS | feature (int32), sorted: by text, in each
    # text word features before characters
    values: np.ndarray  # theirs: sublinear TF times IDF, the words and the characters each L2-normalised
    indptr: np.ndarray  # where each text's word part (2t) and character part (2t + 1) start in distinct

    @classmethod
    def featurise(cls, texts: Sequence[str], idf: np.ndarray) -> _Chunk:
        """idf: the word IDF then the character IDF (float32). The same numbers as features(raw_counts())."""
        buf, _ = _join(normalise_many(texts))
        text_of = np.cumsum(buf == 0, dtype=np.int32)  # per byte: how many texts (each closed by a NUL) before
        starts, ends, buckets = _word_ngrams(buf)
        spans: list[tuple[np.ndarray, np.ndarray | int, np.ndarray]] = [
            (starts, ends, (text_of[starts] << _KEY_BITS) | buckets.astype(np.int32))
        ]
        for n, position, hashes in _char_windows(buf):
            keys = (text_of[position] << _KEY_BITS) | (_bucket(hashes, CHAR_BITS, np.int32) + _WORDS)
            spans.append((position, n, keys))
        # Sorting int32 keys is what makes this fast.
        distinct, counts = np.unique(np.concatenate([keys for _, _, keys in spans]), return_counts=True)
        feature = distinct & ((1 << _KEY_BITS) - 1)
        values = (1.0 + np.log(counts.astype(np.float32))) * idf[feature]
        # Each text's word part and character part scaled to unit length, as _tfidf does: the squares are
        # summed in the same order.
        part = ((distinct >> _KEY_BITS) << 1) | (feature >= _WORDS)  # in order: distinct is sorted
        norms = np.sqrt(np.bincount(part, weights=values * values, minlength=2 * len(texts)))
        norms[norms == 0] = 1.0
        values /= norms[part]
        indptr = np.searchsorted(part, np.arange(2 * len(texts) + 1))
        return cls(len(texts), buf, spans, distinct, values, indptr)

    def scores(self, coef: np.ndarray) -> np.ndarray:
        """features(...) @ coef of the texts, summed as that product sums them: a text's word features,
        then its character features, then the two sums added."""
        # Row 2t holds text t's word features, row 2t+1 its character features.
        rows = sparse.csr_matrix(
            (self.values, self.distinct & ((1 << _KEY_BITS) - 1), self.indptr),
            shape=(2 * self.n_texts, coef.shape[0]),
        )
        parts = rows @ coef
        return parts[0::2] + parts[1::2]

    def named(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per distinct (text, feature) some non-blank span of the given texts has: the key, its value, and
        where its first such span starts and ends in buf and its index among the texts' spans."""
        wanted = np.zeros(self.n_texts, dtype=bool)
        wanted[texts] = True
        picked = []
        for block_starts, block_ends, block_keys in self.spans:
            chosen = np.flatnonzero(wanted[block_keys >> _KEY_BITS])
            chosen_starts = block_starts[chosen]
            ends = chosen_starts + block_ends if isinstance(block_ends, int) else block_ends[chosen]
            picked.append((chosen_starts, ends, block_keys[chosen]))
        starts, ends, keys = (np.concatenate(part) for part in zip(*picked))
        # A span names nothing when it decodes to blanks: one with a printable ASCII character never does,
        # one of spaces only always does; the rest (non-ASCII bytes and spaces only: rare) are decoded to tell.
        buf = self.buf
        printable = np.concatenate(([0], np.cumsum((buf > 0x20) & (buf < 0x7F))))
        spaces = np.concatenate(([0], np.cumsum(buf == 0x20)))
        nonblank = printable[ends] - printable[starts] > 0
        unsure = np.flatnonzero(~nonblank & (spaces[ends] - spaces[starts] < ends - starts))
        raw = buf.tobytes()
        for i, start, end in zip(unsure.tolist(), starts[unsure].tolist(), ends[unsure].tolist()):
            nonblank[i] = bool(raw[start:end].decode(errors="ignore").strip())
        starts, ends, keys = starts[nonblank], ends[nonblank], keys[nonblank]
        named, first = np.unique(keys, return_index=True)
        # The texts' rows, one after the other (sorted, as distinct is): named is among them, most often all
        # of them.
        texts = np.flatnonzero(wanted)
        lo, hi = self.indptr[2 * texts], self.indptr[2 * texts + 2]
        lengths = hi - lo
        rows = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(lo, lengths)
        if len(rows) != len(named):
            rows = rows[np.searchsorted(self.distinct[rows], named)]
        return named, self.values[rows], starts[first], ends[first], first


class Scored:
    """The classifier's probabilities for some texts, with what it takes to explain them."""

    def __init__(self, classifier: Classifier, chunks: list[_Chunk], probabilities: np.ndarray) -> None:
        self.classifier = classifier
        self.chunks = chunks
        self.probabilities = probabilities

    def explain(self, requests: Sequence[tuple[int, str]], k: int = 5) -> list[list[str]]:
        """For each (index of a scored text, category): Classifier.explain(text, category, k)."""
        columns = [self.classifier._index(category) for _, category in requests]
        out: list[list[str]] = [[] for _ in requests]
        by_chunk: dict[int, list[tuple[int, int, int]]] = {}
        for answer, ((text, _), column) in enumerate(zip(requests, columns)):
            by_chunk.setdefault(text // MAX_CHUNK, []).append((answer, text % MAX_CHUNK, column))
        for chunk, chunk_requests in by_chunk.items():
            self._explain(self.chunks[chunk], chunk_requests, k, out)
        return out

    def _explain(
        self, chunk: _Chunk, requests: list[tuple[int, int, int]], k: int, out: list[list[str]]
    ) -> None:
        """For each (answer index, text index in chunk, category column): out[answer] = the top k names."""
        answer, text, column = (np.array(part, dtype=np.int64) for part in zip(*requests))
        named, values, piece_starts, piece_ends, first = chunk.named(text)
        named_text = named >> _KEY_BITS
        # Each text's named features in order of first appearance, so that a stable sort by contribution
        # leaves ties in that order.
        by_first = np.argsort((named_text.astype(np.int64) << 32) | first)  # distinct keys: any sort will do
        named, values, piece_starts, piece_ends = (
            named[by_first],
            values[by_first],
            piece_starts[by_first],
            piece_ends[by_first],
        )
        bounds = np.searchsorted(named_text[by_first], np.arange(chunk.n_texts + 1))
        # Each request's named features, one after the other, and their contributions to its category.
        lengths = bounds[text + 1] - bounds[text]
        request_of = np.repeat(np.arange(len(requests)), lengths)
        feature = (
            np.arange(lengths.sum())
            - np.repeat(np.cumsum(lengths) - lengths, lengths)
            + bounds[text][request_of]
        )
        contribution = (
            values[feature]
            * self.classifier.coef[named[feature] & ((1 << _KEY_BITS) - 1), column[request_of]]
        )
        positive = np.flatnonzero(contribution > 0)
        # By request, then by contribution, highest first (a positive float32's bits order as it does).
        descending = np.int64(0x7FFFFFFF) - contribution[positive].view(np.int32)
        ranked = positive[np.argsort((request_of[positive] << 31) | descending, kind="stable")]
        request_bounds = np.searchsorted(request_of[ranked], np.arange(len(requests) + 1)).tolist()
        # Names are looked at until k distinct ones are found: a few more than k per request first.
        rank = np.arange(len(ranked)) - np.repeat(np.asarray(request_bounds[:-1]), np.diff(request_bounds))
        early = ranked[rank < 2 * k]
        early_bounds = np.searchsorted(request_of[early], np.arange(len(requests) + 1)).tolist()
        starts, ends = piece_starts[feature[early]].tolist(), piece_ends[feature[early]].tolist()
        raw = chunk.buf.tobytes()
        for r, target in enumerate(answer.tolist()):
            top = out[target]
            for index in range(early_bounds[r], early_bounds[r + 1]):
                if len(top) == k:
                    break
                name = raw[starts[index] : ends[index]].decode(errors="ignore").strip()
                if name not in top:
                    top.append(name)
            if (
                len(top) < k
                and early_bounds[r + 1] - early_bounds[r] < request_bounds[r + 1] - request_bounds[r]
            ):
                for index in ranked[request_bounds[r] + 2 * k : request_bounds[r + 1]].tolist():
                    if len(top) == k:
                        break
                    f = feature[index]
                    name = raw[piece_starts[f] : piece_ends[f]].decode(errors="ignore").strip()
                    if name not in top:
                        top.append(name)
