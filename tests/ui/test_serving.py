"""Serving is confined: start-up refuses a missing or odd --library (exit 2, one line), and the launched app
answers /gradio_api/file= only for the library root, the assets and its own uploads (real HTTP requests
sent verbatim, so '..' and encodings reach the server as typed)."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from tests.ui.app_fixtures import ROOT


def _get(url: str, path: str) -> int:
    u = urlsplit(url)
    con = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    con.request("GET", path)  # sent as is: no client-side normalisation of '..' or '%2e'
    status = con.getresponse().status
    con.close()
    return status


def _app(*args: str, home: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **({"HOME": str(home)} if home else {})}
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=str(ROOT))


def _targets(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "home"
    (home / "clips").mkdir(parents=True)
    (home / ".bashrc").write_text("export SECRET=1\n")
    return home, {"missing": str(tmp_path / "nope"), "typo-under-home": str(home / "typo_folder"),
                  "not-a-manifest": str(home / ".bashrc"), "home": str(home), "root": "/"}


def test_typo_library_exits_2_with_one_line_before_serving(tmp_path):
    home, targets = _targets(tmp_path)
    out = _app("--library", targets["typo-under-home"], "--port", "1", home=home)  # never binds a port
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --library") and "does not exist" in lines[0], out.stderr


@pytest.mark.parametrize("make", ["missing", "not-a-manifest", "home", "root"])
def test_bad_library_is_a_one_line_error_at_start_up(tmp_path, make, monkeypatch, capsys):
    sys.path.insert(0, str(ROOT))
    import app as app_module

    home, targets = _targets(tmp_path)
    monkeypatch.setenv("HOME", str(home))
    assert app_module.main(["--library", targets[make], "--port", "1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --library"), lines


def test_checkpoints_flag_must_name_a_folder(tmp_path, capsys):
    sys.path.insert(0, str(ROOT))
    import app as app_module

    assert app_module.main(["--checkpoints", str(tmp_path / "none"), "--port", "1"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: --checkpoints")


def test_only_the_library_root_assets_and_uploads_are_served(running_app, tmp_path):
    url, settings, _ = running_app
    root = Path(settings.library_root)
    secret = root.parent / "secret.txt"
    secret.write_text("do not serve\n")
    links = root / "zz-links"
    links.mkdir()
    os.symlink(secret, links / "secret.mp4")
    os.symlink(root.parent, links / "up")
    try:
        ok = ["/gradio_api/file=" + str(root / "synth_00001.mp4"),
              "/gradio_api/file=" + str(ROOT / "assets" / "app.css")]
        for path in ok:
            assert _get(url, path) == 200, path
        rel_up = str(root) + "/../secret.txt"
        bad = [
            "/gradio_api/file=" + str(secret),
            "/gradio_api/file=" + rel_up,
            "/gradio_api/file=" + quote(rel_up, safe=""),
            "/gradio_api/file=" + rel_up.replace("..", "%2e%2e").replace("/", "%2F"),
            "/gradio_api/file=" + str(links / "secret.mp4"),
            "/gradio_api/file=" + str(links / "up" / "secret.txt"),
            "/gradio_api/file=" + str(settings.db),
            "/gradio_api/file=~/.bashrc",
            "/gradio_api/file=" + str(Path.home() / ".bashrc"),
            "/gradio_api/file=/etc/passwd",
            "/gradio_api/file=" + quote("/etc/passwd", safe=""),
            "/gradio_api/file=" + str(ROOT / "app.py"),
            "/gradio_api/file=" + str(ROOT / "assets" / ".." / "app.py"),
            "/gradio_api/file=../../../../etc/passwd",
            "/gradio_api/file/" + str(secret),
        ]
        for path in bad:
            assert _get(url, path) in (403, 404), path
    finally:
        for p in (links / "secret.mp4", links / "up"):
            p.unlink()
        links.rmdir()


def test_uploads_still_work_and_are_served_back(running_app, tmp_path):
    import requests

    url = running_app[0]
    clip = ROOT / "assets" / "examples" / "synth_00000.mp4"
    with clip.open("rb") as fh:
        r = requests.post(url + "gradio_api/upload", files={"files": (clip.name, fh, "video/mp4")}, timeout=30)
    assert r.status_code == 200
    (served,) = r.json()
    assert _get(url, "/gradio_api/file=" + served) == 200


def test_launch_options_block_the_database_and_auth_file_even_inside_the_root(tmp_path):
    sys.path.insert(0, str(ROOT))
    import app as app_module

    from r1omni.ui import launch_options

    lib = tmp_path / "lib"
    lib.mkdir()
    auth = lib / "users.txt"
    auth.write_text("ann:secret\n")
    s = app_module.parse_args(["--library", str(lib), "--db", str(lib / "r.sqlite"), "--auth-file", str(auth)])
    opts = launch_options(s)
    assert opts["allowed_paths"] == [str(ROOT / "assets"), str(lib.resolve())]
    assert str((lib / "r.sqlite").resolve()) in opts["blocked_paths"] and str(auth.resolve()) in opts["blocked_paths"]
    assert opts["server_name"] == "127.0.0.1"
