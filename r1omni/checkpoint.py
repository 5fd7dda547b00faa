"""Checkpoint I/O: resolve a folder (or hub id, only with network), load with a strict key check, save, layout,
and write random-weight checkpoints in the real R1-Omni layout.

A checkpoint is a folder with `config.json` (model_type HumanOmni_qwen2), `model.safetensors` (or shards +
`model.safetensors.index.json`) and tokenizer files; our own checkpoints also hold the gate's BERT tokenizer
in `bert_tokenizer/`. Weights are read with safetensors only; `.bin`/`.pt` pickles are refused unless the
caller opts in (then `torch.load(weights_only=True)`). `lm_head.weight` is tied to the embeddings and not
stored. This module knows nothing about media, prompts or the UI.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from r1omni import model_cache
from r1omni.config import HumanOmniQwen2Config, load_config, preset_config
from r1omni.errors import CheckpointError, UsageError
from r1omni.modeling import HumanOmniQwen2ForCausalLM, default_dtype

logger = logging.getLogger(__name__)

SAFE_WEIGHTS = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"
GENERATION_CONFIG = "generation_config.json"
PICKLE_PATTERNS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "*.bin", "*.pt", "*.pth")
BERT_TOKENIZER_DIR = "bert_tokenizer"
_TIED_KEY = "lm_head.weight"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}
_SAFETENSORS_DTYPE = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}


# ---------------------------------------------------------------------------------------------------------------
# resolving


def resolve_checkpoint(path_or_id: str | Path, allow_network: bool = False) -> Path:
    """A local checkpoint folder; a hub id is downloaded (snapshot) only when `allow_network` is True."""
    p = Path(str(path_or_id)).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise CheckpointError(f"checkpoint folder {p} has no config.json")
        return p.resolve()
    if p.exists():
        raise CheckpointError(f"checkpoint {p} is a file; pass the folder that holds config.json and the weights")
    if _HUB_ID.match(str(path_or_id)) and not str(path_or_id).startswith((".", "/", "~")):
        if not allow_network:
            raise CheckpointError(
                f"checkpoint {path_or_id!r} is not a local folder; hub ids are downloaded only when network access "
                "is allowed (--allow-network), otherwise pass a local folder"
            )
        try:
            from huggingface_hub import snapshot_download

            folder = snapshot_download(
                repo_id=str(path_or_id),
                allow_patterns=["*.json", "*.safetensors", "*.txt", "*.jinja", "*.model", f"{BERT_TOKENIZER_DIR}/*"],
            )
        except Exception as e:  # network, auth, missing repo: one line for the user
            raise CheckpointError(f"cannot download checkpoint {path_or_id!r} from the hub: {e}") from e
        return resolve_checkpoint(folder)
    raise CheckpointError(f"checkpoint folder not found: {path_or_id}")


def resolve_dtype(dtype: torch.dtype | str | None, device: str | torch.device) -> torch.dtype:
    """None -> default for the device (bf16 on CUDA, fp32 on CPU); strings like "bf16" accepted."""
    if dtype is None or dtype == "auto":
        return default_dtype(device)
    if isinstance(dtype, torch.dtype):
        return dtype
    if str(dtype).lower() in _DTYPES:
        return _DTYPES[str(dtype).lower()]
    raise UsageError(f"unknown dtype {dtype!r}; use one of float32, bfloat16, float16")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """ "auto" -> cuda when available, else cpu."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise UsageError(f"unknown device {device!r}; use auto, cpu or cuda") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' requested but no CUDA device is available; use --device cpu")
    return dev


# ---------------------------------------------------------------------------------------------------------------
# building without allocating


