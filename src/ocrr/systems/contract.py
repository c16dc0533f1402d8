"""The system contract, checked: :func:`check_system` runs every rule of
:mod:`ocrr.systems.base` against a factory, in the spirit of scikit-learn's
``check_estimator``.

Each rule is one small check function (listed in :data:`CHECKS`, in the order they run);
each builds fresh systems from the factory and small synthetic data made here: unit vectors
around orthogonal class centres (dimension ``dim``, 16 by default), so a competent system
separates the classes, and texts of class-specific words for a system with
``inputs = "text"``. A failure names the system, the check and what went wrong; every check
runs, and :class:`ContractViolation` lists all the failures at once.

What a system declares (class attributes, or properties where it depends on the instance):

``learns``
    ``"at_once"`` (the default): one ``correct(x, y)`` with a label never seen before makes
    ``predict_one(x)`` answer ``y``. ``"gradually"``: a system that takes one small gradient
    step per correction (the softmax heads, LoRA), which no one step can be expected
    to flip; the check repeats the same correction until ``predict_one(x)`` answers ``y``,
    and fails if it has not after :data:`GRADUAL_LIMIT` corrections, so a ``correct`` that
    does nothing still fails. ``"never"``: ``correct`` is ignored by design (the static
    baselines); the check then asserts corrections change no prediction and no storage.
``storage``
    Checked only where the system has ``storage_entries()`` and ``storage_bytes()``.
    ``"grows"`` (the default): every correction is kept (entries +1 each, bytes grow).
    ``"bounded"``: corrections are kept until the system holds ``budget`` entries (its
    ``budget`` attribute), then the count stays at ``budget``. ``"fixed"``: storage does not
    grow with corrections of known labels (parameters, class statistics; a new label may
    add a row).

Text systems (``inputs = "text"``) skip the two shape checks: a text has no width and no
axes, and what a system does with a text it cannot encode is its own business.

>>> from ocrr.systems import ContractViolation, NearestClassMean, check_system
>>> results = check_system(lambda seed: NearestClassMean(), name="ncm")
>>> results["learns_from_correction"], results["wrong_width_raises"]
('passed', 'passed')
>>> sorted(set(results.values()))
['passed']

A broken system fails, and the error names it and every check it breaks:

>>> class Forgetful(NearestClassMean):
...     def correct(self, x, y):
...         pass  # checks nothing, learns nothing
>>> try:
...     check_system(lambda seed: Forgetful(), name="forgetful")
... except ContractViolation as err:
...     print(str(err).splitlines()[0])
...     print(list(err.failures))
forgetful fails 4 of 11 checks:
['correct_before_fit', 'wrong_width_raises', 'wrong_ndim_raises', 'learns_from_correction']
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ocrr.errors import DimensionError, NotFittedError
from ocrr.systems.base import System, storage_of

GRADUAL_LIMIT = 200
"""Corrections of the same (x, new label) after which a ``learns = "gradually"`` system must
predict the new label for x. The built-in heads (``online_linear``, ``ewc``, ``a_gem``,
``lwf``, ``er_reservoir``) need 2 to 5 on the checker's data; ``lora`` takes steps of
5e-4 and is allowed many more than that."""
MAX_BOUNDED_CORRECTIONS = 20_000
"""The bounded-storage check corrects until the budget is full, up to this many times."""

LEARNS = ("at_once", "gradually", "never")
STORAGE = ("grows", "bounded", "fixed")

# class-specific words for the synthetic texts of a text system (7 classes)
_WORDS = (
    ("card", "arrive", "delivery", "post", "mail", "envelope"),
    ("exchange", "rate", "currency", "euro", "dollar", "convert"),
    ("pin", "code", "forgot", "reset", "number", "secret"),
    ("refund", "return", "money", "back", "merchant", "dispute"),
    ("weather", "rain", "sunny", "forecast", "cloud", "snow"),
    ("music", "song", "play", "album", "artist", "volume"),
    ("flight", "airport", "boarding", "gate", "plane", "luggage"),
)


class ContractViolation(AssertionError):
    """A system breaks one or more rules of the contract; ``failures`` maps check to why."""

    def __init__(self, name: str, failures: dict[str, str], total: int) -> None:
        self.name = name
        self.failures = failures
        lines = "\n".join(f"  {check}: {why}" for check, why in failures.items())
        super().__init__(f"{name} fails {len(failures)} of {total} checks:\n{lines}")


class _Failure(AssertionError):
    """One check's failure (the reason is the message)."""


