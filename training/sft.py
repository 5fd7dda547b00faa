"""Cold-start SFT (R1-Omni stage 1, "EMER-SFT") with TRL's SFTTrainer and our multimodal collator.

    python -m training.sft --config training/recipes/tiny_cpu.yaml [--resume_from_checkpoint DIR]

The recipe YAML holds `ScriptArguments` fields and `trl.SFTConfig` fields side by side. The model comes
from a checkpoint folder (`model_name_or_path`) or, for smoke runs, a fresh preset (`init_preset`, with
tokenizers built from the training texts). Trainable parts follow the paper: LM, both projectors and the
BERT gate; towers and BERT frozen. The output folder is a complete checkpoint that `r1omni.Pipeline`
loads. Per-step metrics go to the console and to `<output_dir>/metrics.csv`.
"""

from __future__ import annotations

import csv
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback, set_seed

from r1omni.prompts import DEFAULT_QUESTION

logger = logging.getLogger(__name__)

FROZEN_PREFIXES = ("model.vision_tower.", "model.audio_tower.", "model.bert_model.")


@dataclass
class ScriptArguments:
    """Knobs of our training scripts that are not TRL/transformers TrainingArguments."""

    train_manifest: str = field(default="", metadata={"help": "CSV manifest (DESIGN 3.4) or R1-Omni training JSON"})
    model_name_or_path: str | None = field(default=None, metadata={"help": "checkpoint folder to start from"})
    init_preset: str | None = field(
        default=None, metadata={"help": "build a fresh model from this r1omni preset (tiny, demo) instead"}
    )
    question: str | None = field(default=None, metadata={"help": "override the question of every row"})
    system_prompt: str | None = field(default=None, metadata={
        "help": "chat system prompt (default: the checkpoint chat template's own, else 'You are a helpful assistant.')"
    })
    pixel_mode: str = field(default="pad", metadata={"help": "frame resize: pad (as R1-Omni trained) or squash"})
    max_train_samples: int | None = field(default=None, metadata={"help": "use only the first N rows"})
    freeze: list[str] = field(
        default_factory=lambda: list(FROZEN_PREFIXES), metadata={"help": "parameter-name prefixes kept frozen"}
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: ["accuracy_reward", "format_reward"], metadata={"help": "GRPO rewards (by name)"}
    )
    allow_pickle: bool = field(default=False, metadata={"help": "allow loading .bin/pickle weights"})
    grounding_judge: str = field(default="shapley", metadata={"help": "grounding_reward claim judge (see rewards)"})
    grounding_checkpoint: str | None = field(
        default=None, metadata={"help": "grounding_reward judge model folder (default: model_name_or_path)"}
    )
    grounding_penalty: float = field(default=1.0, metadata={"help": "grounding_reward cost of all claims ungrounded"})
    decode_workers: int = field(
        default=0, metadata={"help": "decode clips in this many recycled child processes (0 = in process)"}
    )
    media_cache_mb: float = field(
        default=1024, metadata={"help": "per-process budget of the encoded-clip LRU cache in MB (0 = off)"}
    )


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def freeze_parameters(model: torch.nn.Module, prefixes: list[str]) -> tuple[int, int]:
    """Freeze parameters whose names start with any prefix; returns (trainable, total) counts."""
    trainable = total = 0
    for name, param in model.named_parameters():
        param.requires_grad = not any(name.startswith(p) for p in prefixes)
        total += param.numel()
        trainable += param.numel() if param.requires_grad else 0
    return trainable, total


