"""Pure converters: explain JSON -> figures, highlight tuples, table rows (no gradio, no model)."""

import numpy as np
import pytest

from r1omni.ui import views
from tests.ui.explain_samples import sample_explain


def test_reasoning_highlights_cover_the_think_text_only_and_label_by_modality():
    res = sample_explain()
    spans = views.reasoning_highlights(res)
    assert "".join(t for t, _ in spans) == "The mouth curves up into a smile. The voice sounds calm."
    labels = dict((t.strip(), lab) for t, lab in spans)
    assert labels["mouth"] == views.VISUAL
    assert labels["into"] == views.WEAK  # zero attribution
    # tokens of the flagged audio claim are marked as flagged, whatever their modality
    assert labels["voice"] == views.FLAGGED and labels["calm."] == views.FLAGGED
    assert "happy" not in labels  # the answer token is outside <think>


def test_reasoning_highlight_threshold_is_relative_and_audio_wins_when_larger():
    res = sample_explain()
    res["claims"] = []
    labels = dict((t.strip(), lab) for t, lab in views.reasoning_highlights(res))
    assert labels["voice"] == views.AUDIO and labels["sounds"] == views.AUDIO
    assert labels["The"] == views.WEAK  # 0.01 < 10% of 0.9


def test_reasoning_without_tokens_falls_back_to_plain_text():
    res = sample_explain()
    res["tokens"] = []
    assert views.reasoning_highlights(res) == [(res["prediction"]["reasoning"], None)]


def test_claims_labels_and_colours():
    res = sample_explain()
    spans = views.claim_highlights(res)
    assert spans[0] == ("The mouth curves up into a smile.", "visual")
    assert spans[1][1].startswith("⚑")
    cmap = views.claims_color_map(res)
    assert cmap[spans[1][1]] == views.COLOR_MAP[views.FLAGGED]


def test_probs_figure_highlights_the_predicted_label():
    fig = views.probs_figure(sample_explain()["prediction"])
    bar = fig.data[0]
    assert list(bar.x) == ["happy", "sad", "neutral"]
    assert bar.marker.color[0] != bar.marker.color[1]


def test_modality_figure_marks_absent_audio_unavailable():
    fig = views.modality_figure(sample_explain(has_audio=False))
    audio = [t for t in fig.data if t.name == "audio"][0]
    assert "unavailable" in audio.text[0] and audio.x[0] == 0
    video = [t for t in fig.data if t.name == "video"][0]
    assert video.x[0] == pytest.approx(1.0)


def test_notices_name_missing_audio_and_outside_label_set():
    notes = views.notices(sample_explain(has_audio=False, label=None))
    assert any("no audio track" in n for n in notes)
    assert any("outside the label set" in n for n in notes)
    assert views.notices(sample_explain()) == []


def test_gate_frames_gallery_and_audio_figures():
    res = sample_explain()
    assert list(views.gate_figure(res["gate"]).data[0].x) == [0.2, 0.3, 0.5]
    assert list(views.frame_figure(res["frames"]).data[0].y) == [0.1, 0.5, -0.2, 0.0]
    thumbs = [np.zeros((8, 8, 3), np.uint8)] * 4
    caps = [c for _, c in views.frame_gallery(thumbs, res["frames"])]
    assert caps[1] == "0.5s +0.50"  # short enough for a thumbnail (the legend says what it is)
    audio = np.sin(np.linspace(0, 100, 32000)).astype(np.float32)
    fig = views.audio_figure(audio, 16000, res["audio_segments"])
    assert len(fig.layout.shapes) == 2  # one shaded window per segment
    assert "no audio" in views.audio_figure(None, 16000, []).layout.title.text


def test_envelope_keeps_extremes_and_duration():
    audio = np.zeros(16000, np.float32)
    audio[1234] = 0.9
    audio[9000] = -0.7
    t, lo, hi = views.envelope(audio, 16000, points=100)
    assert hi.max() == pytest.approx(0.9) and lo.min() == pytest.approx(-0.7)
    assert len(t) <= 100 and t[-1] < 1.0


def test_library_rows_table_filters_and_confusion():
    res = sample_explain()["prediction"]
    rows = [views.library_row("a.mp4", 2.0, "happy", res), views.library_row("b.mp4", None, "sad", res),
            views.library_row("c.mp4", 1.0, "sad", None), views.library_row("d.mp4", 1.0, "sad", {"error": "bad"})]
    assert rows[0]["correct"] == "✓" and rows[1]["correct"] == "✗" and rows[2]["predicted"] == ""
    assert rows[0]["confidence"] == 0.6 and rows[3]["predicted"] == "error" and rows[3]["flags"] == "bad"
    assert list(views.library_table(rows, correct="wrong")["file"]) == ["b.mp4"]
    assert list(views.library_table(rows, correct="not run")["file"]) == ["c.mp4"]
    assert list(views.library_table(rows, label="sad", search="D")["file"]) == ["d.mp4"]
    fig = views.confusion_figure(["happy"], ["happy", "other"], [[2, 1]])
    assert fig.data[0].z[0][1] == 1
    md = views.metrics_markdown({"all": {"WAR": 0.5, "UAR": 0.25, "n": 4}}, 4, 5)
    assert "4 / 5" in md and "0.250" in md


