"""Exact 2-player Shapley and MM-SHAP share: efficiency, symmetry, dummy player, absent players."""

import pytest
import torch

from r1omni.explain.shapley import COALITIONS, shapley2, shares, span_values


def _table(seed: int, n: int = 7) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: -torch.rand(n, generator=g) * 5 for k in COALITIONS}


@pytest.mark.parametrize("seed", range(5))
def test_efficiency_per_token_and_span(seed):
    v = _table(seed)
    phi = shapley2(v)
    torch.testing.assert_close(phi["video"] + phi["audio"], v["both"] - v["none"])
    span = span_values(v, [1, 3, 4])
    phi_span = shapley2(span)
    # Linearity: the span's Shapley is the sum of its tokens' Shapley values.
    torch.testing.assert_close(phi_span["video"], phi["video"][[1, 3, 4]].sum())
    torch.testing.assert_close(phi_span["video"] + phi_span["audio"], span["both"] - span["none"])


def test_symmetry_and_dummy():
    sym = shapley2({"none": 0.0, "video": 2.0, "audio": 2.0, "both": 3.0})
    assert sym["video"] == sym["audio"] == 1.5
    dummy = shapley2({"none": 1.0, "video": 1.0, "audio": 4.0, "both": 4.0})  # video changes nothing
    assert dummy["video"] == 0.0 and dummy["audio"] == 3.0


@pytest.mark.parametrize("players", [("audio",), ("video",), ()])
def test_absent_player_gets_exact_zero(players):
    v = _table(9)
    phi = shapley2(v, players)
    for m in ("video", "audio"):
        if m not in players:
            assert torch.count_nonzero(phi[m]) == 0
    total = phi["video"] + phi["audio"]
    if players:
        key = players[0]
        torch.testing.assert_close(total, v[key] - v["none"])
    assert shares({k: float(x.sum()) for k, x in phi.items()})["video" if "video" not in players else "audio"] in (
        0.0, 1.0)


def test_shares_sum_to_one_or_zero():
    s = shares({"video": 3.0, "audio": -1.0})
    assert s == {"video": 0.75, "audio": 0.25}
    assert shares({"video": 0.0, "audio": 0.0}) == {"video": 0.0, "audio": 0.0}
    t = shares({"video": torch.tensor([1.0, 0.0, -2.0]), "audio": torch.tensor([1.0, 0.0, 2.0])})
    torch.testing.assert_close(t["video"] + t["audio"], torch.tensor([1.0, 0.0, 1.0]))