def load_components(script: ScriptArguments, texts: list[str] | None = None):
    """(model, tokenizer, gate tokenizer) from a checkpoint folder, or fresh from a preset."""
    if script.model_name_or_path:
        from r1omni.inference import Pipeline

        pipe = Pipeline.load(script.model_name_or_path, device="cpu", dtype=torch.float32,
                             allow_pickle=script.allow_pickle)
        tokenizer = pipe.tokenizer
        tokenizer.padding_side = "left"
        return pipe.model.train(), tokenizer, pipe.bert_tokenizer
    if script.init_preset:
        from r1omni.config import preset_config
        from r1omni.modeling import HumanOmniQwen2ForCausalLM
        from r1omni.prompts import build_prompt
        from r1omni.tokenization import build_bert_tokenizer, build_lm_tokenizer, default_corpus

        question = script.question or DEFAULT_QUESTION
        corpus = default_corpus() + list(texts or []) + [build_prompt(question, script.system_prompt)]
        tokenizer = build_lm_tokenizer(corpus, vocab_size=512)
        gate_tokenizer = build_bert_tokenizer(default_corpus() + [question], vocab_size=256)
        config = preset_config(script.init_preset, vocab_size=len(tokenizer), bert_vocab_size=len(gate_tokenizer))
        config.pad_token_id = tokenizer.pad_token_id
        config.eos_token_id = tokenizer.eos_token_id
        return HumanOmniQwen2ForCausalLM(config), tokenizer, gate_tokenizer
    from r1omni.errors import UsageError

    raise UsageError("set model_name_or_path (a checkpoint folder) or init_preset (tiny, demo) in the recipe")


def save_output(model, tokenizer, gate_tokenizer, out_dir: str | Path, state_dict: dict | None = None) -> Path:
    """Write a checkpoint folder that r1omni.Pipeline loads (safetensors, tokenizers, config)."""
    from r1omni.checkpoint import save_checkpoint

    out = Path(out_dir)
    model.config.use_cache = True  # trainers switch the KV cache off for training; the checkpoint is for inference
    save_checkpoint(model, out, tokenizer=tokenizer, bert_tokenizer=gate_tokenizer, state_dict=state_dict)
    logger.info("saved checkpoint to %s", out)
    return out


def save_trained(trainer, tokenizer, gate_tokenizer, out_dir: str | Path) -> Path:
    """`save_output` of a trainer's model, written once whatever the number of processes.

    Every rank takes part in gathering the full state dict (`accelerator.get_state_dict`: under ZeRO-3 /
    FSDP the local tensors are shards); only the main process writes; all ranks wait for the files.
    """
    accelerator = trainer.accelerator
    state_dict = accelerator.get_state_dict(trainer.model_wrapped)
    if accelerator.is_main_process:
        save_output(accelerator.unwrap_model(trainer.model), tokenizer, gate_tokenizer, out_dir, state_dict)
    accelerator.wait_for_everyone()
    return Path(out_dir)


