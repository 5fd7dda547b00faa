"""The pipeline: load a checkpoint once, then predict, teacher-force and score many clips, batched.

`Pipeline` owns the model, its tokenizers and the media geometry the checkpoint expects. It turns decoded
clips into `MediaInputs`, builds prompts, runs batched generation with left padding, scores completions by
teacher forcing (the forward function the explainers use) and computes the class distribution at the
answer. It knows nothing about attribution methods, the UI or training.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from r1omni import media as media_lib
from r1omni.errors import R1OmniError, UsageError
from r1omni.logprobs import LOGIT_BLOCK, completion_logprobs, fork_logprobs, head_logprobs  # noqa: F401
from r1omni.prompts import (
    AUDIO_TOKEN_INDEX,
    DEFAULT_QUESTION,
    VIDEO_TOKEN_INDEX,
    build_input_ids,
    build_prompt,
    label_set,
    parse_response,
)

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_CHECKPOINT = REPO_ROOT / "assets" / "demo-checkpoint"
DEMO_DISPLAY_NAME = "demo model (synthetic training data)"
SAMPLE_RATE = 16000
# The original decodes greedily up to 2048 new tokens; used when the checkpoint's generation_config.json sets none.
DEFAULT_MAX_NEW_TOKENS = 2048


@dataclass(frozen=True)
class MediaInputs:
    """Model-ready tensors of one clip plus what the explainers need to perturb them."""

    pixel_values_videos: torch.Tensor  # (T, 3, S, S) float32 in [-1, 1]
    input_features: torch.Tensor  # (128, L) Whisper log-mel
    has_video: bool
    has_audio: bool
    audio: np.ndarray | None  # 16 kHz mono inside the model's audio window
    audio_duration_s: float  # real audio length inside the window (0 when absent)
    frame_times_s: tuple[float, ...]
    clip: str = ""
    notices: tuple[str, ...] = ()
    video_masked: bool = False
    audio_masked: bool = False
    silenced_audio_tokens: tuple[int, ...] = ()  # audio tokens replaced by silence tokens (token-level occlusion)

    @property
    def uses_video(self) -> bool:
        return self.has_video and not self.video_masked

    @property
    def uses_audio(self) -> bool:
        return self.has_audio and not self.audio_masked


@dataclass
class Prediction:
    """One clip's answer: DESIGN 3.2 `r1omni predict` JSON via `to_dict()`."""

    clip: str
    checkpoint: str
    text: str
    label: str | None
    answer: str | None
    reasoning: str | None
    well_formed: bool
    probs: dict[str, float]
    modalities: dict[str, bool]
    notices: list[str]
    timings_ms: dict[str, float]
    completion_ids: list[int] = field(default_factory=list, repr=False)
    clipped: bool = False  # generation stopped at max_new_tokens before an end token

    def to_dict(self) -> dict:
        return {
            "clip": self.clip,
            "checkpoint": self.checkpoint,
            "label": self.label,
            "answer": self.answer,
            "reasoning": self.reasoning,
            "text": self.text,
            "well_formed": self.well_formed,
            "probs": self.probs,
            "modalities": self.modalities,
            "notices": self.notices,
            "timings_ms": self.timings_ms,
            "clipped": self.clipped,
        }


@dataclass
class GenerationState:
    """What `generate` leaves behind for scoring the answer without running the prompt again."""

    cache: object  # the KV cache: prompt + every generated token but the last
    prompt_mask: torch.Tensor  # (B, L) attention mask of the left-padded prompts
    completions: list[list[int]]
    n_generated: int  # width of the generated block (longest completion incl. its end token)
    clipped: list[bool] = field(default_factory=list)  # stopped at max_new_tokens without an end token
    max_new_tokens: int = 0


