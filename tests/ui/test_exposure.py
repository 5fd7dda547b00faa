"""Safe exposure (DESIGN 3.3): a non-loopback --host needs --auth-file or an explicit --no-auth; --library
never serves a system folder or a folder that contains the home folder; auth file roles."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from r1omni.errors import UsageError
from tests.ui.app_fixtures import ROOT

sys.path.insert(0, str(ROOT))
import app as app_module  # noqa: E402


def run_app(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_a_network_host_without_logins_is_refused_in_one_line(host):
    r = run_app("--host", host, "--port", "1")
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and " INFO " not in ln]
    assert lines == [f"error: --host {host} lets other machines reach the app: give --auth-file (logins) or, to "
                     "serve it to anyone who can reach it, --no-auth"], r.stderr


def test_loopback_hosts_need_nothing_and_no_auth_is_recorded(tmp_path):
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        assert app_module.parse_args(["--host", host]).open_to_network is False
    assert app_module.parse_args(["--host", "0.0.0.0", "--no-auth"]).open_to_network is True
    users = tmp_path / "users.txt"
    users.write_text("ann:secret\n")
    s = app_module.parse_args(["--host", "0.0.0.0", "--auth-file", str(users)])
    assert s.open_to_network is False and s.auth == [("ann", "secret")]


@pytest.mark.parametrize("folder", ["/", "/home", "/etc", "/usr", "/var", "/root", "/bin", "/boot", "/dev",
                                    "/proc", "/sys", "/opt", "/srv", "/tmp", "/etc/ssl", "/proc/self"])
def test_system_folders_are_never_a_library(folder):
    from pathlib import Path

    if not Path(folder).is_dir():
        pytest.skip(f"{folder} does not exist here")
    with pytest.raises(UsageError, match=r"^--library '.*' would serve .*; point it at the folder of clips$"):
        app_module.parse_args(["--library", folder])


def test_folders_that_contain_home_and_symlinks_to_system_folders_are_refused(tmp_path, monkeypatch):
    home = tmp_path / "people" / "ann"
    clips = home / "clips"
    clips.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    for folder, why in ((tmp_path / "people", "contains the home folder"), (home, "the home folder")):
        with pytest.raises(UsageError, match=why):
            app_module.parse_args(["--library", str(folder)])
    assert app_module.parse_args(["--library", str(clips)]).library_root == clips.resolve()
    (tmp_path / "etc-link").symlink_to("/etc")
    (tmp_path / "up").symlink_to(tmp_path / "people")
    for link in ("etc-link", "up"):
        with pytest.raises(UsageError, match="would serve"):
            app_module.parse_args(["--library", str(tmp_path / link)])
    manifest = tmp_path / "people" / "m.csv"  # a manifest's folder is the root: refused the same way
    manifest.write_text("path,label\n")
    with pytest.raises(UsageError, match="contains the home folder"):
        app_module.parse_args(["--library", str(manifest)])


def test_a_refused_library_exits_2_in_one_line():
    r = run_app("--library", "/etc")
    assert r.returncode == 2
    assert [ln for ln in r.stderr.splitlines() if ln.strip() and " INFO " not in ln] == \
        ["error: --library '/etc' would serve the system folder /etc; point it at the folder of clips"]


def test_auth_file_roles(tmp_path):
    f = tmp_path / "users.txt"
    f.write_text("# team\nann:secret\ncarol:pw:adjudicator\nbob:pa:ss\ndan:x:annotator\n")
    assert app_module.read_auth_entries(f) == [("ann", "secret", "annotator"), ("carol", "pw", "adjudicator"),
                                               ("bob", "pa:ss", "annotator"), ("dan", "x", "annotator")]
    s = app_module.parse_args(["--auth-file", str(f)])
    assert s.auth == [("ann", "secret"), ("carol", "pw"), ("bob", "pa:ss"), ("dan", "x")]
    assert s.roles == {"ann": "annotator", "carol": "adjudicator", "bob": "annotator", "dan": "annotator"}
    f.write_text("ann:a\nann:b\n")
    with pytest.raises(UsageError, match="line 2: user 'ann' is given twice"):
        app_module.read_auth_entries(f)
