"""The live policy: sources on and off, BYOD hours and networks, exclusions, the prefilter, bad policies."""

from __future__ import annotations

import ipaddress
from datetime import datetime

import pytest
from safeguard_proto.v1 import agent_pb2 as pb

from agent.policy import LivePolicy, Prefilter, Source, normalise

MONDAY_MORNING = datetime(2025, 3, 3, 9, 15)
MONDAY_EVENING = datetime(2025, 3, 3, 19, 0)
SATURDAY_MORNING = datetime(2025, 3, 8, 9, 15)
ALL_ON = {"capture_text": True, "capture_windows": True, "capture_web": True, "capture_screenshots": True}


def on_network(*addresses: str):
    return lambda: [ipaddress.ip_address(a) for a in addresses]


def test_normalise_undoes_case_accents_leetspeak_repeats_and_punctuation() -> None:
    assert normalise("I wànt 2 DIIIE!!") == "i want 2 die"
    assert normalise("k1ll my$elf...") == "kil myself"
    assert normalise("   ") == ""


def test_prefilter_matches_whole_words_only_and_reports_the_phrase_as_written() -> None:
    prefilter = Prefilter(["Want to DIE", "kys", "!!!"])
    assert prefilter.first_hit("honestly i w4nt to diiie") == "Want to DIE"
    assert prefilter.first_hit("just KYS lol") == "kys"
    assert prefilter.first_hit("dying of laughter, i want today") is None
    assert prefilter.first_hit("skyscraper") is None
    assert prefilter.first_hit("!!!") is None  # a phrase that normalises to nothing never matches


def test_sources_switch_on_and_off_live() -> None:
    policy = LivePolicy(pb.Policy())
    assert not any(policy.allows(source) for source in Source)
    policy.update(pb.Policy(version=2, capture_text=True, capture_web=True))
    assert [s for s in Source if policy.allows(s)] == [Source.TEXT, Source.WEB]
    assert policy.current.version == 2


def test_byod_captures_only_in_school_hours_on_the_school_network() -> None:
    hours = [pb.SchoolHours(weekday=d, start="08:30", end="15:30") for d in range(5)]
    both = pb.Policy(byod=True, school_hours=hours, school_networks=["10.20.0.0/16"], **ALL_ON)
    at_school = LivePolicy(both, addresses=on_network("127.0.0.1", "10.20.4.7"))
    at_home = LivePolicy(both, addresses=on_network("127.0.0.1", "192.168.1.20"))
    assert at_school.allows(Source.TEXT, MONDAY_MORNING)
    assert not at_school.allows(Source.TEXT, MONDAY_EVENING)
    assert not at_school.allows(Source.TEXT, SATURDAY_MORNING)
    assert not at_home.allows(Source.TEXT, MONDAY_MORNING)

    hours_only = LivePolicy(
        pb.Policy(byod=True, school_hours=hours, **ALL_ON), addresses=on_network("192.168.1.20")
    )
    assert hours_only.allows(Source.WEB, MONDAY_MORNING) and not hours_only.allows(Source.WEB, MONDAY_EVENING)
    network_only = LivePolicy(
        pb.Policy(byod=True, school_networks=["fd00::/8"], **ALL_ON), addresses=on_network("fd00::5")
    )
    assert network_only.allows(Source.WINDOWS, MONDAY_EVENING)

    neither = LivePolicy(pb.Policy(byod=True, **ALL_ON), addresses=on_network("10.20.4.7"))
    assert not neither.allows(Source.TEXT, MONDAY_MORNING)  # a pupil's own device is never watched by default
    school_owned = LivePolicy(pb.Policy(school_hours=hours, **ALL_ON), addresses=on_network("192.168.1.20"))
    assert school_owned.allows(Source.TEXT, SATURDAY_MORNING)  # hours bind BYOD devices only


def test_exclusions_match_process_names_and_paths_in_any_case() -> None:
    policy = LivePolicy(
        pb.Policy(excluded_applications=["KeePassXC", "C:\\Program Files\\Counselling\\talk.exe"])
    )
    assert policy.excluded("keepassxc")
    assert policy.excluded("/usr/bin/keepassxc")
    assert policy.excluded("talk.EXE")
    assert policy.excluded("D:\\other\\Talk.exe")
    assert not policy.excluded("firefox")
    assert not policy.excluded("")


def test_text_pause_has_a_default_when_unset() -> None:
    assert LivePolicy(pb.Policy()).text_pause_seconds == 5
    assert LivePolicy(pb.Policy(text_pause_seconds=9)).text_pause_seconds == 9


@pytest.mark.parametrize(
    ("policy", "error"),
    [
        (pb.Policy(school_hours=[pb.SchoolHours(weekday=7, start="08:00", end="15:00")]), "weekday 7"),
        (
            pb.Policy(school_hours=[pb.SchoolHours(weekday=1, start="8am", end="15:00")]),
            "'8am' is not a time",
        ),
        (pb.Policy(school_hours=[pb.SchoolHours(weekday=1, start="15:00", end="08:00")]), "not before end"),
        (pb.Policy(school_networks=["10.0.0.0/33"]), "'10.0.0.0/33' is not a CIDR range"),
        (pb.Policy(screenshot_format="gif"), "screenshot_format: 'gif'"),
        (pb.Policy(screenshot_quality=101), "screenshot_quality: 101"),
    ],
)
def test_a_malformed_policy_is_refused_whole_and_the_old_one_stays(policy: pb.Policy, error: str) -> None:
    live = LivePolicy(pb.Policy(version=1, capture_text=True))
    with pytest.raises(ValueError, match=error):
        live.update(policy)
    assert live.current.version == 1 and live.allows(Source.TEXT)