@contextlib.contextmanager
def _params_on_meta() -> Iterator[None]:
    """Create parameters on the meta device while buffers (rotary inv_freq, position ids) stay real."""
    original = nn.Module.register_parameter

    def register(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        original(module, name, param)
        if param is not None:
            p = module._parameters[name]
            module._parameters[name] = nn.Parameter(p.to("meta"), requires_grad=p.requires_grad)

    nn.Module.register_parameter = register  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter = original  # type: ignore[method-assign]


def _tied(config: HumanOmniQwen2Config) -> bool:
    return bool(getattr(config, "tie_word_embeddings", False))


def expected_keys(model: nn.Module) -> dict[str, torch.Size]:
    """State-dict entries a checkpoint must store for `model` (tied lm_head excluded)."""
    sd = model.state_dict()
    skip = {_TIED_KEY} if _tied(model.config) else set()
    return {k: v.shape for k, v in sd.items() if k not in skip}


def layout(preset: str | HumanOmniQwen2Config = "r1-omni-0.5b", **overrides) -> list[tuple[str, tuple[int, ...]]]:
    """Every stored state-dict entry (name, shape) of a preset, built on the meta device (no memory)."""
    config = preset if isinstance(preset, HumanOmniQwen2Config) else preset_config(preset, **overrides)
    with torch.device("meta"):
        model = HumanOmniQwen2ForCausalLM(config)
    return [(k, tuple(s)) for k, s in expected_keys(model).items()]


# ---------------------------------------------------------------------------------------------------------------
# loading


def _weight_files(folder: Path, allow_pickle: bool) -> tuple[str, list[Path]]:
    """("safetensors" | "pickle", files). Raises CheckpointError when nothing usable is there."""
    if (folder / SAFE_INDEX).is_file():
        try:
            index = json.loads((folder / SAFE_INDEX).read_text())
            names = sorted(set(index["weight_map"].values()))
        except (ValueError, KeyError) as e:
            raise CheckpointError(f"{folder / SAFE_INDEX} is not a valid safetensors index: {e}") from e
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise CheckpointError(f"checkpoint {folder} is missing shard files: {', '.join(missing[:3])}")
        return "safetensors", [folder / n for n in names]
    if (folder / SAFE_WEIGHTS).is_file():
        return "safetensors", [folder / SAFE_WEIGHTS]
    shards = sorted(folder.glob("model-*.safetensors"))
    if shards:
        return "safetensors", shards
    pickles = sorted({p for pat in PICKLE_PATTERNS[2:] for p in folder.glob(pat)})
    if pickles:
        if not allow_pickle:
            raise CheckpointError(
                f"checkpoint {folder} has only pickle weights ({pickles[0].name}); pickle files can run code when "
                "loaded, so they are refused unless you pass --allow-pickle (or convert them to safetensors)"
            )
        return "pickle", pickles
    raise CheckpointError(f"checkpoint {folder} has no weights (expected {SAFE_WEIGHTS} or {SAFE_INDEX})")


def _iter_tensors(kind: str, files: list[Path]) -> Iterator[tuple[str, torch.Tensor]]:
    if kind == "safetensors":
        from safetensors import SafetensorError, safe_open

        for f in files:
            try:
                with safe_open(str(f), framework="pt") as handle:
                    for key in handle.keys():  # noqa: SIM118 (safe_open is not iterable)
                        yield key, handle.get_tensor(key)
            except SafetensorError as e:  # e.g. an LFS pointer instead of real weights
                raise CheckpointError(f"cannot read {f.name}: {e} (is it a real safetensors file?)") from e
    else:
        for f in files:
            if f.name.endswith(".index.json"):
                continue
            try:
                sd = torch.load(str(f), map_location="cpu", weights_only=True)
            except Exception as e:
                raise CheckpointError(f"cannot read pickle weights {f.name}: {e}") from e
            yield from (sd.get("state_dict", sd) if isinstance(sd, dict) else {}).items()


def _read_keys(kind: str, files: list[Path]) -> dict[str, tuple[int, ...]]:
    if kind == "safetensors":
        from safetensors import safe_open

        shapes: dict[str, tuple[int, ...]] = {}
        for f in files:
            try:
                with safe_open(str(f), framework="pt") as handle:
                    for key in handle.keys():  # noqa: SIM118 (safe_open is not iterable)
                        shapes[key] = tuple(handle.get_slice(key).get_shape())
            except Exception as e:
                raise CheckpointError(f"cannot read {f.name}: {e} (is it a real safetensors file?)") from e
        return shapes
    return {k: tuple(v.shape) for k, v in _iter_tensors(kind, files)}


def _few(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


def check_keys(expected: dict[str, torch.Size], found: dict[str, tuple[int, ...]], where: str) -> None:
    """Strict key/shape check; CheckpointError (one line, counts + first names) on any difference."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected and k != _TIED_KEY]
    wrong = [
        f"{k} {list(found[k])} vs {list(expected[k])}"
        for k in expected
        if k in found and tuple(found[k]) != tuple(expected[k])
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({_few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({_few(unexpected)})")
        if wrong:
            parts.append(f"{len(wrong)} with wrong shape (checkpoint vs model: {_few(wrong, 2)})")
        raise CheckpointError(f"checkpoint {where} does not match the model: " + "; ".join(parts))


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | str | None = None,
    allow_pickle: bool = False,
    allow_network: bool = False,
) -> HumanOmniQwen2ForCausalLM:
    """Load a checkpoint folder with a strict key check; parameters in `dtype` (default per device), eval mode."""
    folder = resolve_checkpoint(path, allow_network=allow_network)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    config = load_config(folder)
    kind, files = _weight_files(folder, allow_pickle)
    with _params_on_meta():
        model = HumanOmniQwen2ForCausalLM(config)
    expected = expected_keys(model)
    check_keys(expected, _read_keys(kind, files), str(folder))
    params = dict(model.named_parameters())
    for key, tensor in _iter_tensors(kind, files):
        if key not in expected:
            continue  # a stored lm_head of a tied model: the tie below wins
        if tensor.is_floating_point():
            tensor = tensor.to(device=dev, dtype=dt)
        else:
            tensor = tensor.to(dev)
        if key in params:
            target = params[key]
            model.get_submodule(key.rpartition(".")[0])._parameters[key.rpartition(".")[2]] = nn.Parameter(
                tensor, requires_grad=target.requires_grad
            )
        else:  # a persistent buffer
            owner, _, leaf = key.rpartition(".")
            model.get_submodule(owner)._buffers[leaf] = tensor
    if _tied(config):
        model.lm_head.weight = model.model.embed_tokens.weight
    model.to(dev)  # buffers (rotary frequencies stay float32)
    leftovers = [n for n, p in model.named_parameters() if p.is_meta]
    if leftovers:  # cannot happen after a passing key check; guards the loader itself
        raise CheckpointError(f"checkpoint {folder} left {len(leftovers)} parameters unset ({_few(leftovers)})")
    model.config._name_or_path = str(folder)
    model.config.dtype = dt
    model.generation_config = load_generation_config(folder, model.generation_config)
    if (folder / GENERATION_CONFIG).is_file():
        read = {k: v for k, v in model.generation_config.to_diff_dict().items() if k not in _NOT_DECODING}
        model_cache.cached(model, DECODING_KEY, lambda: read)
    model.eval()
    logger.info("loaded %s (%s, %s, %d tensors)", folder, dev, dt, len(expected))
    return model


def load_generation_config(folder: Path, fallback):
    """The checkpoint's `generation_config.json` as transformers reads it for `model.generate`, else `fallback`
    (the defaults transformers derives from config.json when the file is absent)."""
    from transformers import GenerationConfig

    if not (folder / GENERATION_CONFIG).is_file():
        return fallback
    try:
        return GenerationConfig.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read {folder / GENERATION_CONFIG}: {e}") from e


def _processor_chat_template(folder: Path) -> str | None:
    path = folder / "chat_template.json"
    if not path.is_file():
        return None
    try:
        template = json.loads(path.read_text()).get("chat_template")
    except (OSError, ValueError, AttributeError) as e:
        raise CheckpointError(f"cannot read {path}: {e}") from e
    return template if isinstance(template, str) and template else None


def load_tokenizers(path: str | Path, allow_network: bool = False):
    """(lm_tokenizer, bert_tokenizer) of a checkpoint. The BERT tokenizer is looked up in `bert_tokenizer/`,
    then the config's `bert_tokenizer_path` (absolute or relative to the folder), then the hub if allowed."""
    from transformers import AutoTokenizer

    folder = resolve_checkpoint(path, allow_network=allow_network)
    try:
        lm_tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as e:
        raise CheckpointError(f"cannot load the tokenizer of checkpoint {folder}: {e}") from e
    if not lm_tok.chat_template:  # a processor-style chat_template.json (R1-Omni ships Qwen2-VL's)
        lm_tok.chat_template = _processor_chat_template(folder)
    candidates = [folder / BERT_TOKENIZER_DIR]
    configured = load_config(folder).bert_tokenizer_path
    if configured:
        p = Path(configured).expanduser()
        candidates.append(p if p.is_absolute() else folder / p)
    for c in candidates:
        if c.is_dir() and any((c / f).is_file() for f in ("tokenizer.json", "vocab.txt")):
            return lm_tok, AutoTokenizer.from_pretrained(str(c), local_files_only=True)
    if allow_network:
        try:
            return lm_tok, AutoTokenizer.from_pretrained("bert-base-uncased")
        except Exception as e:
            raise CheckpointError(f"cannot download the bert-base-uncased tokenizer: {e}") from e
    raise CheckpointError(
        f"no BERT tokenizer for the gate in {folder} (looked in {BERT_TOKENIZER_DIR}/ and bert_tokenizer_path); "
        "it is not part of the released R1-Omni files: put a bert-base-uncased tokenizer there or allow network"
    )


# ---------------------------------------------------------------------------------------------------------------
# saving


def _write_config(config: HumanOmniQwen2Config, out: Path, bert_tokenizer_dir: str | None) -> None:
    cfg = HumanOmniQwen2Config(**{k: v for k, v in config.to_dict().items() if k != "model_type"})
    cfg.architectures = ["HumanOmniQwen2ForCausalLM"]
    if bert_tokenizer_dir:
        cfg.bert_tokenizer_path = bert_tokenizer_dir
    # sub-configs are always embedded (resolved at construction), so the folder is self-contained
    cfg.to_json_file(str(out / "config.json"), use_diff=False)


# The decoding settings of each loaded checkpoint's generation_config.json (repetition penalty, n-gram blocking,
# token limits, sampling defaults), as read from disk, kept in the model's cache: a model trained from it and
# saved keeps them. Kept apart from `model.generation_config`, which trainers may change for their own sampling.
DECODING_KEY = "decoding settings read at load"
_NOT_DECODING = {"bos_token_id", "eos_token_id", "pad_token_id", "transformers_version", "_from_model_config"}


def decoding_settings(model) -> dict[str, Any]:
    """The decoding settings `model` was loaded with (empty for a model built from a config)."""
    return dict(model_cache.peek(model, DECODING_KEY, {}))


def _write_generation_config(config: HumanOmniQwen2Config, out: Path, decoding: dict | None = None) -> None:
    from transformers import GenerationConfig

    gen = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id,
        **(decoding or {}),
    )
    gen.save_pretrained(str(out))


def save_checkpoint(
    model: HumanOmniQwen2ForCausalLM, *args, tokenizer=None, bert_tokenizer=None, out_dir: str | Path | None = None,
    state_dict: dict | None = None,
) -> Path:
    """Write config.json (sub-configs embedded), model.safetensors (tied lm_head not stored), tokenizers.

    Call as `save_checkpoint(model, tokenizer, bert_tokenizer, out_dir)` or
    `save_checkpoint(model, out_dir, tokenizer=..., bert_tokenizer=...)`. `state_dict` replaces
    `model.state_dict()` (a trainer's gathered full state dict under sharded training).
    """
    if len(args) == 3:
        tokenizer, bert_tokenizer, out_dir = args
    elif len(args) == 1:
        out_dir = args[0]
    elif args:
        raise UsageError("save_checkpoint(model, tokenizer, bert_tokenizer, out_dir) or (model, out_dir, ...)")
    if out_dir is None:
        raise UsageError("save_checkpoint needs an output folder")
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    skip = {_TIED_KEY} if _tied(model.config) else set()
    source = model.state_dict() if state_dict is None else state_dict
    sd = {k: v.detach().contiguous().cpu() for k, v in source.items() if k not in skip}
    save_file(sd, str(out / SAFE_WEIGHTS), metadata={"format": "pt"})
    _write_config(model.config, out, BERT_TOKENIZER_DIR if bert_tokenizer is not None else None)
    _write_generation_config(model.config, out, decoding_settings(model))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))
    if bert_tokenizer is not None:
        bert_tokenizer.save_pretrained(str(out / BERT_TOKENIZER_DIR))
    return out


