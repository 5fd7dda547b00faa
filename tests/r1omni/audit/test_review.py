"""The annotator's queue: ordered by suspicion (flags, weak / negative support, self-consistency,
disagreement), filtered by flag and modality; suggestions, evidence windows, progress."""

from __future__ import annotations

import pytest

from r1omni.audit import review
from r1omni.audit.store import AuditStore, claim_suspicion
from tests.ui.explain_samples import sample_explain


def _variant(label: str, flag: str | None, support: float) -> dict:
    res = sample_explain()
    res["prediction"]["text"] = res["prediction"]["text"].replace("happy</answer>", f"{label}</answer>")
    res["prediction"]["label"] = label
    res["claims"][1].update(flag=flag, flags=[flag] if flag else [],
                            support={"cited": {"audio": support}, "share": {"audio": 0.5}})
    res["claims"][0].update(flag=None, flags=[], support={"cited": {"video": 0.9}, "share": {"video": 0.8}})
    return res


@pytest.fixture
def store(tmp_path):
    with AuditStore(tmp_path / "a.sqlite") as s:
        yield s


def test_queue_orders_by_suspicion_and_filters(store):
    calm = store.add_explanation(_variant("happy", None, 0.5))  # nothing suspicious
    weak = store.add_explanation(_variant("sad", None, 0.05))  # weak support: 0.5
    flagged = store.add_explanation(_variant("angry", "contradicts answer", -0.2))  # severe flag 2 + negative 1
    assert [r["prediction_id"] for r in review.queue(store)] == [flagged, weak, calm]
    assert [r["prediction_id"] for r in review.queue(store, flag="contradicts answer")] == [flagged]
    assert [r["prediction_id"] for r in review.queue(store, flag="any flag")] == [flagged]
    assert len(review.queue(store, modality="audio")) == 3 and review.queue(store, modality="text") == []
    # a disagreement between annotators lifts an item; an adjudication settles it again
    store.put_verdict(calm, 0, "alice", "supported")
    store.put_verdict(calm, 0, "bob", "hallucinated")
    assert [r["prediction_id"] for r in review.queue(store)] == [flagged, calm, weak]  # 3 > 2 > 0.5
    assert [r["prediction_id"] for r in review.queue(store, flag="disagreement")] == [calm]
    store.adjudicate(calm, 0, "carol", "supported")
    assert review.queue(store)[-1]["prediction_id"] == calm
    # self-consistency (set later by its own signal) counts too and bumps the item's version
    v = store.item(weak)["version"]
    store.set_self_consistency(weak, 0, 0.0)
    assert store.item(weak)["version"] == v + 1
    rows = {r["prediction_id"]: r["suspicion"] for r in review.queue(store)}
    assert rows == {flagged: 3.0, weak: 1.5, calm: 0.0}  # weak: 0.5 (weak support) + 1.0 (1 - consistency 0)


def test_claim_suspicion_parts():
    base = {"cites": ["audio"], "auto_flags": [], "support": {"cited": {"audio": 1.0}}}
    assert claim_suspicion(base) == 0.0
    assert claim_suspicion({**base, "auto_flags": ["unsupported"]}) == 1.0
    assert claim_suspicion({**base, "auto_flags": ["cites absent modality"]}) == 2.0
    assert claim_suspicion({**base, "support": {"cited": {"audio": -0.3}}}) == 1.0
    assert claim_suspicion({**base, "self_consistency": 0.25}) == 0.75
    assert claim_suspicion(base, ["supported", "hallucinated"]) == 2.0
    assert claim_suspicion(base, ["supported", "hallucinated"], adjudicated=True) == 0.0


def test_suggestion_evidence_next_claim_and_progress(store):
    pid = store.add_explanation(_variant("angry", "contradicts answer", -0.2))
    item = store.item(pid)
    assert review.suggestion(item["claims"][1]) == ("hallucinated", "contradicts answer")
    assert review.suggestion(item["claims"][0]) == ("supported", None)
    (ev,) = review.evidence(item, item["claims"][0])
    assert ev["modality"] == "video" and ev["share"] == 0.8
    assert [w["time_s"] for w in ev["windows"]] == [0.5, 0.0, 1.5]  # frames by occlusion score 0.5, 0.1, 0.0
    (ev,) = review.evidence(item, item["claims"][1])
    assert [(w["time_s"], w["end_s"]) for w in ev["windows"]] == [(0.0, 1.0), (1.0, 2.0)]
    assert review.next_claim(item, "alice") == 0
    store.put_verdict(pid, 0, "alice", "supported")
    item = store.item(pid)
    assert review.next_claim(item, "alice") == 1 and review.next_claim(item, "alice", after=1) == 1
    store.put_verdict(pid, 1, "alice", "hallucinated")
    assert review.next_claim(store.item(pid), "alice") is None
    assert review.progress(store) == {"alice": {"judged": 2, "total": 2, "items": 1}}
    assert review.queue(store, "alice", flag="not judged by me") == []
