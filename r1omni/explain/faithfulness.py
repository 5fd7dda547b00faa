"""Faithfulness metrics for explanations (DESIGN 4): deletion AOPC, temporal pointing, modality hit rate.

Deletion AOPC (Samek et al. 2017; ERASER's comprehensiveness, DeYoung et al. 2020): remove features in
attribution order, one more at a time, and average the drop of the target probability over the first K
steps; compared with random orders, a faithful attribution drops it faster. Features here are the
explain timeline's sampled frames (-> grey) and audio windows (-> silence). The metrics are pure; the one
function that scores deletions (`deletion_probs`) calls the pipeline's public perturbations only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

# A timeline feature: ("frame", index) or ("audio", (start_s, end_s)).
Feature = tuple[str, object]


def aopc(p_full: float, p_deleted: Sequence[float]) -> float:
    """Mean drop of the target probability over deletion steps 1..K.

    >>> aopc(0.9, [0.5, 0.1])
    0.6
    """
    if not p_deleted:
        return float("nan")
    return round(sum(p_full - p for p in p_deleted) / len(p_deleted), 12)


def features_by_score(explanation: dict) -> list[tuple[Feature, float]]:
    """Timeline features of an explain JSON, highest score first (ties keep frame-then-audio order)."""
    feats: list[tuple[Feature, float]] = [(("frame", r["index"]), r["score"]) for r in explanation["frames"]]
    feats += [(("audio", (r["start_s"], r["end_s"])), r["score"]) for r in explanation["audio_segments"]]
    return sorted(feats, key=lambda f: -f[1])


def delete(pipe, media, features: Sequence[Feature]):
    """The clip with all these features removed (frames grey, audio windows silenced)."""
    frames = [i for kind, i in features if kind == "frame"]
    out = pipe.occlude_frames(media, frames) if frames else media
    for kind, span in features:
        if kind == "audio":
            out = pipe.silence_audio(out, *span)
    return out


def deletion_probs(pipe, media, ids: list[int], target_idx: list[int], orders: Sequence[Sequence[Feature]],
                   steps: int, question: str | None = None, batch_size: int = 32) -> list[list[float]]:
    """For each order, the target probability after deleting its first k features, k = 1..steps (batched)."""
    variants = [delete(pipe, media, order[:k]) for order in orders for k in range(1, steps + 1)]
    from r1omni.scoring import ScoringSession

    logps = ScoringSession(pipe, question).token_logprobs(variants, [ids] * len(variants), batch_size=batch_size)
    idx = torch.as_tensor(target_idx, dtype=torch.long)
    probs = [math.exp(float(lp[idx].sum())) for lp in logps]
    return [probs[i * steps : (i + 1) * steps] for i in range(len(orders))]


def in_window(t: float, window: tuple[float, float]) -> bool:
    """Whether time t (s) lies in the closed window."""
    return window[0] <= t <= window[1]


def pointing_hit(explanation: dict, modality: str, window: tuple[float, float]) -> bool | None:
    """Whether the top-scored frame (its time) / audio window (its midpoint) lies inside the cue window.

    None when the explanation has no timeline for that modality.
    """
    if modality == "video":
        rows = explanation["frames"]
        if not rows:
            return None
        top = max(rows, key=lambda r: r["score"])
        return in_window(top["time_s"], window)
    rows = explanation["audio_segments"]
    if not rows:
        return None
    top = max(rows, key=lambda r: r["score"])
    return in_window((top["start_s"] + top["end_s"]) / 2, window)


def modality_hit(explanation: dict, cue_modality: str) -> bool:
    """Whether the modality with the larger share is the cue modality (single-cue clips)."""
    share = explanation["modality"]["share"]
    return max(("video", "audio"), key=lambda m: share[m]) == cue_modality


def precision_recall(flagged_planted: Sequence[bool], flagged_true: Sequence[bool]) -> dict[str, float]:
    """Flag precision / recall: positives = planted false claims, negatives = unplanted true claims.

    >>> precision_recall([True, True, False], [False, True, False, False])
    {'precision': 0.666667, 'recall': 0.666667, 'tp': 2, 'fp': 1, 'fn': 1, 'tn': 3}
    """
    tp = sum(flagged_planted)
    fn = len(flagged_planted) - tp
    fp = sum(flagged_true)
    tn = len(flagged_true) - fp
    prec = tp / (tp + fp) if tp + fp else float("nan")
    rec = tp / (tp + fn) if tp + fn else float("nan")
    return {"precision": round(prec, 6), "recall": round(rec, 6), "tp": tp, "fp": fp, "fn": fn, "tn": tn}
