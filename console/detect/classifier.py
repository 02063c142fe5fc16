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
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import HashingVectorizer

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

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_REPEAT = re.compile(r"(.)\1{2,}")
_SPACE = re.compile(r"\s+")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_FNV_PRIME = np.uint64(0x100000001B3)


class ModelFormatError(ValueError):
    """The file is not a Safeguard classifier this code can read."""


def normalise(text: str) -> str:
    """Lower-case, unescape HTML, and fold the accidents of social-media text (links, @names, 'soooo')."""
    text = html.unescape(text).lower()
    text = _URL.sub(" url ", text)
    text = _MENTION.sub(" @user ", text)
    text = _REPEAT.sub(r"\1\1", text)
    return _SPACE.sub(" ", text).strip()


_WORD_ANALYZER = HashingVectorizer(ngram_range=(1, 2), lowercase=False).build_analyzer()
_WORD_HASHER = FeatureHasher(n_features=1 << WORD_BITS, input_type="string", alternate_sign=False)


def _char_ngram_hashes(encoded: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hash every character n-gram of ``encoded`` (texts joined by NUL bytes) in one vectorised pass.

    Returns (start offset, n, bucket) for each n-gram that does not cross a NUL separator.
    Done in numpy because scikit-learn's character analyser runs in Python and would cap
    throughput near 10,000 texts/s.
    """
    buf = np.frombuffer(encoded, dtype=np.uint8).astype(np.uint64)
    starts, sizes, buckets = [], [], []
    for n in CHAR_NGRAMS:
        count = len(buf) - n + 1
        if count <= 0:
            continue
        h = np.full(count, 0xCBF29CE484222325, dtype=np.uint64)
        valid = np.ones(count, dtype=bool)
        for j in range(n):
            window = buf[j : j + count]
            h = (h ^ window) * _FNV_PRIME
            valid &= window != 0
        position = np.flatnonzero(valid)
        starts.append(position)
        sizes.append(np.full(len(position), n))
        buckets.append(((h[position] * _GOLDEN) >> np.uint64(64 - CHAR_BITS)).astype(np.int64))
    if not starts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(starts), np.concatenate(sizes), np.concatenate(buckets)


def _char_counts(normalised: Sequence[str]) -> sparse.csr_matrix:
    pieces = [f" {t} ".encode() for t in normalised]
    ends = np.cumsum([len(p) + 1 for p in pieces])
    starts, _, buckets = _char_ngram_hashes(b"\0".join(pieces) + b"\0")
    rows = np.searchsorted(ends, starts, side="right")
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, buckets)), shape=(len(pieces), 1 << CHAR_BITS)
    )
    matrix.sum_duplicates()
    return matrix


def _word_counts(normalised: Sequence[str]) -> sparse.csr_matrix:
    return _WORD_HASHER.transform(_WORD_ANALYZER(t) for t in normalised).astype(np.float32)


def _tfidf(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """Sublinear TF times IDF, then each row scaled to unit length."""
    weighted = counts.copy()
    weighted.data = (1.0 + np.log(weighted.data)) * idf[weighted.indices]
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    weighted.data /= np.repeat(norms, np.diff(weighted.indptr)).astype(np.float32)
    return weighted


def raw_counts(texts: Sequence[str]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Word and character n-gram counts of the texts, before IDF (training fits the IDF on these)."""
    normalised = [normalise(t) for t in texts]
    return _word_counts(normalised), _char_counts(normalised)


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
        return cls(
            version=stored["version"],
            categories=list(stored["categories"]),
            word_idf=stored["word_idf"].astype(np.float32),
            char_idf=stored["char_idf"].astype(np.float32),
            coef=stored["coef"].astype(np.float32),
            intercept=stored["intercept"],
            calibration=stored["calibration"],
            thresholds=stored["thresholds"],
            fingerprint=stored["fingerprint"],
            metrics=stored["metrics"],
        )

    def save(self, path: Path) -> None:
        """Write the model; weights are stored in float16 and compressed to keep the file a few MB."""
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(
            {
                "kind": "safeguard-classifier",
                "format": FORMAT_VERSION,
                "version": self.version,
                "categories": list(self.categories),
                "word_idf": self.word_idf.astype(np.float16),
                "char_idf": self.char_idf.astype(np.float16),
                "coef": self.coef.astype(np.float16),
                "intercept": self.intercept,
                "calibration": self.calibration,
                "thresholds": self.thresholds,
                "fingerprint": self.fingerprint,
                "metrics": self.metrics,
            },
            path,
            compress=("xz", 6),
        )

    def _features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return features(*raw_counts(texts), self.word_idf, self.char_idf)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probability of each category for each text: shape (len(texts), len(categories))."""
        if len(texts) == 0:
            return np.zeros((0, len(self.categories)))
        scores = self._features(texts) @ self.coef + self.intercept
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
        return low + round((high - low) * (probability - threshold) / max(1.0 - threshold, 1e-9))

    def explain(self, text: str, category: str, k: int = 5) -> list[str]:
        """The ``k`` words or character n-grams of ``text`` that pushed ``category``'s score up most."""
        column = self._index(category)
        normalised = normalise(text)
        row = self._features([text])
        contribution = np.zeros(row.shape[1], dtype=np.float32)
        contribution[row.indices] = row.data * self.coef[row.indices, column]
        names: dict[int, str] = {}
        for token in _WORD_ANALYZER(normalised):
            names.setdefault(int(_WORD_HASHER.transform([[token]]).indices[0]), token)
        padded = f" {normalised} ".encode()
        for start, n, bucket in zip(*_char_ngram_hashes(padded)):
            piece = padded[start : start + n].decode(errors="ignore").strip()
            if piece:
                names.setdefault((1 << WORD_BITS) + int(bucket), piece)
        ranked = sorted(names, key=lambda index: contribution[index], reverse=True)
        top: list[str] = []
        for index in ranked:
            if contribution[index] <= 0 or len(top) == k:
                break
            if names[index] not in top:
                top.append(names[index])
        return top
