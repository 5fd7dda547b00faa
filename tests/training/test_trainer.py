"""A miniature SFT -> GRPO run on the tiny preset (CPU, a few steps) and the TRL override contract."""

from __future__ import annotations

import csv
import inspect
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from training.trainer import TRL_OVERRIDES, OmniGRPOTrainer, check_trl_overrides, sampling_suppress_ids

CPU = dict(use_cpu=True, bf16=False, report_to="none", save_strategy="no", logging_steps=1, seed=0,
           dataloader_num_workers=0, gradient_checkpointing=False)


def test_trl_methods_exist_with_expected_signatures() -> None:
    from trl import GRPOTrainer

    check_trl_overrides()  # raises if TRL moved or renamed something
    for name, params in TRL_OVERRIDES.items():
        assert name in OmniGRPOTrainer.__dict__, f"{name} is not overridden"
        assert tuple(inspect.signature(getattr(GRPOTrainer, name)).parameters)[: len(params)] == params


def test_sampling_never_emits_prompt_only_specials() -> None:
    from r1omni.tokenization import build_lm_tokenizer

    tok = build_lm_tokenizer(vocab_size=300)
    ids = sampling_suppress_ids(tok)
    assert tok.eos_token_id not in ids
    assert tok.convert_tokens_to_ids("<|im_start|>") in ids and tok.pad_token_id in ids


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    from r1omni.synthetic import generate_clips

    return generate_clips(tmp_path_factory.mktemp("clips"), 4, seed=5)


def _metrics(folder: Path) -> list[dict[str, str]]:
    with (folder / "metrics.csv").open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def sft_out(manifest, tmp_path_factory) -> Path:
    from trl import SFTConfig

    from training import sft

    out = tmp_path_factory.mktemp("sft")
    script = sft.ScriptArguments(train_manifest=str(manifest), init_preset="tiny")
    args = SFTConfig(output_dir=str(out), max_steps=2, per_device_train_batch_size=2, learning_rate=1e-3,
                     max_length=1024, **CPU)
    assert sft.main(script, args) == out
    return out


def test_sft_writes_a_pipeline_checkpoint_and_logs_loss(sft_out, manifest) -> None:
    from r1omni.inference import Pipeline

    rows = _metrics(sft_out)
    assert rows and "loss" in rows[0] and float(rows[0]["loss"]) > 0
    pipe = Pipeline.load(sft_out, device="cpu")
    (pred,) = pipe.predict([str(manifest.parent / "synth_00000.mp4")], max_new_tokens=4)
    assert isinstance(pred.text, str)


def test_grpo_changes_policy_logs_rewards_and_loads_back(sft_out, manifest, tmp_path) -> None:
    from trl import GRPOConfig

    from r1omni.inference import Pipeline
    from training import grpo

    out = tmp_path / "grpo"
    script = grpo.ScriptArguments(model_name_or_path=str(sft_out), train_manifest=str(manifest),
                                  reward_funcs=["accuracy_reward", "format_reward", "claims_reward"])
    # per-device batch 4 = 2 prompts x G=2 per micro-batch: several prompts (and clips) per device step
    args = GRPOConfig(output_dir=str(out), max_steps=2, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=8, learning_rate=5e-2, beta=0.04, temperature=1.0, loss_type="grpo",
                      scale_rewards="group", **CPU)
    assert grpo.main(script, args) == out

    before, after = load_file(str(sft_out / "model.safetensors")), load_file(str(out / "model.safetensors"))
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(k.startswith("model.layers.") for k in changed), "LM weights did not move"
    assert any(k.startswith("model.mm_projector.") for k in changed), "no gradient reached the video projector"
    assert not any(k.startswith("model.vision_tower.") for k in changed), "the frozen tower moved"

    rows = _metrics(out)
    assert len(rows) >= 2
    for column in ("rewards/accuracy_reward/mean", "rewards/format_reward/mean", "completions/mean_length", "kl"):
        assert column in rows[0], column
    assert 0.0 <= float(rows[0]["rewards/format_reward/mean"]) <= 1.0

    pipe = Pipeline.load(out, device="cpu")
    preds = pipe.predict([str(manifest.parent / "synth_00001.mp4")], max_new_tokens=4)
    assert len(preds) == 1 and hasattr(preds[0], "label")


