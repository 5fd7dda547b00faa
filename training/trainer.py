"""`OmniGRPOTrainer`: TRL 1.16's GRPOTrainer with video + audio + gate inputs.

TRL's GRPO only knows images. This subclass adds the HumanOmni media through five narrow overrides,
each of which calls the TRL method it overrides (no copied training loop):

1. `_tokenize_prompts`: prompt text -> ids with the expanded -201/-202 placeholders
   (`r1omni.prompts.build_input_ids`); a tokenizer alone cannot emit those ids.
2. `_generate_and_score_completions`: encodes the media of the B*G rows once (`media_encoder`), keeps
   them on `self._media` for generation and the old/ref log-prob forwards, and adds them to the output
   batch, so TRL shuffles and splits them with the rest (they are batch-first tensors).
3. `_generate_single_turn`: passes the media to `generate` beside TRL's multimodal fields.
4. `_compute_loss`: takes the micro-batch's media from `inputs` before the policy forward.
5. `_get_per_token_logps_and_entropies`: runs TRL's method chunk by chunk with the chunk's media
   injected into the `model(..., fused_lm_head=True)` call by a forward pre-hook.

Placeholder ids are negative and cannot be sampled; the other special tokens that only belong in the
prompt (chat markers, media brackets, pad) are suppressed during sampling. `check_trl_overrides()`
verifies that the TRL methods still exist with the signatures relied on here; `check_generated`,
`check_scored` and `check_logps` check, on every call, that what the TRL methods return still has the
types, keys and batch shapes the overrides rely on (a `TRLContractError` instead of wrong training).
Options under which TRL would generate from token ids alone (vLLM, continuous batching, tools,
environments, a rollout function) are refused at construction (`refuse_media_dropping`), and so is a
conversational dataset (`refuse_conversational`): TRL would render its messages with the chat template
alone, with no placeholders, and train without video and audio.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch
from trl import GRPOTrainer

from r1omni.prompts import build_input_ids, build_prompt

logger = logging.getLogger(__name__)

MEDIA_KEYS = ("pixel_values_videos", "input_features", "gate_input_ids", "gate_attention_mask")
MediaEncoder = Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]

# TRL methods overridden below and the leading parameters each override relies on.
TRL_OVERRIDES: dict[str, tuple[str, ...]] = {
    "_tokenize_prompts": ("self", "prompts"),
    "_generate_and_score_completions": ("self", "inputs"),
    "_generate_single_turn": ("self", "prompt_ids", "images", "multimodal_fields", "num_generations"),
    "_compute_loss": ("self", "model", "inputs"),
    "_get_per_token_logps_and_entropies": (
        "self", "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size", "compute_entropy",
        "compute_aux_loss",
    ),
}


class TRLContractError(RuntimeError):
    """What a TRL private method returned no longer has the shape the overrides rely on."""


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise TRLContractError(f"trl.GRPOTrainer {what} (OmniGRPOTrainer was written against trl==1.16.0)")


def check_generated(result: Any, n_prompts: int) -> None:
    """`_generate_single_turn` -> (completion ids: one list of ints per prompt row, logprobs or None)."""
    _expect(isinstance(result, tuple) and len(result) == 2, f"_generate_single_turn returned {type(result)}, "
            "not (completion_ids, logprobs)")
    ids = result[0]
    _expect(isinstance(ids, list) and len(ids) == n_prompts, f"_generate_single_turn gave {len(ids)} completions "
            f"for {n_prompts} prompt rows")
    _expect(all(isinstance(c, list) and all(isinstance(t, int) for t in c) for c in ids),
            "_generate_single_turn completions are not lists of token ids")


SCORED_KEYS = ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages")


def check_scored(output: Any, n_rows: int) -> None:
    """`_generate_and_score_completions` -> dict of batch-first tensors (TRL shuffles / splits every tensor
    value along dim 0, which is how the media added to it reach the right micro-batch)."""
    _expect(isinstance(output, dict), f"_generate_and_score_completions returned {type(output)}, not a dict")
    missing = [k for k in SCORED_KEYS if k not in output]
    _expect(not missing, f"_generate_and_score_completions output lacks {missing}")
    for key in SCORED_KEYS:
        value = output[key]
        _expect(isinstance(value, torch.Tensor) and value.size(0) == n_rows,
                f"_generate_and_score_completions['{key}'] is not a tensor with {n_rows} rows")
    _expect(output["completion_ids"].shape == output["completion_mask"].shape,
            "_generate_and_score_completions completion ids / mask shapes differ")


def check_logps(result: Any, n_rows: int, logits_to_keep: int) -> None:
    """`_get_per_token_logps_and_entropies` -> (logps (n, logits_to_keep), entropies or None, aux or None)."""
    _expect(isinstance(result, tuple) and len(result) == 3, "_get_per_token_logps_and_entropies no longer returns "
            "(logps, entropies, aux_loss)")
    logps = result[0]
    _expect(isinstance(logps, torch.Tensor) and tuple(logps.shape) == (n_rows, logits_to_keep),
            f"_get_per_token_logps_and_entropies logps shape {getattr(logps, 'shape', None)} != "
            f"({n_rows}, {logits_to_keep})")


def check_trl_overrides() -> None:
    """Raise RuntimeError if TRL's GRPOTrainer lacks a method (or parameter) the subclass overrides."""
    for name, expected in TRL_OVERRIDES.items():
        method = getattr(GRPOTrainer, name, None)
        if method is None:
            raise RuntimeError(f"trl.GRPOTrainer has no '{name}'; OmniGRPOTrainer needs trl==1.16.0")
        params = tuple(inspect.signature(method).parameters)
        if params[: len(expected)] != expected:
            raise RuntimeError(f"trl.GRPOTrainer.{name}{params} changed; expected leading {expected} (trl==1.16.0)")


