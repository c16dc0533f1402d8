"""``ocrr keys``, ``ocrr serve``'s argument checks, and ``ocrr load`` (short, with the tiny
hashing encoder) from the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ocrr.cli.main import main
from ocrr.server.registry import Registry
from server_processes import TESTS


def test_keys_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = str(tmp_path / "data")
    assert main(["keys", "create", "--data", data, "--scope", "admin", "--name", "ops"]) == 0
    admin = capsys.readouterr().out.strip()
    assert admin.startswith("ocrr_")
    assert main(["keys", "create", "--data", data, "--scope", "write", "-n", "support",
                 "--create-namespace", "--threshold", "0.4"]) == 0
    captured = capsys.readouterr()
    assert "created namespace support" in captured.err
    registry = Registry(data)
    assert registry.find_key(admin).scope == "admin"
    writer = registry.find_key(captured.out.strip())
    assert writer.namespace == "support" and writer.scope == "write"
    assert registry.get_namespace("support").threshold == 0.4
    registry.close()
    assert main(["keys", "list", "--data", data]) == 0
    listing = capsys.readouterr().out
    assert writer.key_id in listing and admin not in listing and "ops" in listing
    assert main(["keys", "revoke", "--data", data, writer.key_id]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["keys", "revoke", "--data", data, "nope"]) == 2
    assert main(["keys", "create", "--data", data, "--scope", "read", "-n", "ghost"]) == 2
    assert "no namespace 'ghost'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["keys", "create", "--scope", "read"],  # a read key needs --namespace
    ["keys", "create", "--scope", "write", "-n", "Bad-Name"],
    ["keys", "create", "--scope", "admin", "--data", "x", "--database", "postgresql://x"],
    ["serve", "--encoder-factory", "no_such_module:thing"],
    ["serve", "--port", "0"],
    ["serve", "--workers", "0"],
    ["load", "--clients", "0"],
    ["load", "--workers", "0"],
])
def test_usage_errors_exit_2(argv: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv + (["--data", str(tmp_path)] if argv[0] == "keys" and "--data" not in argv
                     else []))
    assert caught.value.code == 2


@pytest.mark.parametrize("workers", [1, 2])
def test_ocrr_load_prints_its_figures_and_checks_the_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
    workers: int,
) -> None:
    # with two workers the ledger check reads back through whichever worker answers: each
    # must see every correction the other acknowledged
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p))
    out = tmp_path / "figures.json"
    code = main(["load", "--encoder-factory", "server_fakes:hashing_encoder", "--clients", "4",
                 "--correctors", "2", "--duration", "1.5", "--max-requests", "400",
                 "--seed", "150", "--crash-after", "1", "--json", str(out),
                 "--workers", str(workers)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "phase 1, predictions:" in printed and "p99" in printed
    assert "corrections:" in printed and "load average" in printed
    figures = json.loads(out.read_text())
    assert figures["phase1_predictions_per_second"] > 0
    assert figures["phase2_corrections_per_second"] > 0
    assert figures["phase2_ledger_exact"] is True and figures["crash_ok"] is True
    # the flood phase: one key's maximal batches, another key's single texts answered
    assert "flood phase:" in printed and "another key's single texts" in printed
    assert figures["flood_other_key_predictions"] > 0
    assert figures["flood_other_key_errors"] == 0
    assert figures["flood_batches_accepted"] + figures["flood_batches_refused"] > 0
