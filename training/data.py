"""Training rows, media encoding and the SFT collator.

Rows come from our CSV manifests (DESIGN 3.4, via `r1omni.manifest.read_manifest`) or from R1-Omni's
training JSON (`video`, `conversations` with a human and a gpt turn; the gpt text is the SFT target and
its `<answer>` the label). Media are encoded the way R1-Omni trained: 8 segment-midpoint frames padded
to a square with (127,127,127) (`image_aspect_ratio="pad"`), Whisper log-mel of the clip's audio, and
the BERT-tokenised question for the gate. A missing audio or video track is replaced by the masking
baseline (silence / grey frames) with a logged notice, never silently.

This module builds tensors; it does not train. It imports r1omni only through its public modules.
"""

from __future__ import annotations

import atexit
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from r1omni.errors import UsageError
from r1omni.prompts import DEFAULT_QUESTION, build_input_ids, build_prompt, normalize_label

logger = logging.getLogger(__name__)

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_MARKERS = re.compile(r"<video>|<audio>|<image>|<vi_start>|<vi_end>|<au_start>|<au_end>")
SYNTHETIC_COLUMNS = ("cue_modality",)


@dataclass
class TrainRow:
    """One training clip: where it is, its label, the question asked and (for SFT) the target text."""

    path: Path | None
    label: str | None
    question: str = DEFAULT_QUESTION
    target: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def solution(self) -> str | None:
        """The GRPO reference in R1-Omni's form, `<answer> label </answer>`."""
        return f"<answer> {self.label} </answer>" if self.label else None


def load_rows(manifest: str | Path, question: str | None = None) -> list[TrainRow]:
    """Rows of a CSV manifest or an R1-Omni training JSON; `question` overrides the per-row question."""
    manifest = Path(manifest)
    rows = _load_json(manifest) if manifest.suffix.lower() == ".json" else _load_csv(manifest)
    if question is not None:
        for row in rows:
            row.question = question
    if not rows:
        raise UsageError(f"manifest '{manifest}' has no rows")
    return rows


def _load_csv(manifest: Path) -> list[TrainRow]:
    from r1omni.manifest import read_manifest

    rows = []
    for rec in read_manifest(manifest):
        meta = dict(rec.meta)
        meta.setdefault("dataset", rec.dataset)
        rows.append(TrainRow(path=Path(rec.path), label=rec.label, question=meta.pop("question", None)
                             or DEFAULT_QUESTION, target=meta.pop("response", None) or None, meta=meta))
    return rows


def _load_json(manifest: Path) -> list[TrainRow]:
    if not manifest.is_file():
        raise UsageError(f"manifest '{manifest}' does not exist or is not a file")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(f"cannot read manifest '{manifest}': {err}") from None
    if not isinstance(data, list):
        raise UsageError(f"manifest '{manifest}' must be a JSON list of {{'video', 'conversations'}} records")
    rows = []
    for i, rec in enumerate(data):
        if not isinstance(rec, dict) or "video" not in rec:
            raise UsageError(f"manifest '{manifest}' record {i} has no 'video'")
        human = next((t.get("value", "") for t in rec.get("conversations", []) if t.get("from") == "human"), "")
        gpt = next((t.get("value", "") for t in rec.get("conversations", []) if t.get("from") == "gpt"), None)
        answer = None
        if gpt is not None:
            m = _ANSWER.search(gpt)
            answer = (m.group(1) if m else gpt).strip()
        q = " ".join(_MARKERS.sub(" ", human).split()) or DEFAULT_QUESTION
        target = gpt.strip() if gpt and "<think>" in gpt else None
        meta = {k: v for k, v in rec.items() if k not in ("video", "conversations")}
        rows.append(TrainRow(path=(manifest.parent / str(rec["video"])).resolve(),
                             label=normalize_label(answer) or answer, question=q, target=target, meta=meta))
    return rows


def sft_target(row: TrainRow) -> str:
    """The SFT completion of a row: its own target text, else the truthful synthetic reasoning."""
    if row.target:
        return row.target
    if row.meta.get("cue_modality"):
        import numpy as np

        from r1omni.synthetic import build_reasoning

        seed = int(float(row.meta.get("seed") or 0))
        return build_reasoning({**row.meta, "label": row.label}, np.random.default_rng([seed, 0x5F7]))
    if row.label:
        raise UsageError(f"row '{row.path}' has a label but no reasoning target (add a 'response' column)")
    raise UsageError(f"row '{row.path}' has neither a label nor a target")


def grpo_records(rows: Sequence[TrainRow]) -> list[dict[str, Any]]:
    """Dataset records for OmniGRPOTrainer: `prompt` (the question), `path`, `solution`, `label` + metadata."""
    records = []
    for row in rows:
        rec = {k: v for k, v in row.meta.items() if isinstance(v, (str, int, float, bool)) or v is None}
        rec.update(prompt=row.question, path=str(row.path) if row.path else "", solution=row.solution,
                   label=row.label)
        records.append(rec)
    return records


