"""One client API for the classifier, in-process or behind ``ocrr serve``.

A chatbot or ticket router writes ``client.predict(text)`` and ``client.correct(text,
label)`` once; whether the classifier runs in its own process (:meth:`Client.local`) or on a
server (:meth:`Client.remote`) is a line of configuration. Both backends return the same
models (:class:`Prediction` with its neighbours, :class:`Receipt`, ...) and raise the same
errors (:class:`ApiError` and its subclasses: ``InvalidRequest``, ``NotFound``,
``Conflict``, ``Unauthenticated``, ``Forbidden``, ``TooLarge``, ``RateLimited``), because the
local backend *is* the server's namespace service without HTTP around it::

    from ocrr.client import Client

    clf = Client.remote("http://127.0.0.1:8000", key="ocrr_...", namespace="support")
    # or: clf = Client.local("ledger.db", threshold=0.4)
    answer = clf.predict("I want to close my account")
    answer.label, answer.confidence, answer.neighbours[0].actor
    clf.correct("I want to close my account", "close_account", actor="agent-7")
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from ocrr.server.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthenticated,
    error_for,
)
from ocrr.server.lifecycle_schemas import (
    BandSetting,
    ChangesOut,
    ExampleBatchRequest,
    ExampleItem,
    HybridSetting,
    RelabelRequest,
    RetireRequest,
    UploadReceipt,
    UploadStatus,
    VoteSettingOut,
    vote_params,
)
from ocrr.server.schemas import (
    ConsistencyProofOut,
    CorrectionBatchRequest,
    CorrectionItem,
    CorrectionRequest,
    EntryPage,
    ErasureRequest,
    InclusionProofOut,
    KeptHead,
    KeyCreated,
    NamespaceList,
    NamespaceOut,
    Neighbour,
    PredictBatchRequest,
    Prediction,
    PredictionBatch,
    PredictRequest,
    Receipt,
    ReceiptBatch,
    RevocationRequest,
    StatsOut,
    TreeHeadOut,
    VerificationOut,
)

if TYPE_CHECKING:
    import httpx

    from ocrr.encoders import Encoder
    from ocrr.server.namespace import Namespace
    from ocrr.substrate import Substrate

__all__ = [
    "ApiError",
    "Client",
    "Conflict",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "Neighbour",
    "Prediction",
    "RateLimited",
    "Receipt",
    "TooLarge",
    "Unauthenticated",
]

M = TypeVar("M", bound=BaseModel)


def _as_of(value: object) -> object:
    """``as_of`` as the request models take it: a size, or a tree head (a model or dict)."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump()
    elif hasattr(value, "to_dict"):
        value = value.to_dict()  # a ledger TreeHead or SignedTreeHead
    return _validated(KeptHead, **value)  # type: ignore[arg-type]


def _validated(model: type[M], **values: Any) -> M:
    """Build a request model, refusing bad values exactly as the server would (422)."""
    try:
        return model(**values)
    except ValidationError as err:
        parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:5]]
        raise InvalidRequest("; ".join(parts)) from None


class _Backend(Protocol):
    def predict(self, texts: list[str], as_of: int | KeptHead | None = None
                ) -> list[Prediction]: ...
    def add_examples(self, body: ExampleBatchRequest) -> UploadReceipt: ...
    def upload_status(self, upload: str) -> UploadStatus: ...
    def changes(self, start: int, stop: int | None) -> ChangesOut: ...
    def relabel(self, body: RelabelRequest) -> Receipt: ...
    def retire(self, body: RetireRequest) -> Receipt: ...
    def vote(self) -> VoteSettingOut: ...
    def set_vote(self, body: HybridSetting | BandSetting) -> Receipt: ...
    def correct(self, body: CorrectionBatchRequest) -> list[Receipt]: ...
    def revoke(self, body: RevocationRequest) -> Receipt: ...
    def erase(self, body: ErasureRequest) -> Receipt: ...
    def entries(self, start: int, limit: int) -> EntryPage: ...
    def verify(self, size: int | None, root_hash: str | None) -> VerificationOut: ...
    def tree_head(self) -> TreeHeadOut: ...
    def prove(self, seq: int, size: int | None) -> InclusionProofOut: ...
    def prove_consistency(self, old_size: int, size: int | None) -> ConsistencyProofOut: ...
    def stats(self) -> StatsOut: ...
    def close(self) -> None: ...


