"""python app.py: flags -> Settings -> Pipeline.load (once) -> results store -> ui.build_app -> launch.

No handlers here; the UI lives in r1omni/ui.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# Local-first: no usage analytics leave the machine unless the user asks for them.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
logger = logging.getLogger("r1omni.app")


@dataclass(frozen=True)
class Settings:
    checkpoint: str | None
    library_path: str  # folder or manifest, relative to library_root ('' = none)
    library_root: Path
    db: Path
    host: str
    port: int
    auth: list[tuple[str, str]] | None
    device: str
    max_upload_mb: int


def read_auth_file(path: str | Path) -> list[tuple[str, str]]:
    """'user:password' per line (blank lines and # comments ignored)."""
    from r1omni.errors import UsageError

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise UsageError(f"cannot read auth file '{path}': {err.strerror}") from None
    pairs = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise UsageError(f"auth file '{path}' line {n}: expected 'user:password'")
        pairs.append((user, password))
    if not pairs:
        raise UsageError(f"auth file '{path}' has no 'user:password' lines")
    return pairs


def parse_args(argv: list[str] | None = None) -> Settings:
    env = os.environ.get
    p = argparse.ArgumentParser(description="R1-Omni Explain: the browser app.")
    p.add_argument("--checkpoint", default=env("R1OMNI_CHECKPOINT"), help="checkpoint folder (default: the demo)")
    p.add_argument("--library", default=env("R1OMNI_LIBRARY", ""),
                   help="clip folder or manifest; its folder is the only place library files are served from")
    p.add_argument("--db", default=env("R1OMNI_DB", str(ROOT / "runs" / "library.sqlite")),
                   help="SQLite file for library results and audit verdicts")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: local only)")
    p.add_argument("--port", type=int, default=int(env("R1OMNI_PORT", "7860")))
    p.add_argument("--auth-file", default=None, help="lines 'user:password'; when given, login is required")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--max-upload-mb", type=int, default=200, help="upload size cap in MB")
    a = p.parse_args(argv)
    lib = Path(a.library).resolve() if a.library else None
    root = (lib if lib.is_dir() else lib.parent) if lib else ROOT / "assets" / "examples"
    return Settings(a.checkpoint, str(lib.relative_to(root)) if lib and lib.is_file() else ("." if lib else ""),
                    root, Path(a.db), a.host, a.port, read_auth_file(a.auth_file) if a.auth_file else None,
                    a.device, a.max_upload_mb)


def build(settings: Settings):
    """Load the model once, open the store, build the Blocks app (not launched)."""
    from r1omni.audit.store import AuditStore
    from r1omni.inference import Pipeline
    from r1omni.library_store import LibraryStore
    from r1omni.ui import build_app
    from r1omni.ui.backend import Backend

    t0 = time.perf_counter()
    pipe = Pipeline.load(settings.checkpoint, device=settings.device)
    logger.info("loaded %s in %.1f s", getattr(pipe, "display_name", settings.checkpoint), time.perf_counter() - t0)
    store = LibraryStore(settings.db)
    backend = Backend(pipe, store, settings.library_root,
                      loader=lambda ck: Pipeline.load(ck, device=settings.device))
    backend.audit = AuditStore(settings.db)
    return build_app(backend, settings)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from r1omni.errors import R1OmniError

    try:
        settings = parse_args(argv)
        logger.info("settings: %s", {k: v for k, v in vars(settings).items() if k != "auth"})
        demo = build(settings)
    except R1OmniError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from r1omni.ui import launch_options

    demo.launch(**launch_options(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