def _require(condition: object, why: str) -> None:
    """Fail the running check with ``why`` unless ``condition`` (not ``assert``: a check
    must fail under ``python -O`` too)."""
    if not condition:
        raise _Failure(why)


class _Skip(Exception):
    """A check that does not apply to this system (the reason is the message)."""


Inputs = Any
"""What the checker hands a system: an ``(n, dim)`` array for a vector system, a list of
texts for a text system (``inputs = "text"``); one query is a row or one text. The System
protocol types vectors only, so the checker's own data is typed loosely."""


@dataclass
class _Data:
    """The checker's synthetic task: classes c0-c3 to fit, c4-c5 for a second fit, c6 new."""

    X_fit: Inputs
    y_fit: list[str]
    X_refit: Inputs
    y_refit: list[str]
    queries: Inputs
    query_labels: list[str]
    novel: Inputs
    novel_label: str
    corrections: list[Inputs] = field(repr=False)
    correction_labels: list[str] = field(repr=False)

    def correction(self, i: int) -> tuple[Inputs, str]:
        """The i-th correction of a known (fitted) label; cycles through a long stream."""
        i %= len(self.correction_labels)
        return self.corrections[i], self.correction_labels[i]


Draw = Callable[[Sequence[int], int], tuple[Inputs, list[str]]]


def _task(draw: Draw, rng: np.random.Generator, per_class: int, per_query: int) -> _Data:
    """Classes 0-3 to fit, 4-5 to fit instead, queries of all seven, one point of class 6,
    and a shuffled stream of corrections of classes 0-3, drawn by ``draw(classes, n)``."""
    X_fit, y_fit = draw(range(4), per_class)
    X_refit, y_refit = draw((4, 5), per_class)
    queries, query_labels = draw(range(7), per_query)
    novel, _ = draw((6,), 1)
    corrections, labels = draw(range(4), 25)
    order = rng.permutation(len(labels))
    return _Data(
        X_fit, y_fit, X_refit, y_refit, queries, query_labels, novel[0], "novel",
        [corrections[i] for i in order], [labels[i] for i in order],
    )  # fmt: skip


def _vector_data(dim: int, seed: int) -> _Data:
    if dim < 7:
        raise ValueError(f"the contract check needs dim >= 7 (7 orthogonal classes), got {dim}")
    rng = np.random.default_rng(seed)
    centres = np.linalg.qr(rng.standard_normal((dim, dim)))[0][:7]  # orthonormal rows

    def draw(classes: Sequence[int], n: int) -> tuple[np.ndarray, list[str]]:
        X = np.concatenate([centres[c] + 0.1 * rng.standard_normal((n, dim)) for c in classes])
        X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
        return X, [f"c{c}" for c in classes for _ in range(n)]

    return _task(draw, rng, per_class=10, per_query=3)


def _text_data(seed: int) -> _Data:
    rng = np.random.default_rng(seed)

    def draw(classes: Sequence[int], n: int) -> tuple[list[str], list[str]]:
        texts = [" ".join(rng.choice(_WORDS[c], size=4)) for c in classes for _ in range(n)]
        return texts, [f"c{c}" for c in classes for _ in range(n)]

    return _task(draw, rng, per_class=6, per_query=2)


@dataclass
class _Context:
    factory: Callable[[int], System]
    seed: int
    data: _Data
    text: bool

    def make(self) -> System:
        return self.factory(self.seed)

    def fitted(self) -> System:
        system = self.make()
        system.fit(self.data.X_fit, self.data.y_fit)
        return system