# ---------------------------------------------------------------------------------------------------------------
# Media


DEFAULT_CACHE_MB = 1024  # per process; the paper config's clips are about 6.1 MB each (8 x 224 px + 30 s of mel)


@dataclass
class EncodedClip:
    pixel_values_videos: torch.Tensor  # (T, 3, S, S) float32 in [-1, 1]
    input_features: torch.Tensor  # (128, L) Whisper log-mel
    notices: list[str] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.pixel_values_videos, self.input_features))


class ClipCache:
    """Encoded clips by path, least recently used first out, holding at most `max_bytes` of tensors.

    Memory stays flat whatever the number of clips in the manifest; a clip larger than the whole budget
    is not kept. `hits` / `misses` / `evictions` count what happened.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max(0, int(max_bytes))
        self.nbytes = 0
        self.hits = self.misses = self.evictions = 0
        self._items: OrderedDict[str, EncodedClip] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> EncodedClip | None:
        clip = self._items.get(key)
        if clip is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return clip

    def put(self, key: str, clip: EncodedClip) -> None:
        size = clip.nbytes
        if size > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.nbytes -= old.nbytes
        self._items[key] = clip
        self.nbytes += size
        while self.nbytes > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self.nbytes -= dropped.nbytes
            self.evictions += 1


def encode_media(path: str | Path, config, pixel_mode: str = "pad") -> EncodedClip:
    """Decode a clip and build the model's media tensors (training: pad-to-square frames)."""
    from r1omni import media

    clip = media.decode_clip(path, num_frames=config.num_frames)
    notices = list(clip.notices)
    if clip.has_video and clip.frames is not None:
        pixels = media.frames_to_pixels(clip.frames, config.image_size, mode=pixel_mode)
    else:
        pixels = media.grey_pixels(config.num_frames, config.image_size)
        notices.append("no video: grey frames used")
    if clip.has_audio and clip.audio is not None:
        feats = media.log_mel(clip.audio, num_samples=config.audio_num_samples)
    else:
        feats = media.silence_features(config.audio_num_samples)
        notices.append("no audio: silence used")
    for notice in notices:
        logger.info("%s: %s", Path(path).name, notice)
    return EncodedClip(pixels, feats, notices)


def gate_inputs(gate_tokenizer, questions: Sequence[str], max_length: int = 64) -> dict[str, torch.Tensor]:
    """BERT-tokenised questions for the instruction gate, padded to the batch."""
    enc = gate_tokenizer(list(questions), padding=True, truncation=True, max_length=max_length,
                         return_tensors="pt")
    return {"gate_input_ids": enc["input_ids"], "gate_attention_mask": enc["attention_mask"]}


def _child_init() -> None:
    torch.set_num_threads(1)


def _encode_by_value(path: str, config, pixel_mode: str) -> tuple[Any, Any, list[str]]:
    """`encode_media` in a child, returned as numpy arrays: torch would share tensors through file
    descriptors that die with a recycled child before the parent reads them."""
    enc = encode_media(path, config, pixel_mode)
    return enc.pixel_values_videos.numpy(), enc.input_features.numpy(), enc.notices


