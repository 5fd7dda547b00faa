"""Live tab: one clock for camera and microphone, bounded buffers at the model's input size, the tick that
stops by itself and never queues twice (plain objects with a fake clock; the browser test drives devices)."""

import numpy as np
import pytest

from r1omni.ui import live_tab


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_mic_chunks_resample_48k_int16_stereo_to_16k_mono():
    sr = 48000
    t = np.arange(sr) / sr
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    x = live_tab.to_16k_mono(sr, np.stack([tone, tone], axis=1))
    assert x.dtype == np.float32 and len(x) == 16000
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins over 1 s
    assert np.abs(x).max() == pytest.approx(0.5, abs=0.02)


def test_buffers_are_bounded_and_frames_kept_at_model_input_size():
    clock = Clock()
    buf = live_tab.LiveBuffer(frame_px=384, clock=clock)
    for _ in range(40):  # 40 s of audio in 1 s chunks
        buf.add_audio(48000, np.zeros(48000, np.int16))
        clock.t += 1.0
    assert len(buf.audio) <= int(live_tab.MAX_WINDOW_S * 16000)
    big = np.zeros((1440, 1920, 3), np.uint8)
    for _ in range(30):
        buf.add_frame(big)
        clock.t += 0.5
    assert max(buf.frames[0].shape[:2]) == 384  # the model's input size, not a 128 px thumbnail
    assert len(buf.frames) <= live_tab.MAX_WINDOW_S / 0.5 + 1


def test_one_clock_a_microphone_started_10_s_before_the_camera_keeps_both_in_the_window():
    clock = Clock()
    buf = live_tab.LiveBuffer(frame_px=64, clock=clock)
    for _ in range(20):  # microphone alone for 10 s
        buf.add_audio(16000, np.full(8000, 1000, np.int16))
        clock.t += 0.5
    for _ in range(4):  # then the camera, 2 s
        buf.add_frame(np.zeros((48, 64, 3), np.uint8))
        buf.add_audio(16000, np.full(8000, 1000, np.int16))
        clock.t += 0.5
    frames, times, audio, dur = buf.window(4)
    assert frames is not None and len(frames) == 4 and all(0 <= t <= 4 for t in times)
    assert audio is not None and len(audio) == int(3.5 * 16000) and dur == 4  # last chunk arrived 0.5 s ago
    status = buf.status()
    assert "4 frames buffered" in status and "s buffered" in status


def test_audio_older_than_the_window_is_dropped_and_camera_only_works():
    clock = Clock()
    buf = live_tab.LiveBuffer(frame_px=64, clock=clock)
    buf.add_audio(16000, np.zeros(16000, np.int16))  # 1 s of audio, then the microphone stops
    for _ in range(20):  # camera only, 10 s later
        clock.t += 0.5
        buf.add_frame(np.zeros((48, 64, 3), np.uint8))
    frames, _, audio, _ = buf.window(4)
    assert audio is None and len(frames) == 9  # 4 s at 2 fps (both ends inclusive)
    assert "no new audio" in buf.status()


class _Backend:
    max_new_tokens = 1500  # the checkpoint's limit (Backend.max_new_tokens: generation_config.json, else 2048)

    def __init__(self):
        self.calls = []
        self.pipeline = type("P", (), {"image_size": 64})()

    def explain_window(self, frames, times, audio, dur, label_set, max_new_tokens):
        self.calls.append((None if frames is None else frames.shape, None if audio is None else audio.shape,
                           max_new_tokens))
        from tests.ui.explain_samples import sample_explain

        return sample_explain()


def test_tick_explains_with_a_long_enough_answer_and_disarms_when_both_devices_stop(monkeypatch):
    clock = Clock()
    buf = live_tab.LiveBuffer(frame_px=64, clock=clock)
    monkeypatch.setattr(live_tab, "buffer_for", lambda request, px=0: buf)
    be = _Backend()
    out = live_tab.predict_live(be, [], 4, "dfew")
    assert out[0] == [] and not be.calls and "no frames" in out[4]  # nothing yet: skipped
    buf.add_audio(16000, np.zeros(8000, np.int16))  # microphone only
    clock.t += 0.5
    hist, fig, label, reasoning, status, timer = live_tab.predict_live(be, [], 4, "dfew")
    assert be.calls == [(None, (8000,), 1500)]  # the checkpoint's new-token limit, not a fixed cap
    assert hist[-1]["label"] == "happy" and "mouth" in reasoning and "0.5 s buffered" in status
    clock.t += live_tab.STOP_AFTER_S + 1  # both devices silent
    *_, status, timer = live_tab.predict_live(be, hist, 4, "dfew")
    assert timer.active is False and "stopped" in status and len(be.calls) == 1


def test_live_events_have_no_time_limit_and_the_tick_never_queues_twice(running_app):
    demo = running_app[2]
    deps = demo.config["dependencies"]
    names = {c["id"]: c.get("props", {}).get("elem_id") for c in demo.config["components"]}
    streams = [d for d in deps if any(t[1] == "stream" for t in d["targets"])]
    assert {names[t[0]] for d in streams for t in d["targets"]} == {"live-cam", "live-mic"}
    assert all(d.get("time_limit") is None for d in streams)
    ticks = [d for d in deps if any(t[1] == "tick" for t in d["targets"])]
    assert len(ticks) == 1 and ticks[0]["trigger_mode"] == "once"