def _snapshot(system: System, data: _Data) -> tuple[list, tuple[int, int]]:
    """Everything the checker can observe: the queries' predictions and the storage."""
    return list(system.predict_many(data.queries)), storage_of(system)


def _declared(system: System, attribute: str, allowed: tuple[str, ...]) -> str:
    value = getattr(system, attribute, allowed[0])
    if value not in allowed:
        raise _Failure(f"{attribute} = {value!r}; expected one of {', '.join(allowed)}")
    return value


def _raises(kind: type[Exception], call: Callable[[], object], what: str) -> None:
    """Assert ``call()`` raises ``kind``; any other outcome fails, naming ``what``."""
    try:
        result = call()
    except kind:
        return
    except Exception as err:  # noqa: BLE001 - the point is to report what it raised instead
        raise _Failure(f"{what} raised {type(err).__name__} ({err}), not {kind.__name__}") from err
    raise _Failure(f"{what} returned {result!r} instead of raising {kind.__name__}")


# -- the checks --------------------------------------------------------------------------


def check_fit_returns_self(ctx: _Context) -> None:
    """``fit(X, y)`` returns the system itself, so ``make().fit(X, y)`` chains."""
    system = ctx.make()
    returned = system.fit(ctx.data.X_fit, ctx.data.y_fit)
    _require(returned is system, f"fit returned {type(returned).__name__}, not the system")


def check_separates_fitted_classes(ctx: _Context) -> None:
    """After ``fit``, new points of the fitted classes mostly get their class (at least 80 %:
    the classes are well apart), and every prediction is a fitted label."""
    data = ctx.data
    system = ctx.fitted()
    known = [i for i, label in enumerate(data.query_labels) if label in set(data.y_fit)]
    queries: Inputs = data.queries[known] if not ctx.text else [data.queries[i] for i in known]
    predictions = list(system.predict_many(queries))
    strangers = set(predictions) - set(data.y_fit)
    _require(not strangers, f"predicted labels it was never taught: {sorted(map(str, strangers))}")
    right = np.mean([p == data.query_labels[i] for p, i in zip(predictions, known, strict=True)])
    _require(right >= 0.8, f"only {right:.0%} of new points of the fitted classes right")


def check_predict_before_fit_raises(ctx: _Context) -> None:
    """``predict_one`` and ``predict_many`` before any example raise
    :class:`~ocrr.errors.NotFittedError`."""
    data = ctx.data
    _raises(NotFittedError, lambda: ctx.make().predict_one(data.queries[0]), "predict_one")
    _raises(NotFittedError, lambda: ctx.make().predict_many(data.queries), "predict_many")


def check_correct_before_fit(ctx: _Context) -> None:
    """``correct(x, y)`` before ``fit`` either raises :class:`~ocrr.errors.NotFittedError`,
    or is taken as the first example: then ``predict_one`` answers a label (or, for a system
    that never learns, still raises ``NotFittedError``)."""
    data = ctx.data
    system = ctx.make()
    x, y = data.correction(0)
    try:
        system.correct(x, y)
    except NotFittedError:
        return
    except Exception as err:  # noqa: BLE001
        raise _Failure(
            f"correct before fit raised {type(err).__name__} ({err}): raise NotFittedError, "
            "or learn the example"
        ) from err
    if _declared(system, "learns", LEARNS) == "never":
        _raises(NotFittedError, lambda: system.predict_one(x), "predict_one after it")
        return
    try:
        answer = system.predict_one(x)
    except NotFittedError:
        raise _Failure(
            "correct before fit neither raised NotFittedError nor learned the example: "
            "predict_one then raised NotFittedError"
        ) from None
    _require(
        isinstance(answer, str), f"correct before fit accepted, then predict_one -> {answer!r}"
    )


