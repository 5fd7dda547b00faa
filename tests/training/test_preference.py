"""Audit export (DESIGN 3.7) -> TRL preference pairs -> a tiny DPO run with the media (OmniDPOTrainer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from r1omni.errors import UsageError
from training.preference import claim_verdict, preference_pairs, read_audit

CPU = dict(use_cpu=True, bf16=False, report_to="none", save_strategy="no", logging_steps=1, seed=0,
           dataloader_num_workers=0, gradient_checkpointing=False)
FALSE = "The voice trembles."
TRUE = "The mouth turns down."


def _verdict(annotator: str, verdict: str) -> dict:
    return {"annotator": annotator, "verdict": verdict, "category": None, "note": "", "created_at":
            "2026-12-01T10:00:00Z", "version": 1}


def _record(pid: int, clip: str, sentences: list[tuple[str, list[str]]], adjudication: str | None = None) -> dict:
    completion = "<think>" + " ".join(s for s, _ in sentences) + "</think><answer>sad</answer>"
    claims, pos = [], len("<think>")
    for i, (text, verdicts) in enumerate(sentences):
        claims.append({"index": i, "start": pos, "end": pos + len(text), "text": text, "cites": [],
                       "auto_flags": [], "support": {}, "verdicts": [_verdict(f"a{j}", v)
                                                                     for j, v in enumerate(verdicts)]})
        pos += len(text) + 1
    adj = [] if adjudication is None else [{"claim_index": 0, "adjudicator": "lead", "verdict": adjudication,
                                            "category": None, "note": "", "created_at": "2026-12-01T11:00:00Z"}]
    return {"prediction_id": pid, "clip": clip, "checkpoint": "ck", "label_set": "dfew", "completion": completion,
            "label": "sad", "claims": claims, "clip_verdicts": [], "adjudications": adj}


def test_verdicts_majority_adjudication_and_ties() -> None:
    rec = _record(1, "a.mp4", [(FALSE, ["hallucinated", "hallucinated", "supported"]), (TRUE, ["supported",
                                                                                               "hallucinated"])])
    assert claim_verdict(rec, rec["claims"][0]) == "hallucinated"
    assert claim_verdict(rec, rec["claims"][1]) is None  # a tie is not decided
    overruled = _record(2, "a.mp4", [(FALSE, ["hallucinated"])], adjudication="supported")
    assert claim_verdict(overruled, overruled["claims"][0]) == "supported"


def test_pairs_prefer_a_clean_sample_else_cut_the_hallucinated_sentence(tmp_path: Path) -> None:
    records = [
        _record(1, "a.mp4", [(FALSE, ["hallucinated", "hallucinated"]), (TRUE, ["supported"])]),
        _record(2, "b.mp4", [(TRUE, ["supported"]), (FALSE, ["hallucinated"])]),
        _record(3, "b.mp4", [(TRUE, ["supported", "supported"])]),  # the clean sample of clip b
        _record(4, "c.mp4", [(TRUE, ["supported"])]),  # nothing hallucinated: no pair
    ]
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    pairs = preference_pairs(read_audit(path), root=tmp_path)
    assert [p["prediction_id"] for p in pairs] == [1, 2]
    a, b = pairs
    assert a["rejected"] == records[0]["completion"] and FALSE in a["rejected"]
    assert a["chosen"] == f"<think>{TRUE}</think><answer>sad</answer>" and a["chosen_source"] == "claims removed"
    assert b["chosen"] == records[2]["completion"] and b["chosen_source"] == "clean sample"
    assert a["path"] == str(tmp_path / "a.mp4") and a["prompt"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"clip": "x"}\n')
    with pytest.raises(UsageError, match="line 1"):
        read_audit(bad)


def test_dpo_stage_trains_our_model_on_pairs_with_the_media(tiny_checkpoint, tmp_path: Path) -> None:
    from trl import DPOConfig

    from r1omni.inference import Pipeline
    from r1omni.synthetic import generate_clips
    from training import dpo
    from training.sft import ScriptArguments

    manifest = generate_clips(tmp_path / "clips", 2, seed=31)
    clips = sorted(manifest.parent.glob("*.mp4"))
    records = [_record(i, c.name, [(FALSE, ["hallucinated"]), (TRUE, ["supported"])]) for i, c in enumerate(clips)]
    pairs = preference_pairs(records, root=manifest.parent)
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    script = ScriptArguments(model_name_or_path=str(tiny_checkpoint), train_manifest=str(tmp_path / "pairs.jsonl"))
    args = DPOConfig(output_dir=str(tmp_path / "dpo"), max_steps=2, per_device_train_batch_size=2,
                     learning_rate=1e-2, beta=0.1, max_length=1024, **CPU)

    seen = []
    original = dpo.PreferenceCollator.__call__

    def spy(self, rows):
        batch = original(self, rows)
        seen.append({k: tuple(v.shape) for k, v in batch.items()})
        return batch

    dpo.PreferenceCollator.__call__ = spy
    try:
        out = dpo.main(script, args)
    finally:
        dpo.PreferenceCollator.__call__ = original
    assert seen and seen[0]["pixel_values_videos"][0] == 4 == seen[0]["input_ids"][0]  # 2 chosen + 2 rejected
    before, after = load_file(str(tiny_checkpoint / "model.safetensors")), load_file(str(out / "model.safetensors"))
    changed = [k for k in before if k in after and not torch.equal(before[k], after[k])]
    assert any(k.startswith("model.layers.") for k in changed)
    assert any(k.startswith("model.mm_projector.") for k in changed), "no gradient reached the video projector"
    metrics = (out / "metrics.csv").read_text()
    assert "rewards/chosen" in metrics and "loss" in metrics
    Pipeline.load(out, device="cpu")
