"""Defaults from the checkpoint (issue 17 item 2): the new-token limit of every tab is the checkpoint's
generation_config.json max_new_tokens (else 2048), and the default explain mode follows a measured warm-up
prediction through a pure function of its seconds (no timing assertions)."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from r1omni.errors import UsageError
from r1omni.inference import Pipeline
from r1omni.ui.backend import FULL_BUDGET_S, FULL_COST_RATIO, Backend, default_explain_mode
from tests.ui.app_fixtures import EXAMPLES, ROOT


def with_limit(tiny_checkpoint, folder, limit: int):
    """A copy of the tiny checkpoint whose generation_config.json says max_new_tokens = limit."""
    shutil.copytree(tiny_checkpoint, folder)
    gen = json.loads((folder / "generation_config.json").read_text())
    gen["max_new_tokens"] = limit
    (folder / "generation_config.json").write_text(json.dumps(gen))
    return folder


@pytest.fixture(scope="module")
def ckpt_1500(tiny_checkpoint, tmp_path_factory):
    return with_limit(tiny_checkpoint, tmp_path_factory.mktemp("gen") / "tiny-1500", 1500)


@pytest.fixture(scope="module")
def backend_1500(ckpt_1500):
    return Backend(Pipeline.load(ckpt_1500, device="cpu"))


def test_the_explain_mode_is_a_pure_function_of_the_measured_seconds():
    edge = FULL_BUDGET_S / FULL_COST_RATIO
    assert default_explain_mode(0.2) == "full" and default_explain_mode(edge) == "full"
    assert default_explain_mode(edge * 1.01) == "fast" and default_explain_mode(20.0) == "fast"  # R1-Omni-0.5B CPU
    assert default_explain_mode(None) == "fast"  # nothing measured: the cheap mode, full on request
    assert default_explain_mode(5.0, budget_s=60, full_cost_ratio=5.3) == "full"


def test_the_token_limit_is_the_checkpoints_else_2048(backend_1500, tiny_pipeline):
    assert (backend_1500.pipeline.model.generation_config.max_new_tokens, backend_1500.max_new_tokens) == (1500, 1500)
    assert getattr(tiny_pipeline.model.generation_config, "max_new_tokens", None) is None
    assert Backend(tiny_pipeline).max_new_tokens == 2048


def test_library_and_live_calls_default_to_the_checkpoints_limit(backend_1500):
    (res,) = backend_1500.predict_clips([EXAMPLES / "synth_00002.mp4"])
    assert "stopped after 1500 tokens, no answer (raise max_new_tokens)" in res["notices"]  # random weights run on
    live = backend_1500.explain_window(None, [], np.zeros(16000, np.float32), 1.0)
    assert any("stopped after 1500 tokens" in n for n in live["prediction"]["notices"])


def test_the_warm_up_measures_one_prediction_and_the_mode_follows_it(backend_1500):
    be = backend_1500
    be.explain_mode_setting, be.predict_s = "auto", None
    assert be.explain_mode() == "fast"
    seconds = be.warm_up(EXAMPLES / "synth_00000.mp4")
    assert seconds is not None and seconds > 0 and be.predict_s == seconds
    assert be.explain_mode() == default_explain_mode(seconds)
    be.predict_s = 1000.0
    assert be.explain_mode() == "fast"
    be.predict_s = 0.01
    assert be.explain_mode() == "full"
    be.explain_mode_setting = "fast"  # --explain-mode fast|full overrides the measurement
    assert be.explain_mode() == "fast"
    be.explain_mode_setting = "auto"


def test_a_warm_up_on_a_bad_clip_leaves_the_mode_fast(backend_1500, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    be = Backend(backend_1500.pipeline)
    assert be.warm_up(bad) is None and be.predict_s is None and be.explain_mode() == "fast"


def test_the_explain_mode_flag(tmp_path):
    sys.path.insert(0, str(ROOT))
    import app as app_module

    assert app_module.parse_args(["--db", str(tmp_path / "db")]).explain_mode == "auto"
    assert app_module.parse_args(["--explain-mode", "full", "--db", str(tmp_path / "db")]).explain_mode == "full"
    with pytest.raises(SystemExit):
        app_module.parse_args(["--explain-mode", "slow"])
    with pytest.raises(UsageError):
        Backend(object.__new__(Pipeline), explain_mode="slow")
