"""Seeded character-level noise: the typos of the ``drift-typo`` scenario.

:func:`perturb` edits ``round(rate * len(text))`` distinct letter positions of a text (at
least one when the text has a letter and ``rate > 0``). Each edit is one of four kinds,
drawn uniformly:

- **swap** the letter with the next character (``form`` -> ``from``);
- **drop** the letter (``account`` -> ``acount``);
- **insert** a QWERTY neighbour of the letter after it (``card`` -> ``cartd``);
- **substitute** a QWERTY neighbour for the letter (``card`` -> ``cafd``).

Case is kept for inserted and substituted letters. Everything is drawn from
``numpy.random.default_rng(seed)``, so a (text, rate, seed) always gives the same result on
every machine; the scenario seeds each text with (run seed, rate, split, row).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EDIT_KINDS = ("swap", "drop", "insert", "substitute")
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_OFFSETS = (0.0, 0.25, 0.75)  # a staggered keyboard: 'a' sits between 'q' and 'w'


def _neighbours() -> dict[str, str]:
    """Each letter's QWERTY neighbours: left and right on its row, and the keys of the rows
    above and below that overlap it (their centres less than one key apart)."""
    where = {
        ch: (r, c + _OFFSETS[r]) for r, row in enumerate(_ROWS) for c, ch in enumerate(row)
    }
    table = {}
    for ch, (r, x) in where.items():
        near = [
            other
            for other, (r2, x2) in where.items()
            if other != ch
            and ((r2 == r and abs(x2 - x) == 1) or (abs(r2 - r) == 1 and abs(x2 - x) < 1))
        ]
        table[ch] = "".join(sorted(near))
    return table


KEYBOARD_NEIGHBOURS: dict[str, str] = _neighbours()
"""Lower-case letter -> its neighbouring letters on a QWERTY keyboard (symmetric)."""


def _near(ch: str, u: float) -> str:
    """The neighbour of ``ch`` picked by the uniform number ``u``, in ``ch``'s case."""
    options = KEYBOARD_NEIGHBOURS.get(ch.lower())
    if not options:  # a letter off the QWERTY grid (accented, other scripts)
        options = "etaoinshr"
    pick = options[min(int(u * len(options)), len(options) - 1)]
    return pick.upper() if ch.isupper() else pick


def perturb(text: str, rate: float, seed: int | Sequence[int]) -> str:
    """``text`` with about ``rate`` of its characters edited by typos (see the module doc)."""
    if not 0 <= rate <= 1:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if rate == 0 or not letters:
        return text
    rng = np.random.default_rng(seed)
    n = min(len(letters), max(1, round(rate * len(text))))
    positions = sorted(rng.choice(letters, n, replace=False).tolist(), reverse=True)
    kinds = rng.integers(len(EDIT_KINDS), size=n)
    picks = rng.random(n)
    chars = list(text)
    # right to left, so an edit never shifts a position still to be edited
    for pos, kind, u in zip(positions, kinds, picks, strict=True):
        edit = EDIT_KINDS[kind]
        if edit == "swap" and pos + 1 < len(chars) and chars[pos + 1] != chars[pos]:
            chars[pos], chars[pos + 1] = chars[pos + 1], chars[pos]
        elif edit == "drop" and len(chars) > 1:
            del chars[pos]
        elif edit == "insert":
            chars.insert(pos + 1, _near(chars[pos], u))
        else:  # substitute, and the fallback of a swap or drop that cannot apply
            chars[pos] = _near(chars[pos], u)
    return "".join(chars)


def perturb_all(
    texts: Sequence[str], rate: float, seed: int, *, stream: int = 0,
    rows: Sequence[int] | np.ndarray = (),
) -> list[str]:
    """Perturb many texts; text i is seeded with (seed, rate in basis points, stream, row i),
    ``rows`` defaulting to 0, 1, 2, ... So a text's typos depend on where it came from, not
    on which other texts were perturbed with it."""
    rows = list(rows) if len(rows) else list(range(len(texts)))
    if len(rows) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(rows)} row numbers")
    basis = round(rate * 10_000)
    return [
        perturb(text, rate, [seed, basis, stream, int(row)])
        for text, row in zip(texts, rows, strict=True)
    ]
