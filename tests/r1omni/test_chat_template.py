"""The checkpoint's own chat template renders the prompt; the reference layout only when it has none.

Inference (Pipeline.prompt_ids) and training (SFTCollator, OmniGRPOTrainer) must build the same prompt.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from r1omni.inference import Pipeline
from r1omni.prompts import DEFAULT_QUESTION, build_input_ids, build_prompt, reference_prompt

# A HumanOmni-sibling style template whose default system turn is not Qwen2-VL's.
OTHER_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
OTHER_TEMPLATE = (
    "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}<|im_start|>system\n" + OTHER_SYSTEM
    + "<|im_end|>\n{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
REFERENCE = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<vi_start><video><vi_end>\n"
    "<au_start><audio><au_end>\n" + DEFAULT_QUESTION + "<|im_end|>\n<|im_start|>assistant\n"
)


def _checkpoint(src: Path, dst: Path, template: str | None, as_processor_file: bool = False) -> Path:
    shutil.copytree(src, dst)
    (dst / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((dst / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (dst / "tokenizer_config.json").write_text(json.dumps(cfg))
    if template and as_processor_file:
        (dst / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    elif template:
        (dst / "chat_template.jinja").write_text(template)
    return dst


def _prompt_text(pipe: Pipeline) -> str:
    return pipe.tokenizer.decode([i for i in pipe.prompt_ids() if i >= 0])


def test_reference_layout_when_the_checkpoint_has_no_template(tiny_checkpoint, tmp_path):
    pipe = Pipeline.load(_checkpoint(tiny_checkpoint, tmp_path / "ck", None), device="cpu")
    assert not pipe.tokenizer.chat_template
    assert build_prompt(DEFAULT_QUESTION, tokenizer=pipe.tokenizer) == REFERENCE == reference_prompt()
    assert _prompt_text(pipe).startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")


def test_the_demo_style_template_gives_the_reference_layout(tiny_pipeline):
    assert tiny_pipeline.tokenizer.chat_template
    assert build_prompt(DEFAULT_QUESTION, tokenizer=tiny_pipeline.tokenizer) == REFERENCE


@pytest.mark.parametrize("as_processor_file", [False, True], ids=["chat_template.jinja", "chat_template.json"])
def test_the_checkpoint_template_is_used_by_inference_and_training(tiny_checkpoint, tmp_path, as_processor_file):
    from training.data import SFTCollator

    folder = _checkpoint(tiny_checkpoint, tmp_path / "ck", OTHER_TEMPLATE, as_processor_file)
    pipe = Pipeline.load(folder, device="cpu")
    text = _prompt_text(pipe)
    assert text.startswith(f"<|im_start|>system\n{OTHER_SYSTEM}<|im_end|>\n<|im_start|>user\n<vi_start>")
    assert text.endswith(DEFAULT_QUESTION + "<|im_end|>\n<|im_start|>assistant\n")
    collator = SFTCollator(pipe.tokenizer, SimpleNamespace(config=pipe.config))
    ids, labels = collator.encode_text(DEFAULT_QUESTION, "<answer>happy</answer>")
    prompt = pipe.prompt_ids()
    assert ids[: len(prompt)] == prompt and labels[: len(prompt)] == [-100] * len(prompt)
    # an explicit system turn goes through the template too
    explicit = build_prompt(DEFAULT_QUESTION, "Be brief.", pipe.tokenizer)
    assert explicit.startswith("<|im_start|>system\nBe brief.<|im_end|>") and OTHER_SYSTEM not in explicit
    assert build_input_ids(pipe.tokenizer, explicit, 1, 1, expand=False).count(-201) == 1
