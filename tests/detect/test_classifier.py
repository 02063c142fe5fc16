"""The classifier: training on a small fixture dataset, inference, persistence, version checks, explain, risk."""

from __future__ import annotations

import json
import random
from pathlib import Path

import joblib
import numpy as np
import pytest

from console.detect.classifier import (
    FORMAT_VERSION,
    WORD_BITS,
    Classifier,
    ModelFormatError,
    _char_ngrams,
    _join,
    _word_ngrams,
    features,
    normalise_many,
    raw_counts,
)
from console.detect.training import (
    DatasetError,
    dataset_files,
    fingerprint,
    fit,
    load_examples,
    promotion,
    triage_examples,
)

FILLER = "today later again honestly tbh now tonight lol ok still really so yeah".split()
TEMPLATES = {
    ("sdcnl_reddit", "suicidewatch"): [
        "i want to end my life {f}", "nobody would miss me if i was gone {f}", "i am going to kill myself {f}",
        "i dont want to be alive anymore {f}", "suicide is the only way out {f}",
    ],
    ("sdcnl_reddit", "depression"): ["i feel empty and hopeless every day {f}", "i hate my life and want to die {f}"],
    ("twitter_suicidal_positives", "suicidal"): [
        "i just want to die tonight {f}", "i am done with life and want to end it {f}",
    ],
    ("cyber_trolls", "aggressive"): [
        "you are a pathetic worthless loser {f}", "shut up idiot nobody likes you {f}", "everyone hates you freak {f}",
        "you ugly fat pig go away {f}",
    ],
    ("davidson2017", "hate"): [
        "those immigrants are vermin send them all back {f}", "muslims are animals and should be banned {f}",
        "foreigners are parasites ruining this country {f}",
    ],
    ("davidson2017", "offensive"): ["this damn game is shit {f}", "what the fuck was that movie {f}"],
    ("davidson2017", "neither"): [
        "see you at football practice {f}", "the homework is due on monday {f}", "i love pizza on fridays {f}",
        "my cat sat on the keyboard {f}", "the bus was late this morning {f}", "we won the match {f}",
    ],
    ("cyber_trolls", "none"): ["what time does the library open {f}", "thanks for the help with maths {f}"],
}


def write_fixture(folder: Path, copies: int = 40) -> Path:
    """A tiny labelled dataset in the shared datasets' format (distinct texts, so every split gets some)."""
    rng = random.Random(7)
    records: dict[str, list[dict[str, str]]] = {}
    for (stem, label), templates in TEMPLATES.items():
        for template in templates:
            for _ in range(copies):
                text = template.format(f=" ".join(rng.sample(FILLER, 3)) + f" {rng.randrange(10_000)}")
                records.setdefault(stem, []).append({"text": text, "label": label, "source": stem})
    folder.mkdir(parents=True, exist_ok=True)
    for stem, rows in records.items():
        (folder / f"{stem}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture(tmp_path_factory.mktemp("datasets"))


@pytest.fixture(scope="module")
def model(data_dir: Path) -> Classifier:
    return fit(load_examples(data_dir), dataset_files(data_dir))


def test_trains_only_categories_with_data(model: Classifier) -> None:
    assert model.categories == ["suicide", "bullying", "discrimination"]
    assert model.version.startswith(f"{FORMAT_VERSION}.")
    assert set(model.metrics["test"]) == set(model.categories)


def test_scores_each_category_on_unseen_texts(model: Classifier) -> None:
    texts = [
        "honestly i want to end my life",
        "you are a pathetic worthless loser",
        "those immigrants are vermin",
        "see you at football practice",
    ]
    probabilities = model.predict_proba(texts)
    assert probabilities.shape == (4, 3)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert list(probabilities[:3].argmax(axis=1)) == [0, 1, 2]
    flagged = probabilities >= model.thresholds
    assert flagged[0, 0] and flagged[1, 1] and flagged[2, 2]
    assert not flagged[3].any()


def test_batched_equals_one_at_a_time(model: Classifier) -> None:
    texts = ["i want to end my life", "we won the match", "", "shut up idiot"]
    one_by_one = np.vstack([model.predict_proba([text]) for text in texts])
    np.testing.assert_allclose(model.predict_proba(texts), one_by_one, rtol=1e-5)
    assert model.predict_proba([]).shape == (0, 3)


def test_held_out_metrics_are_stored(model: Classifier) -> None:
    suicide = model.metrics["test"]["suicide"]
    assert suicide["positives"] > 0 and suicide["benign"] > 0
    assert suicide["recall"] >= 0.85 and suicide["benign_fpr"] <= 0.05


def test_training_is_deterministic(data_dir: Path, model: Classifier) -> None:
    again = fit(load_examples(data_dir), dataset_files(data_dir))
    assert again.version == model.version
    np.testing.assert_array_equal(again.coef, model.coef)
    np.testing.assert_array_equal(again.thresholds, model.thresholds)


def test_fingerprint_follows_the_data(data_dir: Path, tmp_path: Path) -> None:
    copy = write_fixture(tmp_path / "copy")
    assert fingerprint(dataset_files(copy)) == fingerprint(dataset_files(data_dir))
    with (copy / "davidson2017.jsonl").open("a") as file:
        file.write(json.dumps({"text": "one more line", "label": "neither"}) + "\n")
    assert fingerprint(dataset_files(copy)) != fingerprint(dataset_files(data_dir))


def test_save_and_load_round_trip(model: Classifier, tmp_path: Path) -> None:
    path = tmp_path / "model" / "classifier.joblib"
    model.save(path)
    loaded = Classifier.load(path)
    assert (loaded.version, loaded.categories, loaded.fingerprint) == (model.version, model.categories, model.fingerprint)
    assert loaded.metrics == model.metrics
    texts = ["i want to end my life", "see you at football practice"]
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), rtol=1e-6)


