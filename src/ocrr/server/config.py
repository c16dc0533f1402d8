"""The server's tunable limits, in one place, with the reasons for their defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSettings:
    max_body_bytes: int = 1 << 20
    """Requests over 1 MiB are refused (413): a full batch of texts fits well inside."""
    max_batch_texts: int = 256
    """Texts in one batch prediction (413 above)."""
    max_batch_corrections: int = 1_000
    """Corrections in one batch (one transaction) (413 above)."""
    rate_limit: float = 1_000.0
    """Requests per second per API key, bursts of twice that; 0 turns limits off."""
    text_rate: float = 1_000.0
    """Texts per second per API key (predicted or corrected: each is encoded), bursts of
    twice that and at least one maximal batch; 0 turns it off."""
    char_rate: float = 250_000.0
    """Characters per second per API key, bursts of twice that and at least one maximal
    body; 0 turns it off. With ``text_rate``, what a key may cost the encoder: a request
    of 256 texts of 4,000 characters costs as much as a thousand short ones."""
    encode_batch_chars: int = 2_048
    """Most character units in one encoding batch, counted as the model computes them:
    texts × the longest one's ``batching.text_cost`` (16 + its length up to 1,024, what the
    model reads). Bounds how long another key's text waits for the batch in progress (the
    fair queue): one 4,000-character text, about 100 ms of CPU; 36 short texts still fit."""
    auth_failure_rate: float = 20.0
    """Requests per second per client address *without a valid key* (bursts of 100), so
    guessing keys is slow; 0 turns it off."""
    encode_batch: int = 64
    """Most texts encoded in one batch: bounds the latency one batch adds."""
    encode_workers: int | None = None
    """Batches encoded side by side, each by its own copy of the model (None: two, or one
    on a one-core machine). Only an encoder given by name or factory can be copied; an
    encoder object gets one worker."""
    encode_inline: bool | None = None
    """Encode a request of one short text at once on the event loop, when the model's first
    instance is free, instead of through the batching queue (``batching.BatchingEncoder``'s
    ``inline``). None: where the encoder says it is a static embedding model (its
    ``static`` attribute: ``wordllama``), whose text costs less than the hand-off to a
    worker thread; a transformer's text costs milliseconds and stays batched."""
    encoder_backend: str = "auto"
    """What runs a sentence-transformers encoder named by ``encoder``: ``auto`` is ONNX
    Runtime where it is installed and the model allows (the same vectors within 1e-6, about
    a third less CPU a text, and no GIL held while a batch encodes: 5.8 instead of 8-10 ms
    of server CPU a prediction under ``ocrr load``), else PyTorch; ``torch`` or ``onnx``
    insist."""
    encoder_threads: int | None = None
    """Torch threads (None: the available cores shared among the workers, so one each on
    two cores). Idle torch threads sleep rather than spin (``ocrr serve`` sets
    ``OMP_WAIT_POLICY=PASSIVE``): on a busy machine spinning threads made one text cost
    30 ms of CPU instead of 5."""
    blas_threads: int | None = 1
    """BLAS threads for the searches and votes (None: the library's default). Each is a
    small matrix product; a multi-threaded BLAS spends more waking its threads than it
    saves, and its idle threads spin against the encoder (measured: 10 ms a request)."""
    refresh_interval: float = 0.25
    """Most seconds a prediction may lag corrections other replicas appended."""
    settings_interval: float = 1.0
    """Seconds between re-reading namespace settings (thresholds) from the registry."""
    key_cache_seconds: float = 2.0
    """A valid key is re-checked against the registry this often (so a revoked key stops
    working within this), not on every request."""
    preload: bool = True
    """Open every namespace at start-up rather than on its first request."""
    quarantine_retry_seconds: float = 30.0
    """A namespace whose ledger could not be opened answers 503 for this long before the
    next try (an operator may restore it meanwhile)."""
    forwarded_allow_ips: str | None = None
    """Proxies whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed (a comma list
    of addresses or networks, ``*`` for any). None: no forwarded header is believed, from
    anywhere, loopback included (uvicorn's own default trusts 127.0.0.1, and a client on
    the same machine could then pick its address and dodge the per-address limit)."""
    docs: bool = False
    """Serve Swagger UI at ``/docs`` and ReDoc at ``/redoc``: off by default, as their pages
    load scripts from a CDN (they fail offline and carry no integrity hash).
    ``/openapi.json`` is always served."""
    console: bool = True
    """Serve the review console at ``/`` and keep the review queue it shows. ``ocrr serve
    --workers N`` (N > 1) turns it off: its sessions and queue live in one process, and a
    browser's next connection may reach another worker; ``/`` then says where to run it
    (a one-worker ``ocrr serve`` on the same data)."""
    secure_cookies: bool = False
    """Mark the console's cookies ``Secure`` whatever scheme the request came by (``ocrr
    serve`` turns it on when it listens on anything but loopback: behind a TLS proxy the
    scheme seen is http). Off, they are ``Secure`` only on https requests."""
