"""GRPO (R1-Omni stage 2, RLVR) with `OmniGRPOTrainer`.

    python -m training.grpo --config training/recipes/paper.yaml [--resume_from_checkpoint DIR]

The recipe holds `ScriptArguments` (see training.sft) and `trl.GRPOConfig` fields. `paper.yaml` carries
the paper's hyperparameters (G=8, beta 0.04, lr 1e-6, T=1.0, 512 new tokens, 2 epochs, loss "grpo",
group-scaled rewards, one iteration). Rewards are chosen by name (`reward_funcs`, see
training.rewards.REWARDS); TRL logs each as `rewards/<name>/mean`, plus `completions/mean_length` and,
with beta > 0, `kl`. Those go to the console and `<output_dir>/metrics.csv`. With beta > 0 TRL builds
the reference model from the policy's folder, so the policy must be loaded from a checkpoint folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

from training.sft import (
    MetricsCSVCallback,
    ScriptArguments,
    check_cpu_args,
    check_resumable,
    freeze_parameters,
    load_components,
    parse_recipe,
    save_trained,
    setup_logging,
)

logger = logging.getLogger(__name__)

PAPER_GRPO = dict(
    num_generations=8, beta=0.04, learning_rate=1e-6, temperature=1.0, max_completion_length=512,
    num_train_epochs=2, loss_type="grpo", scale_rewards="group", num_iterations=1,
)


def check_grpo_args(train_args) -> None:
    """Fail at start-up, not at step 3,000 (TRL's GRPOConfig checks the batch divisibility itself)."""
    from training.trainer import refuse_media_dropping

    refuse_media_dropping(train_args)
    if train_args.gradient_checkpointing:
        logger.warning("gradient checkpointing turned off: the HumanOmni model does not use it")
        train_args.gradient_checkpointing = False


def grounding_reward(script: ScriptArguments, clip_fn=None):
    """`GroundingReward` judged by a frozen copy of the starting checkpoint (`grounding_checkpoint`, default
    `model_name_or_path`) with the `grounding_judge` method, on this process's device. The judge scores each
    completion under the prompt the policy sampled it from: the row's question and the run's system turn."""
    from accelerate import PartialState

    from r1omni.errors import UsageError
    from r1omni.inference import Pipeline
    from training.rewards import CLAIM_JUDGES, GroundingReward, clip_of_row

    if script.grounding_judge not in CLAIM_JUDGES:
        raise UsageError(f"unknown grounding_judge '{script.grounding_judge}'; choose one of: "
                         f"{', '.join(CLAIM_JUDGES)}")
    folder = script.grounding_checkpoint or script.model_name_or_path
    device = PartialState().device
    judge = Pipeline.load(folder, device=str(device), allow_pickle=script.allow_pickle,
                          system_prompt=script.system_prompt)
    return GroundingReward(CLAIM_JUDGES[script.grounding_judge](judge), clip_fn=clip_fn or clip_of_row,
                           penalty=script.grounding_penalty)


def main(script: ScriptArguments, train_args, media_encoder=None, records=None, grounding_clip_fn=None,
         grounding_factory=None, callbacks=None) -> Path:
    """Run GRPO and write a Pipeline-loadable checkpoint to `train_args.output_dir`; returns that folder.

    `records` / `media_encoder` let callers (the demo build, tests) supply in-memory rows and media;
    `grounding_clip_fn` maps a row to what the grounding judge reads (default: its path);
    `grounding_factory()` builds the grounding reward instead of `grounding_reward` (a caller that shares one
    judge across runs, with its own thresholds); `callbacks` are extra `TrainerCallback`s.
    """
    from datasets import Dataset

    from training.data import MediaEncoder, grpo_records, load_rows
    from training.rewards import get_rewards
    from training.trainer import OmniGRPOTrainer

    logger.info("script arguments: %s", script)
    logger.info("training arguments: %s", train_args.to_json_string())
    reward_funcs = get_rewards(script.reward_funcs, grounding=grounding_factory or (
        lambda: grounding_reward(script, grounding_clip_fn)))
    check_grpo_args(train_args)
    check_resumable(train_args)
    if records is None:
        rows = load_rows(script.train_manifest, script.question)[: script.max_train_samples]
        records = grpo_records(rows)
    model, tokenizer, gate_tokenizer = load_components(script)
    trainable, total = freeze_parameters(model, script.freeze)
    logger.info("trainable parameters: %d of %d", trainable, total)
    if media_encoder is None:
        media_encoder = MediaEncoder(model.config, gate_tokenizer, script.pixel_mode, cache_mb=script.media_cache_mb,
                                     decode_workers=script.decode_workers)
    csv_cb = MetricsCSVCallback(Path(train_args.output_dir) / "metrics.csv")
    trainer = OmniGRPOTrainer(
        model=model, reward_funcs=reward_funcs, args=train_args, train_dataset=Dataset.from_list(records),
        processing_class=tokenizer, callbacks=[csv_cb, *(callbacks or [])], media_encoder=media_encoder,
        system_prompt=script.system_prompt,
    )
    trainer.train(resume_from_checkpoint=train_args.resume_from_checkpoint)
    return save_trained(trainer, tokenizer, gate_tokenizer, train_args.output_dir)


def cli(argv: list[str] | None = None) -> None:
    from trl import GRPOConfig

    setup_logging()
    script, train_args = parse_recipe("grpo", GRPOConfig, argv)
    check_cpu_args(train_args)
    main(script, train_args)


if __name__ == "__main__":
    cli()
