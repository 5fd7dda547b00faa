"""A tiny random-weight pipeline and in-memory clips for the explain tests (built once per session)."""

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def tiny_pipe():
    from r1omni.inference import Pipeline
    from r1omni.tokenization import tiny_model_and_tokenizers

    model, tok, btok = tiny_model_and_tokenizers(seed=0)
    return Pipeline(model, tok, btok, "tiny", torch.device("cpu"))


@pytest.fixture
def make_clip():
    from r1omni.media import Clip

    def make(video: bool = True, audio: bool = True, duration: float = 4.0, audio_s: float | None = None, seed=0):
        rng = np.random.default_rng(seed)
        frames = rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8) if video else None
        n = int(16000 * (duration if audio_s is None else audio_s))
        wave = (0.3 * np.sin(np.arange(n) * 0.05) + 0.05 * rng.standard_normal(n)).astype(np.float32)
        return Clip(f"clip{seed}.mp4", frames, list(range(8)), [i * duration / 8 for i in range(8)],
                    wave if audio else None, duration, video, audio)

    return make
