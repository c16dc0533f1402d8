"""The errors every classifier in OCRR raises for misuse, whatever its family.

They sit at the bottom of the package (nothing here imports anything of OCRR), so the
substrate, the baselines, the front doors (:mod:`ocrr.sklearn`, :mod:`ocrr.river`) and the
contract check (:func:`ocrr.systems.check_system`) all speak the same two words:

- :class:`NotFittedError`: a prediction asked of a classifier that has no examples yet.
  It subclasses ``ValueError`` and ``AttributeError`` like scikit-learn's, so code written
  against scikit-learn catches it too.
- :class:`DimensionError`: a vector (or matrix of vectors) whose width is not the one the
  classifier was fitted with, or that is not 1-D / 2-D where it should be.
- :class:`LedgerIntegrityError` (and :class:`LedgerMissingError`): a durable ledger that
  failed its check when opened, so nothing built on it is served.

>>> from ocrr.errors import DimensionError, NotFittedError
>>> issubclass(NotFittedError, ValueError), issubclass(DimensionError, ValueError)
(True, True)
"""

from __future__ import annotations


class OcrrError(Exception):
    """The base of the errors in this module."""


class NotFittedError(OcrrError, ValueError, AttributeError):
    """Raised when a classifier is asked to predict before it has any example.

    Fix: call ``fit(X, y)`` (or ``correct(x, y)``/``learn_one``) first.

    >>> raise NotFittedError.for_system("ncm")
    Traceback (most recent call last):
    ...
    ocrr.errors.NotFittedError: ncm has no examples yet: call fit(X, y) before predicting
    """

    @classmethod
    def for_system(cls, name: str) -> NotFittedError:
        return cls(f"{name} has no examples yet: call fit(X, y) before predicting")


class DimensionError(OcrrError, ValueError):
    """Raised when an input's shape does not match what the classifier was fitted with.

    >>> raise DimensionError.width(expected=384, got=512)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ocrr.errors.DimensionError: expected vectors of dimension 384, got 512: encode the input...
    """

    @classmethod
    def width(cls, expected: int, got: int) -> DimensionError:
        return cls(
            f"expected vectors of dimension {expected}, got {got}: encode the input with "
            "the encoder the classifier was fitted with"
        )


class LedgerIntegrityError(OcrrError, ValueError):
    """Raised when a ledger fails the check it gets when it is opened: it is not served.

    ``first_bad_seq`` is the first sequence number that failed (``None`` where the ledger
    as a whole is at fault: its file is missing or empty, its head record is gone);
    ``reason`` says what was found and ``where`` names the ledger. The message says how to
    investigate: open it read-only, which skips the check, and verify it in full.

    >>> err = LedgerIntegrityError("ns.db", 7, "contents do not match its hash")
    >>> err.first_bad_seq
    7
    >>> raise err  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ocrr.errors.LedgerIntegrityError: ledger ns.db refused at open: entry 7: contents do not...
    """

    def __init__(self, where: str, first_bad_seq: int | None, reason: str) -> None:
        at = "" if first_bad_seq is None else f"entry {first_bad_seq}: "
        super().__init__(
            f"ledger {where} refused at open: {at}{reason}. To investigate, open it "
            f"read-only (Ledger.open(..., read_only=True), which serves nothing and skips "
            f"this check) and run 'ocrr ledger verify --forensic {where}'; restore it from a "
            "backup or an export if it was altered"
        )
        self.where = where
        self.first_bad_seq = first_bad_seq
        self.reason = reason


class LedgerMissingError(LedgerIntegrityError):
    """A ledger that should exist is not there (its file deleted, its schema dropped): a
    :class:`LedgerIntegrityError` too, never answered with a fresh empty ledger.

    >>> issubclass(LedgerMissingError, LedgerIntegrityError)
    True
    """