@dataclass
class ClipError:
    """A clip that could not be processed; the others in the batch go on."""

    clip: str
    error: str

    def to_dict(self) -> dict:
        return {"clip": self.clip, "error": self.error}


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; an unknown or unavailable device is a one-line UsageError."""
    from r1omni.checkpoint import resolve_device as resolve

    return resolve(device)


def _batched(items: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(items), max(1, size)):
        yield items[i : i + size]


class Pipeline:
    """A loaded checkpoint ready to answer, score and be explained."""

    def __init__(self, model, tokenizer, bert_tokenizer, checkpoint: str, device: torch.device, display_name=None,
                 system_prompt: str | None = None):
        """`system_prompt`: the system turn of every prompt (None: the chat template's own default), e.g. the
        one a GRPO run sampled under, so that a judge scores completions under the policy's prompt."""
        self.model = model.eval()
        self.system_prompt = system_prompt
        self.tokenizer = tokenizer
        self.bert_tokenizer = bert_tokenizer
        self.checkpoint = checkpoint
        self.display_name = display_name or checkpoint
        self.device = device
        self.config = model.config
        self.dtype = next(model.parameters()).dtype
        self.num_frames = int(self.config.num_frames)
        self.image_size = int(self.config.image_size)
        self.audio_num_samples = int(self.config.audio_num_samples)
        self.n_video_tokens = int(self.config.num_video_tokens)
        self.n_audio_tokens = int(self.config.num_audio_tokens)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        # the checkpoint's generation_config.json end ids and the tokenizer's end tokens all stop a completion
        gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        gen_eos = [] if gen_eos is None else ([gen_eos] if isinstance(gen_eos, int) else list(gen_eos))
        self.eos_ids = sorted(
            {i for i in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>"), *gen_eos)
             if i is not None}
            - {tokenizer.unk_token_id}
        )
        self.generation_observers: list = []  # f(media, GenerationState) before label_distribution uses it
        self._prompt_cache: dict[tuple, list[int]] = {}
        self._gate_cache: dict[str, dict[str, torch.Tensor]] = {}

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        checkpoint: str | Path | None = None,
        device: str = "auto",
        dtype: torch.dtype | None = None,
        allow_pickle: bool = False,
        allow_network: bool = False,
        system_prompt: str | None = None,
        quantize: str | None = None,
    ) -> Pipeline:
        """Load a checkpoint folder (default: the demo checkpoint) once. `quantize="int8"`: the CPU path with
        int8 dynamic-quantised linear layers (`r1omni.quantize`; float32 otherwise)."""
        from r1omni.checkpoint import load_model, load_tokenizers, resolve_checkpoint
        from r1omni.modeling import default_dtype
        from r1omni.quantize import check_quantize, quantize_int8

        is_demo = checkpoint is None
        path = resolve_checkpoint(str(checkpoint or DEMO_CHECKPOINT), allow_network=allow_network)
        dev = resolve_device(device)
        quantize = check_quantize(quantize, dev)
        if quantize:
            dtype = torch.float32
        model = load_model(path, device=dev, dtype=dtype or default_dtype(dev), allow_pickle=allow_pickle)
        if quantize:
            model = quantize_int8(model)
        tokenizer, bert_tokenizer = load_tokenizers(path, allow_network=allow_network)
        tokenizer.padding_side = "left"
        is_demo = is_demo or path.resolve() == DEMO_CHECKPOINT.resolve()
        name = str(checkpoint) if checkpoint else "assets/demo-checkpoint"
        display = DEMO_DISPLAY_NAME if is_demo else name
        if quantize:
            display += f" ({quantize} dynamic)"
        return cls(model, tokenizer, bert_tokenizer, name, dev, display, system_prompt=system_prompt)

    # ------------------------------------------------------------------ media
    def encode(self, clip: media_lib.Clip | str | Path, pixel_mode: str = "squash") -> MediaInputs:
        """Decode (if needed) and turn a clip into model tensors; absent streams become mask baselines."""
        n = self.audio_num_samples
        if not isinstance(clip, media_lib.Clip):  # only the model's audio window is decoded
            clip = media_lib.decode_clip(clip, num_frames=self.num_frames, max_audio_s=n / SAMPLE_RATE)
        notices = list(clip.notices)
        if clip.has_video:
            pixels = media_lib.frames_to_pixels(clip.frames, self.image_size, mode=pixel_mode)
        else:
            pixels = media_lib.grey_pixels(self.num_frames, self.image_size)
        if clip.has_audio:
            audio = np.asarray(clip.audio[:n], dtype=np.float32)
            features = media_lib.log_mel(audio, num_samples=n)
            full_s = max(clip.audio_duration_s, len(clip.audio) / SAMPLE_RATE)
            if full_s > (n + SAMPLE_RATE // 10) / SAMPLE_RATE:  # ignore codec padding of a few ms
                notices.append(f"audio is {full_s:.1f} s long; the model hears only the first {n / SAMPLE_RATE:.1f} s")
        else:
            audio, features = None, media_lib.silence_features(n)
        return MediaInputs(
            pixel_values_videos=pixels,
            input_features=features,
            has_video=clip.has_video,
            has_audio=clip.has_audio,
            audio=audio,
            audio_duration_s=0.0 if audio is None else len(audio) / SAMPLE_RATE,
            frame_times_s=tuple(clip.frame_times_s or ()),
            clip=str(clip.path),
            notices=tuple(notices),
        )

    # Perturbations compose: each returns a valid input for the next one (its tensors *and* its waveform
    # are the perturbed ones), so e.g. silence_audio(silence_audio(m, 0, a), b, end) keeps only [a, b).

    def mask(self, media: MediaInputs, video: bool = False, audio: bool = False) -> MediaInputs:
        """Replace a modality's input by its neutral baseline (grey frames / silence), DESIGN 4."""
        out = media
        if video:
            out = replace(out, pixel_values_videos=self._grey(), video_masked=True)
        if audio:
            wave = None if out.audio is None else np.zeros_like(out.audio)
            out = replace(out, input_features=self._silence(), audio=wave, audio_masked=True)
        return out

    def occlude_frames(self, media: MediaInputs, indices: Iterable[int]) -> MediaInputs:
        """Those sampled frames -> grey (the video mask baseline)."""
        pixels = media.pixel_values_videos.clone()
        grey = self._grey()
        for i in indices:
            pixels[i] = grey[i]
        return replace(media, pixel_values_videos=pixels)

    def silence_audio(self, media: MediaInputs, start_s: float, end_s: float) -> MediaInputs:
        """Zero the (current, possibly already perturbed) waveform in [start_s, end_s); recompute the log-mel."""
        return self.silence_audio_spans(media, [(start_s, end_s)])

    def silence_audio_spans(self, media: MediaInputs, spans: Iterable[tuple[float, float]]) -> MediaInputs:
        """Zero the waveform in every [start_s, end_s) of `spans` and recompute the log-mel once: the same
        input as `silence_audio` applied span after span, for one log-mel instead of one per span."""
        if media.audio is None or media.audio_masked:  # masked: silence everywhere already
            return media
        wave = media.audio.copy()
        for start_s, end_s in spans:
            wave[int(start_s * SAMPLE_RATE) : int(end_s * SAMPLE_RATE)] = 0.0
        feats = media_lib.log_mel(wave, num_samples=self.audio_num_samples)
        return replace(media, audio=wave, input_features=feats)

    def silence_audio_tokens(self, media: MediaInputs, start_s: float, end_s: float) -> MediaInputs:
        """Token-level audio occlusion: the audio tokens whose time centre lies in [start_s, end_s) become the
        tokens of silence (the audio tower is not run again; `r1omni.scoring.ScoringSession` splices them)."""
        if media.audio is None or media.audio_masked:
            return media
        step = self.audio_num_samples / SAMPLE_RATE / self.n_audio_tokens  # seconds per audio token
        new = {k for k in range(self.n_audio_tokens) if start_s <= (k + 0.5) * step < end_s}
        return replace(media, silenced_audio_tokens=tuple(sorted(set(media.silenced_audio_tokens) | new)))

    def audio_token_seconds(self) -> float:
        """Seconds of audio per audio token (the pooled Whisper frames)."""
        return self.audio_num_samples / SAMPLE_RATE / self.n_audio_tokens

    def mask_pixels(self) -> torch.Tensor:
        """The video mask baseline (T, 3, S, S): grey frames."""
        return self._grey()

    def silence_features(self) -> torch.Tensor:
        """The audio mask baseline: log-mel of silence (128, L)."""
        return self._silence()

    def _grey(self) -> torch.Tensor:
        if not hasattr(self, "_grey_cache"):
            self._grey_cache = media_lib.grey_pixels(self.num_frames, self.image_size)
        return self._grey_cache

    def _silence(self) -> torch.Tensor:
        if not hasattr(self, "_silence_cache"):
            self._silence_cache = media_lib.silence_features(self.audio_num_samples)
        return self._silence_cache

    # ------------------------------------------------------------------ batching
    def prompt_ids(self, question: str | None = None) -> list[int]:
        question = question or DEFAULT_QUESTION
        key = (question, self.system_prompt)
        if key not in self._prompt_cache:
            self._prompt_cache[key] = build_input_ids(
                self.tokenizer, build_prompt(question, self.system_prompt, tokenizer=self.tokenizer),
                self.n_video_tokens, self.n_audio_tokens,
            )
        return self._prompt_cache[key]

    def gate_inputs(self, question: str | None = None) -> dict[str, torch.Tensor]:
        """BERT tokenisation of the instruction for the gate (the raw question, as the reference)."""
        question = question or DEFAULT_QUESTION
        if question not in self._gate_cache:
            enc = self.bert_tokenizer(question, truncation=True, max_length=512, return_tensors="pt")
            self._gate_cache[question] = {
                "gate_input_ids": enc["input_ids"],
                "gate_attention_mask": enc["attention_mask"],
            }
        return self._gate_cache[question]

    def gate_probs(self, question: str | None = None) -> torch.Tensor:
        """(1, 3) gate branch weights of the instruction: computed once per process, checkpoint and question
        (`r1omni.model_cache`)."""
        from r1omni.model_cache import cached

        def compute() -> torch.Tensor:
            with torch.inference_mode(False), torch.no_grad():  # plain tensors, whatever the caller's mode
                inputs = {k: v.to(self.device) for k, v in self.gate_inputs(question).items()}
                return self.model.model.get_gate_probs(**inputs)

        return cached(self, ("gate probs", question or DEFAULT_QUESTION), compute)

    def collate(self, media: Sequence[MediaInputs], seqs: Sequence[list[int]], question=None) -> dict:
        """Left-padded batch of sequences with their media and gate inputs, on the model's device."""
        ids, att = left_pad(seqs, self.pad_id)
        gate = self.gate_inputs(question)
        batch = {
            "input_ids": ids,
            "attention_mask": att,
            "position_ids": (att.cumsum(-1) - 1).clamp(min=0),
            "pixel_values_videos": torch.stack([m.pixel_values_videos for m in media]).to(self.dtype),
            "input_features": torch.stack([m.input_features for m in media]).to(self.dtype),
            "gate_input_ids": gate["gate_input_ids"].expand(len(seqs), -1),
            "gate_attention_mask": gate["gate_attention_mask"].expand(len(seqs), -1),
        }
        return {k: v.to(self.device) for k, v in batch.items()}

    # ------------------------------------------------------------------ generation
    @torch.inference_mode()
    def generate(
        self,
        media: Sequence[MediaInputs],
        question: str | None = None,
        do_sample: bool | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        timings: dict | None = None,
        min_new_tokens: int | None = None,
        return_state: bool = False,
        top_k: int | None = None,
    ) -> list[list[int]] | tuple[list[list[int]], GenerationState]:
        """Completion token ids (without the prompt and without the end token) for each clip.

        Decoding settings come from the checkpoint's `generation_config.json` (repetition penalty, n-gram
        blocking, sampling defaults, end ids), as in transformers; an argument that is not None overrides
        its setting. With `return_state`, also the KV cache and masks that `label_distribution` can continue from.
        """
        prompt = self.prompt_ids(question)
        batch = self.collate(media, [prompt] * len(media), question)
        batch.pop("position_ids")  # generate derives positions from the attention mask
        clock = _FirstStepClock()
        limit = self.max_new_tokens(max_new_tokens)
        explicit = {"do_sample": do_sample, "temperature": temperature, "top_p": top_p, "top_k": top_k,
                    "min_new_tokens": min_new_tokens}
        t0 = time.perf_counter()
        # Generate from the spliced embeddings, as the original does: logits processors from the checkpoint
        # (repetition penalty, n-gram blocking) then see only the generated tokens, never the placeholder ids.
        embeds = self.model.model.embed_inputs(
            batch.pop("input_ids"), batch.pop("pixel_values_videos"), batch.pop("input_features"),
            batch.pop("gate_input_ids"), batch.pop("gate_attention_mask"),
        )
        with warnings.catch_warnings():  # "applies only to newly generated tokens": what the original does
            warnings.filterwarnings("ignore", message=r"Passing `\w+` with `inputs_embeds`")
            out = self._generate_from(embeds, batch["attention_mask"], limit, clock, explicit)
        t1 = time.perf_counter()
        new = out.sequences.tolist()  # from embeddings alone, generate returns only the new tokens
        completions = [self._strip_end(seq) for seq in new]
        clipped = [len(c) == len(seq) and len(seq) >= limit for c, seq in zip(completions, new, strict=True)]
        if timings is not None:
            first = clock.first or t1
            steps = max(1, max(len(c) for c in new) - 1)
            timings["prefill"] = timings.get("prefill", 0.0) + (first - t0) * 1000
            timings["generate"] = timings.get("generate", 0.0) + (t1 - first) * 1000
            timings["ms_per_token"] = (t1 - first) * 1000 / steps
        if return_state:
            width = len(new[0]) if new else 0
            return completions, GenerationState(out.cache, batch["attention_mask"], completions, width, clipped, limit)
        return completions

    def _generate_from(self, embeds, attention_mask, limit: int, clock, explicit: dict):
        return self.model.generate(
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            max_new_tokens=limit,
            eos_token_id=self.eos_ids,
            pad_token_id=self._generation_pad_id(),
            logits_processor=[clock],
            return_dict_in_generate=True,
            use_cache=True,  # a checkpoint saved by a trainer may carry use_cache=False
            streamer=_StepStreamer.current(),  # None unless a caller is inside `Pipeline.streaming`
            **{k: v for k, v in explicit.items() if v is not None},
        )

    # ------------------------------------------------------------------ streaming
    @contextlib.contextmanager
    def streaming(self, on_step) -> Iterator[None]:
        """Within this block, in this thread, every decoding step of `generate` (so of `predict` and
        `explain`) calls `on_step(ids)` with the token id just chosen for each row of the batch (a list of
        ints; rows that already ended get the pad id). For showing a completion while it is written."""
        previous = getattr(_StepStreamer.local, "streamer", None)
        _StepStreamer.local.streamer = _StepStreamer(on_step)
        try:
            yield
        finally:
            _StepStreamer.local.streamer = previous

    def max_new_tokens(self, requested: int | None = None) -> int:
        """`requested`, else the checkpoint's generation_config `max_new_tokens`, else 2048 (the original's)."""
        if requested is not None:
            if requested < 1:
                raise UsageError(f"max_new_tokens must be at least 1, got {requested}")
            return int(requested)
        configured = getattr(getattr(self.model, "generation_config", None), "max_new_tokens", None)
        return int(configured) if configured else DEFAULT_MAX_NEW_TOKENS

    def _generation_pad_id(self) -> int:
        configured = getattr(getattr(self.model, "generation_config", None), "pad_token_id", None)
        return self.pad_id if configured is None else int(configured)

    def _strip_end(self, seq: list[int]) -> list[int]:
        for j, tok in enumerate(seq):
            if tok in self.eos_ids or tok == self.pad_id or tok == self._generation_pad_id():
                return seq[:j]
        return seq

    # ------------------------------------------------------------------ teacher forcing
    def completion_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    @torch.inference_mode()
    def token_logprobs(
        self,
        media: Sequence[MediaInputs],
        completions: Sequence[list[int]],
        question: str | None = None,
        batch_size: int = 16,
    ) -> list[torch.Tensor]:
        """Log-prob of every completion token given the prompt and the clip (teacher forcing), batched.

        One forward per batch; the LM head runs (in float32, in blocks) only over the completion positions.
        Token-level audio occlusions (`silence_audio_tokens`) are spliced by an uncached scoring session.
        """
        if any(m.silenced_audio_tokens for m in media):
            from r1omni.scoring import ScoringSession

            return ScoringSession(self, question, cache=False).token_logprobs(media, completions, batch_size)
        prompt = self.prompt_ids(question)
        out: list[torch.Tensor] = []
        for idx in _batched(list(range(len(media))), batch_size):
            seqs = [prompt + list(completions[i]) for i in idx]
            batch = self.collate([media[i] for i in idx], seqs, question)
            longest = max(len(completions[i]) for i in idx)
            hidden = self.hidden_states(**batch, use_cache=False)[0][:, -(longest + 1) :]
            out += completion_logprobs(hidden, self.model.get_output_embeddings(), [completions[i] for i in idx])
        return out

    def hidden_states(self, **inputs) -> tuple[torch.Tensor, object]:
        """(last hidden states (B, L, D), cache) of the LM: the forward without the LM head."""
        out = self.model.model(**inputs)
        return out.last_hidden_state, getattr(out, "cache", None)

    @torch.inference_mode()
    def label_distribution(
        self,
        media: Sequence[MediaInputs],
        texts: Sequence[str],
        labels: Sequence[str],
        question: str | None = None,
        state: GenerationState | None = None,
    ) -> list[dict[str, float]]:
        """p(label) for each clip: teacher-force `<answer>label</answer>` after the reasoning for every label.

        Each label is scored with the tokens the joint text `prefix + label + "</answer>"` tokenises to
        (a pre-tokenizer may merge `>` with the label): the row is forked at the last token boundary
        common to all labels (`_answer_tokens`). With the `state` of the `generate` call that produced the
        completions, its KV cache is reused (cut back to the last generated token that still matches), so
        the prompt and the media are not run again; otherwise the shared prefix is run once. Either way the
        rest of each row's shared part is fed once, and only the label tokens are forked over labels.
        """
        if state is not None:
            for observe in list(self.generation_observers):
                observe(media, state)
        if state is not None and state.cache is not None:
            cache, prev_mask, conts, cands = self._resume_after_generation(state, labels)
        else:
            cache, prev_mask, conts, cands = self._run_answer_prefix(media, texts, labels, question)
        scores = self._score_continuations(cache, prev_mask, conts, cands)
        probs = torch.softmax(scores, dim=-1)
        return [{lab: round(float(p), 6) for lab, p in zip(labels, row, strict=True)} for row in probs]

    def _answer_tokens(self, tail: str, labels: Sequence[str]) -> tuple[list[int], list[list[int]]]:
        """Token ids of `tail + label + "</answer>"` for every label, split into the part common to all
        labels and each label's own tokens (>= 1 each): the fork is at the last common token boundary.

        `tail` is the text after what the caller has already tokenised; it starts at a pre-token boundary of
        every joint text, so tokenising it alone gives the joint text's own tokens.
        """
        seqs = [self.completion_ids(tail + f"{lab}</answer>") for lab in labels]
        common = min(len(s) for s in seqs) - 1
        for j in range(common):
            if any(s[j] != seqs[0][j] for s in seqs[1:]):
                common = j
                break
        return seqs[0][:common], [s[common:] for s in seqs]

    def _pretoken_starts(self, text: str) -> set[int]:
        """Character offsets where a pre-token of `text` starts (every offset if the tokenizer has none)."""
        pre = getattr(getattr(self.tokenizer, "backend_tokenizer", None), "pre_tokenizer", None)
        if pre is None:
            return set(range(len(text) + 1))
        return {a for _, (a, _) in pre.pre_tokenize_str(text)} | {len(text)}

    def _run_answer_prefix(self, media, texts, labels, question):
        """Cache of prompt + shared answer prefix minus its last token (which is fed with the labels)."""
        prompt = self.prompt_ids(question)
        shared, cands = [], []
        for t in texts:
            ids, own = self._answer_tokens(_answer_prefix(t), labels)
            shared.append(prompt + ids)
            cands.append(own)
        batch = self.collate(media, shared, question)
        last = batch["input_ids"][:, -1:].tolist()
        head = {k: (v[:, :-1] if k in ("input_ids", "attention_mask", "position_ids") else v) for k, v in batch.items()}
        _, cache = self.hidden_states(**head, use_cache=True)
        return cache, head["attention_mask"], [row for row in last], cands

    def _resume_after_generation(self, state: GenerationState, labels):
        """Cut the generation cache back to the last generated token that still matches the answer prefix."""
        rows = []  # (generated ids kept, shared tail ids, per-label ids)
        for comp in state.completions:
            target = _answer_prefix(self.tokenizer.decode(comp, skip_special_tokens=True))
            starts = set.intersection(*(self._pretoken_starts(target + f"{lab}</answer>") for lab in labels))
            j, rest = self._aligned_prefix(comp, target, starts)
            tail, own = self._answer_tokens(rest, labels)
            rows.append((list(comp[:j]), tail, own))
        longest_ok = min(len(ids) + len(tail) for ids, tail, _ in rows) - 1  # >= 1 token left to feed
        keep = max(0, min(state.n_generated - 1, min(len(ids) for ids, _, _ in rows), longest_ok))
        cache = state.cache
        excess = cache.get_seq_length() - (state.prompt_mask.shape[1] + keep)
        if excess > 0:
            cache.crop(-excess)
        ones = torch.ones((len(rows), keep), dtype=state.prompt_mask.dtype, device=state.prompt_mask.device)
        conts = [(ids + tail)[keep:] for ids, tail, _ in rows]
        return cache, torch.cat([state.prompt_mask, ones], dim=1), conts, [own for _, _, own in rows]

    def _aligned_prefix(self, comp: list[int], target: str, starts: set[int] | None = None) -> tuple[int, str]:
        """Largest j with decode(comp[:j]) a prefix of `target` ending at one of `starts` (pre-token
        boundaries), and the text of `target` after it."""
        def text(j: int) -> str:
            return self.tokenizer.decode(comp[:j], skip_special_tokens=True)

        lo, hi = 0, len(comp)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if target.startswith(text(mid)):
                lo = mid
            else:
                hi = mid - 1
        while lo > 0 and starts is not None and len(text(lo)) not in starts:
            lo -= 1
        return lo, target[len(text(lo)) :]

    def _score_continuations(self, cache, prev_mask, conts, cands) -> torch.Tensor:
        """(B, K) summed log-prob of label k's tokens cands[b][k] after cache row b + conts[b] (non-empty):
        the fork engine of `r1omni.logprobs.fork_logprobs` (conts fed once, the labels forked after them)."""
        embed = self.model.model.embed_tokens
        rest = [embed(torch.tensor(c, device=self.device)) for c in conts]
        start = prev_mask.sum(-1).tolist()
        return torch.tensor(fork_logprobs(self, cache, prev_mask, rest, start, cands))

    # ------------------------------------------------------------------ predict
    def predict(
        self,
        clips: Iterable[str | Path | media_lib.Clip | MediaInputs],
        label_set_name: str = "dfew",
        question: str | None = None,
        do_sample: bool | None = None,
        max_new_tokens: int | None = None,
        batch_size: int = 8,
        temperature: float | None = None,
    ) -> list[Prediction | ClipError]:
        """Answer every clip; a clip that cannot be read yields a ClipError and the others go on."""
        return list(self.iter_predict(clips, label_set_name, question, do_sample, max_new_tokens, batch_size,
                                      temperature))

    def iter_predict(
        self,
        clips: Iterable[str | Path | media_lib.Clip | MediaInputs],
        label_set_name: str = "dfew",
        question: str | None = None,
        do_sample: bool | None = None,
        max_new_tokens: int | None = None,
        batch_size: int = 8,
        temperature: float | None = None,
    ) -> Iterator[Prediction | ClipError]:
        """`predict` as a stream, in input order: clips are decoded one batch at a time, so memory stays flat
        over any number of clips (only one batch of media tensors is alive)."""
        labels = label_set(label_set_name)
        if batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, got {batch_size}")
        self.max_new_tokens(max_new_tokens)  # a bad limit fails before any clip is decoded
        pending: list[tuple[MediaInputs, dict] | ClipError] = []  # in input order, at most batch_size media
        n_ready = 0
        for clip in clips:
            t0 = time.perf_counter()
            try:
                m = clip if isinstance(clip, MediaInputs) else self.encode(clip)
            except R1OmniError as err:
                pending.append(ClipError(str(getattr(clip, "path", clip)), str(err)))
                continue
            pending.append((m, {"decode_and_features": (time.perf_counter() - t0) * 1000}))
            n_ready += 1
            if n_ready == batch_size:
                yield from self._answer_batch(pending, labels, question, do_sample, max_new_tokens, temperature)
                pending, n_ready = [], 0
        yield from self._answer_batch(pending, labels, question, do_sample, max_new_tokens, temperature)

    def _answer_batch(self, pending, labels, question, do_sample, max_new_tokens, temperature):
        """Generate and score the encoded clips of `pending` as one batch; yield every entry in order."""
        chunk = [e for e in pending if not isinstance(e, ClipError)]
        answers: list[Prediction] = []
        if chunk:
            media = [m for m, _ in chunk]
            timings: dict[str, float] = {}
            ids, state = self.generate(media, question, do_sample, max_new_tokens, temperature=temperature,
                                       timings=timings, return_state=True)
            texts = [self.tokenizer.decode(c, skip_special_tokens=True).strip() for c in ids]
            t0 = time.perf_counter()
            dists = self.label_distribution(media, texts, labels, question, state=state)
            timings["probs"] = (time.perf_counter() - t0) * 1000
            share = {k: v / len(chunk) for k, v in timings.items() if k != "ms_per_token"}
            for (m, own), c, text, dist, cut in zip(chunk, ids, texts, dists, state.clipped, strict=True):
                answers.append(self._prediction(m, c, text, dist, labels, {**own, **share}, timings,
                                                state.max_new_tokens if cut else 0))
        done = iter(answers)
        for entry in pending:
            yield entry if isinstance(entry, ClipError) else next(done)

    def _prediction(self, m, ids, text, dist, labels, timings, batch_timings, clipped_at: int = 0) -> Prediction:
        """`clipped_at`: the max_new_tokens limit the completion ran into (0: it ended with an end token)."""
        parsed = parse_response(text, tuple(labels))
        notices = list(m.notices) + parsed.notices
        if clipped_at:
            closed = "</answer>" in text
            what = " without an end token" if closed else ", no answer"
            notices.append(f"stopped after {clipped_at} tokens{what} (raise max_new_tokens)")
        t = {k: round(v, 2) for k, v in timings.items()}
        if "ms_per_token" in batch_timings:
            t["ms_per_token"] = round(batch_timings["ms_per_token"], 2)
        return Prediction(
            clip=m.clip,
            checkpoint=self.display_name,
            text=text,
            label=parsed.label,
            answer=parsed.answer,
            reasoning=parsed.think,
            well_formed=parsed.well_formed,
            probs=dist,
            modalities={"video": m.has_video, "audio": m.has_audio},
            notices=notices,
            timings_ms=t,
            completion_ids=list(ids),
            clipped=bool(clipped_at),
        )


class _StepStreamer:
    """A transformers streamer (`put` / `end`) that hands each step's new token ids to a callback.

    `generate` first puts the prompt ids (empty here: generation starts from embeddings), then one id per
    row at each step."""

    local = threading.local()

    def __init__(self, on_step):
        self.on_step = on_step
        self._prompt_seen = False

    @classmethod
    def current(cls) -> _StepStreamer | None:
        return getattr(cls.local, "streamer", None)

    def put(self, value) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.on_step([int(v) for v in value.reshape(-1).tolist()])

    def end(self) -> None:
        self._prompt_seen = False


class _FirstStepClock:
    """A logits processor that only records when the first decoding step (end of prefill) happens."""

    def __init__(self):
        self.first: float | None = None

    def __call__(self, input_ids, scores):
        if self.first is None:
            if scores.is_cuda:  # kernels run asynchronously: wait for the prefill to really finish
                torch.cuda.synchronize(scores.device)
            self.first = time.perf_counter()
        return scores


def left_pad(seqs: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) of sequences left-padded to the longest, (B, L) each."""
    length = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    att = torch.zeros((len(seqs), length), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, length - len(s) :] = torch.tensor(s, dtype=torch.long)
        att[i, length - len(s) :] = 1
    return ids, att


def _answer_prefix(text: str) -> str:
    """The completion up to and including `<answer>`, closing the reasoning when the model did not."""
    if "<answer>" in text:
        return text[: text.index("<answer>") + len("<answer>")]
    if "</think>" in text:
        return text[: text.index("</think>") + len("</think>")] + "\n<answer>"
    return text.rstrip() + "\n<answer>"
