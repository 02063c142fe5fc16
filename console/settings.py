"""Every console option in one place, with its documented default.

Each field can be set by an environment variable ``SAFEGUARD_<NAME>`` (for example
``SAFEGUARD_DATABASE_URL``) or in a ``safeguard.env`` file in the working directory.
"""

from __future__ import annotations

import secrets
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEGUARD_", env_file="safeguard.env", extra="ignore")

    # --- where things live -------------------------------------------------
    data_dir: Path = Field(Path("var"), description="CA key and certificates, SQLite file, model overrides.")
    database_url: str = Field(
        "", description="SQLAlchemy URL; empty means a SQLite file in data_dir. PostgreSQL: postgresql+psycopg://..."
    )

    # --- network -----------------------------------------------------------
    grpc_host: str = Field("0.0.0.0", description="Address the agent gRPC service listens on.")
    grpc_port: int = Field(50051, description="Port of the agent stream service (mTLS: device certificate required).")
    enrol_port: int = Field(50052, description="Port where agents enrol (server TLS only, no device certificate yet).")
    grpc_reuse_port: bool = Field(False, description="Set SO_REUSEPORT so several console processes share the port.")
    web_host: str = Field("127.0.0.1", description="Address of the web console.")
    web_port: int = Field(8080, description="Port of the web console.")
    public_url: str = Field("http://127.0.0.1:8080", description="Base URL used in emailed links.")
    server_names: list[str] = Field(
        ["localhost", "127.0.0.1"], description="DNS names and IPs put in the gRPC server certificate."
    )

    # --- ingest limits -----------------------------------------------------
    max_batch_events: int = Field(1000, description="Largest batch accepted; larger is refused whole.")
    max_message_bytes: int = Field(8 * 1024 * 1024, description="Largest gRPC message accepted.")
    max_text_chars: int = Field(20_000, description="Longest text field accepted in one event.")
    max_future_skew_seconds: int = Field(300, description="Events stamped further in the future are refused.")
    max_event_age_days: int = Field(30, description="Events older than this are refused.")
    ingest_flush_ms: int = Field(
        5, description="How long ingest waits for more batches when a set would start with none other waiting."
    )
    ingest_max_pending_batches: int = Field(
        1000,
        description="Batches gathered into one commit at most (a set is what waited while the previous one was "
        "stored, so under light load sets stay small).",
    )
    ingest_max_set_events: int = Field(
        10_000, ge=1, description="Events gathered into one commit at most (with ingest_max_pending_batches)."
    )
    stream_recheck_seconds: float = Field(
        30.0, description="How often a quiet stream re-reads its device's revocation and its school's policy."
    )
    bus: Literal["inprocess", "nats"] = Field("inprocess", description="Between ingest and detection.")
    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server when bus = nats.")
    nats_ack_wait_seconds: float = Field(
        30.0, description="A batch a detection worker took but did not ack within this is given to another worker."
    )
    log_format: Literal["json", "text"] = Field("json", description="Log lines as JSON objects or as plain text.")

    # --- detection ---------------------------------------------------------
    classifier_enabled: bool = Field(True, description="Run the classifier beside the rules on the ingest path.")
    classifier_model: Path | None = Field(
        None,
        description="Classifier model file; empty = the one `safeguard model retrain` promoted into data_dir "
        "(classifier.joblib), if any, else the shipped model.",
    )

    # --- identity ----------------------------------------------------------
    enrolment_token_days: int = Field(14, description="Default validity of a school enrolment token.")
    device_certificate_days: int = Field(825, description="Validity of a device certificate.")

    # --- coverage ----------------------------------------------------------
    silent_after_minutes: int = Field(30, description="A device with no message for this long is silent.")

    # --- reports ------------------------------------------------------------
    report_timezone: str = Field(
        "Europe/London", description="Months, weeks and hours of day in reports are in this timezone."
    )
    report_monthly_hour: int = Field(
        6, description="Local hour each day when missing monthly reports for the month just ended are made and emailed."
    )

    # --- web ---------------------------------------------------------------
    secret_key: str = Field("", description="Signs sessions and links; empty means generated into data_dir.")

    # --- sign-in and triage --------------------------------------------------
    max_failed_logins: int = Field(
        5, ge=1, description="Wrong passwords in a row that lock an account (the count restarts after a lock)."
    )
    lockout_minutes: int = Field(15, ge=1, description="How long a locked account stays locked.")
    session_idle_minutes: int = Field(120, ge=1, description="A login session unused this long ends (2 hours).")
    session_max_hours: int = Field(12, ge=1, description="A login session ends this long after sign-in, used or not.")
    explicit_categories: frozenset[str] = Field(
        frozenset({"pornography", "grooming", "self_harm", "violence"}),
        description="Alert categories whose screenshots are blurred until an officer reveals them, giving a reason "
        "(the reveal is audited).",
    )

    # --- incidents, escalation, cases ---------------------------------------
    smtp_host: str = Field("127.0.0.1", description="SMTP server for escalation and incident emails.")
    smtp_port: int = Field(25, description="SMTP server port.")
    smtp_timeout_seconds: float = Field(
        30.0, description="Longest wait for the SMTP server on each step; escalation emails are sent after the "
        "request that raised the incident has answered, so a slow server never holds an officer's page."
    )
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_username: str = Field("", description="SMTP login; empty means none.")
    smtp_password: str = Field("", description="SMTP password.")
    mail_from: str = Field("safeguard@localhost", description="Sender of every email.")
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=60, description="Longest wait for a school's webhook endpoint on each call (sent after commit, "
        "from a background thread, never while an officer's request waits)."
    )
    webhook_retry_first_seconds: int = Field(
        60, ge=1, description="Wait before retrying a failed webhook call; it doubles after each failure..."
    )
    webhook_retry_max_seconds: int = Field(3600, ge=1, description="...up to this wait between retries.")
    webhook_max_attempts: int = Field(
        30, ge=1, description="A webhook call failing this many times is given up (audited, shown to officers)."
    )
    webhook_give_up_hours: float = Field(
        24.0, gt=0, description="A webhook call still failing this long after the event is given up too."
    )
    ack_link_days: int = Field(7, description="How long an emailed acknowledgement link stays valid.")
    escalation_ack_minutes: dict[int, int | None] = Field(
        {5: 15, 4: 60, 3: None, 2: None, 1: None},
        description="Default rule per risk level: minutes each contact has to acknowledge before the next is "
        "asked, or null for the daily digest. A school's own rules override these.",
    )
    digest_hour: int = Field(16, description="Hour (UTC) the daily digest of lower-level incidents is sent.")
    case_timescales: dict[str, dict[int, int]] = Field(
        {
            "child_protection": {5: 1, 4: 2, 3: 5, 2: 10, 1: 10},
            "early_help": {5: 5, 4: 10, 3: 15, 2: 20, 1: 20},
            "wellbeing": {5: 5, 4: 10, 3: 20, 2: 30, 1: 30},
        },
        description="Working days from opening to the case deadline, per case type and severity.",
    )
    case_due_soon_days: int = Field(2, description="A case due within this many working days is flagged due soon.")
    holidays: list[date] = Field([], description="Days that are not working days (bank and school holidays).")
    retention_days: dict[str, int] = Field(
        {"events": 30, "screenshots": 90, "alerts": 365, "incidents": 2190, "closed_cases": 2190},
        description="Days each kind of record is kept. Incidents in a case go with the case.",
    )
    child_protection_until_age: int = Field(
        25, description="Closed child-protection cases are kept until the pupil reaches this age."
    )
    statistics_min_count: int = Field(5, description="Smaller counts are shown as '<N' in anonymised statistics.")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'safeguard.db').resolve()}"

    @field_validator("classifier_model", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value  # SAFEGUARD_CLASSIFIER_MODEL= means "not set", not the current folder

    @property
    def retrained_model_path(self) -> Path:
        """Where `safeguard model retrain` keeps its model unless classifier_model names one: in data_dir, so that an
        upgrade of the installed package neither loses it nor is changed by it."""
        return self.classifier_model or self.data_dir / "classifier.joblib"

    @property
    def resolved_classifier_model(self) -> Path | None:
        """The model file the console loads; None: the shipped model."""
        path = self.retrained_model_path
        return path if self.classifier_model or path.exists() else None

    @cached_property
    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
