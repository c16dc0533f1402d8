"""The ONNX Runtime backend: the default model's vectors equal PyTorch's within 1e-6,
exported once and offline, checked on every load, and ``auto`` falls back to PyTorch."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from ocrr.encoders import EncoderError, SentenceTransformerEncoder, get_encoder
from ocrr.encoders import onnx as onnx_backend

pytestmark = pytest.mark.skipif(not onnx_backend.onnx_available(),
                                reason="onnxruntime and onnx are not installed")

TEXTS = [
    "where is my card?",
    "My card has NOT arrived",
    "what is the exchange rate for 100 € in $?",
    "",
    "Überweisung nach Köln 🙂",
    " ".join(["why was my top-up declined again"] * 60),  # truncated at 256 tokens
]


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return SentenceTransformerEncoder(backend="torch").encode(TEXTS)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """A cache folder holding the default model's export (made once for this module)."""
    folder = tmp_path_factory.mktemp("onnx-cache")
    encoder = SentenceTransformerEncoder(backend="onnx", cache_dir=folder)
    assert encoder.active_backend == "onnx"
    return folder


def test_onnx_vectors_equal_torch_vectors(exported, torch_vectors, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    encoder = get_encoder("default", cache=False, cache_dir=exported, backend="onnx")
    assert encoder.identity == "sentence-transformers:all-MiniLM-L6-v2"  # the same vectors
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert float(np.abs(vectors - torch_vectors).max()) < 1e-6
    # batch composition (padding) does not matter either
    alone = np.concatenate([encoder.encode([t]) for t in TEXTS])
    assert float(np.abs(alone - torch_vectors).max()) < 1e-6
    assert encoder.encode([]).shape == (0, 384)


def test_a_second_load_does_not_export_again(exported, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_backend, "export", refuse)
    encoder = SentenceTransformerEncoder(backend="onnx", cache_dir=exported)
    assert encoder.active_backend == "onnx" and encoder.dim == 384


def test_a_load_that_does_not_reproduce_the_probe_vectors_is_refused(exported, tmp_path):
    spoiled = tmp_path / "cache"
    (source,) = (exported / "onnx").iterdir()
    target = spoiled / "onnx" / source.name
    target.mkdir(parents=True)
    (target / "model.onnx").symlink_to(source / "model.onnx")
    probe = np.load(source / "probe.npy")
    np.save(target / "probe.npy", probe + 1e-4)
    with pytest.raises(onnx_backend.OnnxUnsupported, match="differ"):
        SentenceTransformerEncoder(backend="onnx", cache_dir=spoiled).encode(["hello"])
    fallback = SentenceTransformerEncoder(backend="auto", cache_dir=spoiled)
    assert fallback.active_backend == "torch"


def test_auto_falls_back_to_torch_for_a_model_it_cannot_run(tmp_path):
    hub = SentenceTransformerEncoder("some-org/some-model", backend="auto", cache_dir=tmp_path)
    assert hub.active_backend == "torch"  # not a local folder: decided without loading
    with pytest.raises(onnx_backend.OnnxUnsupported):
        SentenceTransformerEncoder("some-org/some-model", backend="onnx").encode(["x"])


def test_unknown_backend_is_an_encoder_error():
    with pytest.raises(EncoderError, match="backend"):
        SentenceTransformerEncoder(backend="tensorrt")
