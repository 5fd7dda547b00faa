"""training.evaluate through the real Pipeline on real synthetic mp4 files."""

from __future__ import annotations

import math

from training.evaluate import evaluate, results_table


def test_evaluate_scores_every_clip(tiny_checkpoint, tmp_path) -> None:
    from r1omni.synthetic import generate_clips

    manifest = generate_clips(tmp_path / "clips", 3, seed=21)
    res = evaluate(tiny_checkpoint, manifest, batch_size=2, max_new_tokens=4)
    assert res["n"] == 3 and res["errors"] == 0
    assert res["WAR_exact"] == res["UAR_exact"] == 0.0  # no <answer> in 4 tokens: nothing equals a label
    assert res["clipped"] == 3  # 4 tokens never reach the end token: counted apart, not silently wrong
    assert 0.0 <= res["WAR"] <= 1.0 and not math.isnan(res["UAR"])
    assert res["well_formed"] == 0.0  # a random model does not write the format in 4 tokens
    assert set(res["by_cue_modality"]) <= {"video", "audio", "both"}
    table = results_table({"random": res})
    assert table.splitlines()[2].startswith("| random | ")