def test_model_file_holds_no_training_text(model: Classifier, tmp_path: Path) -> None:
    path = tmp_path / "classifier.joblib"
    model.save(path)
    stored = joblib.load(path)
    strings = {key: value for key, value in stored.items() if isinstance(value, str)}
    assert set(strings) == {"kind", "version", "fingerprint"}
    assert all(isinstance(value, np.ndarray) and value.dtype.kind == "f" for key, value in stored.items()
               if key in ("word_idf", "char_idf", "coef", "intercept", "calibration", "thresholds"))
    assert stored["coef_rows"].dtype.kind == "i"


def test_other_format_version_is_refused(model: Classifier, tmp_path: Path) -> None:
    path = tmp_path / "classifier.joblib"
    model.save(path)
    stored = joblib.load(path)
    stored["format"] = FORMAT_VERSION + 1
    joblib.dump(stored, path)
    with pytest.raises(ModelFormatError) as error:
        Classifier.load(path)
    assert f"format version {FORMAT_VERSION + 1}" in str(error.value)
    assert f"reads format version {FORMAT_VERSION}" in str(error.value)


def test_files_that_are_not_models_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="no classifier model file"):
        Classifier.load(tmp_path / "missing.joblib")
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"not a pickle at all")
    with pytest.raises(ModelFormatError, match="not a Safeguard classifier model file"):
        Classifier.load(garbage)
    other = tmp_path / "other.joblib"
    joblib.dump({"weights": [1, 2, 3]}, other)
    with pytest.raises(ModelFormatError, match="not a Safeguard classifier model file"):
        Classifier.load(other)


def test_explain_names_features_of_the_text(model: Classifier) -> None:
    text = "tbh i want to end my life"
    features = model.explain(text, "suicide", k=3)
    assert 1 <= len(features) <= 3
    assert all(feature in text for feature in features)
    assert any(word in " ".join(features) for word in ("end", "life", "my life", "want"))
    assert model.explain("", "suicide") == []
    with pytest.raises(ValueError, match="no model for category 'drugs'"):
        model.explain(text, "drugs")


def reference_explain(model: Classifier, text: str, category: str, k: int = 5) -> list[str]:
    """explain() the slow way: one text, the training path's features, every span looked at in Python."""
    row = features(*raw_counts([text]), model.word_idf, model.char_idf)
    column = model.categories.index(category)
    contribution = dict(zip(row.indices.tolist(), row.data * model.coef[row.indices, column]))
    buf, _ = _join(normalise_many([text]))
    raw = buf.tobytes()
    first: dict[int, tuple[int, str]] = {}
    spans = [(*_word_ngrams(buf), 0), (*_char_ngrams(buf), 1 << WORD_BITS)]
    for starts, ends, buckets, offset in spans:
        for start, end, feature in zip(starts.tolist(), ends.tolist(), (buckets + offset).tolist()):
            name = raw[start:end].decode(errors="ignore").strip()
            if name and feature not in first:
                first[feature] = (len(first), name)
    ranked = sorted((-contribution[f], order, name) for f, (order, name) in first.items() if contribution[f] > 0)
    top: list[str] = []
    for _, _, name in ranked:
        if len(top) < k and name not in top:
            top.append(name)
    return top


