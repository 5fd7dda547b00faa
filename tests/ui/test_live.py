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


def _spy(monkeypatch, backend, during=None):
    """Record each explain_window call of the real backend; `during()` runs while the window is explained."""
    calls = []
    real = backend.explain_window

    def explain_window(frames, times, audio, dur, label_set, max_new_tokens):
        calls.append((None if frames is None else frames.shape, None if audio is None else audio.shape,
                      max_new_tokens))
        if during:
            during()
        return real(frames, times, audio, dur, label_set=label_set, max_new_tokens=16)

    monkeypatch.setattr(backend, "explain_window", explain_window)
    return calls


def test_tick_explains_with_a_long_enough_answer_and_disarms_when_both_devices_stop(monkeypatch, running_app):
    be = running_app[2].r1omni_backend
    clock = Clock()
    buf = live_tab.LiveBuffer(frame_px=64, clock=clock)
    monkeypatch.setattr(live_tab, "buffer_for", lambda request, px=0: buf)
    calls = _spy(monkeypatch, be)
    out = live_tab.predict_live(be, [], 4, "dfew")
    assert out[0] == [] and not calls and "no frames" in out[4]  # nothing yet: skipped
    buf.add_audio(16000, np.zeros(8000, np.int16))  # microphone only
    clock.t += 0.5
    hist, fig, label, reasoning, status, timer, notices = live_tab.predict_live(be, [], 4, "dfew")
    assert calls == [(None, (8000,), be.max_new_tokens)]  # the checkpoint's new-token limit, not a fixed cap
    assert len(hist) == 1 and "checkpoint:" in label and "0.5 s buffered" in status
    assert "no camera frames" in notices
    clock.t += live_tab.STOP_AFTER_S + 1  # both devices silent
    *_, status, timer, _ = live_tab.predict_live(be, hist, 4, "dfew")
    assert timer.active is False and "stopped" in status and len(calls) == 1


def test_a_timeline_point_carries_the_time_of_the_window_it_explains(monkeypatch, running_app):
    be = running_app[2].r1omni_backend
    clock = Clock()
    buf = live_tab.LiveBuffer(frame_px=64, clock=clock)
    monkeypatch.setattr(live_tab, "buffer_for", lambda request, px=0: buf)

    def slow():  # the explanation takes 5 s on the buffer's clock
        clock.t += 5.0

    _spy(monkeypatch, be, during=slow)
    for _ in range(12):  # 6 s of camera and microphone
        buf.add_frame(np.zeros((48, 64, 3), np.uint8))
        buf.add_audio(16000, np.zeros(8000, np.int16))
        clock.t += 0.5
    hist = live_tab.predict_live(be, [], 4, "dfew")[0]
    assert hist[-1]["t"] == 6.0 and hist[-1]["window"] == [2.0, 6.0]  # not 11.0, when it finished


def test_stop_drops_the_window_being_explained_and_a_restart_starts_a_new_timeline(monkeypatch, running_app):
    be = running_app[2].r1omni_backend
    real = be.explain_window
    clock = Clock()
    buf = live_tab.LiveBuffer(frame_px=64, clock=clock)
    monkeypatch.setattr(live_tab, "buffer_for", lambda request, px=0: buf)
    live_tab.start_live(64)
    for _ in range(8):
        buf.add_frame(np.zeros((48, 64, 3), np.uint8))
        clock.t += 0.5
    calls = _spy(monkeypatch, be, during=lambda: live_tab.stop_live(64))  # Stop pressed mid-explanation
    out = live_tab.predict_live(be, [], 4, "dfew")
    assert len(calls) == 1 and out[5].active is False
    assert all(isinstance(o, dict) and o.get("__type__") == "update" and len(o) == 1 for o in out[:5] + out[6:])
    live_tab.on_frame(64, np.zeros((48, 64, 3), np.uint8))  # a frame still on its way after Stop: dropped
    assert len(buf.frames) == 8
    out = live_tab.predict_live(be, [], 4, "dfew")  # a tick already queued: runs nothing
    assert len(calls) == 1 and out[5].active is False
    old = [{"run": buf.run, "t": 3.5, "label": "happy"}]
    live_tab.start_live(64)  # Start again: a new clock and an empty buffer
    assert buf.t0 is None and not buf.frames
    calls.clear()
    monkeypatch.setattr(be, "explain_window", real)
    for _ in range(4):
        live_tab.on_frame(64, np.zeros((48, 64, 3), np.uint8))
        clock.t += 0.5
    hist = live_tab.predict_live(be, old, 4, "dfew")[0]
    assert hist[0] == old[0] and hist[1]["run"] == old[0]["run"] + 1 and hist[1]["t"] == 2.0


def test_the_demo_checkpoint_says_its_answer_means_nothing_on_live_input(running_app):
    from r1omni.inference import Pipeline
    from r1omni.ui.backend import Backend

    res = {"prediction": {"label": "happy", "modalities": {"video": True, "audio": True}}}
    win = live_tab.Window(np.zeros((8, 64, 64, 3), np.uint8), [0.5 * i for i in range(8)], None, 4.0, 0.0, 4.0)
    demo = Backend(Pipeline.load(None, device="cpu"))
    assert any("demo checkpoint knows drawn synthetic faces" in n for n in live_tab.live_notices(demo, res, win))
    tiny = running_app[2].r1omni_backend
    assert not any("demo checkpoint" in n for n in live_tab.live_notices(tiny, res, win))


def test_live_events_have_no_time_limit_and_the_tick_never_queues_twice(running_app):
    demo = running_app[2]
    deps = demo.config["dependencies"]
    names = {c["id"]: c.get("props", {}).get("elem_id") for c in demo.config["components"]}
    streams = [d for d in deps if any(t[1] == "stream" for t in d["targets"])]
    assert {names[t[0]] for d in streams for t in d["targets"]} == {"live-cam", "live-mic"}
    assert all(d.get("time_limit") is None for d in streams)
    ticks = [d for d in deps if any(t[1] == "tick" for t in d["targets"])]
    assert len(ticks) == 1 and ticks[0]["trigger_mode"] == "once"
