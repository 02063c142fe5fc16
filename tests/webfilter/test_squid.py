"""The Squid native access.log parser, from files and from syslog lines, including malformed lines."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from console.webfilter.squid import SquidParseError, parse_line, parse_syslog_line

GET = "1700000000.123     45 10.1.2.3 TCP_MISS/200 1234 GET http://www.google.com/search?q=how+to+k1ll+myself&hl=en - HIER_DIRECT/142.250.0.1 text/html"
CONNECT = "1700000001.500 120 192.168.10.20 TCP_TUNNEL/200 5120 CONNECT www.pornhub.com:443 alice HIER_DIRECT/66.254.114.41 -"


def test_native_get_line() -> None:
    record = parse_line(GET)
    assert record.time == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc)
    assert (record.client_ip, record.status, record.method, record.user) == ("10.1.2.3", "TCP_MISS/200", "GET", "")
    assert record.url.startswith("http://www.google.com/search")
    assert record.search_terms == "how to k1ll myself"


def test_connect_line_keeps_host_and_user() -> None:
    record = parse_line(CONNECT)
    assert (record.url, record.user, record.search_terms) == ("www.pornhub.com:443", "alice", "")


def test_ipv6_clients_are_canonical() -> None:
    assert parse_line(GET.replace("10.1.2.3", "2001:DB8:0:0::1")).client_ip == "2001:db8::1"


@pytest.mark.parametrize(
    "header",
    [
        "<190>Nov 23 10:00:01 proxy squid[4242]: ",
        "<190>1 2026-11-23T10:00:01.000Z proxy squid 4242 - - ",
        "Nov 23 10:00:01 proxy (squid-1): ",
    ],
)
def test_syslog_lines(header: str) -> None:
    assert parse_syslog_line(header + CONNECT) == parse_line(CONNECT)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "expected at least 7 fields, got 0"),
        ("1700000000.123 45 10.1.2.3 TCP_MISS/200", "expected at least 7 fields"),
        ("yesterday 45 10.1.2.3 TCP_MISS/200 1234 GET http://a.test/ - - -", "time 'yesterday' is not a Unix timestamp"),
        ("1700000000.123 45 not-an-ip TCP_MISS/200 1234 GET http://a.test/ - - -", "client 'not-an-ip' is not an IP address"),
        ("1700000000.123 45 10.1.2.3 TCP_MISS 1234 GET http://a.test/ - - -", "result 'TCP_MISS' is not action/code"),
        ("1700000000.123 45 10.1.2.3 TCP_MISS/200 1234 get! http://a.test/ - - -", "method 'get!' is not an HTTP method"),
        ("1e308000 45 10.1.2.3 TCP_MISS/200 1234 GET http://a.test/ - - -", "is not a Unix timestamp"),
    ],
)
def test_malformed_lines_say_what_is_wrong(line: str, message: str) -> None:
    with pytest.raises(SquidParseError, match=message.replace("(", r"\(")):
        parse_line(line)


def test_syslog_message_without_a_record() -> None:
    with pytest.raises(SquidParseError, match="no Squid access record"):
        parse_syslog_line("<30>Nov 23 10:00:01 proxy squid[1]: Reconfiguring Squid Cache (version 6.6)...")