class _Local:
    """The namespace service in this process: no HTTP, same answers and errors."""

    def __init__(self, namespace: Namespace, *, owned: bool) -> None:
        self.namespace = namespace
        self._owned = owned

    def predict(self, texts: list[str], as_of: int | KeptHead | None = None
                ) -> list[Prediction]:
        if as_of is None:
            return self.namespace.predict(texts)
        return self.namespace.predict_texts_as_of(texts, as_of)

    def add_examples(self, body: ExampleBatchRequest) -> UploadReceipt:
        return self.namespace.fit_examples(
            [i.text for i in body.items], [i.label for i in body.items], upload=body.upload,
            chunk=body.chunk, actor=body.actor)

    def upload_status(self, upload: str) -> UploadStatus:
        return self.namespace.upload_status(upload)

    def changes(self, start: int, stop: int | None) -> ChangesOut:
        return self.namespace.changes(start, stop)

    def relabel(self, body: RelabelRequest) -> Receipt:
        return self.namespace.relabel(body.old, body.new, reason=body.reason, actor=body.actor)

    def retire(self, body: RetireRequest) -> Receipt:
        return self.namespace.retire(body.label, reason=body.reason, actor=body.actor)

    def vote(self) -> VoteSettingOut:
        return self.namespace.vote_setting()

    def set_vote(self, body: HybridSetting | BandSetting) -> Receipt:
        return self.namespace.set_vote(body.rule, vote_params(body), actor=body.actor)

    def correct(self, body: CorrectionBatchRequest) -> list[Receipt]:
        return self.namespace.correct(body.items, actor=body.actor)

    def revoke(self, body: RevocationRequest) -> Receipt:
        return self.namespace.revoke(body.seq, body.reason, actor=body.actor)

    def erase(self, body: ErasureRequest) -> Receipt:
        return self.namespace.erase(body.subject, reason=body.reason, actor=body.actor)

    def entries(self, start: int, limit: int) -> EntryPage:
        return self.namespace.entries(start, limit)

    def verify(self, size: int | None, root_hash: str | None) -> VerificationOut:
        return self.namespace.verify(size, root_hash)

    def tree_head(self) -> TreeHeadOut:
        return self.namespace.tree_head()

    def prove(self, seq: int, size: int | None) -> InclusionProofOut:
        return self.namespace.prove(seq, size)

    def prove_consistency(self, old_size: int, size: int | None) -> ConsistencyProofOut:
        return self.namespace.prove_consistency(old_size, size)

    def stats(self) -> StatsOut:
        return self.namespace.stats()

    def close(self) -> None:
        if self._owned:
            self.namespace.close()


