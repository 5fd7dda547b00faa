"""The int8 dynamic-quantised CPU path: an option of Pipeline.load and the CLI, refused where it cannot run."""

from __future__ import annotations

import pytest
import torch

from r1omni.errors import UsageError
from r1omni.inference import Pipeline
from tests.media_factory import make_good_clip


def test_int8_pipeline_quantises_every_linear_but_the_head_and_predicts(tiny_checkpoint, tiny_pipeline,
                                                                        tmp_path) -> None:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    pipe = Pipeline.load(tiny_checkpoint, device="cpu", quantize="int8")
    kinds = {name: type(m) for name, m in pipe.model.named_modules()
             if isinstance(m, (torch.nn.Linear, DynamicLinear))}
    assert kinds.pop("lm_head") is torch.nn.Linear  # tied to the embeddings; head_logprobs reads its rows
    assert kinds and all(k is DynamicLinear for k in kinds.values())
    assert pipe.model.get_output_embeddings().weight is pipe.model.model.embed_tokens.weight
    assert pipe.display_name.endswith("(int8 dynamic)")
    clip = make_good_clip("mp4_h264_aac", tmp_path).path
    (q8,) = pipe.predict([clip], max_new_tokens=6)
    (fp,) = tiny_pipeline.predict([clip], max_new_tokens=6)
    assert set(q8.probs) == set(fp.probs) and sum(q8.probs.values()) == pytest.approx(1.0, abs=1e-4)
    assert max(abs(q8.probs[k] - fp.probs[k]) for k in fp.probs) < 0.05  # close to float32, not equal


def test_int8_is_refused_off_cpu_and_for_unknown_choices(tiny_checkpoint) -> None:
    from r1omni.cli import main

    with pytest.raises(UsageError, match="choose one of: none, int8"):
        Pipeline.load(tiny_checkpoint, device="cpu", quantize="int4")
    from r1omni.quantize import check_quantize

    with pytest.raises(UsageError, match="CPU path"):
        check_quantize("int8", "cuda")
    assert check_quantize("none", "cpu") is None
    assert main(["predict", "x.mp4", "--quantize", "int4"]) == 2
