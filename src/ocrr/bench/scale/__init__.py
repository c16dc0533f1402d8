"""The scale study (``ocrr scale``): what approximate search costs the substrate as it grows.

The substrate here is the paper's: k = 5 and the margin-band vote (``vote="band"``), not
the library's default hybrid rule. For each variant, noise level and size, the same ledger
is indexed exactly (:class:`~ocrr.index.ExactIndex`, or the GPU index) and by each
approximate index asked for (the inverted file at each ``nprobe``, HNSW at each ``ef``;
one build per index, the search setting swept on it), and the substrate's predictions
(k = 5, band vote) on held-out queries are compared: exact and approximate accuracy, their
gap, recall@5 of the approximate neighbours against the exact ones, agreement (share of
queries where both predict the same label), single-query ``predict_one`` latency, build
time and memory.

**Synthetic (the paper's setup).** ``classes`` (default 100) random unit centroids in
``dim`` dimensions; each entry is a centroid plus Gaussian noise N(0, sigma^2 I), then
L2-normalised; an equal number of entries per class. The ledger is class-incremental:
class 0's entries first, then class 1's, and so on, as a stream of corrections introducing
new classes would write it. Queries are drawn the same way from a generator seeded
``seed + 1``, with uniformly random classes. sigma is per dimension, so the noise vector's
norm is sigma * sqrt(dim) (7.8 at sigma = 0.4 in 384-d): at sigma = 0.1 the classes are
perfectly separable and any neighbour found is right; as sigma grows they overlap and both
exact accuracy and recall fall. The outcome is decided by sigma, so the study reports
accuracy against sigma as well as size.

**Banking77 with distractors (real vectors).** The labelled core is Banking77's training
set encoded by the default encoder (10,003 entries, 77 intents); the queries are its test
set. The ledger is filled up to the size with *distractor classes*, 130 entries each (the
core's density), drawn from a Gaussian model of the real classes: class means from the
between-class covariance of Banking77's class means, entries from the pooled within-class
covariance, L2-normalised. Distractors thus sit in the same region of embedding space as
the real intents; a query answered with a distractor's label counts as wrong.

Modules: :mod:`~ocrr.bench.scale.data` (the two data sets), :mod:`~ocrr.bench.scale.measure`
(one cell, and every cell), :mod:`~ocrr.bench.scale.probes` (memory, from ``/proc``),
:mod:`~ocrr.bench.scale.output` and :mod:`~ocrr.bench.scale.plot` (CSV, markdown, PNG), and
:mod:`~ocrr.bench.scale.study` (a whole ``ocrr scale`` run, and merging runs).
"""

from ocrr.bench.scale.data import (
    DISTRACTOR_CLASS_SIZE,
    VARIANTS,
    LabelledSet,
    banking77_set,
    synthetic_set,
)
from ocrr.bench.scale.measure import CODECS, approximate_label, measure, run_scale
from ocrr.bench.scale.output import markdown_table, read_results, write_csv, write_report
from ocrr.bench.scale.plot import plot_scale
from ocrr.bench.scale.probes import available_bytes, estimate_peak_bytes, rss_mb
from ocrr.bench.scale.rows import CompressionRow, ScaleRow

__all__ = [
    "CODECS",
    "DISTRACTOR_CLASS_SIZE",
    "VARIANTS",
    "CompressionRow",
    "LabelledSet",
    "ScaleRow",
    "approximate_label",
    "available_bytes",
    "banking77_set",
    "estimate_peak_bytes",
    "markdown_table",
    "measure",
    "plot_scale",
    "read_results",
    "rss_mb",
    "run_scale",
    "synthetic_set",
    "write_csv",
    "write_report",
]
