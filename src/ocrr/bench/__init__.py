"""The OCRR benchmark: the paper's protocol, policies, harness, metrics and reports."""

from ocrr.bench.grid import Cell, EncodedDataset, encode_dataset, make_cells, run_grid
from ocrr.bench.harness import CHECKPOINT_EVERY, CellResult, Checkpoint, run_cell
from ocrr.bench.metrics import THRESHOLDS, corrections_to_reach, novel_auc, summarise
from ocrr.bench.policies import POLICIES, Policy, available_policies, get_policy
from ocrr.bench.protocol import EVAL_CAP, N_HELD_OUT, Plan, make_plan

__all__ = [
    "CHECKPOINT_EVERY",
    "EVAL_CAP",
    "N_HELD_OUT",
    "POLICIES",
    "THRESHOLDS",
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
    "run_cell",
    "run_grid",
    "summarise",
]
