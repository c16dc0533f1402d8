"""The benchmark as one library call: :func:`run_benchmark` encodes the datasets, prepares the
scenarios, runs the grid (resumable in ``OUT/cells``) and writes ``runs.csv``,
``summary.csv``, ``report.md`` and the figures. ``ocrr bench`` parses its flags into a
:class:`BenchmarkConfig` and calls it.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ocrr.bench.harness import CHECKPOINT_EVERY, CellResult
from ocrr.bench.policies import DEFAULT_POLICIES, available_policies
from ocrr.bench.protocol import EVAL_CAP
from ocrr.datasets import BUILTIN, available_datasets
from ocrr.systems import DEFAULT_SYSTEMS, available_systems, check_system_name

Log = Callable[[str], None]


class BenchmarkConfigError(ValueError):
    """A :class:`BenchmarkConfig` names something that does not exist, or a bad number;
    raised before any work, the message lists the valid choices."""


def check_choices(kind: str, given: Sequence[str], valid: Sequence[str]) -> None:
    """Raise :class:`BenchmarkConfigError` naming every entry of ``given`` not in ``valid``."""
    unknown = [g for g in given if g not in valid]
    if unknown:
        raise BenchmarkConfigError(
            f"unknown {kind} {', '.join(map(repr, unknown))}; valid: {', '.join(valid)}"
        )


def check_datasets(given: Sequence[str]) -> None:
    """Each dataset is a built-in name or a folder holding ``train.csv`` and ``test.csv``."""
    for name in given:
        if name in BUILTIN:
            continue
        folder = Path(name).expanduser()
        if not (folder / "train.csv").is_file() or not (folder / "test.csv").is_file():
            raise BenchmarkConfigError(
                f"unknown dataset {name!r}; valid: {', '.join(available_datasets())}, or a "
                "folder holding train.csv and test.csv"
            )


@dataclass(frozen=True)
class BenchmarkConfig:
    """What one benchmark run computes: the options of ``ocrr bench``.

    Parameters
    ----------
    datasets : sequence of str
        Built-in names (``banking77``, ``clinc150``) or folders holding ``train.csv`` and
        ``test.csv`` (columns ``text,label``).
    policies : sequence of str
        Correction policies (``oracle``, ``random50``, ``random10``, ``noisy10``, ...).
    seeds : sequence of int
        One run per seed of every (dataset, policy, system).
    systems : sequence of str
        Registered system names (:func:`ocrr.systems.available_systems`), tunable ones with
        parameters such as ``substrate_plus(mix=0.5)``; ``lora`` runs on texts.
    scenarios : sequence of str
        What is streamed: ``novel`` (the paper's protocol), ``split``, ``merge``,
        ``rename``, ``drift-cross``, ``drift-typo`` or ``all``.
    out : str or Path
        The results folder; finished cells are kept in ``out/cells`` and a rerun resumes.
    encoder : str
        ``default`` (offline all-MiniLM-L6-v2), ``tfidf`` (no torch), or a
        sentence-transformers name or folder.
    cache_dir : str or Path, optional
        The embedding cache (default ``$OCRR_CACHE_DIR`` or ``~/.cache/ocrr``).
    workers : int, optional
        Worker processes (default: all cores); results do not depend on it.
    cap, checkpoint_every : int
        Evaluation rows per set, and stream items between evaluations.
    executor, address : str
        ``local`` worker processes, or ``ray`` tasks on the cluster at ``address``.
    fresh : bool
        Discard the finished cells in ``out/cells`` instead of resuming.
    progress : bool
        Progress bars (encoding and cells) on stderr.

    Examples
    --------
    >>> config = BenchmarkConfig(datasets=["banking77"], policies=["oracle"], seeds=[0])
    >>> config.systems[:2], config.cap
    (('substrate', 'substrate_plus'), 400)
    >>> BenchmarkConfig(policies=["sometimes"]).validated()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ocrr.bench.pipeline.BenchmarkConfigError: unknown policy 'sometimes'; valid: ...
    """

    datasets: Sequence[str] = field(default_factory=lambda: tuple(available_datasets()))
    policies: Sequence[str] = DEFAULT_POLICIES
    seeds: Sequence[int] = (0, 1, 2)
    systems: Sequence[str] = DEFAULT_SYSTEMS
    scenarios: Sequence[str] = ("novel",)
    out: str | Path = "results"
    encoder: str = "default"
    cache_dir: str | Path | None = None
    workers: int | None = None
    cap: int = EVAL_CAP
    checkpoint_every: int = CHECKPOINT_EVERY
    executor: str = "local"
    address: str | None = None
    fresh: bool = False
    progress: bool = True

    def validated(self) -> BenchmarkConfig:
        """This configuration with the scenario aliases expanded, after checking every
        name and number; raises :class:`BenchmarkConfigError` before any work."""
        from ocrr.bench.scenarios import expand_scenarios

        check_datasets(self.datasets)
        check_choices("policy", self.policies, available_policies())
        named = [s for s in self.systems if "(" not in s]
        check_choices("system", named, available_systems(text=True))
        for name in self.systems:
            if "(" in name:  # a tunable system with parameters, e.g. substrate_plus(mix=0.5)
                try:
                    check_system_name(name)
                except ValueError as err:
                    raise BenchmarkConfigError(str(err)) from None
        if self.cap < 1 or self.checkpoint_every < 1:
            raise BenchmarkConfigError("--cap and --checkpoint-every must be positive")
        try:
            scenarios = expand_scenarios(self.scenarios)
        except ValueError as err:
            raise BenchmarkConfigError(str(err)) from None
        return dataclasses.replace(self, scenarios=scenarios)

    def settings(self) -> dict[str, object]:
        """What the cells' numbers depend on beyond their own names (kept in
        ``out/cells/settings.json``; a rerun with other settings is refused)."""
        settings: dict[str, object] = {
            "encoder": self.encoder, "cap": self.cap, "checkpoint_every": self.checkpoint_every
        }
        if list(self.scenarios) != ["novel"]:  # the paper's protocol keeps its old settings
            settings["scenarios"] = list(self.scenarios)
        return settings


@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` computed and wrote.

    Attributes
    ----------
    config : BenchmarkConfig
        The validated configuration (scenario aliases expanded).
    results : list of CellResult
        One per run, in grid order (scenario, dataset, policy, seed, system).
    rows : list of dict
        The summary rows (one per scenario, dataset, policy and system), as in
        ``summary.csv``.
    figures : list of Path
        The PNG files written.
    per_system_s : dict
        Run time per system, summed over its runs.
    encode_s, grid_s : float
        Wall seconds spent encoding (and preparing scenarios) and running the grid.

    Examples
    --------
    >>> result = BenchmarkResult(BenchmarkConfig(out="results"), [], [], [], {}, 0.0, 0.0)
    >>> result.summary_csv.as_posix(), result.report.name
    ('results/summary.csv', 'report.md')
    """

    config: BenchmarkConfig
    results: list[CellResult]
    rows: list[dict]
    figures: list[Path]
    per_system_s: dict[str, float]
    encode_s: float
    grid_s: float

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    @property
    def runs_csv(self) -> Path:
        return self.out / "runs.csv"

    @property
    def summary_csv(self) -> Path:
        return self.out / "summary.csv"

    @property
    def report(self) -> Path:
        return self.out / "report.md"


