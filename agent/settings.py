"""Every agent option in one place, with its documented default.

Set with environment variables ``SAFEGUARD_AGENT_<NAME>`` or an ``agent.env`` file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

VERSION = "0.1.0"


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEGUARD_AGENT_", env_file="agent.env", extra="ignore")

    # --- console -----------------------------------------------------------
    console_host: str = Field("localhost", description="Host name of the console (must match its certificate).")
    stream_port: int = Field(50051, description="Console stream port (mTLS).")
    enrol_port: int = Field(50052, description="Console enrolment port (TLS).")
    ca_file: Path | None = Field(None, description="The console CA certificate, shipped with the installer.")
    enrolment_token: str = Field("", description="School enrolment token, used once on first start.")

    # --- state -------------------------------------------------------------
    state_dir: Path = Field(Path("agent-state"), description="Device key and certificate, spool, cursors.")

    # --- spool -------------------------------------------------------------
    spool_max_bytes: int = Field(256 * 1024 * 1024, description="Spool size limit; beyond it low-value events are dropped.")
    spool_max_age_days: int = Field(14, description="Unsent events older than this are dropped (not detection screenshots).")

    # --- sending -----------------------------------------------------------
    batch_max_events: int = Field(500, description="Events per batch at most (the console may ask for fewer).")
    batches_in_flight: int = Field(4, description="Batches sent ahead of their acks.")
    backoff_initial_seconds: float = Field(0.5, description="First reconnect delay; doubles up to the maximum.")
    backoff_max_seconds: float = Field(60.0, description="Longest reconnect delay (with full jitter).")

    # --- capture -----------------------------------------------------------
    window_poll_seconds: float = Field(0.5, description="How often the focused window is checked.")
    text_max_length: int = Field(1000, description="Typed text longer than this is sent as one event and a new one begun.")
    history_paths: list[Path] = Field(
        default_factory=list,
        description="Browser history files to watch (History or places.sqlite) instead of the browsers' usual places.",
    )
    history_lookback_hours: float = Field(24.0, description="On first sight of a history file, visits older than this are skipped.")
    history_rescan_seconds: float = Field(300.0, description="How often to look for new browsers and profiles.")

    # --- watchdog ----------------------------------------------------------
    watchdog_memory_mb: int = Field(100, description="Restart the worker when its memory (RSS) exceeds this.")
    watchdog_cpu_percent: float = Field(10.0, description="Restart the worker when its CPU (% of one core) stays above this...")
    watchdog_cpu_seconds: float = Field(60.0, description="...for this many seconds.")
    watchdog_check_seconds: float = Field(5.0, description="How often the watchdog measures the worker.")
