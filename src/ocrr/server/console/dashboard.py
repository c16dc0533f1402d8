"""The dashboard's arithmetic: counts from the ledger summary and the reviews, and the
charts' geometry (:mod:`ocrr.server.console.plots`); no web framework here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ocrr.server.console import plots
from ocrr.server.console.ledger_index import LedgerIndex


def dashboard_figures(index: LedgerIndex, reviews: Sequence[Any]) -> dict[str, Any]:
    """Corrections, revocations and erasures (from ``index``), the reviewed predictions'
    accuracy (from ``reviews``), and the three charts."""
    corrections = [r.at_ns for r in index.rows if r.kind == "example" and r.source != "fit"]
    revocations = sum(r.kind == "revocation" for r in index.rows)
    erasures = sum(r.kind == "erasure" for r in index.rows)
    right = sum(r.right for r in reviews)
    classes = index.class_counts()
    return {
        "reviews": len(reviews), "right": right,
        "accepted": sum(r.accepted for r in reviews),
        "accuracy": right / len(reviews) if reviews else None,
        "corrections": len(corrections), "revocations": revocations, "erasures": erasures,
        "corrections_chart": plots.counts_over_time(corrections, "corrections"),
        "accuracy_chart": plots.share_over_time([(r.at_ns, r.right) for r in reviews],
                                                "reviewed predictions"),
        "class_chart": plots.class_bars(classes), "classes": len(classes),
    }
