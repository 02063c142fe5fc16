"""Training, evaluation and retraining of the classifier on the labelled data in ``shared/datasets``.

Only training and tests read that folder; the product reads the model file alone. Every step is
deterministic: examples are split by a hash of their normalised text (so a text and its duplicates
always fall on the same side), the solver is seeded and the data order is fixed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from console.detect.classifier import (
    CATEGORIES,
    FORMAT_VERSION,
    Classifier,
    features,
    normalise,
    raw_counts,
)

SEED = 20251123
# Of every 100 hash buckets: 0-69 train, 70-84 calibration (Platt scaling and thresholds), 85-99 test.
TRAIN_BUCKETS, CALIBRATION_BUCKETS = 70, 85
MAX_BENIGN_FPR = 0.05
# F-beta maximised when choosing thresholds: recall counts double for the life-threatening category.
THRESHOLD_BETA = {"suicide": 2.0}
REGULARISATION_C = 4.0
# A new model is promoted when no category's held-out F1 drops by more than this.
PROMOTION_TOLERANCE = 0.005
# Long posts are cut for training: pupils' texts are short, and whole Reddit threads would teach length.
MAX_TRAINING_CHARS = 1500


@dataclass(frozen=True)
class Label:
    positive: frozenset[str] = frozenset()
    benign: bool = False
    # Categories the source's label says nothing about: such examples are left out of those models.
    unknown: frozenset[str] = frozenset()


_BENIGN = Label(benign=True)
_NOT_BENIGN = Label()  # offensive language or anger: a negative for every category, but not benign
_HATE = Label(positive=frozenset({"discrimination"}), unknown=frozenset({"extremism"}))
_SUICIDE = Label(positive=frozenset({"suicide"}))
_BULLYING = Label(positive=frozenset({"bullying"}))

# (file stem, source label) -> our label; None marks rows the source left unlabelled.
LABEL_MAP: dict[tuple[str, str], Label | None] = {
    ("davidson2017", "hate"): _HATE,
    ("davidson2017", "offensive"): _NOT_BENIGN,
    ("davidson2017", "neither"): _BENIGN,
    ("tweeteval_hate", "hate"): _HATE,
    ("tweeteval_hate", "not-hate"): _BENIGN,
    ("tweeteval_offensive", "offensive"): _NOT_BENIGN,
    ("tweeteval_offensive", "not-offensive"): _BENIGN,
    ("tweeteval_emotion", "anger"): _NOT_BENIGN,
    ("tweeteval_emotion", "joy"): _BENIGN,
    ("tweeteval_emotion", "optimism"): _BENIGN,
    ("tweeteval_emotion", "sadness"): _BENIGN,
    ("stormfront_degibert2018", "hate"): Label(positive=frozenset({"extremism", "discrimination"})),
    ("stormfront_degibert2018", "noHate"): _BENIGN,
    ("insults_impermium", "bullying"): _BULLYING,
    ("insults_impermium", "none"): _BENIGN,
    ("youtube_dadvar2014", "bullying"): _BULLYING,
    ("youtube_dadvar2014", "none"): _BENIGN,
    ("twitter_waseem2016", "racism"): _HATE,
    ("twitter_waseem2016", "sexism"): _HATE,
    ("twitter_waseem2016", "none"): _BENIGN,
    ("twitter_waseem2016", ""): None,
    ("cyber_trolls", "aggressive"): _BULLYING,
    ("cyber_trolls", "none"): _BENIGN,
    ("sdcnl_reddit", "suicidewatch"): _SUICIDE,
    ("sdcnl_reddit", "depression"): _SUICIDE,
    ("twitter_suicidal_positives", "suicidal"): _SUICIDE,
}

# The insults source kept Python escapes ("\\xa0", "\\n") and wrapping quotes as literal text.
_ESCAPES = re.compile(r"\\+(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[nt])")


@dataclass(frozen=True)
class Example:
    text: str
    source: str
    label: Label
    split: str  # "train", "calibration" or "test"


class DatasetError(ValueError):
    """The labelled data cannot be read or holds a label with no mapping."""


def split_of(text: str) -> str:
    bucket = int.from_bytes(hashlib.sha256(normalise(text).encode()).digest()[:8], "big") % 100
    if bucket < TRAIN_BUCKETS:
        return "train"
    return "calibration" if bucket < CALIBRATION_BUCKETS else "test"


def dataset_files(data_dir: Path) -> list[Path]:
    if not data_dir.is_dir():
        raise DatasetError(f"no dataset folder at {data_dir}")
    known = {stem for stem, _ in LABEL_MAP}
    files = sorted(path for path in data_dir.glob("*.jsonl") if path.stem in known)
    if not files:
        raise DatasetError(f"{data_dir} holds none of the known .jsonl datasets")
    return files


def _clean(stem: str, text: str) -> str:
    if stem == "insults_impermium":
        text = _ESCAPES.sub(" ", text.strip('"')).replace("\\'", "'")
    return text[:MAX_TRAINING_CHARS]


def load_examples(data_dir: Path) -> list[Example]:
    """Every labelled example of the known datasets in ``data_dir``, mapped onto our categories."""
    examples = []
    for path in dataset_files(data_dir):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                record = json.loads(line)
                text, source_label = record["text"], record["label"]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise DatasetError(f"{path}:{number}: not a {{text, label}} record ({error})") from None
            if (path.stem, source_label) not in LABEL_MAP:
                raise DatasetError(f"{path}:{number}: label {source_label!r} has no mapping onto our categories")
            label = LABEL_MAP[(path.stem, source_label)]
            text = _clean(path.stem, text)
            if label is not None and text.strip():
                examples.append(Example(text, path.stem, label, split_of(text)))
    return examples


def fingerprint(files: Iterable[Path], extra: Sequence[Example] = ()) -> str:
    """SHA-256 of the input files' names and bytes, and of any extra (triage) examples."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for example in extra:
        digest.update(json.dumps([example.text, sorted(example.label.positive), example.label.benign]).encode())
    return digest.hexdigest()


