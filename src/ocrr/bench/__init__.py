"""The OCRR benchmark: the paper's protocol, policies, harness, metrics and reports.

:func:`run_benchmark` (a :class:`BenchmarkConfig` in, a :class:`BenchmarkResult` out) is the
whole pipeline ``ocrr bench`` runs."""

from ocrr.bench.grid import Cell, EncodedDataset, encode_dataset, make_cells, run_grid
from ocrr.bench.harness import CHECKPOINT_EVERY, CellResult, Checkpoint, run_cell
from ocrr.bench.metrics import THRESHOLDS, corrections_to_reach, novel_auc, summarise
from ocrr.bench.pipeline import BenchmarkConfig, BenchmarkResult, run_benchmark
from ocrr.bench.policies import POLICIES, Policy, available_policies, get_policy
from ocrr.bench.protocol import EVAL_CAP, N_HELD_OUT, Plan, make_plan

__all__ = [
    "CHECKPOINT_EVERY",
    "EVAL_CAP",
    "N_HELD_OUT",
    "POLICIES",
    "THRESHOLDS",
    "BenchmarkConfig",
    "BenchmarkResult",
    "Cell",
    "CellResult",
    "Checkpoint",
    "EncodedDataset",
    "Plan",
    "Policy",
    "available_policies",
    "corrections_to_reach",
    "encode_dataset",
    "get_policy",
    "make_cells",
    "make_plan",
    "novel_auc",
    "run_benchmark",
    "run_cell",
    "run_grid",
    "summarise",
]