# ---------------------------------------------------------------------------------------------------------------
# random-weight checkpoints in the real layout


def _init_rule(name: str, shape: tuple[int, ...]) -> str:
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "bias":
        return "zeros"
    is_norm = any(s in name for s in ("norm", "LayerNorm", ".bn.", "layernorm"))
    if len(shape) == 1 and is_norm:
        return "ones"
    return "normal"


def _random_tensor(name: str, shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    rule = _init_rule(name, shape)
    if rule == "zeros":
        return torch.zeros(shape, dtype=dtype)
    if rule == "ones":
        return torch.ones(shape, dtype=dtype)
    return torch.randn(shape, generator=gen, dtype=torch.float32).mul_(0.02).to(dtype)


def write_random_safetensors(
    entries: list[tuple[str, tuple[int, ...]]], path: Path, dtype: torch.dtype = torch.bfloat16, seed: int = 0
) -> int:
    """Stream a random-weight safetensors file tensor by tensor (peak memory: one tensor). Returns bytes written."""
    if dtype not in _SAFETENSORS_DTYPE:
        raise UsageError(f"unsupported checkpoint dtype {dtype}; use float32, bfloat16 or float16")
    itemsize = torch.empty((), dtype=dtype).element_size()
    header: dict[str, dict] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in entries:
        n = itemsize * int(torch.Size(shape).numel())
        header[name] = {"dtype": _SAFETENSORS_DTYPE[dtype], "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    gen = torch.Generator().manual_seed(seed)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name, shape in entries:
            t = _random_tensor(name, shape, dtype, gen).contiguous()
            f.write(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return 8 + len(blob) + offset


_README = """# Random-weight {preset} checkpoint (stand-in)

This folder was written by `r1omni init-checkpoint --preset {preset}`. It has the module tree, parameter names
and shapes of R1-Omni-0.5B's released `model.safetensors` layout ({n_tensors} tensors, {n_params:,} parameters,
{dtype}), but **the weights are random** (normal(0, 0.02), norms 1, biases 0; seed {seed}) and **the tokenizers
are small stand-ins** trained by this project on a tiny built-in English corpus (byte-level BPE with the Qwen
special tokens at {special_ids}; a lower-case WordPiece tokenizer for the BERT gate in `bert_tokenizer/`).

Use it to benchmark speed and memory, or to test loading, on a machine without the real weights. Its outputs
are meaningless. It is not R1-Omni and not HumanOmni.
"""


def init_checkpoint(
    preset: str, out_dir: str | Path, dtype: torch.dtype | str = torch.bfloat16, seed: int = 0, **overrides
) -> Path:
    """Write a random-weight checkpoint of `preset` (config.json with sub-configs, model.safetensors, tokenizers,
    README.md) that loads back with zero missing/unexpected keys. Streams the weights (one tensor in memory)."""
    from r1omni.tokenization import QWEN2VL_EXTRA_TOKENS, build_bert_tokenizer, build_lm_tokenizer

    dt = resolve_dtype(dtype, "cpu")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if preset == "r1-omni-0.5b":
        lm_tok = build_lm_tokenizer(vocab_size=3000, qwen_ids=True, extra_special_tokens=QWEN2VL_EXTRA_TOKENS)
        bert_tok = build_bert_tokenizer(vocab_size=2000)
        config = preset_config(preset, **overrides)
        if len(lm_tok) > config.vocab_size:
            raise UsageError(f"tokenizer has {len(lm_tok)} entries, more than vocab_size {config.vocab_size}")
    else:
        sizes = {"tiny": (512, 256), "demo": (2048, 1024)}.get(preset, (512, 256))
        lm_tok = build_lm_tokenizer(vocab_size=sizes[0])
        bert_tok = build_bert_tokenizer(vocab_size=sizes[1])
        kw = {
            "vocab_size": len(lm_tok),
            "bert_vocab_size": len(bert_tok),
            "eos_token_id": lm_tok.eos_token_id,
            "pad_token_id": lm_tok.pad_token_id,
        } | overrides
        config = preset_config(preset, **kw)
    entries = layout(config)
    write_random_safetensors(entries, out / SAFE_WEIGHTS, dt, seed)
    config.dtype = dt
    _write_config(config, out, BERT_TOKENIZER_DIR)
    _write_generation_config(config, out)
    lm_tok.save_pretrained(str(out))
    bert_tok.save_pretrained(str(out / BERT_TOKENIZER_DIR))
    n_params = sum(int(torch.Size(s).numel()) for _, s in entries)
    special_ids = ", ".join(
        f"{t} {lm_tok.convert_tokens_to_ids(t)}" for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
    )
    (out / "README.md").write_text(
        _README.format(
            preset=preset,
            n_tensors=len(entries),
            n_params=n_params,
            dtype=str(dt).replace("torch.", ""),
            seed=seed,
            special_ids=special_ids,
        )
    )
    logger.info("wrote random %s checkpoint to %s (%d tensors, %d params)", preset, out, len(entries), n_params)
    return out
