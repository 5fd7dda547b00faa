"""Results as they come (issue 17 item 3) below the page: the pipeline's per-step token stream, explain()'s
stage reports, the Backend's events, and a separate audio file combined with a video (issue 18 item 2).
Real tiny/demo models on real clips."""

from __future__ import annotations

import pytest

from r1omni.explain import explain
from r1omni.inference import Pipeline
from r1omni.ui.backend import Backend
from tests import media_factory as mf
from tests.ui.app_fixtures import EXAMPLES

CLIP = EXAMPLES / "synth_00002.mp4"


@pytest.fixture(scope="module")
def demo():
    return Pipeline.load(None, device="cpu")


def test_streaming_hands_over_every_generated_token_in_order(demo):
    steps: list[list[int]] = []
    with demo.streaming(steps.append):
        (pred,) = demo.predict([str(CLIP)])
    streamed = [s[0] for s in steps]
    assert streamed[: len(pred.completion_ids)] == pred.completion_ids
    assert len(streamed) <= len(pred.completion_ids) + 1  # the end token may be the last step
    steps.clear()
    demo.predict([str(CLIP)])  # outside the block nothing is streamed
    assert steps == []


def test_explain_reports_stages_and_gives_the_same_result(demo):
    events: list[tuple[str, dict]] = []
    (staged,) = explain(demo, [str(CLIP)], mode="full", on_progress=lambda k, i: events.append((k, i)))
    (plain,) = explain(demo, [str(CLIP)], mode="full")
    kinds = [k for k, _ in events]
    assert kinds[0] == "predicted" and kinds.count("scored") == 3 and kinds[-1] == "contrast"
    total = events[0][1]["total"]
    done = [i["done"] for k, i in events if k == "scored"]
    assert done == sorted(done) and done[-1] == total == staged.timings_ms["variants"]
    first = next(i for k, i in events if k == "scored")
    assert first["stage"] == "coalitions" and first["modality"][0]["share"] == pytest.approx(staged.modality["share"])
    assert staged.modality["shapley"] == pytest.approx(plain.modality["shapley"], abs=1e-3)
    assert [f["score"] for f in staged.frames] == pytest.approx([f["score"] for f in plain.frames], abs=1e-3)
    assert staged.prediction["text"] == plain.prediction["text"]


def test_backend_events_come_in_order_and_name_no_server_path(demo):
    backend = Backend(demo)
    events: list[tuple[str, dict]] = []
    view = backend.explain_clip(str(CLIP), mode="fast", on_event=lambda k, i: events.append((k, i)))
    kinds = [k for k, _ in events]
    assert kinds[0] == "decoded" and "tokens" in kinds
    assert kinds.index("predicted") > max(i for i, k in enumerate(kinds) if k == "tokens")
    last_text = [i["text"] for k, i in events if k == "tokens"][-1]
    assert last_text == view.result["prediction"]["text"]
    predicted = next(i for k, i in events if k == "predicted")["prediction"]
    assert predicted["clip"] == "synth_00002.mp4" and view.result["clip"] == "synth_00002.mp4"
    assert backend.rates["token"] > 0 and backend.rates["variant"] > 0 and backend.rates["explain"] > 0


def test_a_video_and_a_separate_audio_file_are_one_clip(demo, tmp_path):
    backend = Backend(demo)
    mp3 = mf.make_av_clip(tmp_path / "voice.mp3", video=False, seconds=1.5, acodec="libmp3lame")
    both = backend.explain_clip(str(CLIP), audio=str(mp3), mode="fast").result
    assert both["prediction"]["modalities"] == {"video": True, "audio": True}
    assert any("the frames of 'synth_00002.mp4' and the audio of 'voice.mp3'" in n for n in both["notices"])
    alone = backend.explain_clip(None, audio=str(mp3), mode="fast").result
    assert alone["prediction"]["modalities"] == {"video": False, "audio": True}
    silent = mf.make_av_clip(tmp_path / "silent.mp4", audio=False)
    with pytest.raises(Exception, match="has no audio track"):
        backend.explain_clip(str(CLIP), audio=str(silent), mode="fast")


def test_the_streaming_endpoint_sends_partial_results_then_the_final_json(running_app):
    from gradio_client import Client, handle_file

    client = Client(running_app[0], verbose=False)
    job = client.submit(handle_file(str(CLIP)), "dfew", "greedy", 16, "fast", None, api_name="/explain_stream")
    final = job.result(timeout=300)
    updates = job.outputs()
    assert len(updates) >= 3  # the start, at least one stage, the final result
    assert final[0].startswith("**Done**") and final[-1]["clip"] == "synth_00002.mp4"
    assert final[-1]["prediction"]["modalities"] == {"video": True, "audio": True}
