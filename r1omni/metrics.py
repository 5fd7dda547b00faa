"""Pure scoring shared by `r1omni eval`, the Library tab and training: WAR, UAR, confusion matrix.

WAR is plain accuracy; UAR is the mean recall over the classes present in the ground truth, computed
per dataset, as in the R1-Omni / HumanOmni evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence


def war(y_true: Sequence[str], y_pred: Sequence[str | None]) -> float:
    """Weighted average recall = accuracy.

    >>> war(["a", "a", "b"], ["a", "b", "b"])
    0.6666666666666666
    """
    if not y_true:
        return float("nan")
    return sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true)


def uar(y_true: Sequence[str], y_pred: Sequence[str | None]) -> float:
    """Unweighted average recall over the classes present in `y_true`.

    >>> uar(["a", "a", "a", "b"], ["a", "a", "a", "a"])
    0.5
    """
    classes = sorted(set(y_true))
    if not classes:
        return float("nan")
    recalls = []
    for c in classes:
        idx = [i for i, t in enumerate(y_true) if t == c]
        recalls.append(sum(y_pred[i] == c for i in idx) / len(idx))
    return sum(recalls) / len(recalls)


def confusion_matrix(
    y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str]
) -> tuple[list[str], list[str], list[list[int]]]:
    """Counts with rows = true labels, columns = predicted labels (+ "other" for None/outside answers)."""
    rows = [lab for lab in labels if lab in set(y_true)] + sorted(set(y_true) - set(labels))
    cols = list(labels) + ["other"]
    matrix = [[0] * len(cols) for _ in rows]
    for t, p in zip(y_true, y_pred, strict=True):
        j = cols.index(p) if p in cols else len(cols) - 1
        matrix[rows.index(t)][j] += 1
    return rows, cols, matrix


def scores_by_dataset(
    y_true: Sequence[str], y_pred: Sequence[str | None], datasets: Sequence[str]
) -> dict[str, dict[str, float]]:
    """{dataset: {"WAR", "UAR", "n"}} computed separately per dataset, plus "all"."""
    out: dict[str, dict[str, float]] = {}
    for name in sorted(set(datasets)) + ["all"]:
        idx = [i for i, d in enumerate(datasets) if name == "all" or d == name]
        t = [y_true[i] for i in idx]
        p = [y_pred[i] for i in idx]
        out[name] = {"WAR": war(t, p), "UAR": uar(t, p), "n": len(idx)}
    return out
