"""Every bad argument of every command exits 2 with one line before any model or media work."""

from __future__ import annotations

import os

import pytest
import torch

import r1omni.checkpoint
import r1omni.media
import r1omni.synthetic
from r1omni.cli import main
from r1omni.errors import R1OmniError
from r1omni.inference import Pipeline


@pytest.fixture()
def work(monkeypatch):
    """Records every start of model loading, decoding, synthesis or checkpoint writing."""
    calls: list[str] = []

    def spy(name):
        def record(*args, **kwargs):
            calls.append(name)
            raise R1OmniError(f"{name} started")

        return record

    monkeypatch.setattr(Pipeline, "load", classmethod(lambda cls, *a, **k: spy("load")()))
    monkeypatch.setattr(r1omni.media, "decode_clip", spy("decode_clip"))
    monkeypatch.setattr(r1omni.synthetic, "generate_clips", spy("generate_clips"))
    monkeypatch.setattr(r1omni.checkpoint, "init_checkpoint", spy("init_checkpoint"))
    monkeypatch.setattr(r1omni.checkpoint, "layout", spy("layout"))
    return calls


def _bad_args(tmp_path, tiny_checkpoint):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nclip.mp4,happy\n")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    ck = ["--checkpoint", str(tiny_checkpoint)]
    cases = {
        "device foo": (["predict", "clip.mp4", *ck, "--device", "foo"], "unknown device"),
        "batch-size 0": (["predict", "clip.mp4", *ck, "--batch-size", "0"], "--batch-size must be at least 1"),
        "batch-size negative": (["predict", "clip.mp4", *ck, "--batch-size", "-4"], "--batch-size"),
        "batch-size not a number": (["predict", "clip.mp4", *ck, "--batch-size", "many"], "invalid int"),
        "max-new-tokens 0": (["predict", "clip.mp4", *ck, "--max-new-tokens", "0"], "--max-new-tokens"),
        "label-set unknown": (["predict", "clip.mp4", *ck, "--label-set", "nope"], "unknown label set"),
        "checkpoint missing": (["predict", "clip.mp4", "--checkpoint", str(tmp_path / "none")], "not found"),
        "checkpoint is a file": (["predict", "clip.mp4", "--checkpoint", str(a_file)], "is a file"),
        "question empty": (["predict", "clip.mp4", *ck, "--question", "  "], "--question is empty"),
        "sample and greedy": (["predict", "clip.mp4", *ck, "--sample", "--greedy"], "not allowed with"),
        "explain mode unknown": (["explain", "clip.mp4", *ck, "--mode", "slow"], "invalid choice"),
        "explain device foo": (["explain", "clip.mp4", *ck, "--device", "foo"], "unknown device"),
        "explain batch-size 0": (["explain", "clip.mp4", *ck, "--batch-size", "0"], "--batch-size"),
        "explain max-new-tokens": (["explain", "clip.mp4", *ck, "--max-new-tokens", "-1"], "--max-new-tokens"),
        "eval manifest missing": (["eval", str(tmp_path / "none.csv"), *ck], "does not exist"),
        "eval predictions folder missing": (
            ["eval", str(manifest), *ck, "--predictions", str(tmp_path / "no" / "p.jsonl")], "does not exist"),
        "eval predictions is a folder": (["eval", str(manifest), *ck, "--predictions", str(tmp_path)], "directory"),
        "eval batch-size 0": (["eval", str(manifest), *ck, "--batch-size", "0"], "--batch-size"),
        "eval device foo": (["eval", str(manifest), *ck, "--device", "foo"], "unknown device"),
        "eval label-set": (["eval", str(manifest), *ck, "--label-set", "dfw"], "unknown label set"),
        "synth n 0": (["synth", "--out", str(tmp_path / "s"), "--n", "0"], "--n must be at least 1"),
        "synth workers 0": (["synth", "--out", str(tmp_path / "s"), "--workers", "0"], "--workers"),
        "synth seed negative": (["synth", "--out", str(tmp_path / "s"), "--seed", "-1"], "--seed"),
        "synth modalities": (["synth", "--out", str(tmp_path / "s"), "--modalities", "video,smell"], "--modalities"),
        "synth out is a file": (["synth", "--out", str(a_file)], "not a folder"),
        "layout preset": (["layout", "--preset", "r1-omni-7b"], "unknown preset"),
        "init preset": (["init-checkpoint", "--preset", "huge", "--out", str(tmp_path / "c")], "unknown preset"),
        "init out is a file": (["init-checkpoint", "--preset", "tiny", "--out", str(a_file)], "not a folder"),
        "init dtype": (["init-checkpoint", "--out", str(tmp_path / "c"), "--dtype", "int8"], "invalid choice"),
    }
    if not torch.cuda.is_available():
        cases["device cuda without CUDA"] = (["predict", "clip.mp4", *ck, "--device", "cuda"], "no CUDA device")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        cases["eval predictions not writable"] = (
            ["eval", str(manifest), *ck, "--predictions", str(locked / "p.jsonl")], "not writable")
    return cases




def test_every_bad_argument_fails_first_with_one_line(tmp_path, tiny_checkpoint, work, capfd):
    failures = []
    for name, (argv, expected) in _bad_args(tmp_path, tiny_checkpoint).items():
        code = main(argv)
        out, err = capfd.readouterr()
        lines = err.strip().splitlines()
        ok = code == 2 and len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0]
        if not ok or work or out.strip():
            failures.append(f"{name}: exit {code}, work {work}, stderr {err.strip()!r}")
        work.clear()
    assert not failures, "\n".join(failures)


def test_good_arguments_do_reach_the_work(tmp_path, tiny_checkpoint, work, capfd):
    """The spies are wired: valid arguments start loading (the spy then stops it)."""
    assert main(["predict", "clip.mp4", "--checkpoint", str(tiny_checkpoint), "--batch-size", "2"]) == 2
    assert work == ["load"]
    work.clear()
    assert main(["synth", "--out", str(tmp_path / "s"), "--n", "2"]) == 2 and work == ["generate_clips"]


def test_pipeline_api_rejects_bad_sizes(tiny_pipeline):
    from r1omni.errors import UsageError

    with pytest.raises(UsageError, match="batch_size"):
        tiny_pipeline.predict(["clip.mp4"], batch_size=0)
    with pytest.raises(UsageError, match="max_new_tokens"):
        tiny_pipeline.predict(["clip.mp4"], max_new_tokens=0)
