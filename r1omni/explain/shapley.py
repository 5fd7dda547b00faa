"""Exact two-player (video, audio) Shapley values and MM-SHAP shares over coalition values.

Pure math on numbers or tensors: no model. A *coalition table* holds a value (here: a teacher-forced
log-prob, per token or summed over a target span) for each of the four coalitions of {video, audio}:
"none" (both masked), "video" (audio masked), "audio" (video masked), "both" (the clip as is).
Because the value of a span is the sum of its token values and Shapley values are linear in the value
function, span attributions are sums of token attributions: one set of four forwards explains every target.

References: Shapley (1953); MM-SHAP share = |phi_m| / sum |phi| (Parcalabescu & Frank, ACL 2023).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

PLAYERS = ("video", "audio")
COALITIONS = ("none", "video", "audio", "both")


def coalition_key(video: bool, audio: bool) -> str:
    """Name of the coalition with these modalities present."""
    return {(False, False): "none", (True, False): "video", (False, True): "audio", (True, True): "both"}[
        (video, audio)
    ]


def shapley2(values: Mapping[str, torch.Tensor | float], players: tuple[str, ...] = PLAYERS) -> dict:
    """Shapley value of each modality from a coalition table; works elementwise on tensors.

    `players` are the modalities that take part (present and not masked). A modality outside `players`
    gets exactly 0 and the game is played by the rest: with one player, phi = v(both) - v(none); with none,
    every phi is 0. Efficiency holds in all cases: sum(phi) = v(both) - v(none) over the played game.

    >>> phi = shapley2({"none": 0.0, "video": 3.0, "audio": 1.0, "both": 5.0})
    >>> phi["video"], phi["audio"]
    (3.5, 1.5)
    """
    v = {k: values[k] for k in COALITIONS}
    zero = v["both"] * 0
    if set(players) == set(PLAYERS):
        return {
            "video": 0.5 * ((v["video"] - v["none"]) + (v["both"] - v["audio"])),
            "audio": 0.5 * ((v["audio"] - v["none"]) + (v["both"] - v["video"])),
        }
    if len(players) == 1:
        (p,) = players
        # The absent player's input is already the baseline, so both of its coalitions equal their partners;
        # compare the played player's full coalition to the empty one.
        delta = v[coalition_key(p == "video", p == "audio")] - v["none"]
        return {m: (delta if m == p else zero) for m in PLAYERS}
    return {m: zero for m in PLAYERS}


def shares(phi: Mapping[str, torch.Tensor | float]) -> dict:
    """MM-SHAP share |phi_m| / sum |phi| (0 for every modality when all phi are 0); elementwise.

    >>> shares({"video": 3.0, "audio": -1.0})
    {'video': 0.75, 'audio': 0.25}
    """
    if isinstance(phi["video"], torch.Tensor):
        total = sum(p.abs() for p in phi.values())
        safe = torch.where(total > 0, total, torch.ones_like(total))
        return {m: torch.where(total > 0, p.abs() / safe, torch.zeros_like(p)) for m, p in phi.items()}
    total = sum(abs(float(p)) for p in phi.values())
    return {m: (abs(float(p)) / total if total > 0 else 0.0) for m, p in phi.items()}


def span_values(token_values: Mapping[str, torch.Tensor], index: torch.Tensor | list[int]) -> dict:
    """Coalition table of a target: the sum of its tokens' values (`index` = token positions)."""
    idx = torch.as_tensor(index, dtype=torch.long)
    return {k: (t[idx].sum() if idx.numel() else t.new_zeros(())) for k, t in token_values.items()}
