"""Every console option in one place, with its documented default.

Each field can be set by an environment variable ``SAFEGUARD_<NAME>`` (for example
``SAFEGUARD_DATABASE_URL``) or in a ``safeguard.env`` file in the working directory.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
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
    ingest_flush_ms: int = Field(5, description="How long ingest waits to gather batches into one commit.")
    ingest_max_pending_batches: int = Field(64, description="Batches gathered into one commit at most.")
    stream_recheck_seconds: float = Field(
        30.0, description="How often a quiet stream re-reads its device's revocation and its school's policy."
    )
    bus: Literal["inprocess", "nats"] = Field("inprocess", description="Between ingest and detection.")
    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server when bus = nats.")

    # --- identity ----------------------------------------------------------
    enrolment_token_days: int = Field(14, description="Default validity of a school enrolment token.")
    device_certificate_days: int = Field(825, description="Validity of a device certificate.")

    # --- coverage ----------------------------------------------------------
    silent_after_minutes: int = Field(30, description="A device with no message for this long is silent.")

    # --- web ---------------------------------------------------------------
    secret_key: str = Field("", description="Signs sessions and links; empty means generated into data_dir.")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'safeguard.db').resolve()}"

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
