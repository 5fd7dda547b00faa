"""DPO on preference pairs (training.preference) with TRL 1.16's DPOTrainer and the HumanOmni media.

    python -m training.preference --audit audit.jsonl --out pairs.jsonl
    python -m training.dpo --config training/recipes/tiny_cpu.yaml --train_manifest pairs.jsonl

TRL's DPOTrainer tokenises `prompt` / `chosen` / `rejected` text and forwards every batch key to the
model, so two small pieces make it multimodal:
1. `OmniDPOTrainer._prepare_dataset` (the one private override): prompt ids with the expanded video /
   audio placeholders (`r1omni.prompts.build_input_ids`, which a tokenizer cannot emit), completions
   tokenised with EOS; the `path` column stays for the collator.
2. `PreferenceCollator`: TRL's `DataCollatorForPreference` for ids and masks (rows = chosen then
   rejected), plus the clip's media for both halves (`training.data.MediaEncoder`).
The reference model is a frozen copy loaded from the same checkpoint folder. `check_trl_dpo_override()`
fails loudly when TRL changes the overridden method's signature or the collator's output keys.
"""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from trl import DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

from r1omni.errors import UsageError
from r1omni.prompts import build_input_ids, build_prompt

logger = logging.getLogger(__name__)

DPO_OVERRIDE = ("_prepare_dataset", ("self", "dataset", "processing_class", "args", "dataset_name"))
COLLATOR_KEYS = ("input_ids", "attention_mask", "completion_mask")


def check_trl_dpo_override() -> None:
    """RuntimeError if DPOTrainer's overridden method or the preference collator changed shape."""
    name, expected = DPO_OVERRIDE
    method = getattr(DPOTrainer, name, None)
    if method is None or tuple(inspect.signature(method).parameters)[: len(expected)] != expected:
        raise RuntimeError(f"trl.DPOTrainer.{name} changed; OmniDPOTrainer needs trl==1.16.0")
    row = {"prompt_ids": [5, 6], "chosen_ids": [7], "rejected_ids": [8, 9]}
    out = DataCollatorForPreference(pad_token_id=0)([row])
    if sorted(out) != sorted(COLLATOR_KEYS) or out["input_ids"].shape != (2, 4):
        shapes = {k: tuple(v.shape) for k, v in out.items()}
        raise RuntimeError(f"trl DataCollatorForPreference output changed: {shapes} (needs trl==1.16.0)")


@dataclass
class PreferenceCollator:
    """Rows {prompt_ids, chosen_ids, rejected_ids, path, prompt} -> TRL's DPO batch + media (chosen, rejected)."""

    media_encoder: Any
    pad_token_id: int
    max_length: int | None = None

    def __post_init__(self):
        self._ids = DataCollatorForPreference(pad_token_id=self.pad_token_id, max_length=self.max_length)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self._ids([{k: r[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for r in rows])
        media = self.media_encoder(rows)
        batch.update({k: torch.cat([v, v], dim=0) for k, v in media.items()})  # chosen half, then rejected half
        return batch


class OmniDPOTrainer(DPOTrainer):
    """DPOTrainer for HumanOmni models: rows carry `prompt` (the question), `chosen`, `rejected`, `path`."""

    def __init__(self, *args: Any, system_prompt: str | None = None, **kwargs: Any):
        check_trl_dpo_override()
        self.system_prompt = system_prompt
        model = kwargs.get("model", args[0] if args else None)
        self._media_config = model.config  # _prepare_dataset runs inside DPOTrainer.__init__, before self.model
        super().__init__(*args, **kwargs)

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        tokenizer = getattr(processing_class, "tokenizer", processing_class)
        n_video, n_audio = self._media_config.num_video_tokens, self._media_config.num_audio_tokens
        layout = {"system": self.system_prompt} if self.system_prompt is not None else {}
        eos = [tokenizer.eos_token_id]

        def tokenize(row):
            text = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"] + eos  # noqa: E731
            return {"prompt_ids": build_input_ids(tokenizer, build_prompt(row["prompt"], **layout), n_video, n_audio),
                    "chosen_ids": text(row["chosen"]), "rejected_ids": text(row["rejected"])}

        return dataset.map(tokenize, desc=f"Tokenizing {dataset_name} preference pairs")


def read_pairs(path: str | Path) -> list[dict[str, Any]]:
    """Preference rows from `training.preference` JSONL."""
    path = Path(path)
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(f"cannot read preference pairs '{path}': {err}") from None
    missing = [i for i, r in enumerate(rows) if not {"prompt", "chosen", "rejected", "path"} <= set(r)]
    if not rows or missing:
        raise UsageError(f"'{path}' must hold rows with prompt, chosen, rejected, path (row {missing[:1]} does not)")
    return rows


def main(script, train_args, records: list[dict[str, Any]] | None = None, media_encoder=None) -> Path:
    """Run DPO from `script.model_name_or_path` on preference rows; writes a Pipeline-loadable checkpoint."""
    from datasets import Dataset

    from training.data import MediaEncoder
    from training.sft import (
        MetricsCSVCallback,
        check_resumable,
        freeze_parameters,
        load_components,
        save_trained,
    )

    if not script.model_name_or_path:
        raise UsageError("DPO starts from a checkpoint folder: set model_name_or_path")
    check_resumable(train_args)
    if records is None:
        records = read_pairs(script.train_manifest)[: script.max_train_samples]
    if not records:
        raise UsageError("no preference pairs to train on (no audited completion has a hallucinated claim)")
    model, tokenizer, gate_tokenizer = load_components(script)
    ref_model, _, _ = load_components(script)
    freeze_parameters(model, script.freeze)
    train_args.remove_unused_columns = False  # keep `path` for the media
    train_args.gradient_checkpointing = False
    if media_encoder is None:
        media_encoder = MediaEncoder(model.config, gate_tokenizer, script.pixel_mode, cache_mb=script.media_cache_mb,
                                     decode_workers=script.decode_workers)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    trainer = OmniDPOTrainer(
        model=model, ref_model=ref_model.eval(), args=train_args, train_dataset=Dataset.from_list(records),
        processing_class=tokenizer, data_collator=PreferenceCollator(media_encoder, pad, train_args.max_length),
        callbacks=[MetricsCSVCallback(Path(train_args.output_dir) / "metrics.csv")],
        system_prompt=script.system_prompt,
    )
    trainer.train(resume_from_checkpoint=train_args.resume_from_checkpoint)
    return save_trained(trainer, tokenizer, gate_tokenizer, train_args.output_dir)


def cli(argv: list[str] | None = None) -> None:
    from trl import DPOConfig

    from training.sft import check_cpu_args, parse_recipe, setup_logging

    setup_logging()
    script, train_args = parse_recipe("dpo", DPOConfig, argv)
    check_cpu_args(train_args)
    main(script, train_args)


if __name__ == "__main__":
    cli()
