"""Training runs for tests/training/test_multiprocess.py, launched with 1 or 2 processes by `accelerate launch`.

    accelerate launch --config_file training/accelerate/cpu_2proc.yaml tests/training/multiprocess_worker.py \
        --manifest M --grpo-from CKPT --out DIR

Same global batch whatever the number of processes (per-device batch = global / world size). Runs, each
into its own folder under DIR:
- `sft`: SFT from a fresh tiny preset, 4 steps, trainer checkpoints at steps 2 and 4;
  `sft_resumed`: the same run resumed from `sft/checkpoint-2` (a new trainer and model, as after a crash).
- `grpo`, `grpo_resumed`: the same for GRPO (temperature-1 sampling from the global RNG, so resuming
  must restore the RNG state to reproduce the samples).
- `sft_sgd`: the SFT run with plain SGD, to compare across world sizes.
- `grpo_seeded`: GRPO (plain SGD) whose sampling is made independent of the world size: each completion is drawn
  with the torch RNG seeded by (step, clip, position in its group), one row at a time. Without that,
  which random numbers a completion gets depends on how rows are split across processes.
Every call of `training.sft.save_output` (the final Pipeline checkpoint) appends its rank to DIR/saves.log.
The resume settings (save_only_model) come from the paper recipe, so the recipe is what is tested.
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
CPU = dict(use_cpu=True, bf16=False, report_to="none", logging_steps=1, seed=0, dataloader_num_workers=0,
           gradient_checkpointing=False)
GLOBAL_BATCH = 4


def text_reward(completions, **kwargs):
    """A reward that differs between completions (random tiny-model text has no answer or format)."""
    from training.rewards import completion_text

    return [(zlib.crc32(completion_text(c).encode()) % 97) / 97 for c in completions]


def paper_save_settings() -> dict:
    """The paper recipe's checkpointing keys that decide whether a run can resume."""
    from trl import GRPOConfig

    from training.sft import parse_recipe

    _, args = parse_recipe("grpo", GRPOConfig, ["--config", str(ROOT / "training/recipes/paper.yaml"),
                                                "--use_cpu", "true", "--bf16", "false", "--tf32", "false"])
    return {"save_only_model": args.save_only_model}


def seeded_trainer_class():
    from training.trainer import OmniGRPOTrainer

    class SeededSamplingTrainer(OmniGRPOTrainer):
        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs):
            media, out = self._media, []
            try:
                for j, ids in enumerate(prompt_ids):
                    clip = round(float(media["input_features"][j].double().sum()), 2)
                    key = f"{self.state.global_step}/{clip}/{j % self.num_generations}"
                    torch.manual_seed(zlib.crc32(key.encode()))
                    self._media = {k: v[j : j + 1] for k, v in media.items()}
                    ids_j, _ = super()._generate_single_turn([ids], images, multimodal_fields, num_generations,
                                                             *args, **kwargs)
                    out += ids_j
            finally:
                self._media = media
            return out, None

    return SeededSamplingTrainer


def main() -> None:
    from accelerate import PartialState
    from trl import GRPOConfig, SFTConfig

    import training.trainer
    from training import grpo, rewards, sft

    p = argparse.ArgumentParser()
    p.add_argument("--manifest", required=True)
    p.add_argument("--grpo-from", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.set_num_threads(1)
    state = PartialState(cpu=True)
    world, out = state.num_processes, Path(a.out)
    per_device = GLOBAL_BATCH // world
    saves = out / "saves.log"
    original_save = sft.save_output

    def counted_save(*args, **kwargs):
        with saves.open("a") as fh:
            fh.write(f"{state.process_index}\n")
        return original_save(*args, **kwargs)

    sft.save_output = counted_save  # save_trained looks the name up at call time
    keep = paper_save_settings()
    steps = dict(max_steps=4, save_strategy="steps", save_steps=2, **keep, **CPU)

    # AdamW for the resume pairs (its moments are the state to restore); plain SGD for the world-size
    # comparison, whose update is linear in the gradient (AdamW's g / sqrt(v) turns float noise in
    # near-zero gradients into +-lr steps, which hides whether the distributed gradient is right).
    adamw, sgd = dict(learning_rate=1e-3), dict(optim="sgd", learning_rate=0.1)
    script = sft.ScriptArguments(train_manifest=a.manifest, init_preset="tiny")
    for name, resume, opt in (("sft", None, adamw), ("sft_resumed", out / "sft" / "checkpoint-2", adamw),
                              ("sft_sgd", None, sgd)):
        args = SFTConfig(output_dir=str(out / name), per_device_train_batch_size=per_device, max_length=1024,
                         resume_from_checkpoint=str(resume) if resume else None, **opt, **steps)
        sft.main(script, args)

    rewards.REWARDS["text_reward"] = text_reward
    script = grpo.ScriptArguments(model_name_or_path=a.grpo_from, train_manifest=a.manifest,
                                  reward_funcs=["text_reward"])
    # global batch 4 completions = 2 prompts x G=2 per step; lr large enough to move a tiny model in 4 steps
    grpo_kw = dict(per_device_train_batch_size=per_device, num_generations=2, max_completion_length=6,
                   beta=0.0, temperature=1.0, loss_type="grpo", scale_rewards="group")
    adamw = dict(learning_rate=1e-2)
    runs = (("grpo", None, False, adamw), ("grpo_resumed", out / "grpo" / "checkpoint-2", False, adamw),
            ("grpo_seeded", None, True, sgd))
    plain = training.trainer.OmniGRPOTrainer
    for name, resume, seeded, opt in runs:
        training.trainer.OmniGRPOTrainer = seeded_trainer_class() if seeded else plain
        args = GRPOConfig(output_dir=str(out / name), resume_from_checkpoint=str(resume) if resume else None,
                          **grpo_kw, **opt, **steps)
        grpo.main(script, args)
    training.trainer.OmniGRPOTrainer = plain
    state.wait_for_everyone()


if __name__ == "__main__":
    main()