def run_benchmark(config: BenchmarkConfig, *, log: Log | None = None) -> BenchmarkResult:
    """Run the benchmark grid ``config`` describes and write its results under
    ``config.out``; ``log`` (e.g. ``print``) receives a line per stage.

    Raises :class:`BenchmarkConfigError` for an unknown name or a bad number (before any
    work), :class:`~ocrr.bench.store.StoreMismatchError` when ``out/cells`` holds cells
    computed under other settings, and :class:`~ocrr.datasets.DatasetError` for a malformed
    dataset folder.

    Examples
    --------
    A dataset folder of 12 classes (the protocol holds 10 out), TF-IDF vectors:

    >>> import csv, tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "tiny").mkdir()
    >>> for part, n in (("train", 6), ("test", 2)):
    ...     with open(root / "tiny" / f"{part}.csv", "w", newline="") as f:
    ...         rows = [(f"topic{c} {part} text {i} about topic{c}", f"c{c}")
    ...                 for c in range(12) for i in range(n)]
    ...         csv.writer(f).writerows([("text", "label"), *rows])
    >>> config = BenchmarkConfig(
    ...     datasets=[str(root / "tiny")], policies=["oracle"], seeds=[0],
    ...     systems=["substrate"], encoder="tfidf", cache_dir=root / "cache",
    ...     workers=1, cap=20, out=root / "results", progress=False)
    >>> result = run_benchmark(config)
    >>> [(r["dataset"], r["policy"], r["system"]) for r in result.rows]
    [('tiny', 'oracle', 'substrate')]
    >>> result.summary_csv.is_file(), result.report.is_file()
    (True, True)
    """
    from ocrr.bench.grid import encode_dataset, make_cells
    from ocrr.bench.metrics import summarise
    from ocrr.bench.scenarios import prepare_scenarios
    from ocrr.bench.store import CellStore

    say = log or (lambda line: None)
    config = config.validated()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    if config.fresh:
        shutil.rmtree(out / "cells", ignore_errors=True)
    store = CellStore(out, config.settings())
    started = time.perf_counter()
    data = {}
    for name in config.datasets:
        say(f"encoding {name} with {config.encoder} (cached after the first run)")
        data[name] = encode_dataset(
            name, config.encoder, cache_dir=config.cache_dir, progress=config.progress
        )
    sources = {d.name: name for name, d in data.items()}
    data = {d.name: d for d in data.values()}
    names = list(data)
    if any(s.startswith("drift-") for s in config.scenarios):
        say("preparing the drift scenarios (typo texts encoded through the cache)")
    data = prepare_scenarios(
        data, config.scenarios, config.seeds, cap=config.cap, encoder=config.encoder,
        cache_dir=config.cache_dir, sources=sources, progress=config.progress,
    )
    encoded = time.perf_counter()

    cells = make_cells(names, config.policies, config.seeds, config.systems, config.scenarios)
    per_system: dict[str, float] = defaultdict(float)
    results = _run_cells(config, data, cells, store, per_system)
    finished = time.perf_counter()

    rows = summarise(results)
    figures = _write_outputs(config, list(data), results, rows, finished - encoded, len(cells))
    return BenchmarkResult(
        config, results, rows, figures, dict(per_system), encoded - started, finished - encoded
    )