class _Remote:
    """The same operations over HTTP (``/v1/namespaces/{ns}/...``)."""

    def __init__(self, http: httpx.Client, namespace: str | None, *, owned: bool) -> None:
        self.http = http
        self.namespace = namespace
        self._owned = owned

    def call(self, method: str, path: str, *, body: BaseModel | None = None,
             params: dict[str, Any] | None = None) -> Any:
        payload = None if body is None else body.model_dump(mode="json", exclude_none=True)
        if params is not None:
            params = {k: v for k, v in params.items() if v is not None}
        response = self.http.request(method, path, json=payload, params=params)
        if response.status_code >= 400:
            try:
                data = response.json()
                code, message = str(data["error"]), str(data["message"])
            except (ValueError, KeyError, TypeError):
                code, message = f"http_{response.status_code}", response.text[:500]
            retry = response.headers.get("retry-after")
            raise error_for(response.status_code, code, message,
                            float(retry) if retry and retry.isdigit() else None)
        content_type = response.headers.get("content-type", "")
        return response.json() if content_type.startswith("application/json") else response.text

    def _ns(self, suffix: str = "") -> str:
        if self.namespace is None:
            raise ValueError("this client was made without a namespace")
        return f"/v1/namespaces/{self.namespace}{suffix}"

    def predict(self, texts: list[str], as_of: int | KeptHead | None = None
                ) -> list[Prediction]:
        if len(texts) == 1:
            body = PredictRequest(text=texts[0], as_of=as_of)
            return [Prediction.model_validate(self.call("POST", self._ns("/predict"), body=body))]
        data = self.call("POST", self._ns("/predict/batch"),
                         body=PredictBatchRequest(texts=texts, as_of=as_of))
        return PredictionBatch.model_validate(data).predictions

    def add_examples(self, body: ExampleBatchRequest) -> UploadReceipt:
        return UploadReceipt.model_validate(self.call("POST", self._ns("/examples"), body=body))

    def upload_status(self, upload: str) -> UploadStatus:
        return UploadStatus.model_validate(self.call("GET", self._ns(f"/uploads/{upload}")))

    def changes(self, start: int, stop: int | None) -> ChangesOut:
        data = self.call("GET", self._ns("/changes"), params={"from": start, "to": stop})
        return ChangesOut.model_validate(data)

    def relabel(self, body: RelabelRequest) -> Receipt:
        return Receipt.model_validate(self.call("POST", self._ns("/relabels"), body=body))

    def retire(self, body: RetireRequest) -> Receipt:
        return Receipt.model_validate(self.call("POST", self._ns("/retirements"), body=body))

    def vote(self) -> VoteSettingOut:
        return VoteSettingOut.model_validate(self.call("GET", self._ns("/vote")))

    def set_vote(self, body: HybridSetting | BandSetting) -> Receipt:
        return Receipt.model_validate(self.call("PUT", self._ns("/vote"), body=body))

    def correct(self, body: CorrectionBatchRequest) -> list[Receipt]:
        if len(body.items) == 1:
            item = body.items[0]
            single = CorrectionRequest(text=item.text, label=item.label, subject=item.subject,
                                       actor=body.actor)
            return [Receipt.model_validate(self.call("POST", self._ns("/corrections"),
                                                     body=single))]
        data = self.call("POST", self._ns("/corrections/batch"), body=body)
        return ReceiptBatch.model_validate(data).receipts

    def revoke(self, body: RevocationRequest) -> Receipt:
        return Receipt.model_validate(self.call("POST", self._ns("/revocations"), body=body))

    def erase(self, body: ErasureRequest) -> Receipt:
        return Receipt.model_validate(self.call("POST", self._ns("/erasures"), body=body))

    def entries(self, start: int, limit: int) -> EntryPage:
        data = self.call("GET", self._ns("/entries"), params={"start": start, "limit": limit})
        return EntryPage.model_validate(data)

    def verify(self, size: int | None, root_hash: str | None) -> VerificationOut:
        if size is None and root_hash is None:
            return VerificationOut.model_validate(self.call("GET", self._ns("/verify")))
        body = _validated(KeptHead, size=size, root_hash=root_hash)
        return VerificationOut.model_validate(self.call("POST", self._ns("/verify"), body=body))

    def tree_head(self) -> TreeHeadOut:
        return TreeHeadOut.model_validate(self.call("GET", self._ns("/tree-head")))

    def prove(self, seq: int, size: int | None) -> InclusionProofOut:
        data = self.call("GET", self._ns(f"/proofs/inclusion/{int(seq)}"),
                         params={"size": size})
        return InclusionProofOut.model_validate(data)

    def prove_consistency(self, old_size: int, size: int | None) -> ConsistencyProofOut:
        data = self.call("GET", self._ns("/proofs/consistency"),
                         params={"old_size": old_size, "size": size})
        return ConsistencyProofOut.model_validate(data)

    def stats(self) -> StatsOut:
        return StatsOut.model_validate(self.call("GET", self._ns("/stats")))

    def close(self) -> None:
        if self._owned:
            self.http.close()


