"""Import boundaries: r1omni never imports gradio, trl or training; the UI uses only public r1omni names."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_importing_r1omni_pulls_no_ui_or_training():
    code = (
        "import sys, r1omni, r1omni.inference, r1omni.cli, r1omni.media;"
        "bad = [m for m in ('gradio', 'trl', 'training') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_library_sources_do_not_import_ui_packages():
    for path in (ROOT / "r1omni").rglob("*.py"):
        if "ui" in path.relative_to(ROOT / "r1omni").parts:
            continue
        bad = {n for n in _imports(path) if n.split(".")[0] in {"gradio", "trl", "training"}}
        assert not bad, f"{path} imports {bad}"


def test_training_does_not_import_ui():
    for path in (ROOT / "training").rglob("*.py"):
        bad = {n for n in _imports(path) if n.split(".")[0] == "gradio" or n.startswith("r1omni.ui")}
        assert not bad, f"{path} imports {bad}"