# GRPOTrainer options whose code paths bypass the media plumbing below: completions would be generated
# (or rolled out) from token ids alone, silently without video and audio.
MEDIA_DROPPING_OPTIONS = {
    "use_vllm": "vLLM generation gets token ids only",
    "use_transformers_continuous_batching": "generate_batch() gets token ids only",
}
MEDIA_DROPPING_ARGUMENTS = {
    "rollout_func": "a rollout function generates without the media",
    "tools": "tool turns are generated without the media",
    "environment_factory": "environment turns are generated without the media",
}


def refuse_media_dropping(grpo_args, **trainer_kwargs: Any) -> None:
    """UsageError (one line) for a GRPO option under which video and audio would be dropped silently."""
    from r1omni.errors import UsageError

    for option, why in MEDIA_DROPPING_OPTIONS.items():
        if getattr(grpo_args, option, False):
            raise UsageError(f"{option} is not supported by OmniGRPOTrainer: {why}, so video and audio would be "
                             "dropped")
    for name, why in MEDIA_DROPPING_ARGUMENTS.items():
        if trainer_kwargs.get(name):
            raise UsageError(f"{name} is not supported by OmniGRPOTrainer: {why}")


def sampling_suppress_ids(tokenizer) -> list[int]:
    """Special-token ids that must never be sampled: every special id except EOS and the answer-format tags."""
    keep = set(tokenizer("<think></think><answer></answer>", add_special_tokens=False)["input_ids"])
    keep.add(tokenizer.eos_token_id)
    return sorted(i for i in set(tokenizer.all_special_ids) if i not in keep and i is not None and i >= 0)


@contextlib.contextmanager
def inject_forward_kwargs(model: torch.nn.Module, extra: dict[str, torch.Tensor]) -> Iterator[None]:
    """Add `extra` to the keyword arguments of every `model(...)` call inside the block."""

    def hook(_module, args, kwargs):
        return args, {**kwargs, **extra}

    handle = model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def refuse_conversational(dataset, name: str = "train_dataset") -> None:
    """A dataset whose `prompt` is a list of chat messages would train without media: one-line UsageError."""
    from r1omni.errors import UsageError

    if dataset is None or not hasattr(dataset, "column_names") or "prompt" not in (dataset.column_names or []):
        return
    if len(dataset) and not isinstance(dataset[0]["prompt"], str):
        raise UsageError(f"{name} is conversational (its prompt is a list of messages): OmniGRPOTrainer needs the "
                         "question text in `prompt` (it adds the video and audio placeholders itself); "
                         "conversational prompts would train without video and audio")