def trained_categories(examples: Sequence[Example]) -> list[str]:
    """The categories that have positive examples, in the product's order."""
    present = set().union(*(example.label.positive for example in examples))
    return [category for category in CATEGORIES if category in present]


@dataclass
class _Matrix:
    """The examples' features and labels, computed once and sliced per model."""

    examples: list[Example]
    word: sparse.csr_matrix
    char: sparse.csr_matrix

    @classmethod
    def of(cls, examples: Sequence[Example]) -> _Matrix:
        return cls(list(examples), *raw_counts([example.text for example in examples]))

    def rows(self, keep: np.ndarray) -> _Matrix:
        return _Matrix([e for e, k in zip(self.examples, keep) if k], self.word[keep], self.char[keep])

    def mask(self, predicate) -> np.ndarray:
        return np.array([bool(predicate(example)) for example in self.examples], dtype=bool)


def _idf(counts: sparse.csr_matrix) -> np.ndarray:
    document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
    return (np.log((1 + counts.shape[0]) / (1 + document_frequency)) + 1).astype(np.float32)


def _choose_threshold(probabilities: np.ndarray, positive: np.ndarray, benign: np.ndarray, beta: float) -> float:
    """The threshold with the best F-beta among those flagging at most 5 % of benign texts."""
    best, best_score = 1.0, -1.0
    for threshold in np.unique(probabilities[positive]):
        flagged = probabilities >= threshold
        if benign.any() and flagged[benign].mean() > MAX_BENIGN_FPR:
            continue
        true_positives = (flagged & positive).sum()
        precision = true_positives / max(flagged.sum(), 1)
        recall = true_positives / max(positive.sum(), 1)
        score = (1 + beta**2) * precision * recall / max(beta**2 * precision + recall, 1e-12)
        if score > best_score:
            best, best_score = float(threshold), score
    return best


def fit(examples: Sequence[Example], files: Sequence[Path], extra: Sequence[Example] = ()) -> Classifier:
    """Train one calibrated logistic model per category that has positive examples."""
    data = _Matrix.of([*examples, *extra])
    return _fit(data, fingerprint(files, extra), trained_categories(data.examples))


def _fit(data: _Matrix, data_fingerprint: str, categories: list[str]) -> Classifier:
    from sklearn.linear_model import LogisticRegression  # here: importing scikit-learn costs every CLI command ~1 s

    train = data.rows(data.mask(lambda e: e.split == "train"))
    calibration = data.rows(data.mask(lambda e: e.split == "calibration"))
    in_train = trained_categories(train.examples)
    categories = [category for category in categories if category in in_train]
    for category in categories:
        if not any(category in e.label.positive for e in calibration.examples):
            raise DatasetError(f"category {category} has no positive example in the calibration split")
    word_idf, char_idf = _idf(train.word), _idf(train.char)
    x_train = features(train.word, train.char, word_idf, char_idf)
    x_calibration = features(calibration.word, calibration.char, word_idf, char_idf)
    coef = np.zeros((x_train.shape[1], len(categories)), dtype=np.float32)
    intercept = np.zeros(len(categories))
    platt = np.zeros((len(categories), 2))
    thresholds = np.zeros(len(categories))
    for column, category in enumerate(categories):
        usable = train.mask(lambda e: category not in e.label.unknown)
        model = LogisticRegression(
            C=REGULARISATION_C, class_weight="balanced", solver="liblinear", random_state=SEED, max_iter=200
        )
        # Only the columns some text uses: the others get weight 0 anyway, and liblinear's time grows
        # with the width of the matrix.
        x_usable = x_train[usable]
        active = np.unique(x_usable.indices)
        model.fit(x_usable[:, active], train.mask(lambda e: category in e.label.positive)[usable])
        coef[active, column] = model.coef_[0]
        intercept[column] = model.intercept_[0]
        usable = calibration.mask(lambda e: category not in e.label.unknown)
        positive = calibration.mask(lambda e: category in e.label.positive)[usable]
        scores = np.asarray(x_calibration[usable] @ coef[:, column]).ravel() + intercept[column]
        sigmoid = LogisticRegression(C=1e6, solver="lbfgs").fit(scores.reshape(-1, 1), positive)
        platt[column] = sigmoid.coef_[0, 0], sigmoid.intercept_[0]
        probabilities = 1.0 / (1.0 + np.exp(-(scores * platt[column, 0] + platt[column, 1])))
        benign = calibration.mask(lambda e: e.label.benign)[usable]
        thresholds[column] = _choose_threshold(
            probabilities, positive, benign, THRESHOLD_BETA.get(category, 1.0)
        )
    classifier = Classifier(
        version="",
        categories=categories,
        word_idf=word_idf,
        char_idf=char_idf,
        coef=coef,
        intercept=intercept,
        calibration=platt,
        thresholds=thresholds,
        fingerprint=data_fingerprint,
    )
    # Metrics are computed with the weights as stored (float16), so they describe the shipped file.
    classifier.coef = classifier.coef.astype(np.float16).astype(np.float32)
    classifier.word_idf = word_idf.astype(np.float16).astype(np.float32)
    classifier.char_idf = char_idf.astype(np.float16).astype(np.float32)
    classifier.version = model_version(classifier)
    classifier.metrics = {"test": evaluate(classifier, data.rows(data.mask(lambda e: e.split == "test")).examples)}
    return classifier


