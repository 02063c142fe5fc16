"""`safeguard model train|eval|retrain`: build, measure and improve the classifier."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import numpy as np
import typer

from console.detect.classifier import SHIPPED_MODEL_PATH, Classifier, ModelFormatError
from console.detect.training import (
    DatasetError,
    Example,
    dataset_files,
    evaluate,
    evaluate_by_source,
    fit,
    load_examples,
    promotion,
    trained_categories,
    triage_examples,
)

model_app = typer.Typer(help="Train, evaluate and retrain the classifier.", no_args_is_help=True)

# The repository's neighbour shared/datasets (console/detect/model_cli.py -> repository -> its parent).
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "datasets"
# The rule categories counted as a hit for each model category when comparing with the rules alone.
RULE_CATEGORIES = {"suicide": ("suicide", "self_harm")}

DataDir = Annotated[Path, typer.Option(help="Folder of labelled .jsonl datasets.")]
ModelPath = Annotated[Path, typer.Option(help="Model file (default: the shipped model).")]


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _examples(data_dir: Path) -> list[Example]:
    try:
        return load_examples(data_dir)
    except DatasetError as error:
        _fail(str(error))


def _load(path: Path | None) -> Classifier:
    """The model at path; None: the shipped model."""
    try:
        return Classifier.load(path)
    except ModelFormatError as error:
        _fail(str(error))


def _table(title: str, metrics: dict[str, dict[str, Any]]) -> None:
    typer.echo(title)
    typer.echo(f"  {'category':16} {'precision':>9} {'recall':>7} {'F1':>7} {'benignFPR':>9} {'pos':>6} {'benign':>7}")
    for category, m in metrics.items():
        typer.echo(
            f"  {category:16} {m['precision']:9.3f} {m['recall']:7.3f} {m['f1']:7.3f} {m['benign_fpr']:9.3f}"
            f" {m['positives']:6d} {m['benign']:7d}"
        )


def _rule_only(categories: Sequence[str], examples: Sequence[Example]) -> dict[str, float]:
    """F1 per category of the shipped rules alone on the same examples."""
    from console.detect import Detector, ScanItem

    results = Detector.load().scan([ScanItem(example.text, "text") for example in examples])
    flagged = [{finding.category for finding in result.findings} for result in results]
    out = {}
    for category in categories:
        usable = [category not in e.label.unknown for e in examples]
        hit = np.array([bool(f.intersection(RULE_CATEGORIES.get(category, (category,)))) for f in flagged])[usable]
        positive = np.array([category in e.label.positive for e in examples])[usable]
        true_positives = int((hit & positive).sum())
        precision = true_positives / max(int(hit.sum()), 1)
        recall = true_positives / max(int(positive.sum()), 1)
        out[category] = round(2 * precision * recall / max(precision + recall, 1e-12), 4)
    return out


@model_app.command()
def train(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    output: Annotated[Path, typer.Option(help="Where to write the model.")] = SHIPPED_MODEL_PATH,
) -> None:
    """Train the classifier from the labelled datasets (deterministic: the same data gives the same model)."""
    examples = _examples(data_dir)
    typer.echo(f"{len(examples)} labelled examples from {data_dir}")
    classifier = fit(examples, dataset_files(data_dir))
    classifier.save(output)
    typer.echo(f"model {classifier.version} (data {classifier.fingerprint}) written to {output}")
    _table("held-out test split:", classifier.metrics["test"])


@model_app.command("eval")
def evaluate_command(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    model: ModelPath = SHIPPED_MODEL_PATH,
    by_source: Annotated[bool, typer.Option(help="Also validate by whole source (retrains once per source).")] = True,
) -> None:
    """Precision, recall, F1 and benign false-positive rate per category on the held-out split."""
    classifier = _load(model)
    examples = _examples(data_dir)
    test = [example for example in examples if example.split == "test"]
    typer.echo(f"model {classifier.version}; {len(test)} held-out examples")
    metrics = evaluate(classifier, test)
    _table("held-out test split:", metrics)
    rules = _rule_only(classifier.categories, test)
    typer.echo("F1 of the model against the rules alone on the same split:")
    for category in classifier.categories:
        typer.echo(f"  {category:16} model {metrics[category]['f1']:.3f}  rules {rules[category]:.3f}")
    if by_source:
        typer.echo("by whole source (trained without the source, scored on all of it):")
        validated = evaluate_by_source(examples)
        for source in sorted({example.source for example in examples}):
            source_metrics = validated.get(source, {})
            for category in trained_categories([e for e in examples if e.source == source]):
                if category not in source_metrics:
                    typer.echo(f"  {source}: {category} not validated (no other source has positives)")
            if not source_metrics:
                continue
            typer.echo(f"  {source}")
            for category, m in source_metrics.items():
                recall = f"recall {m['recall']:.3f} ({m['positives']} positives)" if m["positives"] else ""
                fpr = f"benign FPR {m['benign_fpr']:.3f} ({m['benign']} benign)" if m["benign"] else ""
                typer.echo(f"    {category:16} {recall}{'  ' if recall and fpr else ''}{fpr}")


def _triage_labels(database_url: str) -> list[tuple[str, str, bool]]:
    """(text, category, is a concern) for every alert an officer has decided."""
    from sqlalchemy import make_url, select
    from sqlalchemy.exc import SQLAlchemyError

    import console.models  # noqa: F401  (every table, so the alerts' foreign keys resolve)
    from console.alerts.models import Alert, AlertStatus
    from console.store import make_engine

    decided = {AlertStatus.false_positive: False, AlertStatus.incident: True, AlertStatus.monitor: True}
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Alert.text, Alert.category, Alert.status).where(Alert.status.in_(list(decided)))
            ).all()
    except SQLAlchemyError as error:
        shown = make_url(database_url).render_as_string(hide_password=True)
        _fail(f"cannot read triage decisions from {shown}: {error.__class__.__name__}: {error.orig or error}")
    finally:
        engine.dispose()
    return [(text, category, decided[AlertStatus(status)]) for text, category, status in rows]


@model_app.command()
def retrain(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: Annotated[str | None, typer.Option(help="Database holding the triaged alerts.")] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            help="The current model, replaced if the new one is not worse (default: the one the console loads, "
            "written back to data_dir/classifier.joblib or SAFEGUARD_CLASSIFIER_MODEL, never to the shipped model).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Fold officers' triage decisions into the training data; promote the new model only if not worse."""
    from console.settings import Settings

    settings = Settings()
    current = _load(model or settings.resolved_classifier_model)
    model = model or settings.retrained_model_path
    examples = _examples(data_dir)
    labels = _triage_labels(database_url or settings.resolved_database_url)
    triage = triage_examples(labels, current.categories)
    typer.echo(
        f"{len(labels)} triage decisions, {len(triage)} for the model's categories "
        f"({sum(1 for e in triage if e.label.positive)} concerns, {sum(1 for e in triage if not e.label.positive)} "
        "false positives)"
    )
    test = [example for example in examples if example.split == "test"]
    old_metrics = evaluate(current, test)
    new = fit(examples, dataset_files(data_dir), triage)
    new_metrics = new.metrics["test"]
    _table(f"current model {current.version} on the held-out split:", old_metrics)
    _table(f"retrained model {new.version} on the held-out split:", new_metrics)
    promoted, reasons = promotion(old_metrics, new_metrics)
    if not promoted:
        typer.echo("not promoted, worse on: " + "; ".join(reasons))
        raise typer.Exit(2)
    new.save(model)
    typer.echo(f"promoted: {model} is now {new.version}")
