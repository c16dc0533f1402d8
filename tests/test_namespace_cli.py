"""``ocrr namespace ...`` on a data folder and against a running app: create, load a CSV
(chunked, resumable, validated like the dataset loader), stats, relabel, retire, changes,
vote, export/import (checked), backup/restore; and a namespace loaded from a built-in
dataset's training CSV predicts its test set exactly as ``Substrate().fit`` does."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cached_encoders import all_cached, cached_minilm
from ocrr.cli.main import main
from ocrr.client import Client
from ocrr.ledger import Ledger
from ocrr.server.backup import BackupError, backup, restore
from ocrr.server.csvload import read_chunks
from ocrr.server.registry import Registry
from ocrr.substrate import Substrate
from server_fakes import HashingEncoder
from server_support import SEED

FAKE = ["--encoder-factory", "server_fakes:hashing_encoder"]
QUERY_STRIDE = 6  # test_a_loaded_namespace_predicts_as_substrate_fit asks 1 test text in 6


def _write_csv(path: Path, rows) -> Path:  # noqa: ANN001
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def _ns(*args: str, data: Path, fake: bool = True) -> int:
    return main(["namespace", *args, "--data", str(data), *(FAKE if fake else [])])


def test_create_load_resume_and_inspect(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    rows = [(f"{t} number {i}", y) for i in range(300) for t, y in SEED[:3]]
    path = _write_csv(tmp_path / "train.csv", rows)
    assert _ns("create", "support", data=data) == 0
    # an interrupted load: the first chunk only (as a killed load would leave it)
    first = next(read_chunks(path, rows=500))
    from ocrr.server.csvload import upload_id_of

    client = Client.local(str(data / "namespaces" / "support.db"), encoder=HashingEncoder())
    client.add_examples(first.texts, first.labels, upload=upload_id_of(path), chunk=0)
    client.close()
    capsys.readouterr()
    # the first chunk is already in, so only the rest is sent
    assert _ns("load", "support", str(path), "-q", "--chunk-rows", "500", data=data) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["rows"] == 900 and status["chunks"] == [0, 1] and status["ledger_size"] == 900
    assert _ns("load", "support", str(path), "-q", "--chunk-rows", "500",
               data=data) == 0  # again: nothing added
    assert json.loads(capsys.readouterr().out)["ledger_size"] == 900
    assert _ns("stats", "support", data=data) == 0
    assert json.loads(capsys.readouterr().out)["classes"] == 1
    with Client.local(str(data / "namespaces" / "support.db"), encoder=HashingEncoder()) as c:
        assert {e.provenance["source"] for e in c.iter_entries()} == {"fit"}


def test_load_names_the_bad_row(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    assert _ns("create", "support", data=data) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine,a\nalso fine,b\n,c\n", encoding="utf-8")
    assert _ns("load", "support", str(bad), data=data) == 1
    err = capsys.readouterr().err
    assert f"{bad}, row 4: empty 'text'" in err
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncaf\xe9 please,a\n".encode("latin-1"))
    assert _ns("load", "support", str(latin), data=data) == 1
    assert "not valid UTF-8" in capsys.readouterr().err
    assert _ns("load", "nobody", str(bad), data=data) == 1
    assert "no namespace 'nobody'" in capsys.readouterr().err


def test_relabel_retire_changes_and_vote(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    path = _write_csv(tmp_path / "train.csv", SEED)
    assert _ns("create", "support", data=data) == 0
    assert _ns("load", "support", str(path), "-q", data=data) == 0
    assert _ns("relabel", "support", "fx", "exchange_rate", "--actor", "ops", data=data) == 0
    assert _ns("retire", "support", "password", data=data) == 0
    assert _ns("vote", "support", "band", "-p", "k=3", data=data) == 0
    capsys.readouterr()
    assert _ns("changes", "support", "--from", "9", data=data) == 0
    got = json.loads(capsys.readouterr().out)
    assert [r["from"] for r in got["relabels"]] == ["fx"]
    assert [r["label"] for r in got["retirements"]] == ["password"]
    assert json.loads(got["settings"][0]["value"])["k"] == 3
    assert _ns("retire", "support", "password", data=data) == 1
    assert "no class 'password'" in capsys.readouterr().err


def test_export_import_round_trip_and_a_tampered_file_is_refused(tmp_path: Path,
                                                                  capsys) -> None:
    data = tmp_path / "data"
    path = _write_csv(tmp_path / "train.csv", SEED)
    assert _ns("create", "support", data=data) == 0
    assert _ns("load", "support", str(path), "-q", data=data) == 0
    out = tmp_path / "support.jsonl"
    assert _ns("export", "support", "-o", str(out), data=data, fake=False) == 0
    assert _ns("import", str(out), "--name", "copy", data=data, fake=False) == 0
    registry = Registry(data)
    assert registry.require_namespace("copy").encoder == "test-hashing-64"
    original = Substrate.open(str(data / "namespaces" / "support.db"))
    copy = Substrate.open(str(data / "namespaces" / "copy.db"))
    assert copy.ledger.root() == original.ledger.root()
    lines = out.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace('"card"', '"fx"')  # entry 1's label
    assert '"fx"' in lines[3]
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert _ns("import", str(tampered), "--name", "forged", data=data, fake=False) == 1
    assert "import refused" in capsys.readouterr().err
    assert registry.get_namespace("forged") is None
    assert not (data / "namespaces" / "forged.db").exists()
    assert _ns("import", str(out), data=data, fake=False) == 1  # 'support' exists
    assert "already exists" in capsys.readouterr().err


def test_backup_and_restore(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = _write_csv(tmp_path / "train.csv", SEED)
    assert _ns("create", "support", data=data) == 0
    assert _ns("load", "support", str(path), "-q", data=data) == 0
    copies = backup(data, tmp_path / "bk")
    assert [(c.namespace, c.size) for c in copies] == [("support", len(SEED))]
    with pytest.raises(BackupError, match="not empty"):
        backup(data, tmp_path / "bk")
    restored = restore(tmp_path / "bk", tmp_path / "again")
    assert restored == copies
    with pytest.raises(BackupError, match="already holds"):
        restore(tmp_path / "bk", tmp_path / "again")
    assert main(["namespace", "stats", "support", "--data", str(tmp_path / "again"),
                 *FAKE]) == 0


@pytest.mark.parametrize("dataset", ["banking77", "clinc150"])
def test_a_loaded_namespace_predicts_as_substrate_fit(tmp_path: Path, dataset: str) -> None:
    """Every test label equal and every confidence within 1e-6 (cached MiniLM vectors)."""
    from ocrr.datasets import load_dataset

    ds = load_dataset(dataset)
    if not all_cached([*ds.train.texts, *ds.test.texts]):
        pytest.skip(f"the embedding cache lacks {dataset}'s texts (run ocrr bench once)")
    data = tmp_path / "data"
    path = _write_csv(tmp_path / "train.csv", zip(ds.train.texts, ds.train.labels,
                                                  strict=True))
    factory = ["--encoder-factory", "cached_encoders:cached_minilm"]
    assert main(["namespace", "create", "ns", "--data", str(data), *factory]) == 0
    assert main(["namespace", "load", "ns", str(path), "-q", "--data", str(data),
                 *factory]) == 0
    fitted = Substrate.from_encoder(cached_minilm()).fit(list(ds.train.texts),
                                                         list(ds.train.labels))
    # the whole training set is loaded; one test text in QUERY_STRIDE is asked (a query's
    # answer does not depend on the others; the full test set cost 62 s of CI's pytest time)
    queries = list(ds.test.texts[::QUERY_STRIDE])
    expected = [fitted.predict(t) for t in queries]
    with Client.local(str(data / "namespaces" / "ns.db"), encoder=cached_minilm()) as client:
        served = client.predict_many(queries)
    assert len({p.label for p in expected}) > len(set(ds.test.labels)) // 2
    assert [p.label for p in served] == [p.label for p in expected]
    np.testing.assert_allclose([p.confidence for p in served],
                               [p.confidence for p in expected], atol=1e-6, rtol=0)


def test_export_with_subject_keys_opens_sealed_entries_and_checks_the_keys(
        tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    assert _ns("create", "support", data=data) == 0
    with Client.local(str(data / "namespaces" / "support.db"), encoder=HashingEncoder()) as c:
        c.correct("my card for customer 42", "card", subject="customer-42")
        c.correct("euro rate please", "fx")
    plain, keyed = tmp_path / "plain.jsonl", tmp_path / "keyed.jsonl"
    assert _ns("export", "support", "-o", str(plain), data=data, fake=False) == 0
    assert _ns("export", "support", "-o", str(keyed), "--with-keys", data=data,
               fake=False) == 0
    assert "customer-42" not in plain.read_text() and "customer-42" in keyed.read_text()
    assert _ns("import", str(plain), "--name", "plain", data=data, fake=False) == 0
    assert _ns("import", str(keyed), "--name", "keyed", data=data, fake=False) == 0
    readable = {}
    for name in ("plain", "keyed"):
        with Ledger.open(data / "namespaces" / f"{name}.db", create=False) as ledger:
            readable[name] = ledger[0].readable
    assert readable == {"plain": False, "keyed": True}
    lines = keyed.read_text().splitlines()
    key = json.loads(lines[-1])
    key["subject_key"] = "0" * 32  # a key that opens nothing here
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join([*lines[:-1], json.dumps(key)]) + "\n")
    capsys.readouterr()
    assert _ns("import", str(forged), "--name", "forged", data=data, fake=False) == 1
    assert "opens no entry" in capsys.readouterr().err
    assert not (data / "namespaces" / "forged.db").exists()