def check_fit_resets(ctx: _Context) -> None:
    """A second ``fit`` starts over: after fit(A) and predictions (with or without
    corrections in between), then fit(B), the system predicts, learns and stores exactly as a
    fresh system fitted on B only (so only B's labels come back)."""
    data = ctx.data

    def after_refit(system: System) -> list:
        system.fit(data.X_refit, data.y_refit)
        before = _snapshot(system, data)
        system.correct(data.X_refit[0], data.y_refit[0])
        system.correct(data.novel, data.novel_label)
        return [before, _snapshot(system, data), system.predict_one(data.novel)]

    fresh = after_refit(ctx.make())
    for corrections in (0, 3):
        used = ctx.fitted()
        used.predict_many(data.queries)
        for i in range(corrections):
            used.correct(*data.correction(i))
        if corrections:
            used.correct(data.novel, data.novel_label)
        used.predict_many(data.queries)
        again = after_refit(used)
        history = f"fit, {corrections} corrections, predictions, then a second fit"
        stale = set(again[0][0]) - set(data.y_refit)
        _require(not stale, f"after {history} it still predicts {sorted(map(str, stale))}")
        _require(
            again[0][1] == fresh[0][1],
            (
                f"after {history} it stores (entries, bytes) {again[0][1]}, a fresh fit "
                f"{fresh[0][1]}: fit appended instead of starting over"
            ),
        )
        _require(again == fresh, f"after {history} it does not predict as a fresh fit does")


def _wrong_inputs(
    ctx: _Context, calls: Callable[[_Data], dict[str, Callable[[System], object]]]
) -> None:
    """Each of ``calls(data)`` raises DimensionError and leaves the system as it was."""
    if ctx.text:
        raise _Skip("a text system reads texts: they have no width or axes to check")
    system = ctx.fitted()
    system.correct(ctx.data.novel, ctx.data.novel_label)
    before = _snapshot(system, ctx.data)
    for what, call in calls(ctx.data).items():
        _raises(DimensionError, functools.partial(call, system), what)
    _require(_snapshot(system, ctx.data) == before, "a rejected input changed the system")


def check_wrong_width_raises(ctx: _Context) -> None:
    """After fitting on width d, inputs of width d + 1 raise
    :class:`~ocrr.errors.DimensionError` in ``predict_one``, ``predict_many`` and
    ``correct``, and a rejected correction changes nothing."""

    def calls(data: _Data) -> dict[str, Callable[[System], object]]:
        wide = np.append(data.novel, np.float32(0.0))
        wide_rows = np.hstack([data.queries, np.zeros((len(data.queries), 1), np.float32)])
        return {
            "predict_one(width d + 1)": lambda s: s.predict_one(wide),
            "predict_many(width d + 1)": lambda s: s.predict_many(wide_rows),
            "correct(width d + 1)": lambda s: s.correct(wide, data.y_fit[0]),
        }

    _wrong_inputs(ctx, calls)


def check_wrong_ndim_raises(ctx: _Context) -> None:
    """A matrix where one vector is due (``predict_one``, ``correct``) and one vector where
    a matrix is due (``predict_many``) raise :class:`~ocrr.errors.DimensionError`."""
    _wrong_inputs(
        ctx,
        lambda data: {
            "predict_one(a 2-D matrix)": lambda s: s.predict_one(data.queries[:2]),
            "predict_one(a 1 x d matrix)": lambda s: s.predict_one(data.queries[:1]),
            "predict_many(one 1-D vector)": lambda s: s.predict_many(data.queries[0]),
            "correct(a 2-D matrix)": lambda s: s.correct(data.queries[:2], data.y_fit[0]),
        },
    )


