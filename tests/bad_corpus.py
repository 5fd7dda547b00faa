"""The bad-input corpus (issue 11): clips, library entries and checkpoints that must each give one clear
one-line message (or, for the odd-but-readable ones, a result) in the CLI, the pipeline and the app.

`make_media_corpus(dir)` -> {case: path} (files a user can pass or upload); `make_library_corpus(dir)` adds
the entries only a library folder can hold (a directory named like a clip, a symlink out of the root, a
manifest with missing files and unknown labels, a CSV that is no manifest); `make_checkpoint_corpus(tiny, dir)`
-> {case: folder}. Built by the tests from tests/media_factory.py; nothing is committed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from tests import media_factory as mf

# Readable (a prediction with notices is the right answer), though odd.
READABLE = {"truncated_faststart_mp4", "huge_declared_wav", "wav_named_mp4", "mp4_named_mkv", "audio_only_m4a",
            "video_only_mp4", "one_frame_mp4", "huge_resolution_mp4", "odd_unicode_name", "very_long_unicode_name",
            "silent_wav"}


def make_media_corpus(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    out = {name: mf.make_bad_input(name, d) for name in mf.BAD_INPUTS}  # 10 refused cases
    out.update({name: mf.make_bad_input(name, d) for name in mf.ODD_BUT_READABLE})
    wav = mf.write_wav(d / ".tone.wav", mf.stereo_tone(0.6))
    out["wav_named_mp4"] = wav.rename(d / "wrong_extension_audio.mp4")
    out["mp4_named_mkv"] = mf.make_av_clip(d / ".x.mp4").rename(d / "wrong_extension_video.mkv")
    junk = d / "junk.mp3"
    junk.write_bytes(np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    out["junk_mp3"] = junk
    zero_mp4 = d / "zero_bytes_after_header.mp4"
    zero_mp4.write_bytes(b"\0" * 4096)
    out["zeros_mp4"] = zero_mp4
    out["audio_only_m4a"] = mf.make_av_clip(d / "audio_only.m4a", video=False)
    out["video_only_mp4"] = mf.make_av_clip(d / "video_only.mp4", audio=False)
    out["one_frame_mp4"] = mf.make_av_clip(d / "one_frame.mp4", audio=False, n_frames=1)
    out["huge_resolution_mp4"] = mf.make_av_clip(d / "huge_resolution.mp4", audio=False, n_frames=1,
                                                 size=(4608, 4608))
    out["odd_unicode_name"] = mf.make_av_clip(d / "émotion ☺ 表情 it's (1) & [x].mp4")
    out["very_long_unicode_name"] = mf.make_av_clip(d / ("長い名前" * 20 + ".mp4"))  # 244 bytes: near the limit
    out["silent_wav"] = mf.write_wav(d / "silent.wav", np.zeros((16000, 1), np.float32))
    return out


def make_library_corpus(root: Path) -> dict[str, Path]:
    """The media corpus inside a library root, plus the entries only a folder can hold."""
    out = make_media_corpus(root)
    out.pop("missing")  # a file that is not there is not in a folder scan; the manifest row below covers it
    outside = mf.make_av_clip(root.parent / "outside_the_root.mp4")
    os.symlink(outside, root / "symlink_out.mp4")
    out["symlink_out_of_root"] = root / "symlink_out.mp4"
    (root / "labels.csv").write_text("path,label\nvideo_only.mp4,happy\nsilent.wav,bored\ngone.mp4,sad\n")
    out["manifest_rows"] = root / "labels.csv"  # one missing file, one unknown label
    (root / "export.csv").write_text("file;score\n1;2\n")
    out["csv_not_a_manifest"] = root / "export.csv"
    return out


def make_checkpoint_corpus(tiny: Path, d: Path) -> dict[str, Path]:
    from safetensors.torch import load_file, save_file

    out = {}
    wrong = shutil.copytree(tiny, d / "wrong_model_type")
    cfg = json.loads((wrong / "config.json").read_text())
    cfg["model_type"] = "llama"
    (wrong / "config.json").write_text(json.dumps(cfg))
    out["wrong_model_type"] = wrong
    missing = shutil.copytree(tiny, d / "missing_tensors")
    sd = load_file(str(missing / "model.safetensors"))
    save_file({k: v for i, (k, v) in enumerate(sorted(sd.items())) if i % 7}, str(missing / "model.safetensors"))
    out["missing_tensors"] = missing
    pickled = shutil.copytree(tiny, d / "pickle_checkpoint")
    import torch

    torch.save(load_file(str(pickled / "model.safetensors")), pickled / "pytorch_model.bin")
    (pickled / "model.safetensors").unlink()
    out["pickle_checkpoint"] = pickled
    return out
