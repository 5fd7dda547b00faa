"""Live tab ring buffers and resampling (plain functions; gradio_client cannot drive .stream events)."""

import time

import numpy as np
import pytest

from r1omni.ui import live_tab


def test_mic_chunks_resample_48k_int16_stereo_to_16k_mono():
    sr = 48000
    t = np.arange(sr) / sr
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    x = live_tab.to_16k_mono(sr, np.stack([tone, tone], axis=1))
    assert x.dtype == np.float32 and len(x) == 16000
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins over 1 s
    assert np.abs(x).max() == pytest.approx(0.5, abs=0.02)


def test_buffers_are_bounded_and_small():
    buf = None
    for _ in range(40):
        buf = live_tab.add_audio((48000, np.zeros(48000, np.int16)), buf)
    assert len(buf["audio"]) == int(live_tab.MAX_WINDOW_S * 16000)
    cam = None
    big = np.zeros((1440, 1920, 3), np.uint8)
    for _ in range(3):
        cam = live_tab.add_frame(big, cam)
    assert max(cam["frames"][0].shape[:2]) <= live_tab.FRAME_PX and len(cam["times"]) == 3
    cam["times"][0] -= 100  # an old frame drops out of the ring on the next add
    cam = live_tab.add_frame(big, cam)
    assert len(cam["frames"]) == 3


def test_window_and_status_say_what_is_missing():
    empty = live_tab.empty_buffer()
    assert "camera: no frames" in live_tab.device_status(empty)
    assert "microphone: no audio" in live_tab.device_status(empty)
    cam = live_tab.add_frame(np.zeros((48, 64, 3), np.uint8), None)
    buf = live_tab._merge(cam, None)
    frames, times, audio, dur = live_tab.window(buf, 4)
    assert frames.shape == (1, 48, 64, 3) and audio is None and 0 <= times[0] <= 4 and dur == 4
    status = live_tab.device_status(buf)
    assert "1 frames buffered" in status and "microphone: no audio" in status


class _Backend:
    def __init__(self):
        self.calls = []

    def explain_window(self, frames, times, audio, dur, label_set, max_new_tokens):
        self.calls.append((None if frames is None else frames.shape, None if audio is None else audio.shape))
        from tests.ui.explain_samples import sample_explain

        return sample_explain()


def test_predict_live_skips_without_input_and_appends_history_with_input():
    be = _Backend()
    out = live_tab.predict_live(be, None, None, [], 4, "dfew")
    assert out[0] == [] and not be.calls and "no frames" in out[-1]
    mic = live_tab.add_audio((16000, np.zeros(8000, np.int16)), None)
    time.sleep(0.01)
    hist, fig, label, reasoning, status = live_tab.predict_live(be, None, mic, [], 4, "dfew")
    assert be.calls == [(None, (8000,))]
    assert hist[-1]["label"] == "happy" and hist[-1]["audio_share"] == 0.25
    assert "happy" in label and "mouth" in reasoning and "0.5 s buffered" in status