def check_predict_one_matches_predict_many(ctx: _Context) -> None:
    """``predict_one(X[i]) == predict_many(X)[i]`` for every row, before and after
    corrections (a new label among them); ``predict_many`` answers one label per row."""
    data = ctx.data
    system = ctx.fitted()
    for step in range(2):
        many = list(system.predict_many(data.queries))
        _require(
            len(many) == len(data.queries), f"{len(many)} answers for {len(data.queries)} rows"
        )
        one = [system.predict_one(q) for q in data.queries]
        differ = [i for i, (a, b) in enumerate(zip(one, many, strict=True)) if a != b]
        when = "after corrections" if step else "after fit"
        if differ:
            i = differ[0]
            raise _Failure(
                f"{when}, row {i}: predict_one -> {one[i]!r}, predict_many -> {many[i]!r} "
                f"({len(differ)} rows differ)"
            )
        for i in range(5):
            system.correct(*data.correction(i))
        system.correct(data.novel, data.novel_label)


def check_learns_from_correction(ctx: _Context) -> None:
    """A correction is learned, as the system declares (``learns``): at once, gradually
    (within :data:`GRADUAL_LIMIT` repeats of the same correction), or never (corrections
    change nothing)."""
    data = ctx.data
    system = ctx.fitted()
    learns = _declared(system, "learns", LEARNS)
    x, label = data.novel, data.novel_label
    if learns == "never":
        before = _snapshot(system, data)
        for i in range(3):
            system.correct(*data.correction(i))
        system.correct(x, label)
        _require(
            _snapshot(system, data) == before,
            "declares learns = 'never' but corrections changed its predictions or storage",
        )
        return
    system.correct(x, label)
    answer = system.predict_one(x)
    if learns == "at_once":
        _require(
            answer == label,
            (
                f"after correct(x, {label!r}) predict_one(x) answers {answer!r}; a system that "
                'learns gradually declares learns = "gradually", one that never learns '
                'learns = "never"'
            ),
        )
        return
    for _ in range(GRADUAL_LIMIT - 1):
        if answer == label:
            return
        system.correct(x, label)
        answer = system.predict_one(x)
    _require(
        answer == label,
        (
            f"after {GRADUAL_LIMIT} corrections of x to {label!r} predict_one(x) still answers "
            f"{answer!r}"
        ),
    )


def check_storage_follows_corrections(ctx: _Context) -> None:
    """``storage_entries()`` and ``storage_bytes()`` follow the declared ``storage``: grow
    with every correction, grow until ``budget`` then stay, or stay fixed for corrections of
    known labels. Storage is positive once fitted."""
    data = ctx.data
    system = ctx.fitted()
    if not (hasattr(system, "storage_entries") and hasattr(system, "storage_bytes")):
        raise _Skip("no storage_entries() and storage_bytes(): the harness reports 0")
    storage = _declared(system, "storage", STORAGE)
    system.predict_many(data.queries)  # what a system derives lazily is derived now
    entries, nbytes = storage_of(system)
    _require(nbytes > 0, f"storage_bytes() is {nbytes} after fit")
    if storage == "bounded":
        budget = getattr(system, "budget", None)
        if not (isinstance(budget, int) and budget > 0):
            raise _Failure(f'declares storage = "bounded" but its budget is {budget!r}')
        n = min(max(budget - entries, 0) + 3, MAX_BOUNDED_CORRECTIONS)
        for i in range(n):
            system.correct(*data.correction(i))
            expected = min(entries + i + 1, budget)
            got = system.storage_entries()
            _require(
                got == expected,
                (
                    f"after {i + 1} corrections from {entries} entries it holds {got}, expected "
                    f"{expected} (budget {budget})"
                ),
            )
        return
    m = 3
    for i in range(m):
        system.correct(*data.correction(i))
    system.predict_many(data.queries)
    after_entries, after_bytes = storage_of(system)
    if storage == "fixed":
        _require(
            (after_entries, after_bytes) == (entries, nbytes),
            (
                f'declares storage = "fixed" but {m} corrections of known labels took (entries, '
                f"bytes) from {(entries, nbytes)} to {(after_entries, after_bytes)}"
            ),
        )
        return
    _require(
        after_entries == entries + m,
        f"storage_entries() went from {entries} to {after_entries} after {m} corrections",
    )
    _require(
        after_bytes > nbytes,
        (
            f"storage_bytes() did not grow after {m} corrections ({nbytes} -> {after_bytes}); a "
            'system that keeps no examples declares storage = "fixed", a bounded one '
            'storage = "bounded" and its budget'
        ),
    )


