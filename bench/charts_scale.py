"""Time flightlog.plot's evaluation curves on a million samples, against scikit-learn.

What is measured (seeded ``numpy.random.default_rng``):

- ``binary``: ``--n`` samples (default 1,000,000), 10 % positive, scores ``N(0,1) +
  1.5 * y`` (continuous: about ``n`` distinct thresholds, the worst case).
- ``multiclass``: ``--n`` samples x ``--classes`` (default 10) softmax probabilities of
  noisy logits, one curve per class (one-vs-rest).

For each, the whole chart function (``flightlog.plot.roc_curve``, ``pr_curve``,
``calibration_curve``, ``lift_curve``, ``cumulative_gains``: validation, curve, AUC,
downsampling, table) is timed (median of ``--repeat``), next to the same curves computed
with scikit-learn (``roc_curve`` + ``roc_auc_score``, ``precision_recall_curve`` +
``average_precision_score``, ``calibration.calibration_curve``; per class for
multiclass; lift/gains have no sklearn counterpart). Reported: seconds, ratio
flightlog/sklearn, stored rows, PASS/MISS against the <= 2 s target, and for the stored
(downsampled) ROC and PR curves of the binary case: the largest distance of any point of
sklearn's full curve to the stored polyline, the largest |TPR difference| (|precision
difference| for PR) when both are linearly interpolated on a 20,001-point grid, and the
difference between the stored polyline's area and the full-precision AUC.

Run:
    python bench/charts_scale.py
    python bench/charts_scale.py --n 200000 --classes 5 --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

TARGET_S = 2.0


def median_seconds(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def binary_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(np.int64)
    return y, rng.normal(size=n) + 1.5 * y


def multiclass_data(n: int, classes: int, seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), y] += 1.5
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return y, probs / probs.sum(axis=1, keepdims=True)


def sklearn_curves(kind: str, y: np.ndarray, scores: np.ndarray) -> Any:  # type: ignore[type-arg]
    from sklearn import metrics
    from sklearn.calibration import calibration_curve

    columns = [(y == 1, scores)] if scores.ndim == 1 else \
        [(y == k, scores[:, k]) for k in range(scores.shape[1])]
    out = []
    for positive, score in columns:
        if kind == "roc":
            out.append((metrics.roc_curve(positive, score),
                        metrics.roc_auc_score(positive, score)))
        elif kind == "pr":
            out.append((metrics.precision_recall_curve(positive, score),
                        metrics.average_precision_score(positive, score)))
        else:
            probability = score if scores.ndim > 1 else 1 / (1 + np.exp(-score))
            out.append(calibration_curve(positive, probability, n_bins=10))
    return out


def table_rows(chart: Any) -> int:
    return int(chart.table.num_rows)


def interpolated_gap(x_full: np.ndarray, y_full: np.ndarray,  # type: ignore[type-arg]
                     x_kept: np.ndarray, y_kept: np.ndarray) -> float:  # type: ignore[type-arg]
    """Largest |y difference| of the two curves, each linearly interpolated on a grid
    of x (curves sorted by x; at a vertical run np.interp takes the run's last point)."""
    grid = np.linspace(0.0, 1.0, 20_001)
    full_order = np.argsort(x_full, kind="stable")
    kept_order = np.argsort(x_kept, kind="stable")
    full = np.interp(grid, x_full[full_order], y_full[full_order])
    kept = np.interp(grid, x_kept[kept_order], y_kept[kept_order])
    return float(np.abs(full - kept).max())


def fidelity(y: np.ndarray, scores: np.ndarray) -> list[str]:  # type: ignore[type-arg]
    """How far the stored binary ROC and PR curves are from sklearn's full curves."""
    from sklearn import metrics

    import flightlog.plot as fp
    from flightlog.plot import _curves

    lines = []
    fpr, tpr, _ = metrics.roc_curve(y, scores, drop_intermediate=False)
    rows = fp.roc_curve(y, scores).table.to_pydict()
    kept_x, kept_y = np.asarray(rows["fpr"]), np.asarray(rows["tpr"])
    keep = _curves.downsample_curve(fpr, tpr)
    assert np.array_equal(fpr[keep], kept_x) and np.array_equal(tpr[keep], kept_y), \
        "stored ROC points are not points of sklearn's curve"
    lines.append(f"ROC  full {fpr.size:>9,} pts -> stored {kept_x.size:>5}: "
                 f"max distance {_curves.polyline_deviation(fpr, tpr, keep, scaled=False):.2e}"
                 f", max |dTPR| {interpolated_gap(fpr, tpr, kept_x, kept_y):.2e}, "
                 f"|AUC(stored) - AUC| "
                 f"{abs(_curves.area_under(kept_x, kept_y) - rows['auc'][0]):.2e}, "
                 f"|AUC - sklearn| {abs(rows['auc'][0] - metrics.roc_auc_score(y, scores)):.1e}")
    precision, recall, _ = metrics.precision_recall_curve(y, scores)
    rows = fp.pr_curve(y, scores).table.to_pydict()
    kept_x, kept_y = np.asarray(rows["recall"]), np.asarray(rows["precision"])
    keep = _curves.downsample_curve(recall, precision)
    assert np.array_equal(recall[keep], kept_x) and np.array_equal(precision[keep], kept_y), \
        "stored PR points are not points of sklearn's curve"
    ap = metrics.average_precision_score(y, scores)
    lines.append(f"PR   full {recall.size:>9,} pts -> stored {kept_x.size:>5}: "
                 f"max distance "
                 f"{_curves.polyline_deviation(recall, precision, keep, scaled=False):.2e}, "
                 f"max |dPrecision| {interpolated_gap(recall, precision, kept_x, kept_y):.2e}, "
                 f"|AP - sklearn| {abs(rows['average_precision'][0] - ap):.1e}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import flightlog.plot as fp

    datasets = {
        f"binary {args.n:,}": binary_data(args.n, args.seed),
        f"{args.n:,} x {args.classes} classes": multiclass_data(args.n, args.classes,
                                                                args.seed),
    }
    charts: dict[str, Callable[[Any, Any], Any]] = {
        "roc": fp.roc_curve, "pr": fp.pr_curve,
        "calibration": lambda y, s: fp.calibration_curve(
            y, s if s.ndim > 1 else 1 / (1 + np.exp(-s))),
        "lift": fp.lift_curve, "gains": fp.cumulative_gains,
    }
    print(f"{'data':<26}{'chart':<13}{'flightlog s':>12}{'sklearn s':>11}{'ratio':>8}"
          f"{'rows':>8}  target <= {TARGET_S:g} s")
    worst = 0.0
    for label, (y, scores) in datasets.items():
        for name, make in charts.items():
            seconds, chart = median_seconds(lambda make=make, y=y, s=scores: make(y, s),
                                            args.repeat)
            worst = max(worst, seconds)
            if name in ("roc", "pr", "calibration"):
                reference, _ = median_seconds(
                    lambda name=name, y=y, s=scores: sklearn_curves(name, y, s), args.repeat)
                ref_text, ratio = f"{reference:>11.3f}", f"{seconds / reference:>8.2f}"
            else:
                ref_text, ratio = f"{'n/a':>11}", f"{'':>8}"
            verdict = "PASS" if seconds <= TARGET_S else "MISS"
            print(f"{label:<26}{name:<13}{seconds:>12.3f}{ref_text}{ratio}"
                  f"{table_rows(chart):>8}  {verdict}")
    print()
    print(f"fidelity of the stored curves (binary {args.n:,}; axis units):")
    for line in fidelity(*datasets[f"binary {args.n:,}"]):
        print("  " + line)
    print(f"\nslowest chart: {worst:.3f} s -> {'PASS' if worst <= TARGET_S else 'MISS'}")
    return 0 if worst <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