def test_batched_scoring_and_explaining_equal_the_slow_way(model: Classifier) -> None:
    texts = [t.format(f="tbh lol") for templates in TEMPLATES.values() for t in templates]
    texts += ["", "   ", "I   W4NT to d1e!!! 😀", "ur so ugly nobody likes you, just kys 123", "café naïve résumé"]
    words = 1 << WORD_BITS
    x = features(*raw_counts(texts), model.word_idf, model.char_idf)
    scores = x[:, :words] @ model.coef[:words] + x[:, words:] @ model.coef[words:] + model.intercept
    expected = 1.0 / (1.0 + np.exp(-(scores * model.calibration[:, 0] + model.calibration[:, 1])))
    scored = model.score(texts)
    assert np.array_equal(scored.probabilities, expected)  # to the bit: the numbers training measured
    requests = [(i, c) for i in range(len(texts)) for c in model.categories]
    answers = scored.explain(requests, k=4)
    assert answers == [reference_explain(model, texts[i], c, k=4) for i, c in requests]
    assert answers == model.explain_many([(texts[i], c) for i, c in requests], k=4)


def test_risk_for_follows_threshold_and_category(model: Classifier) -> None:
    threshold = float(model.thresholds[model.categories.index("suicide")])
    assert model.risk_for("suicide", max(threshold - 0.01, 0.0)) == 0
    assert model.risk_for("suicide", threshold) == 3
    assert model.risk_for("suicide", 1.0) == 5
    assert model.risk_for("bullying", 1.0) == 3
    assert 0 <= model.risk_for("bullying", 0.5) <= 3
    with pytest.raises(ValueError, match="between 0 and 1"):
        model.risk_for("suicide", 1.5)
    with pytest.raises(ValueError, match="no model for category 'gambling'"):
        model.risk_for("gambling", 0.9)


def test_unmapped_label_is_refused_with_its_place(tmp_path: Path) -> None:
    (tmp_path / "davidson2017.jsonl").write_text(
        json.dumps({"text": "fine", "label": "neither"}) + "\n" + json.dumps({"text": "x", "label": "spam"}) + "\n"
    )
    with pytest.raises(DatasetError, match=r"davidson2017.jsonl:2: label 'spam' has no mapping"):
        load_examples(tmp_path)


def test_broken_records_and_missing_folders_are_refused(tmp_path: Path) -> None:
    (tmp_path / "cyber_trolls.jsonl").write_text('{"text": "no label"}\n')
    with pytest.raises(DatasetError, match=r"cyber_trolls.jsonl:1: not a \{text, label\} record"):
        load_examples(tmp_path)
    with pytest.raises(DatasetError, match="no dataset folder"):
        load_examples(tmp_path / "nowhere")
    (tmp_path / "cyber_trolls.jsonl").unlink()
    (tmp_path / "unrelated.jsonl").write_text("")
    with pytest.raises(DatasetError, match="none of the known .jsonl datasets"):
        load_examples(tmp_path)


def test_triage_decisions_become_examples() -> None:
    examples = triage_examples(
        [("i will hurt myself", "suicide", True), ("killing it at football", "suicide", False),
         ("buy weed here", "drugs", True), ("   ", "bullying", True)],
        ["suicide", "bullying"],
    )
    assert [(e.text, e.label.positive, e.split) for e in examples] == [
        ("i will hurt myself", frozenset({"suicide"}), "train"),
        ("killing it at football", frozenset(), "train"),
    ]
    # A false positive says nothing about the other categories.
    assert examples[1].label.unknown == frozenset({"bullying"})


def test_promotion_refuses_a_worse_model() -> None:
    old = {"suicide": {"f1": 0.9}, "bullying": {"f1": 0.6}}
    assert promotion(old, {"suicide": {"f1": 0.9}, "bullying": {"f1": 0.598}}) == (True, [])
    promoted, reasons = promotion(old, {"suicide": {"f1": 0.8}, "bullying": {"f1": 0.7}})
    assert not promoted and reasons == ["suicide: F1 0.9 -> 0.8"]