def test_compare_table_lists_only_disagreements():
    a = [{"label": "happy"}, {"label": "sad"}, None]
    b = [{"label": "happy"}, {"label": "fear"}, {"label": "sad"}]
    df = views.compare_table(["x", "y", "z"], ["happy", "sad", None], a, b)
    assert df.to_dict("records") == [{"file": "y", "true label": "sad", "A": "sad", "B": "fear"}]


def test_timeline_figure_traces():
    hist = [{"t": 1.0, "label": "happy", "confidence": 0.7, "video_share": 0.6, "audio_share": 0.4},
            {"t": 4.0, "label": "sad", "confidence": 0.5, "video_share": 0.3, "audio_share": 0.7}]
    fig = views.timeline_figure(hist)
    by_name = {d.name: d for d in fig.data}
    assert list(by_name["emotion"].y) == ["happy", "sad"] and list(by_name["audio share"].y) == [0.4, 0.7]


def test_timeline_labels_are_a_lane_not_text_over_every_point_and_a_restart_starts_a_new_timeline():
    labels = ["disgust", "happiness", "neutral"]
    run1 = [{"run": 1, "t": 4.0 + 3 * i, "window": [3 * i, 4.0 + 3 * i], "label": labels[i % 3], "confidence": 0.5}
            for i in range(300)]
    run2 = [{"run": 2, "t": 4.0 + 3 * i, "label": "sad", "confidence": 0.4} for i in range(2)]
    fig = views.timeline_figure(run1)
    assert all("text" not in (d.mode or "") for d in fig.data)  # no label written at each point
    assert list(fig.layout.yaxis.categoryarray) == sorted(labels)  # each label written once, as a lane
    fig = views.timeline_figure(run1 + run2)
    by_name = {d.name: d for d in fig.data}
    assert list(by_name["emotion"].x) == [4.0, 7.0] and list(by_name["emotion"].y) == ["sad", "sad"]
    assert len(by_name["earlier run 1"].x) == 300  # the old timeline kept (faint) until cleared


def test_modality_figure_names_the_target():
    res = sample_explain()
    res["modality"]["target"] = "answer"
    assert "answer log-prob" in views.modality_figure(res).layout.title.text


def test_reasoning_is_shown_by_whole_words_not_sub_word_pieces():
    text = "<think>The overall face smiles.</think><answer>happy</answer>"
    pieces = ["The", " o", "ver", "all", " face", " sm", "iles", "."]
    tokens, pos = [], len("<think>")
    for i, p in enumerate(pieces):
        tokens.append({"text": p, "start": pos, "shapley": {"video": 0.1 * i, "audio": 0.05}})
        pos += len(p)
    res = {"prediction": {"text": text, "reasoning": "The overall face smiles."}, "tokens": tokens, "claims": []}
    spans = views.reasoning_highlights(res)
    assert [t for t, _ in spans] == ["The", " overall", " face", " smiles."]
    assert dict(spans)[" overall"] == views.VISUAL  # 0.1 + 0.2 + 0.3 video vs 0.15 audio


def test_demo_checkpoint_on_a_real_recording_says_its_answer_means_nothing(real_clips):
    from types import SimpleNamespace

    from r1omni.inference import DEMO_DISPLAY_NAME
    from r1omni.media import decode_clip
    from r1omni.ui.backend import DEMO_NOT_REAL, Backend
    from tests.ui.app_fixtures import EXAMPLES

    demo = SimpleNamespace(display_name=DEMO_DISPLAY_NAME, checkpoint="assets/demo-checkpoint")
    backend = Backend.__new__(Backend)  # only the notice logic: no model needed
    backend.pipeline = demo
    for clip in real_clips:  # CREMA-D, RAVDESS, audio-only
        assert backend.honesty_notice(decode_clip(clip)) == DEMO_NOT_REAL, clip.name
    assert backend.honesty_notice(decode_clip(EXAMPLES / "synth_00001.mp4")) is None
    backend.pipeline = SimpleNamespace(display_name="R1-Omni-0.5B", checkpoint="R1-Omni-0.5B")
    assert backend.honesty_notice(decode_clip(real_clips[0])) is None
    assert "means nothing" in DEMO_NOT_REAL


def test_one_notice_per_fact_however_many_layers_word_it():
    res = sample_explain(has_audio=False)
    res["prediction"]["notices"] = ["no audio track: audio masked (silence)", "audio is short"]
    res["notices"] = ["no audio track: audio masked (silence)",
                      "no audio track: audio is absent and not explained (shapley 0, share 0)"]
    notes = views.notices(res)
    assert sum("audio track" in n for n in notes) == 1, notes
    assert "audio is short" in notes
    res["prediction"]["notices"] = ["no <answer> tag in the response"]
    res["notices"] = ["no <answer> in the completion: the answer target is the whole completion"]
    assert [n for n in views.notices(res) if "<answer>" in n] == [res["notices"][0]]