def test_trl_return_contract_checks_fail_loudly_on_other_shapes() -> None:
    from training.trainer import TRLContractError, check_generated, check_logps, check_scored

    check_generated(([[1, 2], [3]], None), 2)
    for bad in (([[1, 2]], None), [[1], [2]], ([torch.tensor([1]), [2]], None)):  # too few, no tuple, tensors
        with pytest.raises(TRLContractError, match="trl==1.16.0"):
            check_generated(bad, 2)
    good = {"prompt_ids": torch.zeros(4, 3), "prompt_mask": torch.ones(4, 3), "completion_ids": torch.zeros(4, 5),
            "completion_mask": torch.ones(4, 5), "advantages": torch.zeros(4)}
    check_scored(good, 4)
    with pytest.raises(TRLContractError, match="lacks"):
        check_scored({k: v for k, v in good.items() if k != "advantages"}, 4)
    with pytest.raises(TRLContractError, match="4 rows"):
        check_scored({**good, "advantages": torch.zeros(2)}, 4)
    with pytest.raises(TRLContractError, match="shapes differ"):
        check_scored({**good, "completion_mask": torch.ones(4, 4)}, 4)
    check_logps((torch.zeros(2, 7), None, None), 2, 7)
    with pytest.raises(TRLContractError, match="logps shape"):
        check_logps((torch.zeros(2, 8), None, None), 2, 7)
    with pytest.raises(TRLContractError):
        check_logps((torch.zeros(2, 7), None), 2, 7)


def test_a_real_grpo_step_meets_the_contract_of_every_overridden_trl_method(sft_out, manifest, tmp_path,
                                                                           monkeypatch) -> None:
    """The checks run inside a real step (TRL's actual return values), each for its method."""
    from trl import GRPOConfig

    import training.trainer as trainer_mod
    from training import grpo

    calls: dict[str, int] = {}
    for name in ("check_generated", "check_scored", "check_logps"):
        original = getattr(trainer_mod, name)

        def counted(*a, _original=original, _name=name):
            calls[_name] = calls.get(_name, 0) + 1
            return _original(*a)

        monkeypatch.setattr(trainer_mod, name, counted)
    script = grpo.ScriptArguments(model_name_or_path=str(sft_out), train_manifest=str(manifest),
                                  reward_funcs=["format_reward"])
    args = GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=4, learning_rate=1e-3, beta=0.04, **CPU)
    grpo.main(script, args)
    assert calls["check_generated"] >= 1 and calls["check_scored"] >= 1
    assert calls["check_logps"] >= 2  # reference forward (beta > 0) and the loss forward


@pytest.mark.parametrize("option", ["use_vllm", "use_transformers_continuous_batching"])
def test_options_that_would_drop_video_and_audio_are_refused(option, tmp_path) -> None:
    from types import SimpleNamespace

    from r1omni.errors import UsageError
    from training.grpo import check_grpo_args
    from training.trainer import refuse_media_dropping

    args = SimpleNamespace(gradient_checkpointing=False, use_vllm=False, use_transformers_continuous_batching=False)
    check_grpo_args(args)
    setattr(args, option, True)
    with pytest.raises(UsageError, match=f"{option} is not supported.*video and audio") as err:
        check_grpo_args(args)
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError, match="rollout_func"):
        refuse_media_dropping(SimpleNamespace(), rollout_func=lambda prompts, trainer: {})


def test_a_conversational_dataset_is_refused_in_one_line(tiny_checkpoint, manifest, tmp_path) -> None:
    """TRL would render chat messages without the media placeholders and train on text alone, silently."""
    from trl import GRPOConfig

    from r1omni.errors import UsageError
    from training import grpo
    from training.data import grpo_records, load_rows

    records = grpo_records(load_rows(manifest, None))
    chat = [{**r, "prompt": [{"role": "user", "content": r["prompt"]}]} for r in records]
    script = grpo.ScriptArguments(model_name_or_path=str(tiny_checkpoint), train_manifest=str(manifest),
                                  reward_funcs=["format_reward"])
    args = GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=4, learning_rate=1e-3, beta=0.0, **CPU)
    with pytest.raises(UsageError, match="conversational") as err:
        grpo.main(script, args, records=chat)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "model.safetensors").exists()
