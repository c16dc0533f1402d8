"""Finished cells on disk, so an interrupted sweep resumes where it stopped.

Each finished (scenario, dataset, policy, seed, system) run is one JSON file under
``OUT/cells/``, written atomically (a ``novel``-scenario cell keeps the name it had before
scenarios existed). A ``settings.json`` beside them records what the numbers depend on
(encoder, evaluation cap, checkpoint interval, and the scenarios when not only ``novel``);
resuming with different settings is refused rather than mixing incomparable cells.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote

from ocrr.bench.harness import CellResult, Checkpoint


class StoreMismatchError(ValueError):
    """The folder holds cells computed under other settings."""


def _key(dataset: str, policy: str, seed: int, system: str, scenario: str = "novel") -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dataset)
    # a tunable system's name carries its parameters: "substrate_plus(mix=0.5)"
    key = f"{safe}__{policy}__{seed}__{quote(system, safe='_-.')}"
    # the paper's protocol keeps its old names, so existing folders still resume
    return key if scenario == "novel" else f"{quote(scenario, safe='_-.')}__{key}"


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


class CellStore:
    def __init__(self, folder: str | Path, settings: dict[str, object]) -> None:
        self.folder = Path(folder) / "cells"
        self.folder.mkdir(parents=True, exist_ok=True)
        settings_path = self.folder / "settings.json"
        if settings_path.exists():
            kept = json.loads(settings_path.read_text(encoding="utf-8"))
            if kept != settings:
                raise StoreMismatchError(
                    f"{self.folder} holds cells computed with {kept}, not {settings}; "
                    "use another --out folder or --fresh to discard them"
                )
        else:
            _atomic_write(settings_path, json.dumps(settings, sort_keys=True))

    def path(
        self, dataset: str, policy: str, seed: int, system: str, scenario: str = "novel"
    ) -> Path:
        return self.folder / f"{_key(dataset, policy, seed, system, scenario)}.json"

    def load(
        self, dataset: str, policy: str, seed: int, system: str, scenario: str = "novel"
    ) -> CellResult | None:
        path = self.path(dataset, policy, seed, system, scenario)
        if not path.exists():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None  # a damaged cell is simply run again
        raw["checkpoints"] = [Checkpoint(**c) for c in raw["checkpoints"]]
        return CellResult(**raw)

    def save(self, result: CellResult) -> None:
        path = self.path(
            result.dataset, result.policy, result.seed, result.system, result.scenario
        )
        _atomic_write(path, json.dumps(asdict(result)))