def _run_cells(config, data, cells, store, per_system) -> list[CellResult]:  # noqa: ANN001
    """The grid, with a progress bar of finished cells and the run time per system."""
    from tqdm import tqdm

    from ocrr.bench.grid import run_grid

    with tqdm(total=len(cells), desc="cells", unit="cell", disable=not config.progress) as bar:

        def done(result: CellResult) -> None:
            per_system[result.system] += result.wall_s
            bar.update(1)

        return run_grid(
            data,
            cells,
            workers=config.workers,
            executor=config.executor,
            address=config.address,
            cap=config.cap,
            checkpoint_every=config.checkpoint_every,
            store=store,
            on_done=done,
        )


def _write_outputs(
    config: BenchmarkConfig,
    data_names: Sequence[str],
    results: Sequence[CellResult],
    rows: list[dict],
    grid_s: float,
    n_cells: int,
) -> list[Path]:
    """``runs.csv``, ``summary.csv``, the figures and ``report.md``; returns the figures."""
    from ocrr.bench.report import (
        plot_curves,
        plot_pareto,
        plot_tradeoff,
        write_report,
        write_runs_csv,
        write_summary_csv,
    )

    out = Path(config.out)
    write_runs_csv(results, out / "runs.csv")
    write_summary_csv(rows, out / "summary.csv")
    figures = [*plot_curves(results, out), *plot_pareto(rows, out), *plot_tradeoff(rows, out)]
    context = (
        f"Encoder `{config.encoder}`; datasets {', '.join(data_names)}; policies "
        f"{', '.join(config.policies)}; seeds {', '.join(map(str, config.seeds))}; evaluation "
        f"cap {config.cap}; checkpoint every {config.checkpoint_every} items. Grid time "
        f"{grid_s:.1f} s for {n_cells} runs."
    )
    write_report(rows, figures, out / "report.md", context=context)
    if list(config.scenarios) != ["novel"]:
        from ocrr.bench.scenario_report import scenario_markdown

        with open(out / "report.md", "a", encoding="utf-8") as handle:
            handle.write("\n## Scenarios\n\n" + scenario_markdown(rows, config.policies))
    return figures
