"""The namespaces a server process holds open: loaded on first use, kept, kept in step.

Why lazily and kept: opening a namespace rebuilds its classifier from the whole ledger
(seconds at a million entries), so it happens once per process, off the event loop; after
that a request finds it in a dictionary. Settings (the abstention threshold) live in the
registry, which other replicas may change, so :meth:`Namespaces.sync_settings` re-reads them
(the app does every second).

Why quarantine: a namespace whose ledger cannot be opened (a corrupt or tampered row, a
deleted file, a refused verification, whatever the store or the substrate raises) must not
take the other tenants down with it. Its failure is kept with its reason; its routes
answer 503 with that reason, ``/v1/health`` says ``degraded`` and the metrics list it; every
other namespace serves. Opening is tried again after ``retry_seconds`` (an operator may have
restored the file), never more often.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ocrr.ledger import Ledger
from ocrr.server.errors import ApiError, Conflict, Unavailable
from ocrr.server.namespace import Namespace
from ocrr.server.registry import NamespaceRecord, Registry

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ocrr.encoders import Encoder


log = logging.getLogger("ocrr.server")


@dataclass(frozen=True)
class Quarantine:
    """Why a namespace could not be opened, and when that was last tried (monotonic)."""

    reason: str
    since: float


class Namespaces:
    """Name → open :class:`Namespace`, over a :class:`Registry`.

    Examples
    --------
    >>> import tempfile, os
    >>> from ocrr.encoders import TfidfEncoder
    >>> folder = tempfile.mkdtemp()
    >>> registry = Registry(folder)
    >>> _ = registry.create_namespace("good"), registry.create_namespace("gone")
    >>> os.remove(registry.ledger_location("gone")[0])
    >>> namespaces = Namespaces(registry, TfidfEncoder().fit(["a text", "another"]))
    >>> namespaces.preload()
    1
    >>> sorted(namespaces.quarantined())
    ['gone']
    >>> namespaces.close(); registry.close()
    """

    def __init__(
        self,
        registry: Registry,
        encoder: Encoder,
        *,
        refresh_interval: float = 0.25,
        signing_key: Ed25519PrivateKey | None = None,
        retry_seconds: float = 30.0,
    ) -> None:
        self.registry = registry
        self.encoder = encoder
        self.refresh_interval = refresh_interval
        self.signing_key = signing_key
        self.retry_seconds = retry_seconds
        self._open: dict[str, Namespace] = {}
        self._failed: dict[str, Quarantine] = {}
        self._opening: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def cached(self, name: str) -> Namespace | None:
        """The open namespace, or None (then :meth:`get`, off the event loop)."""
        return self._open.get(name)

    def get(self, name: str) -> Namespace:
        """The namespace, opening it (and rebuilding its classifier) if need be."""
        found = self._open.get(name)
        if found is not None:
            return found
        with self._lock:
            gate = self._opening.setdefault(name, threading.Lock())
        with gate:
            found = self._open.get(name)
            if found is None:
                failed = self._failed.get(name)
                if failed is not None and time.monotonic() - failed.since < self.retry_seconds:
                    raise Unavailable(f"namespace {name!r} is quarantined: {failed.reason}")
                record = self.registry.require_namespace(name)
                try:
                    found = self._load(record)
                except ApiError:
                    raise  # the caller's problem (an encoder mismatch): not the ledger's
                except Exception as err:  # noqa: BLE001 - whatever opening raised
                    reason = f"its ledger could not be opened: {type(err).__name__}: {err}"
                    self._failed[name] = Quarantine(reason, time.monotonic())
                    log.error("namespace %r quarantined: %s", name, reason)
                    raise Unavailable(f"namespace {name!r} is quarantined: {reason}") from None
                self._failed.pop(name, None)
                self._open[name] = found
        return found

    def quarantined(self) -> dict[str, str]:
        """Namespace → why it could not be opened (the last try)."""
        return {name: q.reason for name, q in self._failed.items()}

    def _load(self, record: NamespaceRecord) -> Namespace:
        from ocrr.substrate import Substrate

        identity = self.encoder.identity
        recorded = self.registry.claim_encoder(record.name, identity)
        if recorded != identity:
            raise Conflict(
                f"namespace {record.name!r} holds vectors of encoder {recorded!r}; this "
                f"server runs {identity!r}"
            )
        store = self.registry.open_store(record.name)
        try:
            # the vote rule is the ledger's (set_vote); a namespace made with another rule
            # than the default before rules were recorded gets its setting entry now
            substrate = Substrate(ledger=Ledger(store), encoder=self.encoder)
            if substrate.rule.name != record.vote:
                substrate.set_vote(record.vote, actor="ocrr")
        except BaseException:
            store.close()
            raise

        def reopen() -> Ledger:
            return Ledger(self.registry.open_store(record.name, create=False))

        return Namespace(record.name, substrate, threshold=record.threshold, reopen=reopen,
                         refresh_interval=self.refresh_interval,
                         signing_key=self.signing_key)

    def create(self, name: str, *, threshold: float | None = None,
               vote: str = "hybrid") -> NamespaceRecord:
        record = self.registry.create_namespace(name, threshold=threshold, vote=vote,
                                                encoder=self.encoder.identity)
        self.get(name)  # create its ledger now: a failure shows here, not on first use
        return record

    def set_threshold(self, name: str, threshold: float | None) -> NamespaceRecord:
        record = self.registry.set_threshold(name, threshold)
        found = self._open.get(name)
        if found is not None:
            found.threshold = record.threshold
        return record

    def sync_settings(self) -> None:
        """Re-read every open namespace's settings (another replica may have changed them)."""
        records = {r.name: r for r in self.registry.list_namespaces()}
        for name, namespace in list(self._open.items()):
            record = records.get(name)
            if record is not None:
                namespace.threshold = record.threshold

    def preload(self) -> int:
        """Open every registered namespace (at start-up, before taking traffic)."""
        count = 0
        for record in self.registry.list_namespaces():
            try:
                self.get(record.name)
                count += 1
            except Exception:  # noqa: BLE001 - quarantined (503), or 409, when asked for
                continue  # served with an error when asked for; the others serve
        return count

    def loaded(self) -> list[Namespace]:
        return list(self._open.values())

    def close(self) -> None:
        with self._lock:
            for namespace in self._open.values():
                namespace.close()
            self._open.clear()
