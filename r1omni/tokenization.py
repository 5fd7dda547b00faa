"""Small tokenizers of our own, trained on a built-in English corpus (deterministic, offline, milliseconds).

- `build_lm_tokenizer`: byte-level BPE with the Qwen special tokens (<|endoftext|> pad, <|im_start|>,
  <|im_end|> eos) and a Qwen2-VL-style ChatML chat template ("You are a helpful assistant." system turn).
- `build_bert_tokenizer`: lower-casing WordPiece with [PAD] [UNK] [CLS] [SEP] [MASK] for the BERT gate.
- `tiny_model_and_tokenizers(seed)`: the tiny preset model (fp32, eval) with both tokenizers, for tests.

They stand in for the Qwen and bert-base-uncased tokenizers, which are not available offline. This module
knows nothing about checkpoints on disk.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertTokenizerFast, PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
QWEN_SPECIAL_TOKENS = (PAD_TOKEN, IM_START, IM_END)
# Qwen2-VL's added tokens after the three above (ids 151646.. in the real tokenizer).
QWEN2VL_EXTRA_TOKENS = (
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
QWEN_FIRST_SPECIAL_ID = 151643

# ChatML with a default system turn, as the Qwen2-VL template R1-Omni ships (r1omni.md 2.1 / 3.2).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

_EMOTIONS = (
    "happy",
    "surprise",
    "surprised",
    "neutral",
    "angry",
    "disgust",
    "disgusted",
    "sad",
    "fear",
    "fearful",
    "contempt",
    "anxiety",
    "helplessness",
    "disappointment",
    "calm",
)
_CUES = (
    "the corners of the mouth turn up into a smile",
    "the brows are drawn together and lowered",
    "the eyes are wide open",
    "the voice is loud and sharp",
    "the pitch of the voice rises",
    "the tone is flat and slow",
    "the speech is fast and tense",
    "the face looks relaxed",
    "the mouth is open in shock",
    "the lips are pressed together",
    "the head is lowered",
    "the voice trembles",
    "the speaker sighs",
    "the man frowns",
    "the woman laughs",
    "there is no clear expression on the face",
    "the gestures are quick and forceful",
    "the volume of the voice drops",
    "the eyes look down",
    "the nose wrinkles",
)
PROMPT = (
    "As an emotional recognition expert; throughout the video, which emotion conveyed by the characters is the "
    "most obvious to you?  Output the thinking process in <think> </think> and final emotion in <answer> "
    "</answer> tags."
)


def default_corpus() -> list[str]:
    """A small English corpus: the R1-Omni prompt, tags, emotion words and reasoning-like sentences."""
    lines = [PROMPT, PROMPT.replace("  Output", "\nOutput"), "<vi_start><vi_end>\n<au_start><au_end>"]
    for i, (emotion, cue) in enumerate(itertools.product(_EMOTIONS, _CUES)):
        other = _CUES[(i * 7 + 3) % len(_CUES)]
        lines.append(
            f"<think>In the video, {cue}. In the audio, {other}. These cues suggest that the person is {emotion}."
            f"</think>\n<answer>{emotion}</answer>"
        )
    lines += [f"The emotion is {e}. The person feels {e}. {e.capitalize()}!" for e in _EMOTIONS]
    lines += ["0 1 2 3 4 5 6 7 8 9 10 100 ; : , . ? ! ( ) [ ] { } < > / - _ ' \" + = * & % $ # @ |"]
    return lines


def _pad_vocab_to(tok: Tokenizer, first_special_id: int) -> Tokenizer:
    """Extend a trained BPE vocab with filler entries so the next added token gets id `first_special_id`."""
    vocab = tok.get_vocab()
    merges = tok.model.get_merges() if hasattr(tok.model, "get_merges") else None
    if merges is None:
        import json

        state = json.loads(tok.to_str())
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["model"]["merges"]]
    for i in range(len(vocab), first_special_id):
        vocab[f"<|filler_{i}|>"] = i
    padded = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    padded.pre_tokenizer = tok.pre_tokenizer
    padded.decoder = tok.decoder
    return padded


def build_lm_tokenizer(
    corpus_lines: Iterable[str] | None = None,
    vocab_size: int = 512,
    *,
    qwen_ids: bool = False,
    extra_special_tokens: Sequence[str] = (),
) -> PreTrainedTokenizerFast:
    """Byte-level BPE tokenizer + Qwen specials + ChatML template. Deterministic for a given corpus.

    With `qwen_ids=True` the vocab is padded with filler entries so the specials get the real Qwen ids
    (<|endoftext|> 151643, <|im_start|> 151644, <|im_end|> 151645, then the Qwen2-VL extras).
    """
    lines = list(corpus_lines) if corpus_lines is not None else default_corpus()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[] if qwen_ids else list(QWEN_SPECIAL_TOKENS),
    )
    tok.train_from_iterator(lines, trainer=trainer)
    specials = list(QWEN_SPECIAL_TOKENS) + [t for t in extra_special_tokens if t not in QWEN_SPECIAL_TOKENS]
    if qwen_ids:
        tok = _pad_vocab_to(tok, QWEN_FIRST_SPECIAL_ID)
        tok.add_special_tokens(specials)
    elif len(specials) > len(QWEN_SPECIAL_TOKENS):
        tok.add_special_tokens(specials[len(QWEN_SPECIAL_TOKENS) :])
    extras = [t for t in specials if t not in (PAD_TOKEN, IM_END)]
    out = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        additional_special_tokens=extras,
        padding_side="left",
        model_max_length=32768,
    )
    out.chat_template = CHAT_TEMPLATE
    return out


def build_bert_tokenizer(corpus_lines: Iterable[str] | None = None, vocab_size: int = 256) -> BertTokenizerFast:
    """Lower-casing WordPiece tokenizer ([PAD]=0 [UNK] [CLS] [SEP] [MASK]) for the BERT gate. Deterministic."""
    lines = list(corpus_lines) if corpus_lines is not None else default_corpus()
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=1, show_progress=False, special_tokens=list(BERT_SPECIAL_TOKENS)
    )
    tok.train_from_iterator(lines, trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        do_lower_case=True,
        model_max_length=128,
    )


def tiny_model_and_tokenizers(seed: int = 0, **overrides):
    """(model fp32 eval, lm_tokenizer, bert_tokenizer) for the tiny preset; built in well under a second."""
    import torch

    from r1omni.config import preset_config
    from r1omni.modeling import HumanOmniQwen2ForCausalLM

    lm_tok = build_lm_tokenizer(vocab_size=512)
    bert_tok = build_bert_tokenizer(vocab_size=256)
    config = preset_config(
        "tiny",
        vocab_size=len(lm_tok),
        bert_vocab_size=len(bert_tok),
        eos_token_id=lm_tok.eos_token_id,
        pad_token_id=lm_tok.pad_token_id,
        **overrides,
    )
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(seed)
        model = HumanOmniQwen2ForCausalLM(config).float().eval()
    return model, lm_tok, bert_tok
