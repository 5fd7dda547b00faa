"""GPU check (runs only where CUDA is present): tiny SFT -> GRPO in bf16 on the device, beta > 0."""

from __future__ import annotations

import csv

import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

TARGET = "<think>The mouth turns down. The voice is flat.</think><answer>sad</answer>"


def _encoder(config, bert_tok):
    from training.data import EncodedClip, MediaEncoder

    def clip_fn(row):  # deterministic fake media per clip index: no decoder needed on the device image
        g = torch.Generator().manual_seed(int(row["clip_index"]))
        px = torch.rand((config.num_frames, 3, config.image_size, config.image_size), generator=g) * 2 - 1
        return EncodedClip(px, torch.randn((128, config.audio_num_frames), generator=g))

    return MediaEncoder(config, bert_tok, clip_fn=clip_fn)


def test_tiny_sft_then_grpo_bf16_on_cuda(tmp_path) -> None:
    from datasets import Dataset
    from safetensors.torch import load_file
    from trl import GRPOConfig, SFTConfig, SFTTrainer

    from r1omni.prompts import DEFAULT_QUESTION
    from r1omni.tokenization import tiny_model_and_tokenizers
    from training import grpo
    from training.data import SFTCollator
    from training.sft import ScriptArguments, save_output

    model, tok, bert_tok = tiny_model_and_tokenizers()
    model.train()
    common = dict(bf16=True, report_to="none", save_strategy="no", logging_steps=1, gradient_checkpointing=False,
                  seed=0, dataloader_num_workers=0)
    records = [{"clip_index": i, "question": DEFAULT_QUESTION, "target": TARGET} for i in range(8)]
    sft_args = SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=3, per_device_train_batch_size=4,
                         learning_rate=1e-3, remove_unused_columns=False,
                         dataset_kwargs={"skip_prepare_dataset": True}, **common)
    trainer = SFTTrainer(model=model, args=sft_args, train_dataset=Dataset.from_list(records),
                         data_collator=SFTCollator(tok, _encoder(model.config, bert_tok)), processing_class=tok)
    trainer.train()
    assert next(trainer.model.parameters()).device.type == "cuda"
    sft_dir = save_output(trainer.model, tok, bert_tok, tmp_path / "sft")

    rows = [{"prompt": DEFAULT_QUESTION, "clip_index": i, "label": "sad", "solution": "<answer> sad </answer>"}
            for i in range(8)]
    script = ScriptArguments(model_name_or_path=str(sft_dir), reward_funcs=["accuracy_reward", "format_reward"])
    args = GRPOConfig(output_dir=str(tmp_path / "grpo"), max_steps=2, per_device_train_batch_size=4,
                      num_generations=2, max_completion_length=12, learning_rate=1e-2, beta=0.04,
                      temperature=1.0, loss_type="grpo", scale_rewards="group", **common)
    out = grpo.main(script, args, media_encoder=_encoder(model.config, bert_tok), records=rows)
    before, after = load_file(str(sft_dir / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("model.layers."))
    with (out / "metrics.csv").open() as fh:
        logged = list(csv.DictReader(fh))
    assert "kl" in logged[0] and "rewards/format_reward/mean" in logged[0]