def model_version(classifier: Classifier) -> str:
    """Format version, training data and a digest of the weights: a new model always gets a new version."""
    digest = hashlib.sha256()
    for array in (classifier.coef, classifier.intercept, classifier.calibration, classifier.thresholds):
        digest.update((np.ascontiguousarray(array) + 0.0).tobytes())  # + 0.0 folds -0.0 into 0.0
    return f"{FORMAT_VERSION}.{classifier.fingerprint[:10]}.{digest.hexdigest()[:8]}"


def scores(flagged: np.ndarray, positive: np.ndarray, benign: np.ndarray) -> dict[str, float | int]:
    true_positives = int((flagged & positive).sum())
    precision = true_positives / max(int(flagged.sum()), 1)
    recall = true_positives / max(int(positive.sum()), 1)
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / max(precision + recall, 1e-12), 4),
        "benign_fpr": round(float(flagged[benign].mean()) if benign.any() else 0.0, 4),
        "positives": int(positive.sum()),
        "negatives": int((~positive).sum()),
        "benign": int(benign.sum()),
    }


def evaluate(classifier: Classifier, examples: Sequence[Example]) -> dict[str, dict[str, float | int]]:
    """Precision, recall, F1 and false-positive rate on benign texts, per category, at the model's thresholds."""
    probabilities = classifier.predict_proba([example.text for example in examples])
    result = {}
    for column, category in enumerate(classifier.categories):
        usable = np.array([category not in e.label.unknown for e in examples], dtype=bool)
        positive = np.array([category in e.label.positive for e in examples], dtype=bool)
        benign = np.array([e.label.benign for e in examples], dtype=bool)
        flagged = probabilities[:, column] >= classifier.thresholds[column]
        result[category] = scores(flagged[usable], positive[usable], benign[usable])
    return result


def evaluate_by_source(examples: Sequence[Example]) -> dict[str, dict[str, dict[str, float | int]]]:
    """Train without one whole source at a time and score that source: does the model generalise?

    Returns, per held-out source, the figures of the categories it has positives for (all categories
    for a source of benign texts only): recall on its positives, false-positive rate on its benign texts.
    """
    data = _Matrix.of(examples)
    result = {}
    for source in sorted({example.source for example in examples}):
        held_out = data.mask(lambda e: e.source == source)
        rest = data.rows(~held_out)
        categories = trained_categories(data.rows(held_out).examples) or trained_categories(rest.examples)
        # A category whose only positives are in this source (extremism) cannot be validated this way.
        categories = [category for category in categories if category in trained_categories(rest.examples)]
        if categories:
            result[source] = evaluate(_fit(rest, "by-source", categories), data.rows(held_out).examples)
    return result


def promotion(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> tuple[bool, list[str]]:
    """Whether the new model is not worse than the old on the held-out split, and why not if it is."""
    reasons = [
        f"{category}: F1 {old[category]['f1']} -> {new.get(category, {}).get('f1', 0.0)}"
        for category in old
        if new.get(category, {}).get("f1", 0.0) < old[category]["f1"] - PROMOTION_TOLERANCE
    ]
    return not reasons, reasons


def triage_examples(labels: Iterable[tuple[str, str, bool]], known: Sequence[str]) -> list[Example]:
    """Officers' decisions (text, category, is a concern) as training examples for the known categories.

    A false positive is a negative for its category only; the text may still concern another one.
    """
    examples = []
    for text, category, concern in labels:
        if category not in known or not text.strip():
            continue
        label = (
            Label(positive=frozenset({category}))
            if concern
            else Label(unknown=frozenset(c for c in known if c != category))
        )
        examples.append(Example(text[:MAX_TRAINING_CHARS], "triage", label, "train"))
    return examples
