"""Agreement statistics against hand-computed values (perfect, chance level, missing data, undefined)."""

from __future__ import annotations

import pytest

from r1omni.audit.agreement import alpha_nominal, flags_vs_majority, majority, pairwise_kappa, stats


def units(**cols: str) -> dict:
    """units(alice="ssh-", bob="shh-"): one character per claim (s/h/u, '-' = no verdict)."""
    names = {"s": "supported", "h": "hallucinated", "u": "unsure"}
    n = max(len(v) for v in cols.values())
    out = {}
    for j in range(n):
        u = {a: names[v[j]] for a, v in cols.items() if j < len(v) and v[j] != "-"}
        if u:
            out[("p", j)] = u
    return out


def test_perfect_agreement_is_one():
    u = units(alice="sshhu", bob="sshhu")
    assert pairwise_kappa(u) == {"alice|bob": 1.0}
    assert alpha_nominal(u) == 1.0


def test_chance_level_agreement_is_zero():
    # alice: s s h h ; bob: s h s h -> p_o = 1/2, p_e = 1/2 * 1/2 + 1/2 * 1/2 = 1/2 -> kappa 0
    u = units(alice="sshh", bob="shsh")
    assert pairwise_kappa(u) == {"alice|bob": 0.0}
    # alpha by hand: 8 pairable values, 4 s and 4 h; disagreeing pairs o_sh = o_hs = 2 (one per mixed unit,
    # weight 1/(m-1) = 1, counted both ways), D_o = 4/8; D_e = 2 * 4 * 4 / (8 * 7) = 32/56
    # alpha = 1 - D_o / D_e = 1 - 0.5 / (4/7) = 1 - 7/8 = 0.125
    assert alpha_nominal(u) == pytest.approx(0.125)


def test_systematic_disagreement_is_negative():
    u = units(alice="shsh", bob="hshs")
    assert pairwise_kappa(u)["alice|bob"] == pytest.approx(-1.0)
    assert alpha_nominal(u) < 0


def test_missing_data_uses_only_shared_claims():
    # alice judged 4 claims, bob 3 of them (agreeing on all), carol only claim 4
    u = units(alice="shsh", bob="shs-", carol="---h")
    k = pairwise_kappa(u)
    assert k["alice|bob"] == 1.0
    assert k["alice|carol"] is None  # kappa on a single shared claim with one label: undefined
    assert k["bob|carol"] is None  # no shared claim
    # alpha over claims with >= 2 verdicts: all four (claim 4 has alice + carol), all agreeing -> 1
    assert alpha_nominal(u) == 1.0
    # a hand computation with disagreement and a missing cell:
    # units: (s,s), (h,s), (h,-) -> only the first two are pairable: values s,s,h,s (n=4; s=3, h=1)
    # D_o = (o_hs + o_sh)/n = 2/4; D_e = 2*3*1/(4*3) = 0.5 -> alpha = 0
    assert alpha_nominal(units(alice="shh", bob="ss-")) == pytest.approx(0.0)


def test_undefined_when_fewer_than_two_annotators_or_no_overlap():
    assert alpha_nominal(units(alice="shs")) is None
    assert pairwise_kappa(units(alice="shs")) == {}
    assert alpha_nominal(units(alice="sh--", bob="--hs")) is None
    assert pairwise_kappa(units(alice="ss", bob="ss")) == {"alice|bob": None}  # one label only: 0/0


def test_majority_ties_and_adjudication():
    assert majority({"a": "hallucinated", "b": "hallucinated", "c": "supported"}) == "hallucinated"
    assert majority({"a": "hallucinated", "b": "supported"}) is None
    assert majority({"a": "hallucinated", "b": "supported"}, adjudicated="supported") == "supported"


def test_flags_precision_recall_against_majority():
    u = units(alice="hhss", bob="hsss", carol="hhsh")
    claims = [{"prediction_id": "p", "idx": j, "auto_flags": f} for j, f in
              enumerate([["unsupported"], [], ["contradicts answer"], []])]
    # majorities: h, h, s, s -> flagged: 0 (TP), 2 (FP); missed: 1 (FN)
    assert flags_vs_majority(claims, u) == {"precision": 0.5, "recall": 0.5, "n": 4}
    st = stats({"predictions": 1}, claims, [{"prediction_id": "p", "claim_idx": j, "annotator": a, "verdict": v}
                                            for (_, j), d in u.items() for a, v in d.items()], [])
    assert set(st) == {"predictions", "kappa", "alpha", "flags_vs_majority"}
    assert set(st["kappa"]) == {"alice|bob", "alice|carol", "bob|carol"}