class DecodePool:
    """Decodes clips (`encode_media`) in child processes that are replaced after every `recycle` clips.

    decord 0.6.0's AudioReader keeps about 0.3 MB per opened file (measured: bench/training_data_memory.py),
    so a training process that decodes every clip itself grows with the number of clips (4 GB per rank
    for 15,306 clips). Children start from a forkserver that has imported this module, so replacing them
    is cheap; several workers also decode a batch in parallel. (The executor is replaced between
    batches rather than through `max_tasks_per_child`, which can hang on Python 3.11.)
    """

    def __init__(self, workers: int = 1, recycle: int = 200):
        import multiprocessing

        self.workers, self.recycle = max(1, workers), max(1, recycle)
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["training.data"])
        self._pool = None
        self._decoded = 0
        atexit.register(self.close)  # before interpreter teardown, where the executor's own cleanup fails

    def encode_many(self, paths: Sequence[str], config, pixel_mode: str) -> list[EncodedClip]:
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is not None and self._decoded >= self.recycle:
            self.close()
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=self._ctx, initializer=_child_init)
            self._decoded = 0
        self._decoded += len(paths)
        futures = [self._pool.submit(_encode_by_value, p, config, pixel_mode) for p in paths]
        out = []
        for f in futures:
            pixels, feats, notices = f.result()  # a MediaError from a child is raised here, as in-process
            out.append(EncodedClip(torch.from_numpy(pixels), torch.from_numpy(feats), notices))
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class MediaEncoder:
    """Callable rows -> batched media tensors, with an in-memory LRU cache of encoded clips.

    Rows are dicts with `path` (or `video`) and `prompt`/`question`; `clip_fn`, when given, maps a row to
    an `EncodedClip` instead of decoding a file (the demo build uses it for in-memory synthetic clips).
    The cache holds at most `cache_mb` MB of tensors per process (`ClipCache`); 0 or `cache=False` turns
    it off (every row decoded again). With `decode_workers` > 0 files are decoded in recycled child
    processes (`DecodePool`), so this process's memory does not grow with the number of clips decoded.
    """

    def __init__(self, config, gate_tokenizer, pixel_mode: str = "pad", cache: bool = True,
                 clip_fn: Callable[[dict[str, Any]], EncodedClip] | None = None, cache_mb: float = DEFAULT_CACHE_MB,
                 decode_workers: int = 0):
        self.config = config
        self.gate_tokenizer = gate_tokenizer
        self.pixel_mode = pixel_mode
        self.clip_fn = clip_fn
        self._cache = ClipCache(int(cache_mb * 2**20)) if cache and cache_mb > 0 else None
        self.decode_workers = decode_workers
        self._pool: DecodePool | None = None

    @staticmethod
    def _path(row: dict[str, Any]) -> str:
        path = str(row.get("path") or row.get("video") or "")
        if not path:
            raise UsageError("training row has no 'path' or 'video' column")
        return path

    def _decode(self, paths: Sequence[str]) -> list[EncodedClip]:
        if self.decode_workers <= 0:
            return [encode_media(p, self.config, self.pixel_mode) for p in paths]
        if self._pool is None:
            self._pool = DecodePool(self.decode_workers)
        return self._pool.encode_many(paths, self.config, self.pixel_mode)

    def encode_rows(self, rows: Sequence[dict[str, Any]]) -> list[EncodedClip]:
        """One `EncodedClip` per row: cached ones, the others decoded together (in parallel with a pool)."""
        if self.clip_fn is not None:
            return [self.clip_fn(r) for r in rows]
        paths = [self._path(r) for r in rows]
        got: dict[str, EncodedClip] = {}
        for p in paths:
            if self._cache is not None and p not in got and (hit := self._cache.get(p)) is not None:
                got[p] = hit
        todo = list(dict.fromkeys(p for p in paths if p not in got))
        for p, enc in zip(todo, self._decode(todo), strict=True):
            got[p] = enc
            if self._cache is not None:
                self._cache.put(p, enc)
        return [got[p] for p in paths]

    def encode_row(self, row: dict[str, Any]) -> EncodedClip:
        return self.encode_rows([row])[0]

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        clips = self.encode_rows(rows)
        questions = [str(r.get("prompt") or r.get("question") or DEFAULT_QUESTION) for r in rows]
        return {
            "pixel_values_videos": torch.stack([c.pixel_values_videos for c in clips]),  # (B, T, 3, S, S)
            "input_features": torch.stack([c.input_features for c in clips]),  # (B, 128, L)
            **gate_inputs(self.gate_tokenizer, questions),
        }


# ---------------------------------------------------------------------------------------------------------------
# SFT


class SFTCollator:
    """Features `{"path"|clip, "question", "target"}` -> model batch for the LM loss on the completion.

    Output: input_ids (expanded placeholders, right-padded), attention_mask, labels (-100 on the prompt
    and padding), pixel_values_videos, input_features, gate_input_ids, gate_attention_mask.
    """

    def __init__(self, tokenizer, media_encoder: MediaEncoder, system_prompt: str | None = None,
                 max_length: int | None = None):
        self.tokenizer = tokenizer
        self.media_encoder = media_encoder
        self.system_prompt = system_prompt
        self.max_length = max_length
        config = media_encoder.config
        self.n_video, self.n_audio = config.num_video_tokens, config.num_audio_tokens

    def encode_text(self, question: str, target: str) -> tuple[list[int], list[int]]:
        """(input ids, labels) of one example; the completion ends with EOS."""
        # the same prompt as Pipeline.prompt_ids: the checkpoint's chat template when it has one
        prompt = build_input_ids(self.tokenizer, build_prompt(question, self.system_prompt, self.tokenizer),
                                 self.n_video, self.n_audio)
        completion = self.tokenizer(target, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        ids = prompt + completion
        labels = [-100] * len(prompt) + completion
        if self.max_length is not None and len(ids) > self.max_length:
            ids, labels = ids[: self.max_length], labels[: self.max_length]
        return ids, labels

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        encoded = [self.encode_text(f.get("question") or DEFAULT_QUESTION, f["target"]) for f in features]
        width = max(len(ids) for ids, _ in encoded)
        input_ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        labels = torch.full((len(encoded), width), -100, dtype=torch.long)
        attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, (ids, lab) in enumerate(encoded):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, : len(lab)] = torch.tensor(lab)
            attention_mask[i, : len(ids)] = 1
        rows = [{**f, "prompt": f.get("question") or DEFAULT_QUESTION} for f in features]
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
                **self.media_encoder(rows)}


def sft_records(rows: Sequence[TrainRow]) -> list[dict[str, Any]]:
    """Dataset records for the SFT collator: path, question, target."""
    return [{"path": str(r.path), "question": r.question, "target": sft_target(r)} for r in rows]
