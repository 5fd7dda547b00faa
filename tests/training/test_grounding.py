"""The grounding reward: claims whose cited modality gives no support (explanation engine) cost reward."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1omni.errors import UsageError
from training.rewards import GroundingReward, get_rewards, shapley_judge

TEXTS = [
    "<think>The voice is slow and quiet. The mouth turns down.</think><answer>sad</answer>",
    "<think>The person seems calm.</think><answer>neutral</answer>",  # cites no modality
    "<think>The eyes widen.</think><answer>surprise</answer>",
]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[str]:
    from r1omni.synthetic import generate_clips

    manifest = generate_clips(tmp_path_factory.mktemp("ground"), 3, seed=41)
    return [str(p) for p in sorted(manifest.parent.glob("*.mp4"))]


def test_each_ungrounded_claim_costs_its_share(clips) -> None:
    calls = []

    def judge(cl, completions, rows):  # a plug-in judge (the contrastive one will plug in like this)
        calls.append((list(cl), list(completions), rows))
        return [[True, False], [], None]

    reward = GroundingReward(judge, penalty=2.0)
    out = reward(prompts=["q"] * 3, completions=[[{"role": "assistant", "content": t}] for t in TEXTS],
                 path=clips, label=["sad", "neutral", "surprise"])
    assert out == [-1.0, 0.0, None]
    assert calls[0][0] == clips and calls[0][1] == TEXTS and calls[0][2][0]["label"] == "sad"
    assert reward.__name__ == "grounding_reward"

    def broken(*_):
        raise RuntimeError("boom")

    assert GroundingReward(broken)(completions=TEXTS, path=clips) == [None] * 3


def test_shapley_judge_matches_the_explanations_flags(tiny_pipeline, clips) -> None:
    from r1omni.explain import explain

    reward = GroundingReward(shapley_judge(tiny_pipeline))
    got = reward(completions=TEXTS, path=clips)
    expected = []
    for res in explain(tiny_pipeline, clips, mode="fast", completions=TEXTS):
        cited = [c for c in res.claims if c["cites"]]
        bad = [c for c in cited if {"unsupported", "cites absent modality", "cites masked modality"} & set(c["flags"])]
        expected.append(-len(bad) / len(cited) if cited else 0.0)
    assert got == pytest.approx(expected)
    assert got[1] == 0.0 and all(-1.0 <= g <= 0.0 for g in got)
    missing = reward(completions=TEXTS[:1], path=[str(Path(clips[0]).with_name("absent.mp4"))])
    assert missing == [None]  # an undecodable clip is not scored, training goes on


def test_grounding_reward_needs_a_judge_and_runs_inside_grpo(tiny_checkpoint, clips, tmp_path) -> None:
    from trl import GRPOConfig

    from training import grpo

    with pytest.raises(UsageError, match="judge"):
        get_rewards(["accuracy_reward", "grounding_reward"])
    manifest = Path(clips[0]).parent / "manifest.csv"
    script = grpo.ScriptArguments(model_name_or_path=str(tiny_checkpoint), train_manifest=str(manifest),
                                  reward_funcs=["format_reward", "grounding_reward"])
    args = GRPOConfig(output_dir=str(tmp_path / "g"), max_steps=1, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=8, learning_rate=1e-3, beta=0.0, use_cpu=True, bf16=False,
                      report_to="none", save_strategy="no", logging_steps=1, seed=0, gradient_checkpointing=False)
    out = grpo.main(script, args)
    metrics = (out / "metrics.csv").read_text().splitlines()
    assert "rewards/grounding_reward/mean" in metrics[0]