def check_deterministic(ctx: _Context) -> None:
    """Two systems from the factory, with the same seed, fed the same fit, corrections and
    queries, answer and store the same."""
    data = ctx.data

    def run() -> list[object]:
        system = ctx.fitted()
        out: list[object] = [_snapshot(system, data)]
        for i in range(4):
            system.correct(*data.correction(i))
        system.correct(data.novel, data.novel_label)
        out.append(_snapshot(system, data))
        out.append([system.predict_one(q) for q in data.queries[:5]])
        return out

    first, second = run(), run()
    _require(first == second, "two runs from the same factory, seed and data differ")


CHECKS: dict[str, Callable[[_Context], None]] = {
    "fit_returns_self": check_fit_returns_self,
    "separates_fitted_classes": check_separates_fitted_classes,
    "predict_before_fit_raises": check_predict_before_fit_raises,
    "correct_before_fit": check_correct_before_fit,
    "fit_resets": check_fit_resets,
    "wrong_width_raises": check_wrong_width_raises,
    "wrong_ndim_raises": check_wrong_ndim_raises,
    "predict_one_matches_predict_many": check_predict_one_matches_predict_many,
    "learns_from_correction": check_learns_from_correction,
    "storage_follows_corrections": check_storage_follows_corrections,
    "deterministic": check_deterministic,
}
"""Every check, by name, in the order :func:`check_system` runs them."""


def check_system(
    factory: Callable[[int], System],
    *,
    name: str | None = None,
    dim: int = 16,
    seed: int = 0,
    checks: Sequence[str] | None = None,
) -> dict[str, str]:
    """Check that the systems ``factory(seed)`` makes keep the system contract.

    Parameters
    ----------
    factory
        Called with ``seed`` for each fresh system a check needs, as
        :func:`ocrr.systems.register` takes it (``lambda seed: MySystem(seed=seed)``).
    name
        What the report calls the system (default: the class name of what it makes).
    dim
        Width of the synthetic vectors (at least 7).
    seed
        Seeds the factory and the synthetic data.
    checks
        Names from :data:`CHECKS` to run (default: all).

    Returns
    -------
    dict
        Check name -> ``"passed"`` or ``"skipped: <why>"``.

    Raises
    ------
    ContractViolation
        If any check fails; it lists each failing check and why.

    Examples
    --------
    >>> from ocrr.systems import check_system, make_system
    >>> results = check_system(lambda seed: make_system("slda", seed), name="slda")
    >>> list(results)[:3]
    ['fit_returns_self', 'separates_fitted_classes', 'predict_before_fit_raises']
    """
    unknown = set(checks or ()) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown checks {sorted(unknown)}; valid: {', '.join(CHECKS)}")
    probe = factory(seed)
    text = getattr(probe, "inputs", "vector") == "text"
    name = name or type(probe).__name__
    data = _text_data(seed) if text else _vector_data(dim, seed)
    ctx = _Context(factory, seed, data, text)
    results: dict[str, str] = {}
    failures: dict[str, str] = {}
    for check in checks or CHECKS:
        try:
            CHECKS[check](ctx)
        except _Skip as skip:
            results[check] = f"skipped: {skip}"
        except AssertionError as err:
            failures[check] = results[check] = str(err) or "assertion failed"
        except Exception as err:  # noqa: BLE001 - a crash inside a check is a failure too
            failures[check] = results[check] = f"raised {type(err).__name__}: {err}"
        else:
            results[check] = "passed"
    if failures:
        raise ContractViolation(name, failures, len(results))
    return results


__all__ = ["CHECKS", "GRADUAL_LIMIT", "ContractViolation", "check_system"]