class OmniGRPOTrainer(GRPOTrainer):
    """GRPOTrainer for HumanOmni models: rows carry a `prompt` (the question text) and whatever the
    `media_encoder` needs (for example `path`); rewards see every other column."""

    def __init__(self, *args: Any, media_encoder: MediaEncoder, system_prompt: str | None = None, **kwargs: Any):
        check_trl_overrides()
        grpo_args = kwargs.get("args")
        refuse_media_dropping(grpo_args, **{k: kwargs.get(k) for k in MEDIA_DROPPING_ARGUMENTS})
        refuse_conversational(kwargs.get("train_dataset"))
        eval_sets = kwargs.get("eval_dataset")
        for name, ds in (eval_sets.items() if isinstance(eval_sets, dict) else [("eval_dataset", eval_sets)]):
            refuse_conversational(ds, name)
        tokenizer = kwargs.get("processing_class")
        if grpo_args is not None and tokenizer is not None:
            suppress = sampling_suppress_ids(tokenizer)
            extra = dict(grpo_args.generation_kwargs or {})
            extra["suppress_tokens"] = sorted(set(extra.get("suppress_tokens", [])) | set(suppress))
            grpo_args.generation_kwargs = extra
        self.media_encoder = media_encoder
        self.system_prompt = system_prompt
        self._media: dict[str, torch.Tensor] = {}
        super().__init__(*args, **kwargs)

    # 1. prompts -> ids with expanded placeholders
    def _tokenize_prompts(self, prompts: list):
        if any(not isinstance(q, str) for q in prompts):
            from r1omni.errors import UsageError

            raise UsageError("conversational prompts would train without video and audio: give the question text")
        config = self.accelerator.unwrap_model(self.model).config
        n_video, n_audio = config.num_video_tokens, config.num_audio_tokens
        # the same prompt as Pipeline.prompt_ids: the checkpoint's chat template when it has one
        ids = [build_input_ids(self._tokenizer, build_prompt(q, self.system_prompt, self._tokenizer), n_video, n_audio)
               for q in prompts]
        return ids, None, {}

    # 2. media for the whole generation batch
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        device = self.accelerator.device
        self._media = {k: v.to(device) for k, v in self.media_encoder(inputs).items()}
        try:
            output = super()._generate_and_score_completions(inputs)
            check_scored(output, len(inputs))
            output.update(self._media)
        finally:
            self._media = {}
        return output

    # 3. media into generate()
    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs):
        fields = {**(multimodal_fields or {}), **self._media}
        result = super()._generate_single_turn(prompt_ids, images, fields, num_generations, *args, **kwargs)
        check_generated(result, len(prompt_ids))
        return result

    # 4. media of the micro-batch into the loss forward
    def _compute_loss(self, model, inputs):
        self._media = {k: inputs[k] for k in MEDIA_KEYS if k in inputs}
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._media = {}

    # 5. chunk-wise forward with the chunk's media
    def _get_per_token_logps_and_entropies(
        self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, compute_entropy=False,
        compute_aux_loss=False, **kwargs,
    ):
        parent = super()._get_per_token_logps_and_entropies
        if not self._media:
            return parent(model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy,
                          compute_aux_loss, **kwargs)
        n = input_ids.size(0)
        if any(v.size(0) != n for v in self._media.values()):
            raise RuntimeError(f"media batch {[tuple(v.shape) for v in self._media.values()]} != {n} sequences")
        batch_size = batch_size or n
        logps, entropies, aux = [], [], []
        for start in range(0, n, batch_size):
            end = min(start + batch_size, n)
            chunk_media = {k: v[start:end] for k, v in self._media.items()}
            with inject_forward_kwargs(model, chunk_media):
                result = parent(model, input_ids[start:end], attention_mask[start:end], logits_to_keep,
                                end - start, compute_entropy, compute_aux_loss, **kwargs)
            check_logps(result, end - start, logits_to_keep)
            lp, ent, ax = result
            logps.append(lp)
            entropies.append(ent)
            aux.append(ax)
        return (
            torch.cat(logps, dim=0),
            torch.cat(entropies, dim=0) if compute_entropy else None,
            torch.stack(aux).mean() if compute_aux_loss else None,
        )
