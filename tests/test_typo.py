"""Seeded typos: deterministic, the promised amount, keyboard-plausible."""

from __future__ import annotations

import pytest

from ocrr.bench.typo import KEYBOARD_NEIGHBOURS, perturb, perturb_all

TEXT = (
    "I still have not received my new card and I ordered it two weeks ago, could you tell "
    "me when it will arrive and whether there is a way to track the delivery please"
)


def distance(a: str, b: str) -> int:
    """Levenshtein distance with adjacent transpositions (optimal string alignment)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(
                d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def test_same_seed_same_typos_other_seed_other_typos():
    assert perturb(TEXT, 0.15, 7) == perturb(TEXT, 0.15, 7)
    assert perturb(TEXT, 0.15, [7, 1500, 0, 3]) == perturb(TEXT, 0.15, [7, 1500, 0, 3])
    outputs = {perturb(TEXT, 0.15, seed) for seed in range(20)}
    assert len(outputs) == 20


@pytest.mark.parametrize("rate", [0.05, 0.15])
def test_about_rate_of_the_characters_are_edited(rate):
    n_edits = round(rate * len(TEXT))
    for seed in range(10):
        out = perturb(TEXT, rate, seed)
        assert out != TEXT
        # each edit is one operation; edits on neighbouring letters may overlap or cancel
        # (the distance falls short), or a swap may move an edited letter (the restricted
        # distance counts a little more)
        assert 0.6 * n_edits <= distance(TEXT, out) <= 1.2 * n_edits


def test_rate_zero_and_texts_without_letters_are_unchanged():
    assert perturb(TEXT, 0.0, 1) == TEXT
    assert perturb("1234 5678 !!", 0.15, 1) == "1234 5678 !!"
    assert perturb("", 0.15, 1) == ""


def test_a_short_text_still_gets_one_typo():
    assert perturb("hello", 0.05, 3) != "hello"


def test_invalid_rate_is_refused():
    with pytest.raises(ValueError, match="rate"):
        perturb(TEXT, 1.5, 0)


def test_keyboard_neighbours_are_symmetric_and_local():
    assert set(KEYBOARD_NEIGHBOURS) == set("abcdefghijklmnopqrstuvwxyz")
    for key, near in KEYBOARD_NEIGHBOURS.items():
        assert key not in near and 2 <= len(near) <= 6
        for other in near:
            assert key in KEYBOARD_NEIGHBOURS[other]
    assert set(KEYBOARD_NEIGHBOURS["s"]) == set("awedxz")
    assert set(KEYBOARD_NEIGHBOURS["g"]) == set("ftyhbv")


@pytest.mark.parametrize("letter", ["s", "S", "m"])
def test_every_edit_kind_happens_and_uses_keyboard_neighbours(letter):
    near = KEYBOARD_NEIGHBOURS[letter.lower()]
    if letter.isupper():
        near = near.upper()
    seen = set()
    for seed in range(200):
        out = perturb(letter + "1", 0.5, seed)  # one edit, on the letter
        if out == "1":
            seen.add("drop")
        elif out == "1" + letter:
            seen.add("swap")
        elif len(out) == 3:
            assert out[0] == letter and out[1] in near and out[2] == "1"
            seen.add("insert")
        else:
            assert len(out) == 2 and out[0] in near and out[1] == "1"
            seen.add("substitute")
    assert seen == {"drop", "swap", "insert", "substitute"}


def test_swaps_happen():
    outs = [perturb("ab", 0.5, seed) for seed in range(100)]
    assert "ba" in outs


def test_perturb_all_seeds_each_text_by_its_row():
    texts = [f"query number {i} about my card" for i in range(10)]
    whole = perturb_all(texts, 0.15, 4)
    some = perturb_all([texts[i] for i in (2, 7)], 0.15, 4, rows=[2, 7])
    assert some == [whole[2], whole[7]]
    assert perturb_all(texts, 0.15, 4, stream=1) != whole
    assert perturb_all(texts, 0.05, 4) != whole
    with pytest.raises(ValueError, match="row numbers"):
        perturb_all(texts, 0.15, 4, rows=[1, 2])
