"""The grounding arms experiment (training.grounding): planting in free-form reasoning, the consistency reward,
the judge's inputs and cost path, and a CPU smoke run of every arm with resume equality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from r1omni.audit.claims import extract_claims
from r1omni.synthetic import check_claims
from r1omni.synthetic.reasoning import compose, find_cues, modality_labels, split_sentences
from training.grounding_demo import audit_record
from training.grounding import ArmsSettings, JudgeMonitor, planting_example, plant_false, precision_recall, run
from training.rewards import GroundingReward, consistency_reward, shapley_judge

from tests.training.synthetic_truth import specs, truth_of  # noqa: F401  (specs: a fixture)


# ------------------------------------------------------------------------------------------------ planting


def test_each_plant_is_one_false_cue_before_the_conclusion_answer_untouched(specs) -> None:
    rng = np.random.default_rng(0)
    seen = {"level": set(), "pool": set(), "where": set()}
    for _ in range(4):
        for spec in specs:
            truth = truth_of(spec)
            target = compose(truth, rng).text
            planted, info = plant_false(target, truth, rng, clause_share=0.5, heldout_share=0.5)
            n_true, n_total = check_claims(planted, truth)
            assert check_claims(target, truth) == (n_true, n_total - 1)  # one claim more, and it is false
            assert planted.endswith(target[target.index("</think>"):])  # the answer is untouched
            before, after = split_sentences(target), split_sentences(planted)
            assert after[-1] == before[-1]  # the conclusion stays last, unchanged
            assert info["sentence"] < len(after) - 1  # the plant sits before the conclusion
            new = [u for u in find_cues(planted) if planted[u.start:u.end] not in target]
            if info["level"] == "clause":
                assert len(after) == len(before)
                assert ", and " in after[info["sentence"]] and after[info["sentence"]] != before[info["sentence"]]
            else:
                assert len(after) == len(before) + 1 and after[info["sentence"]] not in before
            if new:  # the planted phrasing's pool is the one asked for (a phrasing also in the target is not new)
                assert new[0].held_out == (info["pool"] == "heldout")
            seen["level"].add(info["level"])
            seen["pool"].add(info["pool"])
            rel = info["sentence"] / max(1, len(after) - 2)
            seen["where"].add("first" if rel == 0 else "last" if rel == 1 else "middle")
            # the one new inventory phrasing is false for its modality
            if new:
                assert modality_labels(truth)[new[0].modality] != new[0].emotion
            # the simulated audit (evidence units) judges exactly one unit hallucinated
            bad = lambda text: sum(c["verdicts"][0]["verdict"] == "hallucinated"  # noqa: E731
                                   for c in audit_record(1, "c", text, truth)["claims"])
            assert (bad(planted), bad(target)) == (1, 0)
    assert seen == {"level": {"clause", "sentence"}, "pool": {"train", "heldout"},
                    "where": {"first", "middle", "last"}}


def test_planted_share_levels_and_pools_are_the_ones_asked_for(specs) -> None:
    s = ArmsSettings(false_share=0.3, clause_share=0.5, heldout_share=0.3)
    log: list = []
    make = planting_example(s, log)
    rng = np.random.default_rng(1)
    n_false = 0
    for _ in range(12):
        for spec in specs:
            target, _dropped, truth = make(spec, rng, 0.5)
            n_true, n_total = check_claims(target, truth)
            assert n_total - n_true in (0, 1)
            n_false += n_true < n_total
    plants = [p for p in log if p is not None]
    n = len(log)  # 1008 draws: binomial sd of the share 0.014
    assert n_false == len(plants)  # every plant is checked false, nothing else is
    assert 0.25 < len(plants) / n < 0.35
    clause = sum(p["level"] == "clause" for p in plants) / len(plants)  # ~300 plants: sd 0.03 / 0.027
    held = sum(p["pool"] == "heldout" for p in plants) / len(plants)
    assert 0.4 < clause < 0.6 and 0.2 < held < 0.4, (clause, held)


def test_no_plant_at_share_zero(specs) -> None:
    make = planting_example(ArmsSettings(false_share=0.0))
    rng = np.random.default_rng(3)
    for spec in specs:
        target, _dropped, truth = make(spec, rng, 0.5)
        n_true, n_total = check_claims(target, truth)
        assert n_true == n_total > 0


# ------------------------------------------------------------------------------------------------ consistency


@pytest.mark.parametrize("text,expected", [
    # agreeing: a cue phrasing of the grammar and the conclusion both name the answer
    ("<think>The eyes narrow into a glare, and the voice is sharp and loud. Therefore, the emotion is anger."
     "</think><answer>angry</answer>", 0.0),
    # a conceded contrary cue is no evidence for anything: not penalised
    ("<think>Although the face looks happy, the voice trembles with fear. So the person is afraid.</think>"
     "<answer>fear</answer>", 0.0),
    # ... also when the conceded cue is a grammar phrasing of another emotion (read through the inventory)
    ("<think>Although the mouth curves up into a smile, the voice trembles with fear. So the person is afraid."
     "</think><answer>fear</answer>", 0.0),
    # a contrary cue that is asserted is penalised (one of two asserting units)
    ("<think>The face looks sad. Overall, the person seems angry.</think><answer>angry</answer>", -0.5),
    # a grammar phrasing of another emotion (no emotion word) is read through the inventory
    ("<think>The voice is slow and quiet. In summary, the emotion is anger.</think><answer>angry</answer>", -0.5),
    # several emotions in the conclusion, the answer among them: no contradiction
    ("<think>The mouth turns down in a sad way. In summary, the emotion is a mix of sadness and fear.</think>"
     "<answer>sad</answer>", 0.0),
    # the conclusion names another emotion than the answer
    ("<think>The face looks calm. So the person seems happy.</think><answer>sad</answer>", -1.0),
    # "neutral" said of one cue is no verdict
    ("<think>The face stays relaxed, but the voice trembles with fear. Overall, fear.</think><answer>fear</answer>",
     0.0),
    # no answer: nothing to agree with
    ("<think>The face looks sad.</think>", -1.0),
    ("<think>The person is here.</think><answer>sad</answer>", 0.0),  # nothing asserted
])
def test_consistency_reward_reads_the_reasoning_against_its_own_answer(text, expected) -> None:
    assert consistency_reward([text], label=["happy"], solution=["<answer>happy</answer>"]) == [expected]


def test_consistency_penalises_a_planted_contrary_cue(specs) -> None:
    rng = np.random.default_rng(5)
    hit = total = 0
    for spec in specs:
        truth = truth_of(spec)
        clean = compose(truth, rng).text
        assert consistency_reward([clean]) == [0.0]  # truthful grammar text always agrees with its answer
        planted, _ = plant_false(clean, truth, rng)
        total += 1
        hit += consistency_reward([planted])[0] < 0
    assert 0 < hit < total  # it sees plants naming another emotion, not those naming the answer or "neutral"


# ------------------------------------------------------------------------------------------------ the judge


def test_the_judge_sees_media_prompt_and_completion_only_and_the_monitor_scores_it(specs) -> None:
    calls = []

    def judge(clips, texts, prompts):
        calls.append((clips, texts, prompts))
        return [[False] * len([c for c in extract_claims(t) if c.cites]) for t in texts]

    class Clips:  # what JudgeMonitor needs of training.grounding_demo.TrainClips
        def __init__(self, specs):
            self.specs = specs

        def index(self, row):
            return int(row["path"].split("-")[1])

    truth = truth_of(specs[0])
    rng = np.random.default_rng(7)
    clean = compose(truth, rng).text
    planted, _ = plant_false(clean, truth, rng, clause_share=0.0)
    monitor = JudgeMonitor(Clips(specs))
    reward = GroundingReward(judge, clip_fn=lambda row: f"media of {row['path']}", monitor=monitor)
    out = reward(prompts=["q", "q"], completions=[clean, planted], path=["train-00000"] * 2,
                 label=[truth["label"]] * 2, solution=[f"<answer>{truth['label']}</answer>"] * 2)
    assert out == [-1.0, -1.0]
    assert calls == [(["media of train-00000"] * 2, [clean, planted], ["q", "q"])]  # no label / solution / truth
    counts = monitor.pop()
    assert counts["tp"] == 1 and counts["fn"] == 0 and counts["tn"] == 0 and counts["fp"] == counts["units"] - 1
    assert precision_recall(counts)["recall"] == 1.0
    assert monitor.pop()["units"] == 0  # popped per step


def test_the_judge_explains_a_clips_completions_together(monkeypatch) -> None:
    import importlib

    ex = importlib.import_module("r1omni.explain")  # the package (`r1omni.explain` the attribute is the function)
    batches = []

    def fake_explain(pipe, clips, *, completions, batch_size, **kw):
        batches.append((len(clips), batch_size, kw.get("thresholds")))
        return [type("E", (), {"claims": []})() for _ in clips]

    monkeypatch.setattr(ex, "explain", fake_explain)
    clips = ["a.mp4", "a.mp4", "a.mp4", "b.mp4", "b.mp4", "b.mp4"]
    shapley_judge(object(), thresholds="T")(clips, ["t"] * 6, ["q"] * 6)
    assert batches == [(3, 8, "T"), (3, 8, "T")]  # one explain call (one scoring session) per clip's group
    batches.clear()
    shapley_judge(object(), share_prompt=False)(clips, ["t"] * 6, ["q"] * 6)
    assert batches == [(1, 1, None)] * 6  # the no-sharing reference: one completion at a time


# ------------------------------------------------------------------------------------------------ smoke + resume

TINY = dict(threads=1, train_clips=24, sft_steps=2, sft_batch=4, sft_warmup=1, grpo_clips=4, grpo_steps=2,
            grpo_generations=2, grpo_batch=4, grpo_max_completion_length=40, max_new_tokens=40, dpo_clips=4,
            dpo_samples=2, dpo_steps=1, dpo_batch=2, test_clips=3, samples_per_clip=2, calib_clips=3,
            bootstrap=20, seeds=[1])


def _results(summary: dict) -> dict:
    return {arm: [{k: r[k] for k in ("greedy", "sampled")} for r in rs] for arm, rs in summary["per_seed"].items()}


def test_every_arm_runs_and_a_resumed_run_equals_an_uninterrupted_one(tmp_path) -> None:
    import torch

    torch.set_num_threads(1)
    full = run(tmp_path / "full", ArmsSettings(**TINY, arms=["a", "b", "c", "d", "dpo"]), results_dir=tmp_path / "res")
    assert set(full["table"]) == {"sft", "a", "b", "c", "d", "dpo"}
    md = (tmp_path / "res" / "grounding.md").read_text()
    assert "(b) + grounding" in md and "DPO on audit pairs" in md and "Judge (arms b, d)" in md
    assert json.loads((tmp_path / "res" / "grounding.json").read_text())["target"].keys() == {"b", "c", "d", "dpo"}
    book = json.loads((tmp_path / "full" / "stages.json").read_text())
    assert {"sft|-|4321", "calibrate|-|4321", "grpo|a|1", "grpo|d|1", "dpo|dpo|1", "eval|sft|4321",
            "eval|c|1"} <= set(book)
    assert len(full["accuracy_curve_a"]["1"]) == 2 and None not in full["accuracy_curve_a"]["1"]
    assert set(full["reward_curves"]["d|1"][0]) == {"accuracy_reward", "format_reward", "grounding_reward",
                                                    "consistency_reward"}
    for key in ("b|1", "d|1"):  # the judged arms log the judge per step
        j = full["judge"][key]
        assert len(j["per_step"]) == 2 and 0 < j["judge_seconds"] <= j["step_seconds"]
    assert "a|1" not in full["judge"] and "c|1" not in full["judge"]
    assert full["planting"]["targets"] == TINY["sft_steps"] * TINY["sft_batch"]  # the SFT targets themselves

    # interrupted: arm (a) first, then (a) and (c) in a second call that reuses (a)'s stages
    part = tmp_path / "part"
    run(part, ArmsSettings(**TINY, arms=["a"]), results_dir=None)
    trained_once = (part / "grpo_a_s1" / "model.safetensors").stat().st_mtime_ns
    resumed = run(part, ArmsSettings(**TINY, arms=["a", "c"]), results_dir=None)
    assert (part / "grpo_a_s1" / "model.safetensors").stat().st_mtime_ns == trained_once  # reused, not retrained
    expected = {k: v for k, v in _results(full).items() if k in ("sft", "a", "c")}
    assert _results(resumed) == expected  # the same numbers as the uninterrupted run with every arm
    with pytest.raises(SystemExit, match="other settings"):
        run(part, ArmsSettings(**{**TINY, "grpo_steps": 3}, arms=["a"]), results_dir=None)


def test_the_recipe_parses_and_names_every_arm() -> None:
    s = ArmsSettings.from_recipe()
    assert s.arms == ["a", "b", "c", "d", "dpo"] and len(s.seeds) == 3 and s.samples_per_clip > 1
    assert Path("training/recipes/grounding.yaml").is_file()


def test_from_audit_to_training_commands_run(tmp_path) -> None:
    """README "From audit to training": an audit export -> preference pairs -> DPO, and GRPO with the recipe's
    rewards (grounding judged by the starting checkpoint, consistency), one step each with the demo model.
    (`r1omni flags calibrate --from-audit` needs verdicts on claims with contrast values: tests/r1omni.)"""
    import csv

    import torch

    from r1omni.manifest import read_manifest
    from r1omni.synthetic import generate_clips
    from training import dpo, grpo, preference

    torch.set_num_threads(1)
    manifest = generate_clips(tmp_path / "clips", 2, seed=77)
    rng = np.random.default_rng(0)
    records = []
    for row in read_manifest(manifest):
        truth = {"label": row.label, **row.meta}
        clean = compose(truth, rng).text
        for text in (clean, plant_false(clean, truth, rng)[0]):
            records.append(audit_record(len(records) + 1, Path(row.path).name, text, truth))
    (tmp_path / "audit.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    pairs = tmp_path / "pairs.jsonl"
    assert preference.main(["--audit", str(tmp_path / "audit.jsonl"), "--out", str(pairs),
                            "--root", str(tmp_path / "clips")]) == 0
    assert len(pairs.read_text().splitlines()) == 2
    small = ["--use_cpu", "true", "--max_steps", "1", "--save_strategy", "no", "--per_device_train_batch_size", "2"]
    recipe = ["--config", "training/recipes/from_audit.yaml", "--model_name_or_path", "assets/demo-checkpoint"]
    dpo.cli([*recipe, "--train_manifest", str(pairs), "--output_dir", str(tmp_path / "dpo"), *small])
    assert (tmp_path / "dpo" / "config.json").is_file()
    grpo.cli([*recipe, "--train_manifest", str(manifest), "--output_dir", str(tmp_path / "grpo"), "--num_generations",
              "2", "--max_completion_length", "32", *small])
    with open(tmp_path / "grpo" / "metrics.csv") as f:
        logged = next(csv.DictReader(f))
    for name in ("accuracy_reward", "format_reward", "grounding_reward", "consistency_reward"):
        assert logged[f"rewards/{name}/mean"] != ""