class MetricsCSVCallback(TrainerCallback):
    """Append every log record (loss, rewards, completion length, kl, ...) to `<output_dir>/metrics.csv`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        row = {"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, (int, float))}}
        self.rows.append(row)
        logger.info("step %d: %s", state.global_step,
                    ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "step"))
        columns = sorted({k for r in self.rows for k in r}, key=lambda k: (k != "step", k))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="") as fh:  # rewritten: columns can appear late (e.g. eval)
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)


def check_resumable(train_args) -> None:
    """`--resume_from_checkpoint DIR` must find optimizer, scheduler and RNG state, not just weights.

    transformers resumes a `save_only_model` checkpoint without a word, with a fresh optimizer and
    scheduler: the run then ends somewhere else than the uninterrupted one. Refuse that in one line.
    """
    from r1omni.errors import UsageError

    ckpt = train_args.resume_from_checkpoint
    if not ckpt or isinstance(ckpt, bool):
        return
    folder = Path(ckpt)
    if not (folder / "trainer_state.json").is_file():
        raise UsageError(f"--resume_from_checkpoint '{folder}' is not a trainer checkpoint (no trainer_state.json)")
    has_optimizer = (folder / "optimizer.pt").is_file() or any(folder.glob("global_step*"))  # plain / DeepSpeed
    if not has_optimizer or not any(folder.glob("rng_state*.pth")):
        raise UsageError(f"checkpoint '{folder}' holds no optimizer/RNG state (saved with save_only_model: true); "
                         "it cannot be resumed exactly")


def check_cpu_args(train_args) -> None:
    """TRL defaults to bf16 + gradient checkpointing; on a CPU-only machine fall back with a warning."""
    if not torch.cuda.is_available():
        if train_args.bf16:
            logger.warning("no GPU: training in float32 (bf16 off)")
            train_args.bf16 = False
        train_args.use_cpu = True


def main(script: ScriptArguments, train_args) -> Path:
    """Run SFT and write a Pipeline-loadable checkpoint to `train_args.output_dir`; returns that folder."""
    from datasets import Dataset
    from trl import SFTTrainer

    from training.data import MediaEncoder, SFTCollator, load_rows, sft_records

    logger.info("script arguments: %s", script)
    logger.info("training arguments: %s", train_args.to_json_string())
    check_resumable(train_args)
    rows = load_rows(script.train_manifest, script.question)[: script.max_train_samples]
    records = sft_records(rows)
    set_seed(train_args.seed)  # a fresh preset model starts from the same weights on every rank and world size
    model, tokenizer, gate_tokenizer = load_components(script, [r["target"] for r in records])
    trainable, total = freeze_parameters(model, script.freeze)
    logger.info("trainable parameters: %d of %d", trainable, total)
    train_args.remove_unused_columns = False
    train_args.dataset_kwargs = {"skip_prepare_dataset": True}
    collator = SFTCollator(tokenizer, MediaEncoder(model.config, gate_tokenizer, script.pixel_mode,
                                                 cache_mb=script.media_cache_mb,
                                                 decode_workers=script.decode_workers),
                           script.system_prompt)
    csv_cb = MetricsCSVCallback(Path(train_args.output_dir) / "metrics.csv")
    trainer = SFTTrainer(model=model, args=train_args, data_collator=collator,
                         train_dataset=Dataset.from_list(records), processing_class=tokenizer, callbacks=[csv_cb])
    trainer.train(resume_from_checkpoint=train_args.resume_from_checkpoint)
    return save_trained(trainer, tokenizer, gate_tokenizer, train_args.output_dir)


def parse_recipe(stage: str, config_cls, argv: list[str] | None = None):
    """(ScriptArguments, config_cls) from `--config recipe.yaml` plus command-line overrides.

    A recipe's top-level keys are shared by every stage; its `sft:` / `grpo:` / `dpo:` sections hold the keys
    of that stage (they win over the top level). Command-line flags (e.g. `--resume_from_checkpoint DIR`)
    win over the recipe. Unknown keys are an error.
    """
    import yaml
    from trl import TrlParser

    from r1omni.errors import UsageError

    argv = list(sys.argv[1:] if argv is None else argv)
    values: dict[str, Any] = {}
    if "--config" in argv:
        i = argv.index("--config")
        path = Path(argv[i + 1])
        del argv[i : i + 2]
        try:
            recipe = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise UsageError(f"cannot read recipe '{path}': {err}") from None
        sections = {k: recipe.pop(k) for k in ("sft", "grpo", "dpo", "demo") if isinstance(recipe.get(k), dict)}
        values = {**recipe, **sections.get(stage, {})}
    parser = TrlParser((ScriptArguments, config_cls))
    unknown = parser.set_defaults_with_config(**values)
    if unknown:
        raise UsageError(f"unknown recipe keys for the {stage} stage: {' '.join(unknown[::2])}")
    script, train_args = parser.parse_args_into_dataclasses(args=argv)
    return script, train_args


def cli(argv: list[str] | None = None) -> None:
    from trl import SFTConfig

    setup_logging()
    script, train_args = parse_recipe("sft", SFTConfig, argv)
    check_cpu_args(train_args)
    main(script, train_args)


if __name__ == "__main__":
    cli()
