"""The policy in force on this device: what to capture, when, where, and which phrases trigger a screenshot.

Until the runner applies one, nothing is captured (an empty `pb.Policy` switches every source off).
The console pushes a new `pb.Policy` at any time; `LivePolicy.update` swaps it in atomically and every capture
decision made after that uses it, so a change takes effect without a restart.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from enum import Enum
from pathlib import PurePath

import psutil
from safeguard_proto.v1 import agent_pb2 as pb

# Values used where the console leaves a field unset (proto3 zero).
TEXT_PAUSE_SECONDS = 5
SCREENSHOT_QUALITY = 60
SCREENSHOT_FORMATS = ("jpeg", "webp")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Source(Enum):
    TEXT = "text"
    WINDOWS = "windows"
    WEB = "web"
    SCREENSHOTS = "screenshots"


_SWITCHES = {
    Source.TEXT: "capture_text",
    Source.WINDOWS: "capture_windows",
    Source.WEB: "capture_web",
    Source.SCREENSHOTS: "capture_screenshots",
}

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_REPEATS = re.compile(r"(.)\1+")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    """Lower case, no accents, leetspeak undone, repeated letters collapsed, words separated by one space.

    A deliberately small cousin of the console's normaliser: the agent only needs to notice likely hits.
    """
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c)).translate(_LEET)
    text = _REPEATS.sub(r"\1", text)
    return _NON_WORD.sub(" ", text).strip()


class Prefilter:
    """Whole-word phrase matching on normalised text."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self._phrases = {f" {normalise(p)} ": p for p in phrases if normalise(p)}

    def first_hit(self, text: str) -> str | None:
        """The first phrase (as the console wrote it) found in ``text``, or None."""
        padded = f" {normalise(text)} "
        return next((phrase for key, phrase in self._phrases.items() if key in padded), None)


def local_addresses() -> list[Address]:
    """Every IP address of this machine's interfaces."""
    addresses = []
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            try:
                addresses.append(ipaddress.ip_address(entry.address.split("%")[0]))
            except ValueError:
                continue  # link-layer (MAC) addresses
    return addresses


def _minutes(hhmm: str) -> int:
    hours, _, minutes = hhmm.partition(":")
    return int(hours) * 60 + int(minutes)


def validate(policy: pb.Policy) -> None:
    """Raise ValueError naming the first malformed field, so a bad policy is refused whole."""
    for hours in policy.school_hours:
        if hours.weekday > 6:
            raise ValueError(f"school_hours: weekday {hours.weekday} is not 0 (Monday) to 6 (Sunday)")
        for value in (hours.start, hours.end):
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
                raise ValueError(f"school_hours: {value!r} is not a time of day written HH:MM")
        if _minutes(hours.start) >= _minutes(hours.end):
            raise ValueError(f"school_hours: start {hours.start} is not before end {hours.end}")
    for network in policy.school_networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as error:
            raise ValueError(f"school_networks: {network!r} is not a CIDR range ({error})") from None
    if policy.screenshot_format and policy.screenshot_format not in SCREENSHOT_FORMATS:
        raise ValueError(
            f"screenshot_format: {policy.screenshot_format!r} is not one of {SCREENSHOT_FORMATS}"
        )
    if policy.screenshot_quality > 100:
        raise ValueError(f"screenshot_quality: {policy.screenshot_quality} is above 100")


@lru_cache(maxsize=512)  # asked on every keystroke for the focused window's process name and path
def _app_key(name: str) -> str:
    name = PurePath(name.replace("\\", "/")).name.casefold()
    return name.removesuffix(".exe").removesuffix(".app")


@dataclass(frozen=True)
class _Compiled:
    policy: pb.Policy
    prefilter: Prefilter
    excluded: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


class LivePolicy:
    """Holder of the policy in force; the capture sources ask it before every emission.

    The compiled policy is replaced in one assignment: other threads never see half of an update.
    """

    def __init__(
        self,
        policy: pb.Policy,
        *,
        addresses: Callable[[], list[Address]] = local_addresses,
    ) -> None:
        self._addresses = addresses
        self.update(policy)

    def update(self, policy: pb.Policy) -> None:
        """Validate and swap in ``policy``; a malformed one raises ValueError and the old one stays."""
        validate(policy)
        self._state = _Compiled(
            policy=policy,
            prefilter=Prefilter(policy.prefilter_phrases),
            excluded=frozenset(_app_key(name) for name in policy.excluded_applications),
            networks=tuple(ipaddress.ip_network(n, strict=False) for n in policy.school_networks),
        )

    @property
    def current(self) -> pb.Policy:
        return self._state.policy

    def allows(self, source: Source, now: datetime | None = None) -> bool:
        """Whether ``source`` may be captured now (its switch, then BYOD hours and network)."""
        policy = self._state.policy
        switch = getattr(policy, _SWITCHES[source])
        return switch and (not policy.byod or self._byod_window_open(now or datetime.now()))

    def _byod_window_open(self, now: datetime) -> bool:
        """BYOD: capture only in school hours AND on a school network, for whichever of the two are set.

        A BYOD policy that sets neither captures nothing: a pupil's own device is never monitored by default.
        """
        state = self._state
        policy = state.policy
        if not policy.school_hours and not state.networks:
            return False
        if policy.school_hours:
            minute = now.hour * 60 + now.minute
            in_hours = any(
                h.weekday == now.weekday() and _minutes(h.start) <= minute < _minutes(h.end)
                for h in policy.school_hours
            )
            if not in_hours:
                return False
        if state.networks:
            return any(a in n for a in self._addresses() for n in state.networks if a.version == n.version)
        return True

    def excluded(self, application: str) -> bool:
        """Whether an application (process name or path, any case, with or without .exe/.app) is excluded."""
        return bool(application) and _app_key(application) in self._state.excluded

    def prefilter_hit(self, text: str) -> str | None:
        return self._state.prefilter.first_hit(text)

    @property
    def text_pause_seconds(self) -> int:
        return self._state.policy.text_pause_seconds or TEXT_PAUSE_SECONDS
