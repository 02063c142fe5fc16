"""Domain lists: reading and importing public categorised lists, and matching a url's host."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
# Hosts-file lines start with the address the name is sent to.
HOSTS_PREFIXES = ("0.0.0.0", "127.0.0.1", "::", "::1")


class DomainListError(ValueError):
    pass


def parse_domain_lines(lines: Iterable[str], *, origin: str) -> list[str]:
    """Domains from a plain list (one per line) or a hosts file; ``#`` comments and blank lines skipped.

    Accepted per line: ``example.com``, ``*.example.com``, ``.example.com``, ``0.0.0.0 example.com``,
    ``||example.com^`` (adblock). A line that is none of these raises DomainListError ``origin:line: ...``."""
    domains: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip().lower()
        if not line:
            continue
        parts = line.split()
        if parts[0] in HOSTS_PREFIXES and len(parts) >= 2:
            parts = parts[1:]
        if len(parts) != 1:
            raise DomainListError(f"{origin}:{number}: expected one domain, got {raw.strip()!r}")
        name = parts[0].removeprefix("||").removesuffix("^").removeprefix("*.").strip(".")
        if name in ("localhost", "localhost.localdomain", "local", "broadcasthost"):
            continue
        if not HOST.match(name):
            raise DomainListError(f"{origin}:{number}: {raw.strip()!r} is not a domain name")
        domains.append(name)
    return domains


def read_domain_list(path: Path) -> list[str]:
    with path.open(encoding="utf-8", errors="replace") as lines:
        return parse_domain_lines(lines, origin=str(path))


def import_domain_list(source: Path, target: Path) -> int:
    """Merges the domains of source into the list file target (sorted, de-duplicated); returns how many
    domains target gained. target is only replaced once source has been read whole without error."""
    new = set(read_domain_list(source))
    old = set(read_domain_list(target)) if target.exists() else set()
    merged = sorted(old | new)
    tmp = target.with_suffix(target.suffix + ".tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text("".join(f"{d}\n" for d in merged), encoding="utf-8")
    tmp.replace(target)
    return len(merged) - len(old)


def host_of(url: str) -> str:
    """The lowercase host of a url, or of a bare ``host[:port][/path]`` as Squid logs CONNECT requests."""
    url = url.strip()
    if "://" not in url:
        url = "//" + url
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".")


def host_suffixes(host: str) -> list[str]:
    """``a.b.example.com`` -> [a.b.example.com, b.example.com, example.com, com]."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]
