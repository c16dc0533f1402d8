"""Classifier settings recorded in the ledger, so that a rebuild reproduces them.

The vote rule is the one setting so far: ``Substrate.set_vote(BandVote(k=3))`` appends a
``setting`` entry (label ``"vote"``, ``provenance["value"]`` the rule as JSON), and a
substrate rebuilt from that ledger (or from any prefix of it that holds the entry) votes
with that rule, unless its constructor is given a rule explicitly.

>>> from ocrr.substrate.votes import BandVote
>>> text = vote_to_json(BandVote(k=3))
>>> text
'{"k":3,"margin":0.05,"rule":"band"}'
>>> vote_from_json(text)
BandVote(k=3, margin=0.05, rule='band')
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable

from ocrr.ledger import SETTING, Entry, LedgerError
from ocrr.substrate.votes import Vote, make_vote

VOTE_SETTING = "vote"
"""The label of a setting entry that chooses the vote rule."""


def vote_to_json(rule: Vote) -> str:
    """A vote rule as canonical JSON: its name under ``"rule"`` and its parameters."""
    if not dataclasses.is_dataclass(rule):
        raise LedgerError(
            f"a {type(rule).__name__} cannot be recorded in the ledger: only the built-in "
            "rules (HybridVote, BandVote) can be a namespace's setting"
        )
    params = dataclasses.asdict(rule)
    params["rule"] = rule.name
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def vote_from_json(text: str) -> Vote:
    """The rule :func:`vote_to_json` wrote."""
    try:
        params = json.loads(text)
        name = params.pop("rule")
    except (ValueError, KeyError, AttributeError, TypeError):
        raise LedgerError(f"a vote setting must be a JSON object with a 'rule': {text!r}") from None
    try:
        return make_vote(name, **params)
    except (TypeError, ValueError) as err:
        raise LedgerError(f"vote setting {text!r}: {err}") from None


def recorded_vote(entries: Iterable[Entry]) -> Vote | None:
    """The vote rule the last ``vote`` setting among ``entries`` chose (None: no setting)."""
    found = None
    for entry in entries:
        if entry.kind == SETTING and entry.label == VOTE_SETTING:
            found = entry
    return None if found is None else vote_from_json(found.provenance["value"])
