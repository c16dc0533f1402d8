"""Exact cosine top-k on a GPU (torch), with the interface of :class:`ExactIndex`.

The ceiling for large ledgers: at 10M x 384 the vectors take 15.4 GB, which one modern GPU
holds, and a batch of queries is one matrix product per block. Used when asked for
(``IndexChoice(device="cuda")``, ``ocrr scale --device cuda``) or, with ``device="auto"``,
when torch is importable and sees a CUDA device; otherwise everything runs on the CPU.

The same class runs on ``device="cpu"``, which is how the tests exercise it on machines
without a GPU. Ties at the k-th place may be cut in either order by ``torch.topk``; the k
returned are then ordered by (similarity descending, row ascending) like every index here.
"""

from __future__ import annotations

import numpy as np

from ocrr.index.recall import RowIndex, empty_answer

_BLOCK_ELEMENTS = 2**28  # similarities per block (1 GiB of float32)


def gpu_device() -> str | None:
    """``"cuda"`` when torch is importable and sees a CUDA device, else ``None``."""
    try:
        import torch
    except ImportError:
        return None
    return "cuda" if torch.cuda.is_available() else None


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` if available else ``"cpu"``; other names pass through."""
    if device == "auto":
        return gpu_device() or "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N")
    return device


class TorchExactIndex(RowIndex):
    """Exact inner-product top-k with the vectors held on a torch device.

    Examples
    --------
    >>> import numpy as np
    >>> index = TorchExactIndex(2, device="cpu")  # "cuda" on a GPU
    >>> index.add_many(np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    >>> index.search(np.array([0.0, 1.0], dtype=np.float32), 1)[0].tolist()
    [1]
    """

    kind = "exact"

    def __init__(self, dim: int, capacity: int = 1024, *, device: str = "cuda") -> None:
        import torch

        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self._torch = torch
        self.dim = dim
        self.device = torch.device(device)
        self._buf = torch.zeros((max(capacity, 1), dim), dtype=torch.float32, device=self.device)
        self._n = 0
        self._removed = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        return self._n * self.dim * 4

    @property
    def vectors(self) -> np.ndarray:
        return self._buf[: self._n].cpu().numpy()

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need <= self._buf.shape[0]:
            return
        grown = self._torch.zeros(
            (max(need, 2 * self._buf.shape[0]), self.dim), dtype=self._buf.dtype,
            device=self.device,
        )
        grown[: self._n] = self._buf[: self._n]
        self._buf = grown

    def add(self, vector: np.ndarray) -> int:
        self._reserve(1)
        self._buf[self._n] = self._torch.as_tensor(np.asarray(vector, np.float32))
        self._n += 1
        return self._n - 1

    def add_many(self, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        self._reserve(len(vectors))
        self._buf[self._n : self._n + len(vectors)] = self._torch.from_numpy(
            np.ascontiguousarray(vectors)
        ).to(self.device)
        self._n += len(vectors)

    def remove(self, row: int) -> None:
        self._remove_row(row)

    def search_many(
        self, queries: np.ndarray, k: int, *, remember: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k per query; ``remember`` is accepted and ignored (no incremental cache)."""
        del remember
        torch = self._torch
        queries = self._queries(queries)
        kk = min(k, self._n)
        rows, sims = empty_answer(len(queries), kk)
        if kk == 0:
            return rows, sims
        matrix = self._buf[: self._n]
        removed = torch.as_tensor(self._removed, device=self.device)
        block = max(1, _BLOCK_ELEMENTS // self._n)
        for lo in range(0, len(queries), block):
            q = torch.from_numpy(np.ascontiguousarray(queries[lo : lo + block])).to(self.device)
            scores = q @ matrix.T
            if len(removed):
                scores[:, removed] = -torch.inf
            top, idx = torch.topk(scores, kk, dim=1)
            top_np, idx_np = top.cpu().numpy(), idx.cpu().numpy()
            order = np.lexsort((idx_np, -top_np), axis=1)
            rows[lo : lo + block] = np.take_along_axis(idx_np, order, axis=1)
            sims[lo : lo + block] = np.take_along_axis(top_np, order, axis=1)
        return rows, sims