class Client:
    """Predict, correct and audit one namespace, locally or remotely (same methods, same
    return types, same errors).

    ``Client.remote(url, key=..., namespace=...)`` talks to ``ocrr serve``;
    ``Client.local(...)`` runs the same operations in this process, on a ledger file, a
    ``postgresql://`` URL or a substrate you built. The example uses the torch-free TF-IDF
    encoder so it runs anywhere:

    >>> from ocrr import Substrate
    >>> from ocrr.client import Client
    >>> from ocrr.encoders import TfidfEncoder
    >>> texts = ["where is my card?", "my card has not arrived",
    ...          "what is the exchange rate?", "how much is a euro in dollars?"]
    >>> clf = Substrate.from_encoder(TfidfEncoder(dim=2).fit(texts))
    >>> clf = clf.fit(texts, ["card", "card", "fx", "fx"])
    >>> with Client.local(clf) as client:
    ...     answer = client.predict("has my card arrived?")
    ...     receipt = client.correct("close my account", "close_account", actor="agent-7")
    ...     check = client.verify()
    >>> answer.label, receipt.seq, receipt.new_label, check.ok, check.size
    ('card', 4, True, True, 5)
    """

    def __init__(self, backend: _Backend) -> None:
        self._backend = backend

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def remote(cls, url: str, *, key: str, namespace: str | None = None,
               timeout: float = 30.0, http: httpx.Client | None = None) -> Client:
        """A server at ``url`` (``ocrr serve``), with an API key for ``namespace``.
        ``http`` lets a caller bring its own ``httpx.Client`` (a test's, say)."""
        owned = http is None
        if http is None:
            import httpx

            http = httpx.Client(base_url=url, timeout=timeout)
        http.headers["Authorization"] = f"Bearer {key}"
        return cls(_Remote(http, namespace, owned=owned))

    @classmethod
    def local(cls, where: str | os.PathLike[str] | Substrate, *,
              encoder: Encoder | str = "default", threshold: float | None = None,
              name: str = "local") -> Client:
        """A classifier in this process: a ledger file or ``postgresql://`` URL (opened
        here), or a :class:`~ocrr.substrate.Substrate` you built (it needs an encoder)."""
        from ocrr.ledger import Ledger
        from ocrr.server.namespace import Namespace
        from ocrr.substrate import Substrate

        if isinstance(where, Substrate):
            substrate, reopen, owned = where, None, False
        else:
            location = os.fspath(where)
            substrate = Substrate.open(location, encoder=encoder)
            owned = True

            def reopen() -> Ledger:
                return Ledger.open(location, create=False)

            if location == ":memory:":
                reopen = None
        namespace = Namespace(name, substrate, threshold=threshold, reopen=reopen)
        return cls(_Local(namespace, owned=owned))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._backend.close()

    # -- classifying -----------------------------------------------------------------------
    def predict(self, text: str, *, as_of: int | Any | None = None) -> Prediction:
        """The label (``'unknown'`` below the threshold), its confidence, and the
        neighbours that decided it; with ``as_of`` (a ledger size, or a tree head kept
        earlier), the answer the classifier gave when the ledger had that size."""
        body = _validated(PredictRequest, text=text, as_of=_as_of(as_of))
        return self._backend.predict([body.text], body.as_of)[0]

    def predict_many(self, texts: Sequence[str], *,
                     as_of: int | Any | None = None) -> list[Prediction]:
        body = _validated(PredictBatchRequest, texts=list(texts), as_of=_as_of(as_of))
        return self._backend.predict(body.texts, body.as_of)

    # -- filling and shaping the namespace ---------------------------------------------------
    def add_examples(self, texts: Sequence[str], labels: Sequence[str], *,
                     upload: str | None = None, chunk: int | None = None,
                     actor: str | None = None) -> UploadReceipt:
        """Append labelled texts as fit examples (what ``Substrate.fit`` writes: the hybrid
        rule's seed head trains on them) in one transaction. A chunk (``upload``,
        ``chunk``) the namespace already holds adds nothing: retrying is safe."""
        if len(texts) != len(labels):
            raise InvalidRequest(f"{len(texts)} texts but {len(labels)} labels")
        items = [_validated(ExampleItem, text=t, label=y)
                 for t, y in zip(texts, labels, strict=True)]
        return self._backend.add_examples(_validated(
            ExampleBatchRequest, items=items, upload=upload, chunk=chunk, actor=actor))

    def load_csv(self, path: str | os.PathLike[str], *, upload: str | None = None,
                 actor: str | None = None, retries: int = 3, chunk_rows: int = 1000,
                 progress: Callable[[UploadReceipt, int], None] | None = None) -> UploadStatus:
        """Load a ``text,label`` CSV file as fit examples, streamed in chunks (memory stays
        flat). The upload's id comes from the file's contents, so running it again after an
        interruption (with the same ``chunk_rows``) sends only the chunks the namespace
        lacks; a chunk whose answer was
        lost is sent again (up to ``retries`` times) without counting twice.
        ``progress(receipt, last_row)`` is called after each chunk."""
        import httpx  # a default dependency: its transport errors are worth a retry

        from ocrr.server.csvload import read_chunks, upload_id_of

        upload = upload or upload_id_of(path)
        try:
            held = set(self._backend.upload_status(upload).chunks)
        except NotFound:
            held = set()
        for chunk in read_chunks(path, rows=chunk_rows):
            if chunk.number in held:
                continue
            for attempt in range(retries + 1):
                try:
                    receipt = self.add_examples(chunk.texts, chunk.labels, upload=upload,
                                                chunk=chunk.number, actor=actor)
                    break
                except (RateLimited, OSError, httpx.TransportError) as err:
                    if attempt == retries:
                        raise
                    time.sleep(getattr(err, "retry_after", None) or 0.5 * 2**attempt)
            if progress is not None:
                progress(receipt, chunk.last_row)
        return self._backend.upload_status(upload)

    def upload_status(self, upload: str) -> UploadStatus:
        """The chunks and rows of an upload the namespace holds."""
        return self._backend.upload_status(upload)

    def changes(self, start: int = 0, stop: int | None = None) -> ChangesOut:
        """What changed between ledger sizes ``start`` and ``stop`` (default: now)."""
        return self._backend.changes(start, stop)

    def relabel(self, old: str, new: str, *, reason: str | None = None,
                actor: str | None = None) -> Receipt:
        """Rename class ``old`` to ``new`` (an existing class: the two merge)."""
        return self._backend.relabel(_validated(RelabelRequest, old=old, new=new,
                                                reason=reason, actor=actor))

    def retire(self, label: str, *, reason: str | None = None,
               actor: str | None = None) -> Receipt:
        """Retire a class: its examples stop voting (they stay in the ledger)."""
        return self._backend.retire(_validated(RetireRequest, label=label, reason=reason,
                                               actor=actor))

    def vote(self) -> VoteSettingOut:
        """The vote rule and its parameters."""
        return self._backend.vote()

    def set_vote(self, rule: str, *, actor: str | None = None, **params: Any) -> Receipt:
        """Vote with ``rule`` (and ``params``) from now on, recorded in the ledger
        (remotely this needs an admin key)."""
        body: HybridSetting | BandSetting = (
            _validated(HybridSetting, rule=rule, actor=actor, **params) if rule == "hybrid"
            else _validated(BandSetting, rule=rule, actor=actor, **params))
        return self._backend.set_vote(body)

    def correct(self, text: str, label: str, *, subject: str | None = None,
                actor: str | None = None) -> Receipt:
        """Append a correction; it counts at once. A new label creates the class."""
        item = _validated(CorrectionItem, text=text, label=label, subject=subject)
        body = _validated(CorrectionBatchRequest, items=[item], actor=actor)
        return self._backend.correct(body)[0]

    def correct_many(self, texts: Sequence[str], labels: Sequence[str], *,
                     subjects: Sequence[str | None] | None = None,
                     actor: str | None = None) -> list[Receipt]:
        """Several corrections in one transaction: all of them, or none."""
        if len(texts) != len(labels) or (subjects is not None and len(subjects) != len(texts)):
            raise InvalidRequest("texts, labels (and subjects) must have the same length")
        subjects = subjects if subjects is not None else [None] * len(texts)
        items = [_validated(CorrectionItem, text=t, label=y, subject=s)
                 for t, y, s in zip(texts, labels, subjects, strict=True)]
        return self._backend.correct(_validated(CorrectionBatchRequest, items=items,
                                                actor=actor))

    def revoke(self, seq: int, reason: str, *, actor: str | None = None) -> Receipt:
        """Withdraw example ``seq`` from voting (it stays in the ledger)."""
        return self._backend.revoke(_validated(RevocationRequest, seq=seq, reason=reason,
                                               actor=actor))

    def erase(self, subject: str, *, reason: str | None = None,
              actor: str | None = None) -> Receipt:
        """Crypto-shred everything recorded about ``subject``."""
        return self._backend.erase(_validated(ErasureRequest, subject=subject, reason=reason,
                                              actor=actor))

    # -- auditing --------------------------------------------------------------------------
    def entries(self, start: int = 0, limit: int = 100) -> EntryPage:
        return self._backend.entries(start, limit)

    def iter_entries(self, start: int = 0, page: int = 500) -> Iterator[Any]:
        """Every entry from ``start``, fetched a page at a time."""
        while True:
            got = self.entries(start, page)
            yield from got.entries
            if got.next is None:
                return
            start = got.next

    def verify(self, size: int | None = None, root_hash: str | None = None) -> VerificationOut:
        """Re-hash every entry and walk the chain; with a kept tree head (its ``size`` and
        ``root_hash``), also check that the ledger still extends it."""
        if size is not None or root_hash is not None:
            _validated(KeptHead, size=size, root_hash=root_hash)
        return self._backend.verify(size, root_hash)

    def tree_head(self) -> TreeHeadOut:
        return self._backend.tree_head()

    def prove(self, seq: int, size: int | None = None) -> InclusionProofOut:
        return self._backend.prove(seq, size)

    def prove_consistency(self, old_size: int, size: int | None = None) -> ConsistencyProofOut:
        return self._backend.prove_consistency(old_size, size)

    def stats(self) -> StatsOut:
        return self._backend.stats()

    # -- administration (remote, admin key) ------------------------------------------------
    def _remote(self) -> _Remote:
        if not isinstance(self._backend, _Remote):
            raise TypeError("namespaces and keys are managed on a server (Client.remote)")
        return self._backend

    def create_namespace(self, name: str, *, threshold: float | None = None,
                         vote: str = "hybrid") -> NamespaceOut:
        from ocrr.server.schemas import NamespaceCreate

        body = _validated(NamespaceCreate, name=name, threshold=threshold, vote=vote)
        return NamespaceOut.model_validate(self._remote().call("POST", "/v1/namespaces",
                                                               body=body))

    def list_namespaces(self) -> list[NamespaceOut]:
        data = self._remote().call("GET", "/v1/namespaces")
        return NamespaceList.model_validate(data).namespaces

    def set_threshold(self, threshold: float | None, namespace: str | None = None) -> None:
        """Set (or, with None, clear) the abstention threshold of this client's namespace
        (or ``namespace``); remotely this needs an admin key."""
        if isinstance(self._backend, _Local):
            self._backend.namespace.threshold = threshold
            return
        remote = self._remote()
        name = namespace or remote.namespace
        if name is None:
            raise ValueError("name the namespace")
        response = remote.http.patch(f"/v1/namespaces/{name}", json={"threshold": threshold})
        if response.status_code >= 400:
            data = response.json()
            raise error_for(response.status_code, data.get("error", ""), data.get("message", ""))

    def create_key(self, scope: str, namespace: str | None = None,
                   name: str | None = None) -> KeyCreated:
        from ocrr.server.schemas import GlobalKeyCreate, NamespacedKeyCreate

        if scope in ("read", "write"):
            body: BaseModel = _validated(NamespacedKeyCreate, scope=scope, namespace=namespace,
                                         name=name)
        elif namespace is not None:
            raise InvalidRequest(f"an {scope} key is not bound to a namespace")
        else:
            body = _validated(GlobalKeyCreate, scope=scope, name=name)
        return KeyCreated.model_validate(self._remote().call("POST", "/v1/keys", body=body))
