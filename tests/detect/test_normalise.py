"""Normalisation: every obfuscation trick is undone, offsets point back at the original text, and the
batched hot path gives exactly what the per-text path gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.detect.normalise import NormalisedBatch, normalise, normalise_batch, normalise_stepwise


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("KILL", " kil "),  # case (and doubled letters kept as a run)
        ("Ｋｉｌｌ", " kil "),  # NFKC: full-width letters
        ("kíll", " kil "),  # accents
        ("ki\u200bll", " kil "),  # zero-width space
        ("k\u200di\u2060ll", " kil "),  # zero-width joiner, word joiner
        ("k1ll", " kil "),  # leetspeak
        ("ki11", " kil "),
        ("$elf h@rm", " self harm "),
        ("diiiiie", " die "),  # repeated letters
        ("k i l l", " k i l l "),  # spaced letters are joined only in the variant, see below
        ("k.i.l.l", " k i l l "),
        ("kіll", " kil "),  # Cyrillic і
        ("don't", " dont "),
        ("help!!", " help "),  # punctuation is not leetspeak
        ("@jack", " jack "),
        ("2024 results", " 2024 results "),  # numbers stay numbers
    ],
)
def test_tricks_are_undone(text: str, expected: str) -> None:
    assert normalise(text).text == expected


@pytest.mark.parametrize("text", ["k i l l", "k.i.l.l", "k-i-l-l", "k_i_l_l", "k * i * l * l"])
def test_spelled_out_letters_are_joined_in_the_variant(text: str) -> None:
    assert normalise(text, join_spaced=True).text == " kil "


def test_offsets_map_back_to_the_original() -> None:
    text = "well I w@nt to KIIIILL  myself!!"
    norm = normalise(text)
    start = norm.text.index(" kil myself ")
    a, b = norm.original_span(start, start + len(" kil myself "))
    assert text[a:b] == "KIIIILL  myself"
    joined = normalise("please k.i.l.l me", join_spaced=True)
    start = joined.text.index("kil")
    a, b = joined.original_span(start, start + 3)
    assert "please k.i.l.l me"[a:b] == "k.i.l.l"


def test_runs_remember_doubled_letters() -> None:
    weed, wed = normalise("weed"), normalise("wed")
    assert weed.text == wed.text == " wed "
    assert weed.runs[2] == 2 and wed.runs[2] == 1


def test_batch_keeps_texts_apart() -> None:
    texts = ["first line\nwith a newline", "", "ＳＥＣＯＮＤ", "k1ll"]
    parts = normalise_batch(texts).split("\n")
    assert parts == [normalise(t).text for t in texts]


ALPHABET = st.sampled_from(list("abcdeKILLS 01345@$!|.-_'\n\t") + ["é", "\u200b", "Ｋ", "ﬁ", "і", "😀", "ß"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(ALPHABET, max_size=30), min_size=1, max_size=5))
def test_batch_equals_one_by_one(texts: list[str]) -> None:
    assert normalise_batch(texts).split("\n") == [normalise(t).text for t in texts]


@settings(max_examples=500, deadline=None)
@given(st.text(ALPHABET, max_size=40))
def test_one_pass_equals_step_by_step(text: str) -> None:
    fast, reference = normalise(text), normalise_stepwise(text)
    assert (fast.text, fast.starts, fast.ends, fast.runs) == (
        reference.text, reference.starts, reference.ends, reference.runs
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(ALPHABET, max_size=30), min_size=1, max_size=6), st.data())
def test_batch_gives_each_text_with_offsets_as_one_by_one(texts: list[str], data: st.DataObject) -> None:
    wanted = data.draw(st.lists(st.integers(0, len(texts) - 1), max_size=len(texts)))
    batch = NormalisedBatch.of(texts)
    for index, got in zip(wanted, batch.normalised(wanted)):
        expected = normalise(texts[index])
        assert (got.text, got.starts, got.ends, got.runs) == (
            expected.text, expected.starts, expected.ends, expected.runs
        )
