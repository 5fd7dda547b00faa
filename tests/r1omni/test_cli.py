"""The r1omni command: JSON contract, exit codes, one-line errors for bad input, layout, init-checkpoint."""

import json
import math
import subprocess
import sys

import pytest

from r1omni.cli import main
from tests.conftest import ROOT
from tests.media_factory import BAD_INPUTS, make_bad_input, make_good_clip


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "r1omni", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def good_clip(tmp_path_factory):
    return make_good_clip("mp4_h264_aac", tmp_path_factory.mktemp("good")).path


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_each_bad_input_gives_exit_2_and_one_line(name, tiny_checkpoint, tmp_path, capfd):
    bad = make_bad_input(name, tmp_path)
    code = main(["predict", str(bad), "--checkpoint", str(tiny_checkpoint), "--max-new-tokens", "2"])
    out, err = capfd.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err and out.strip() == ""


def test_bad_inputs_in_a_real_process_mixed_with_a_good_clip(tiny_checkpoint, tmp_path, good_clip):
    bads = [make_bad_input(n, tmp_path / n) for n in ("empty", "text_as_mp4", "truncated_mp4", "directory")]
    res = _run("predict", good_clip, *bads, "--checkpoint", tiny_checkpoint, "--json", "--max-new-tokens", "2")
    assert res.returncode == 2
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(records) == 5 and "label" in records[0]
    assert all(set(r) == {"clip", "error"} for r in records[1:])
    err_lines = res.stderr.strip().splitlines()
    assert len(err_lines) == 4 and all(e.startswith("error: ") for e in err_lines), res.stderr
    assert "Traceback" not in res.stderr


def test_usage_errors_are_one_line(capfd):
    assert main(["predict"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["predict", "x.mp4", "--label-set", "nope", "--checkpoint", "/nonexistent/ckpt"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(e.startswith("error:") for e in err)


def test_predict_real_clips_json(tiny_checkpoint, real_clips):
    res = _run("predict", *real_clips, "--checkpoint", tiny_checkpoint, "--json", "--max-new-tokens", "4")
    assert res.returncode == 0, res.stderr
    records = {r["clip"]: r for r in map(json.loads, res.stdout.splitlines())}
    assert len(records) == len(real_clips)
    for path in real_clips:
        r = records[str(path)]
        assert set(r["probs"]) and r["checkpoint"]
        if path.suffix == ".mp3":
            assert r["modalities"] == {"video": False, "audio": True}
            assert any("no video track" in n for n in r["notices"])
        elif path.name.startswith("01-01-08"):  # the RAVDESS clip has no audio stream
            assert r["modalities"] == {"video": True, "audio": False}
            assert any("no audio track" in n for n in r["notices"])
        else:
            assert r["modalities"] == {"video": True, "audio": True}
    assert res.stderr.strip() == ""


def test_eval_manifest_scores(tiny_checkpoint, tmp_path, good_clip):
    (tmp_path / "m.csv").write_text(f"path,label,dataset\n{good_clip},happy,a\n{good_clip},sad,a\n{good_clip},sad,b\n")
    res = _run("eval", tmp_path / "m.csv", "--checkpoint", tiny_checkpoint, "--json", "--max-new-tokens", "2",
               "--predictions", tmp_path / "p.jsonl")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(report["datasets"]) == {"a", "b", "all"} and report["datasets"]["all"]["n"] == 3
    assert sum(map(sum, report["confusion"]["matrix"])) == 3
    assert report["clipped"] == 3  # 2 new tokens cannot finish a reasoning: counted as clipped
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 3


def test_layout_lists_the_reference_state_dict():
    res = _run("layout", "--preset", "r1-omni-0.5b")
    assert res.returncode == 0, res.stderr
    entries = dict(line.split("\t") for line in res.stdout.splitlines())
    assert len(entries) == 1322
    assert entries["model.embed_tokens.weight"] == "[151936, 896]"
    assert entries["model.bert_gate.0.weight"] == "[3584, 768]"
    assert entries["model.mm_projector.sampler_video.0.weight"] == "[896, 896, 2, 2, 2]"
    assert entries["model.audio_tower.audio_tower.encoder.embed_positions.weight"] == "[1500, 1280]"
    total = sum(math.prod(json.loads(shape)) for shape in entries.values())
    assert total == 1_373_177_925


def test_init_checkpoint_tiny_loads_back_strictly(tmp_path):
    res = _run("init-checkpoint", "--preset", "tiny", "--out", tmp_path / "ck", "--dtype", "float32")
    assert res.returncode == 0, res.stderr
    from r1omni.checkpoint import load_model

    model = load_model(tmp_path / "ck", device="cpu")
    assert model.config.model_type == "HumanOmni_qwen2"


def test_explain_json_stream_with_a_bad_clip(tiny_checkpoint, tmp_path, good_clip):
    from r1omni.explain import schema_errors

    bad = make_bad_input("empty", tmp_path)
    res = _run("explain", good_clip, bad, "--checkpoint", tiny_checkpoint, "--json", "--max-new-tokens", "6")
    assert res.returncode == 2
    first, second = (json.loads(line) for line in res.stdout.splitlines())
    assert schema_errors(first) == []
    assert set(second) == {"clip", "error"}
    assert len(res.stderr.strip().splitlines()) == 1


def test_explain_real_clips_report_absent_modalities(tiny_checkpoint, real_clips):
    chosen = [p for p in real_clips if p.name.startswith("01-01-08")] + [p for p in real_clips if p.suffix == ".mp3"][:1]
    res = _run("explain", *chosen, "--checkpoint", tiny_checkpoint, "--json", "--max-new-tokens", "6")
    assert res.returncode == 0, res.stderr
    no_audio, audio_only = (json.loads(line) for line in res.stdout.splitlines())
    assert no_audio["modality"]["share"]["audio"] == 0 and no_audio["modality"]["shapley"]["audio"] == 0
    assert no_audio["audio_segments"] == []
    assert audio_only["modality"]["share"]["video"] == 0 and audio_only["modality"]["shapley"]["video"] == 0
    assert audio_only["frames"] == []


def test_eval_reports_paper_exact_and_normalised_scores(tmp_path):
    """The paper's reward compares <answer> exactly and case-sensitively; `datasets` is normalised."""
    examples = ROOT / "assets" / "examples"
    (tmp_path / "m.csv").write_text(f"path,label\n{examples / 'synth_00000.mp4'},Neutral\n"
                                    f"{examples / 'synth_00001.mp4'},happy\n")
    res = _run("eval", tmp_path / "m.csv", "--json", "--predictions", tmp_path / "p.jsonl", "--device", "cpu")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    preds = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [p["answer"] for p in preds] == ["neutral", "happy"]  # the demo model answers in lower case
    assert report["datasets"]["all"]["WAR"] == 1.0  # "Neutral" and "neutral" are the same label
    assert report["exact"]["all"] == {"WAR": 0.5, "UAR": 0.5, "n": 2}  # but not the same string
    assert "case-sensitive" in report["scoring"]["exact"] and "normalised" in report["scoring"]["datasets"]
