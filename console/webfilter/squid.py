"""Squid's native access.log format, from a file or from syslog lines.

    time elapsed client action/code size method URL ident hierarchy/from content-type
    1700000000.123    45 10.1.2.3 TCP_MISS/200 1234 GET http://example.com/ - HIER_DIRECT/93.184.216.34 text/html
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

# Where a native record starts inside a syslog message ("<190>Nov 23 10:00:01 proxy squid[42]: 1700...").
RECORD_START = re.compile(r"\d{9,11}\.\d{1,6}\s+-?\d+\s")
# Query parameters that carry what was searched for, on the common search engines and video sites.
SEARCH_PARAMETERS = ("q", "query", "search_query", "p", "search", "k", "text", "term")


class SquidParseError(ValueError):
    pass


@dataclass(frozen=True)
class AccessRecord:
    time: datetime
    client_ip: str
    status: str  # e.g. TCP_MISS/200, TCP_DENIED/403
    method: str
    url: str  # "host:443" for CONNECT
    user: str  # "" when the proxy did not authenticate

    @property
    def search_terms(self) -> str:
        """What the url searched for, if it is a search ("" otherwise)."""
        if "://" not in self.url:
            return ""
        query = parse_qs(urlsplit(self.url).query)
        return " ".join(v for name in SEARCH_PARAMETERS for v in query.get(name, ()))


def parse_line(line: str) -> AccessRecord:
    """One native access.log line; SquidParseError says what is wrong with a malformed one."""
    fields = line.split()
    if len(fields) < 7:
        raise SquidParseError(f"expected at least 7 fields, got {len(fields)}")
    stamp, _elapsed, client, status, _size, method, url = fields[:7]
    user = fields[7] if len(fields) > 7 and fields[7] != "-" else ""
    try:
        time = datetime.fromtimestamp(float(stamp), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise SquidParseError(f"time {stamp!r} is not a Unix timestamp") from None
    try:
        client = str(ipaddress.ip_address(client))
    except ValueError:
        raise SquidParseError(f"client {client!r} is not an IP address") from None
    if "/" not in status:
        raise SquidParseError(f"result {status!r} is not action/code")
    if not re.fullmatch(r"[A-Z_]+", method):
        raise SquidParseError(f"method {method!r} is not an HTTP method")
    return AccessRecord(time=time, client_ip=client, status=status, method=method, url=url, user=user)


def parse_syslog_line(line: str) -> AccessRecord:
    """A native record carried in a syslog message (RFC 3164 or 5424 header before it)."""
    start = RECORD_START.search(line)
    if start is None:
        raise SquidParseError("no Squid access record in the syslog message")
    return parse_line(line[start.start():])
