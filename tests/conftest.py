"""Shared fixtures: a tiny random checkpoint written to disk once per session, its pipeline, real clips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

# Tiny models on a 2-core machine shared with other processes run far faster on one thread.
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the checkout; R1OMNI_REAL_CLIPS points elsewhere (e.g. from a git worktree).
REAL_CLIPS = Path(os.environ.get("R1OMNI_REAL_CLIPS") or ROOT.parent / "shared" / "data" / "real-clips")


@pytest.fixture(scope="session", autouse=True)
def _user_data_dir(tmp_path_factory):
    """Flag calibrations live in a per-user data folder (r1omni.explain.calibration): the tests use their own,
    so a calibration on the developer's machine never changes what they see."""
    old = os.environ.get("R1OMNI_DATA_DIR")
    os.environ["R1OMNI_DATA_DIR"] = str(tmp_path_factory.mktemp("r1omni-data"))
    yield
    if old is None:
        os.environ.pop("R1OMNI_DATA_DIR", None)
    else:
        os.environ["R1OMNI_DATA_DIR"] = old


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny-preset checkpoint folder (random weights, own tokenizers) in the real layout."""
    from r1omni.checkpoint import init_checkpoint

    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    init_checkpoint("tiny", out)
    return out


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_checkpoint):
    from r1omni.inference import Pipeline

    return Pipeline.load(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="session")
def real_clips() -> list[Path]:
    """The licensed real recordings beside the repo; the tests using them skip when ../shared is absent."""
    if not REAL_CLIPS.is_dir():
        pytest.skip("../shared/data/real-clips is not present")
    return sorted(p for p in REAL_CLIPS.rglob("*") if p.suffix.lower() in {".mp4", ".flv", ".mp3"})
