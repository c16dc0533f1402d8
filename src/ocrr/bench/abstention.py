"""Abstention on CLINC150: below a confidence threshold the answer is 'unknown'.

Why this evaluation: a served classifier meets queries outside every class it knows, and a
guess there is worse than 'unknown'. CLINC150 ships out-of-scope queries for exactly this.
The substrate (the library's default hybrid rule) is fitted on the 15,000 in-scope training
queries; the confidence thresholded is ``Prediction.confidence`` (the hybrid rule's mixture
probability). The threshold is chosen on the validation split (``val``, 3,000 in-scope, and
``oos_val``, 100 out-of-scope) to maximise the mean of in-scope accuracy and out-of-scope
recall, then reported on the test splits (``test``, 4,500, and ``oos_test``, 1,000):

- in-scope accuracy: the share of in-scope queries answered with their label (an abstention
  counts as wrong);
- out-of-scope recall: the share of out-of-scope queries answered 'unknown'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SplitScores:
    """Per-query confidences, and (in-scope only) whether the top label was right."""

    confidence: np.ndarray
    correct: np.ndarray | None = None

    def accuracy(self, threshold: float) -> float:
        assert self.correct is not None
        return float(np.mean(self.correct & (self.confidence >= threshold)))

    def recall(self, threshold: float) -> float:
        return float(np.mean(self.confidence < threshold))


@dataclass(frozen=True)
class AbstentionReport:
    threshold: float
    val_accuracy: float
    val_recall: float
    test_accuracy: float
    test_recall: float
    test_accuracy_no_threshold: float
    sizes: dict[str, int]
    sweep: list[tuple[float, float, float]]
    """(threshold, test in-scope accuracy, test out-of-scope recall) at a few thresholds."""

    def lines(self) -> list[str]:
        s = self.sizes
        return [
            f"substrate (hybrid rule) fitted on {s['train']} in-scope training queries",
            f"threshold chosen on val ({s['val']} in-scope) + oos_val ({s['oos_val']} "
            f"out-of-scope), maximising the mean of the two: {self.threshold:.4f}",
            "",
            f"{'split':<34} {'in-scope accuracy':>18} {'out-of-scope recall':>20}",
            f"{'validation (val + oos_val)':<34} {self.val_accuracy:>18.4f} "
            f"{self.val_recall:>20.4f}",
            f"{'test (test + oos_test)':<34} {self.test_accuracy:>18.4f} "
            f"{self.test_recall:>20.4f}",
            f"{'test, no threshold (never unknown)':<34} "
            f"{self.test_accuracy_no_threshold:>18.4f} {0.0:>20.4f}",
            "",
            "test figures at other thresholds (for the trade-off):",
            *[f"  threshold {t:.2f}: in-scope accuracy {a:.4f}, out-of-scope recall {r:.4f}"
              for t, a, r in self.sweep],
        ]


def choose_threshold(in_scope: SplitScores, out_of_scope: SplitScores) -> float:
    """The threshold maximising (in-scope accuracy + out-of-scope recall) / 2; candidates
    are midpoints between consecutive distinct confidences (and 0: never abstain)."""
    values = np.unique(np.concatenate([in_scope.confidence, out_of_scope.confidence]))
    candidates = np.concatenate([[0.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-9]])
    assert in_scope.correct is not None
    conf_in = np.sort(in_scope.confidence[in_scope.correct])
    conf_out = np.sort(out_of_scope.confidence)
    # accuracy(t) = share of in-scope queries right and confident >= t; recall(t) = share of
    # out-of-scope queries below t: both from sorted confidences, for every candidate at once
    kept_right = len(conf_in) - np.searchsorted(conf_in, candidates, side="left")
    accuracy = kept_right / len(in_scope.confidence)
    recall = np.searchsorted(conf_out, candidates, side="left") / len(conf_out)
    return float(candidates[int(np.argmax(accuracy + recall))])


def _scores(substrate, X: np.ndarray, labels: tuple[str, ...] | None) -> SplitScores:  # noqa: ANN001
    predictions = [substrate.predict(x) for x in X]
    confidence = np.array([p.confidence for p in predictions], dtype=np.float64)
    correct = None
    if labels is not None:
        correct = np.array([p.label == y for p, y in zip(predictions, labels, strict=True)])
    return SplitScores(confidence, correct)


def evaluate(encoder: str = "default", *, cache_dir: str | Path | None = None,
             vote: str = "hybrid", progress: bool = False) -> AbstentionReport:
    """Fit on CLINC150's training queries, choose the threshold on validation, report test."""
    from ocrr.datasets import load_dataset
    from ocrr.encoders import get_encoder, prepare_encoder
    from ocrr.substrate import Substrate

    dataset = load_dataset("clinc150")
    splits = {name: dataset.split(name) for name in
              ("train", "val", "oos_val", "test", "oos_test")}
    enc = prepare_encoder(get_encoder(encoder, cache_dir=cache_dir), splits["train"].texts)
    vectors = {name: enc.encode(list(split.texts), progress=progress)
               for name, split in splits.items()}
    substrate = Substrate(vote=vote)
    substrate.fit(vectors["train"], list(splits["train"].labels))
    val = _scores(substrate, vectors["val"], splits["val"].labels)
    oos_val = _scores(substrate, vectors["oos_val"], None)
    test = _scores(substrate, vectors["test"], splits["test"].labels)
    oos_test = _scores(substrate, vectors["oos_test"], None)
    threshold = choose_threshold(val, oos_val)
    sweep = [(t, test.accuracy(t), oos_test.recall(t))
             for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)]
    return AbstentionReport(
        threshold=threshold,
        val_accuracy=val.accuracy(threshold),
        val_recall=oos_val.recall(threshold),
        test_accuracy=test.accuracy(threshold),
        test_recall=oos_test.recall(threshold),
        test_accuracy_no_threshold=test.accuracy(0.0),
        sizes={name: len(split) for name, split in splits.items()},
        sweep=sweep,
    )
