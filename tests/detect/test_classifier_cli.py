"""`safeguard model train|eval|retrain` on a small fixture dataset, with triage labels from a real database."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import joblib
import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from console.alerts.models import Alert, AlertStatus
from console.cli import app
from console.detect.classifier import Classifier
from console.schools.models import School
from test_classifier import write_fixture

runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture(tmp_path_factory.mktemp("datasets"))


@pytest.fixture
def model_path(data_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / "classifier.joblib"
    result = runner.invoke(app, ["model", "train", "--data-dir", str(data_dir), "--output", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_train_writes_a_model_and_prints_held_out_figures(model_path: Path, data_dir: Path, tmp_path: Path) -> None:
    model = Classifier.load(model_path)
    assert model.categories == ["suicide", "bullying", "discrimination"]
    again = tmp_path / "again.joblib"
    result = runner.invoke(app, ["model", "train", "--data-dir", str(data_dir), "--output", str(again)])
    assert result.exit_code == 0, result.output
    assert f"model {model.version}" in result.output
    assert "held-out test split" in result.output and "suicide" in result.output
    assert again.read_bytes() == model_path.read_bytes()  # reproducible to the byte


def test_eval_prints_figures_rules_and_by_source(model_path: Path, data_dir: Path) -> None:
    result = runner.invoke(app, ["model", "eval", "--data-dir", str(data_dir), "--model", str(model_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:1] == ["suicide"] and len(line.split()) == 7 for line in lines)
    assert any("model" in line and "rules" in line and "bullying" in line for line in lines)
    assert "by whole source" in result.output
    assert any(line.strip() == "sdcnl_reddit" for line in lines)
    assert "davidson2017: discrimination not validated (no other source has positives)" in result.output


def test_eval_refuses_a_model_of_another_format(model_path: Path, data_dir: Path) -> None:
    stored = joblib.load(model_path)
    stored["format"] = 0
    joblib.dump(stored, model_path)
    result = runner.invoke(app, ["model", "eval", "--data-dir", str(data_dir), "--model", str(model_path)])
    assert result.exit_code == 1
    assert "format version 0" in result.output and "reads format version 1" in result.output


def test_train_without_data_fails_clearly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["model", "train", "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "no dataset folder" in result.output


def _alert(school: School, seq: int, category: str, text: str, status: AlertStatus) -> Alert:
    return Alert(
        school_id=school.id, device_id="device-1", event_seq=seq, event_time=datetime.now(timezone.utc),
        source="text", category=category, risk=3, text=text, status=status,
    )


def _triaged(sessions: sessionmaker[Session]) -> None:
    """Alerts officers decided (four; one of a category the fixture model lacks) and one not yet triaged."""
    with sessions() as session, session.begin():
        school = School(name="Hill Primary", phase="primary")
        session.add(school)
        session.flush()
        session.add_all([
            _alert(school, 1, "suicide", "i am going to take all my pills tonight", AlertStatus.incident),
            _alert(school, 2, "suicide", "this maths test is killing me", AlertStatus.false_positive),
            _alert(school, 3, "bullying", "nobody in class wants you here loser", AlertStatus.monitor),
            _alert(school, 4, "drugs", "who has weed", AlertStatus.incident),
            _alert(school, 5, "bullying", "you are so annoying", AlertStatus.new),
        ])


def test_retrain_folds_in_triage_decisions(
    sessions: sessionmaker[Session], database_url: str, model_path: Path, data_dir: Path
) -> None:
    _triaged(sessions)
    before = Classifier.load(model_path)
    result = runner.invoke(
        app,
        ["model", "retrain", "--data-dir", str(data_dir), "--database-url", database_url, "--model", str(model_path)],
    )
    assert result.exit_code == 0, result.output
    assert "4 triage decisions, 3 for the model's categories (2 concerns, 1 false positives)" in result.output
    assert f"current model {before.version}" in result.output and "retrained model" in result.output
    after = Classifier.load(model_path)
    assert f"promoted: {model_path} is now {after.version}" in result.output
    assert after.fingerprint != before.fingerprint


def test_retrain_without_a_database_fails_clearly(model_path: Path, data_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["model", "retrain", "--data-dir", str(data_dir), "--model", str(model_path),
         "--database-url", f"sqlite:///{tmp_path / 'empty.db'}"],
    )
    assert result.exit_code == 1
    assert "cannot read triage decisions" in result.output


def test_retrain_by_default_keeps_its_model_in_the_data_dir_which_the_console_then_loads(
    sessions: sessionmaker[Session], database_url: str, model_path: Path, data_dir: Path, tmp_path: Path
) -> None:
    from console.detect.classifier import SHIPPED_MODEL_PATH
    from console.detection import build_detector
    from console.settings import Settings

    home = tmp_path / "console-data"
    home.mkdir()
    settings = Settings(data_dir=home)
    assert settings.resolved_classifier_model is None, "nothing retrained yet: the shipped model"
    shipped = SHIPPED_MODEL_PATH.read_bytes()
    (home / "classifier.joblib").write_bytes(model_path.read_bytes())  # promoted by an earlier retrain
    before = Classifier.load(home / "classifier.joblib")
    _triaged(sessions)

    result = runner.invoke(
        app,
        ["model", "retrain", "--data-dir", str(data_dir), "--database-url", database_url],
        env={"SAFEGUARD_DATA_DIR": str(home), "SAFEGUARD_CLASSIFIER_MODEL": ""},
    )

    assert result.exit_code == 0, result.output
    assert f"current model {before.version}" in result.output
    after = Classifier.load(home / "classifier.joblib")
    assert f"promoted: {home / 'classifier.joblib'} is now {after.version}" in result.output
    assert after.fingerprint != before.fingerprint
    assert SHIPPED_MODEL_PATH.read_bytes() == shipped, "the installed package's model is never written"
    detector = build_detector(settings)
    assert detector.classifier is not None and detector.classifier.version == after.version
    assert detector.classifier.fingerprint == after.fingerprint
