"""Encoders: TF-IDF without torch, the on-disk cache, and the offline default model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from ocrr.encoders import (
    CachedEncoder,
    EncoderError,
    SentenceTransformerEncoder,
    TfidfEncoder,
    default_cache_dir,
    get_encoder,
)

CORPUS = [
    "where is my card",
    "my card has not arrived",
    "what is the exchange rate",
    "how much is a euro in dollars",
    "i forgot my pin",
    "reset my pin please",
    "close my account",
    "i want to close my account",
]


class Counting:
    """A fake encoder that records every text it is asked to encode."""

    def __init__(self, identity: str = "counting:v1", dim: int = 8) -> None:
        self.identity = identity
        self.dim = dim
        self.seen: list[str] = []

    def encode(self, texts, *, progress: bool = False) -> np.ndarray:
        self.seen.extend(texts)
        rows = []
        for text in texts:
            rng = np.random.default_rng(list(text.encode("utf-8")) or [0])
            rows.append(rng.standard_normal(self.dim))
        out = np.array(rows, dtype=np.float32).reshape(len(texts), self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


# -- the cache --------------------------------------------------------------------------------


def test_default_cache_dir_prefers_ocrr_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("OCRR_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("OCRR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "ocrr"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "ocrr"


def test_a_second_encode_of_the_same_texts_encodes_nothing(cache_dir):
    inner = Counting()
    cached = CachedEncoder(inner)  # no cache_dir: OCRR_CACHE_DIR, set by conftest
    assert cached.cache_dir == cache_dir
    first = cached.encode(CORPUS)
    assert inner.seen == CORPUS
    inner.seen.clear()
    second = cached.encode(CORPUS[::-1])
    assert inner.seen == []
    np.testing.assert_array_equal(second, first[::-1])
    # a new process (a new wrapper) reads the shards from disk
    fresh_inner = Counting()
    again = CachedEncoder(fresh_inner, cache_dir).encode(CORPUS)
    assert fresh_inner.seen == []
    np.testing.assert_array_equal(again, first)
    assert again.dtype == np.float32
    assert list(cache_dir.glob("*/*.npz"))


def test_only_new_texts_are_encoded_and_duplicates_once(tmp_path):
    inner = Counting()
    cached = CachedEncoder(inner, tmp_path)
    cached.encode(CORPUS[:4])
    inner.seen.clear()
    out = cached.encode([CORPUS[0], "brand new", "brand new", CORPUS[5], CORPUS[5]])
    assert inner.seen == ["brand new", CORPUS[5]]
    np.testing.assert_array_equal(out[1], out[2])
    np.testing.assert_array_equal(out[0], Counting().encode([CORPUS[0]])[0])
    assert out.shape == (5, 8)


def test_cache_is_keyed_by_identity(tmp_path):
    one, two = Counting("model:a"), Counting("model:b")
    CachedEncoder(one, tmp_path).encode(CORPUS)
    CachedEncoder(two, tmp_path).encode(CORPUS)
    assert two.seen == CORPUS  # another identity shares nothing
    folders = {p.parent for p in tmp_path.glob("*/*.npz")}
    assert len(folders) == 2
    identities = {(f / "identity.txt").read_text(encoding="utf-8").strip() for f in folders}
    assert identities == {"model:a", "model:b"}


def test_a_damaged_shard_only_costs_a_re_encode(tmp_path):
    CachedEncoder(Counting(), tmp_path).encode(CORPUS)
    for shard in tmp_path.glob("*/*.npz"):
        shard.write_bytes(b"not a zip file")
    inner = Counting()
    out = CachedEncoder(inner, tmp_path).encode(CORPUS)
    assert inner.seen == CORPUS
    np.testing.assert_array_equal(out, Counting().encode(CORPUS))


# -- TF-IDF -----------------------------------------------------------------------------------


def test_tfidf_gives_unit_float32_rows_and_a_corpus_identity():
    encoder = TfidfEncoder(dim=16)
    with pytest.raises(EncoderError):
        encoder.encode(["not fitted"])
    with pytest.raises(EncoderError):
        TfidfEncoder().fit(["only one text"])
    encoder.fit(CORPUS)
    vectors = encoder.encode(CORPUS + ["card"])
    assert vectors.shape == (9, 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # similar texts are closer than unrelated ones
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[6]
    same = TfidfEncoder(dim=16).fit(CORPUS)
    assert same.identity == encoder.identity
    np.testing.assert_allclose(same.encode(CORPUS), vectors[:8], atol=1e-6)
    assert TfidfEncoder(dim=16).fit(CORPUS[:-1]).identity != encoder.identity
    assert TfidfEncoder(dim=16, seed=1).fit(CORPUS).identity != encoder.identity


def test_get_encoder_tfidf_is_cached_and_fittable(tmp_path):
    encoder = get_encoder("tfidf", cache_dir=tmp_path)
    assert isinstance(encoder, CachedEncoder) and isinstance(encoder.encoder, TfidfEncoder)
    encoder.fit(CORPUS)
    first = encoder.encode(CORPUS)
    again = get_encoder("tfidf", cache_dir=tmp_path).fit(CORPUS)
    calls = []
    original = again.encoder.encode
    again.encoder.encode = lambda texts, **kw: calls.append(texts) or original(texts, **kw)
    np.testing.assert_array_equal(again.encode(CORPUS), first)
    assert calls == []
    assert isinstance(get_encoder("tfidf", cache=False), TfidfEncoder)


def test_tfidf_path_never_imports_torch(tmp_path):
    code = f"""
import json, sys
from ocrr.encoders import get_encoder
from ocrr.substrate import Substrate
from ocrr.bench import encode_dataset, run_grid
import ocrr.cli.main
enc = get_encoder("tfidf", cache_dir={str(tmp_path)!r}).fit({CORPUS!r})
clf = Substrate.from_encoder(enc).fit({CORPUS!r}, ["a", "a", "b", "b", "c", "c", "d", "d"])
print(json.dumps([clf.predict_one("where is my card"), "torch" in sys.modules,
                  "sentence_transformers" in sys.modules]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["a", False, False]


def test_unknown_local_model_fails_with_an_encoder_error(tmp_path, monkeypatch):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    encoder = SentenceTransformerEncoder(empty)
    assert encoder.identity == f"sentence-transformers:{empty}"
    with pytest.raises(EncoderError):
        encoder.encode(["hello"])


# -- the default model ------------------------------------------------------------------------


def test_default_encoder_loads_offline_and_gives_unit_384d_rows(monkeypatch, cache_dir):
    """Any network connection attempt fails the test."""

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # restored afterwards
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    encoder = get_encoder("default")
    assert encoder.identity == "sentence-transformers:all-MiniLM-L6-v2"
    texts = ["where is my card?", "my card has not arrived", "what is the exchange rate?"]
    vectors = encoder.encode(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert list(cache_dir.glob("*/*.npz"))  # went through the cache in OCRR_CACHE_DIR
