"""A real app on a tiny random checkpoint (written to tmp) and a 3-clip synthetic library, launched once."""

from __future__ import annotations

import csv
import shutil
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "assets" / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_library(folder: Path, n: int = 3) -> Path:
    """Copy n example clips (and their manifest rows) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    with (EXAMPLES / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))[:n]
    for r in rows:
        shutil.copy(EXAMPLES / r["path"], folder / r["path"])
    with (folder / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return folder


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from r1omni.checkpoint import init_checkpoint

    return init_checkpoint("tiny", tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="session")
def running_app(tiny_checkpoint, tmp_path_factory):
    """(url, settings, demo) of the app launched in this process on a free port."""
    sys.path.insert(0, str(ROOT))
    import app as app_module
    from r1omni.ui import launch_options

    work = tmp_path_factory.mktemp("app")
    lib = make_library(work / "library")
    allowed = work / "checkpoints"
    shutil.copytree(tiny_checkpoint, allowed / "same-weights")  # B for Compare: same weights, other folder
    settings = app_module.parse_args(["--checkpoint", str(tiny_checkpoint), "--library", str(lib),
                                      "--db", str(work / "results.sqlite"), "--port", str(free_port()),
                                      "--device", "cpu", "--max-upload-mb", "5", "--checkpoints", str(allowed),
                                      "--batch-size", "2", "--explain-mode", "full"])  # no warm-up timing
    demo = app_module.build(settings)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings))
    yield f"http://127.0.0.1:{settings.port}/", settings, demo
    demo.close()
