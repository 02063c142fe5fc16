"""Every agent option in one place, with its documented default.

Set with environment variables ``SAFEGUARD_AGENT_<NAME>`` (any case) or lines ``SAFEGUARD_AGENT_<NAME>=value``
in an ``agent.env`` file in the working directory; the environment wins over the file, and values passed to
``AgentSettings(...)`` win over both. ``history_paths`` takes a JSON list (``["/home/a/.../History"]``) or
paths separated by ``os.pathsep``.

A plain dataclass rather than pydantic-settings: pydantic costs the agent about 20 MB of memory on every
school desktop, for a dozen numbers and paths.
"""

from __future__ import annotations

import json
import os
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

VERSION = "0.1.0"
ENV_PREFIX = "SAFEGUARD_AGENT_"
ENV_FILE = "agent.env"


class SettingsError(ValueError):
    """A setting's value is malformed; the message names the variable and where it was set."""


def _setting(default: Any, description: str) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"description": description})
    return field(default=default, metadata={"description": description})


@dataclass(init=False)
class AgentSettings:
    # --- console -----------------------------------------------------------
    console_host: str = _setting(
        "localhost", "Host name or IP address of the console (must match its certificate; IPv6 as ::1 or [::1])."
    )
    stream_port: int = _setting(50051, "Console stream port (mTLS).")
    enrol_port: int = _setting(50052, "Console enrolment port (TLS).")
    ca_file: Path | None = _setting(None, "The console CA certificate, shipped with the installer.")
    enrolment_token: str = _setting("", "School enrolment token, used once on first start.")

    # --- state -------------------------------------------------------------
    state_dir: Path = _setting(Path("agent-state"), "Device key and certificate, spool, cursors.")

    # --- spool -------------------------------------------------------------
    spool_max_bytes: int = _setting(256 * 1024 * 1024, "Spool size limit; beyond it low-value events are dropped.")
    spool_max_age_days: int = _setting(14, "Unsent events older than this are dropped (not detection screenshots).")

    # --- sending -----------------------------------------------------------
    batch_max_events: int = _setting(500, "Events per batch at most (the console may ask for fewer).")
    batches_in_flight: int = _setting(4, "Batches sent ahead of their acks.")
    backoff_initial_seconds: float = _setting(0.5, "First reconnect delay; doubles up to the maximum.")
    backoff_max_seconds: float = _setting(60.0, "Longest reconnect delay (with full jitter).")

    # --- capture -----------------------------------------------------------
    window_poll_seconds: float = _setting(
        0.5, "How often the focused window is checked on Windows and macOS (X11 reports each change)."
    )
    text_max_length: int = _setting(1000, "Typed text longer than this is sent as one event and a new one begun.")
    history_paths: list[Path] = _setting(
        [], "Browser history files to watch (History or places.sqlite) instead of the browsers' usual places."
    )
    history_lookback_hours: float = _setting(24.0, "On first sight of a history file, visits older than this are skipped.")
    history_rescan_seconds: float = _setting(300.0, "How often to look for new browsers and profiles.")

    # --- watchdog ----------------------------------------------------------
    watchdog_memory_mb: int = _setting(100, "Restart the worker when its memory (RSS) exceeds this.")
    watchdog_cpu_percent: float = _setting(10.0, "Restart the worker when its CPU (% of one core) stays above this...")
    watchdog_cpu_seconds: float = _setting(60.0, "...for this many seconds.")
    watchdog_check_seconds: float = _setting(5.0, "How often the watchdog measures the worker.")

    def __init__(self, **values: Any) -> None:
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise TypeError(f"AgentSettings has no setting {', '.join(unknown)}")
        types = typing.get_type_hints(type(self))
        sources = _sources()
        for name, spec in known.items():
            variable = ENV_PREFIX + name.upper()
            if name in values:
                value, where = values[name], f"AgentSettings({name}=...)"
            elif variable in sources:
                value, where = sources[variable]
            else:
                value, where = (spec.default_factory() if callable(spec.default_factory) else spec.default), ""
            if where:
                value = _convert(value, types[name], f"{variable}={value!r} ({where})", spec.metadata["description"])
            setattr(self, name, value)


def _sources() -> dict[str, tuple[str, str]]:
    """Upper-cased variable name -> (raw value, where it was set): agent.env first, the environment over it."""
    found: dict[str, tuple[str, str]] = {}
    env_file = Path(ENV_FILE)
    if env_file.is_file():
        for number, line in enumerate(env_file.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, raw = line.removeprefix("export ").partition("=")
            key, raw = key.strip().upper(), raw.strip()
            if key.startswith(ENV_PREFIX):
                if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
                    raw = raw[1:-1]
                found[key] = (raw, f"{ENV_FILE} line {number}")
    for key, raw in os.environ.items():
        if key.upper().startswith(ENV_PREFIX):
            found[key.upper()] = (raw, "environment")
    return found


def _convert(value: Any, kind: Any, named: str, description: str) -> Any:
    """``value`` (a string from the environment or file, or a Python value) as type ``kind``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    try:
        if kind is str:
            return str(value)
        if kind is Path:
            return Path(value)
        if args and type(None) in args:  # Path | None: unset when empty
            return None if value is None or value == "" else _convert(value, args[0], named, description)
        if origin is list:
            if isinstance(value, str):
                value = json.loads(value) if value.lstrip().startswith("[") else value.split(os.pathsep)
            return [Path(item) for item in value if str(item)]
        if kind is int:
            if isinstance(value, float) or isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind is float:
            return float(value)
    except (TypeError, ValueError) as error:
        expected = {int: "a whole number", float: "a number", list[Path]: "a JSON list of paths"}.get(kind, kind)
        raise SettingsError(f"{named} is not {expected}: {description}") from error
    raise TypeError(f"unsupported setting type {kind}")
