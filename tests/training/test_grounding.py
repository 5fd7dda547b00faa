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

    def judge(*args):  # a plug-in judge (the contrastive one will plug in like this)
        calls.append(args)
        return [[True, False], [], None]

    reward = GroundingReward(judge, penalty=2.0)
    out = reward(prompts=["q1", "q2", "q3"], completions=[[{"role": "assistant", "content": t}] for t in TEXTS],
                 path=clips, label=["sad", "neutral", "surprise"], solution=["<answer>sad</answer>"] * 3)
    assert out == [-1.0, 0.0, None]
    # the judge gets the clips, the texts and the rows' prompts; no label or solution column reaches it
    assert calls == [(clips, TEXTS, ["q1", "q2", "q3"])]
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


def test_shapley_judge_scores_under_the_prompt_the_policy_sampled_from(tiny_pipeline, clips) -> None:
    """The judge's forwards carry the row's question (not the default one), and its verdicts are the flags
    of explanations under that question."""
    from r1omni.explain import explain
    from r1omni.prompts import DEFAULT_QUESTION

    question = "Name the feeling of the person in this clip."
    seen: list[str] = []
    tok = tiny_pipeline.tokenizer

    def record(mod, args):
        ids = args[0]
        for row in ids.reshape(-1, ids.shape[-1]).tolist():
            seen.append(tok.decode([i for i in row if i > 0]))

    hook = tiny_pipeline.model.model.embed_tokens.register_forward_pre_hook(record)
    try:
        got = GroundingReward(shapley_judge(tiny_pipeline))(prompts=[question] * 2, completions=TEXTS[:2],
                                                            path=clips[:2], label=["sad", "neutral"])
    finally:
        hook.remove()
    prompts = [s for s in seen if "assistant" in s]
    assert prompts and all(question in s for s in prompts)
    assert not any(DEFAULT_QUESTION in s for s in seen)
    expected = []
    for res in explain(tiny_pipeline, clips[:2], mode="fast", completions=TEXTS[:2], question=question):
        cited = [c for c in res.claims if c["cites"]]
        bad = [c for c in cited if {"unsupported", "cites absent modality", "cites masked modality"} & set(c["flags"])]
        expected.append(-len(bad) / len(cited) if cited else 0.0)
    assert got == pytest.approx(expected)


def test_the_grpo_judge_uses_the_runs_system_turn(tiny_checkpoint, clips) -> None:
    from training import grpo

    script = grpo.ScriptArguments(model_name_or_path=str(tiny_checkpoint), train_manifest="unused.csv",
                                  reward_funcs=["grounding_reward"], system_prompt="You judge clips carefully.")
    pipe = grpo.grounding_reward(script).judge.pipe
    assert pipe.system_prompt == "You judge clips carefully."
    text = pipe.tokenizer.decode([i for i in pipe.prompt_ids("Which emotion?") if i >= 0])
    assert "You judge clips carefully." in text and "Which emotion?" in text


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
