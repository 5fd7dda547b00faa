"""A tiny model at R1-Omni's real vocabulary size, and a tokenizer with Qwen2's pre-tokenizer (tests, bench).

`realsize_pipeline()`: a few-layer model of the tiny preset but with vocab_size 151,936 (the released
checkpoint's), so anything that holds (rows x positions x vocabulary) floats shows up in memory as it would
on the real model. `qwen2_style_tokenizer()`: byte-level BPE trained on the small default corpus, but with
Qwen2's pre-tokenizer (its split regex, then ByteLevel without regex), so `<answer>happy` pre-tokenises to
`<answer`, `>happy` as with the real tokenizer; the specials sit at the real Qwen ids (151643...).
Built from configs and the `tokenizers` API only: nothing downloads.
"""

from __future__ import annotations

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from r1omni import tokenization as tk

REAL_VOCAB_SIZE = 151936
# Qwen2's pre-tokenizer split pattern (tokenizer.json of Qwen2 / R1-Omni-0.5B).
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def qwen2_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])


def qwen2_style_tokenizer(vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """BPE with Qwen2's normaliser and pre-tokenizer, trained on `tokenization.default_corpus()`."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = qwen2_pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(tk.default_corpus(), trainer=trainer)
    tok = tk._pad_vocab_to(tok, tk.QWEN_FIRST_SPECIAL_ID)
    tok.normalizer = normalizers.NFC()
    specials = list(tk.QWEN_SPECIAL_TOKENS)
    tok.add_special_tokens(specials)
    out = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=tk.IM_END, pad_token=tk.PAD_TOKEN,
                                  additional_special_tokens=[tk.IM_START], padding_side="left",
                                  model_max_length=32768)
    out.chat_template = tk.CHAT_TEMPLATE
    return out


def realsize_model(tokenizer, bert_vocab_size: int, seed: int = 0, **overrides):
    """The tiny preset with the real vocabulary size (fp32, eval, seeded), built from its config."""
    from r1omni.config import preset_config
    from r1omni.modeling import HumanOmniQwen2ForCausalLM

    config = preset_config("tiny", vocab_size=REAL_VOCAB_SIZE, bert_vocab_size=bert_vocab_size,
                           eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return HumanOmniQwen2ForCausalLM(config).float().eval()


def realsize_pipeline(seed: int = 0, qwen2_pretokenizer: bool = True, **overrides):
    """A CPU `Pipeline` of the real-vocabulary tiny model (Qwen2-style tokenizer unless told otherwise)."""
    from r1omni.inference import Pipeline

    tok = qwen2_style_tokenizer() if qwen2_pretokenizer else tk.build_lm_tokenizer(qwen_ids=True)
    tok.padding_side = "left"
    bert = tk.build_bert_tokenizer(vocab_size=256)
    model = realsize_model(tok, len(bert), seed=seed, **overrides)
    return Pipeline(model, tok, bert, "tiny at real vocabulary size (random weights)", torch.device("cpu"))
