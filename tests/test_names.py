"""Issue 17 item 10: the rule for names (labels, actors, namespace and key names) and texts,
in ocrr.names, and every boundary that applies it: the ledger, the server's wire models,
``ocrr keys``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from ocrr.cli.main import main
from ocrr.ledger import Ledger, LedgerError
from ocrr.names import check_text, clean_name, printable
from ocrr.server.registry import Registry
from server_support import Service

pytest_plugins = ["server_fixtures"]

LOOK_ALIKES = ["\u200b", "card\u200b", "\u202egnp.exe", "bell\x07", "esc\x1b[31m",
               "two\nlines", "tab\there", "card ", " card", "bom\ufeff", "wj\u2060x",
               "iso\u2066late", "tag\U000e0041"]


@pytest.mark.parametrize("value", LOOK_ALIKES)
def test_names_refuse_control_zero_width_and_bidi_characters(value: str) -> None:
    with pytest.raises(ValueError, match="label"):
        clean_name("label", value)


def test_names_are_nfc_and_the_message_names_the_character() -> None:
    assert clean_name("label", "cafe\u0301") == "caf\u00e9"
    assert clean_name("label", "close account") == "close account"
    with pytest.raises(ValueError, match=r"U\+202E \(RIGHT-TO-LEFT OVERRIDE\) at character 0"):
        clean_name("actor", "\u202eevil")


def test_texts_keep_content_but_refuse_control_characters() -> None:
    kept = "emoji \U0001f469\u200d\U0001f4bb, tab\t, lines\r\n, e\u0301"
    assert check_text("text", kept) == kept  # not normalised, joiners kept
    with pytest.raises(ValueError, match=r"U\+001B \(control character ESC\)"):
        check_text("text", "colour \x1b[31m")


def test_printable_escapes_what_a_terminal_would_obey() -> None:
    assert printable("ops\x1b[2J\u202e") == "ops\\u001b[2J\\u202e"
    assert printable("café") == "café"


def test_the_ledger_applies_the_rule_to_labels_and_actors() -> None:
    ledger = Ledger()
    with pytest.raises(LedgerError, match="ZERO WIDTH SPACE"):
        ledger.append("card\u200b", np.ones(4))
    with pytest.raises(LedgerError, match="actor"):
        ledger.append("card", np.ones(4), provenance={"actor": "bob\x1b[0m"})
    entry = ledger.append("cafe\u0301", np.ones(4), provenance={"actor": "Zoe\u0308"})
    assert entry.label == "caf\u00e9" and entry.provenance["actor"] == "Zo\u00eb"
    assert len(ledger) == 1


@pytest.mark.parametrize("label", ["\u200b", "card\u200b", "\u202egnp.exe", "a\x07", "a\x1b"])
def test_the_server_refuses_look_alike_labels(service: Service, label: str) -> None:
    before = service.size()
    answer = service.client.post("/v1/namespaces/demo/corrections",
                                 json={"text": "hello", "label": label},
                                 headers=service.auth("write"))
    assert answer.status_code == 422, answer.text
    assert service.size() == before


def test_the_server_refuses_control_characters_in_texts_and_actors(service: Service) -> None:
    for body in ({"text": "ring\x07", "label": "x"},
                 {"text": "fine", "label": "x", "actor": "agent\u202e7"}):
        answer = service.client.post("/v1/namespaces/demo/corrections", json=body,
                                     headers=service.auth("write"))
        assert answer.status_code == 422, answer.text
    made = service.client.post("/v1/keys", json={"scope": "metrics", "name": "a\nb"},
                               headers=service.auth("admin"))
    assert made.status_code == 422


def test_ocrr_keys_refuses_bad_names_and_lists_without_raw_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = str(tmp_path / "data")
    for name in ("x" * 5000, "ops\nroot", "\u202eops"):
        with pytest.raises(SystemExit) as caught:
            main(["keys", "create", "--data", data, "--scope", "admin", "--name", name])
        assert caught.value.code == 2
    with pytest.raises(ValueError, match="limit is 256"):
        Registry(data).create_key("admin", name="y" * 257)
    # a registry written before the rule (or by hand): listing must not replay the escape
    assert main(["keys", "create", "--data", data, "--scope", "admin", "--name", "ops"]) == 0
    capsys.readouterr()
    with sqlite3.connect(Path(data) / "registry.db") as conn:
        conn.execute("UPDATE api_keys SET name = ?", ("ops\x1b[2J\x1b[31mred\u202e",))
    assert main(["keys", "list", "--data", data]) == 0
    listing = capsys.readouterr().out
    assert "\x1b" not in listing and "\u202e" not in listing
    assert "ops\\u001b[2J\\u001b[31mred\\u202e" in listing
