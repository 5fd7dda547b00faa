"""python app.py: flags -> Settings -> Pipeline.load (once) -> results store -> ui.build_app -> launch.

No handlers here; the UI lives in r1omni/ui.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MANIFEST_SUFFIXES = (".csv", ".json")
ROLES = ("annotator", "adjudicator")
# Folders never served as a library (nor anything that contains the home folder); compared after
# resolving symlinks, so /bin -> /usr/bin is caught either way.
SYSTEM_FOLDERS = ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media", "/mnt",
                  "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/tmp",
                  "/usr/local", "/usr/lib", "/usr/share", "/var/lib", "/var/log", "/snap")
SYSTEM_TREES = ("/boot", "/dev", "/etc", "/proc", "/sys")  # nothing under these is a clip folder
# Local-first: no usage analytics leave the machine unless the user asks for them.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
logger = logging.getLogger("r1omni.app")

from r1omni.errors import UsageError  # noqa: E402 - after the environment defaults above


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
    checkpoint_dirs: tuple[Path, ...] = ()  # folders the Compare box may load checkpoints from
    batch_size: int = 8
    queue_size: int = 64
    auth_file: Path | None = None
    explain_mode: str = "auto"  # default explain mode: auto (from a warm-up prediction), fast or full
    roles: dict[str, str] | None = None  # user -> "annotator" | "adjudicator" (with --auth-file)
    open_to_network: bool = False  # --no-auth on a non-loopback --host: every page says so


def read_auth_file(path: str | Path) -> list[tuple[str, str]]:
    """'user:password[:role]' per line (blank lines and # comments ignored) -> (user, password) pairs."""
    return [(u, p) for u, p, _ in read_auth_entries(path)]


def read_auth_entries(path: str | Path) -> list[tuple[str, str, str]]:
    """(user, password, role) per 'user:password[:annotator|adjudicator]' line; the role defaults to
    annotator, and a password may hold colons ('bob:pa:ss' is bob with password 'pa:ss')."""
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
        role = "annotator"
        head, _, last = password.rpartition(":")
        if head and last in ROLES:
            password, role = head, last
        if not sep or not user or not password:
            raise UsageError(f"auth file '{path}' line {n}: expected 'user:password[:annotator|adjudicator]'")
        if any(u == user for u, _, _ in pairs):
            raise UsageError(f"auth file '{path}' line {n}: user '{user}' is given twice")
        pairs.append((user, password, role))
    if not pairs:
        raise UsageError(f"auth file '{path}' has no 'user:password' lines")
    return pairs


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and 'localhost' only reach this machine; anything else (0.0.0.0, a LAN address,
    another name) may reach the network."""
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    p.add_argument("--auth-file", default=None,
                   help="lines 'user:password[:annotator|adjudicator]'; when given, login is required")
    p.add_argument("--no-auth", action="store_true",
                   help="allow a non-loopback --host without --auth-file (every page then says it is open)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--max-upload-mb", type=int, default=200, help="upload size cap in MB")
    p.add_argument("--checkpoints", action="append", default=[], metavar="DIR",
                   help="folder of checkpoints the Library's Compare box may load (repeatable; default: none)")
    p.add_argument("--batch-size", type=int, default=8, help="clips per model call in Library runs")
    p.add_argument("--queue-size", type=int, default=64,
                   help="requests that may wait for the model; more are refused with 'busy, retry'")
    p.add_argument("--explain-mode", default="auto", choices=["auto", "fast", "full"],
                   help="default explanation mode of the Clip tab and of 'send to audit' (default auto: 'full' "
                        "when a warm-up prediction at start-up says a full explanation takes under 45 s)")
    a = p.parse_args(argv)
    for name in ("batch_size", "queue_size", "max_upload_mb"):
        if getattr(a, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(a, name)}")
    if not a.auth_file and not a.no_auth and not is_loopback(a.host):
        raise UsageError(f"--host {a.host} lets other machines reach the app: give --auth-file (logins) or, to "
                         "serve it to anyone who can reach it, --no-auth")
    root, rel = library_root(a.library) if a.library else (ROOT / "assets" / "examples", "")
    dirs = tuple(_existing_dir(d, "--checkpoints") for d in a.checkpoints)
    entries = read_auth_entries(a.auth_file) if a.auth_file else None
    return Settings(a.checkpoint, rel, root, Path(a.db), a.host, a.port,
                    [(u, p) for u, p, _ in entries] if entries else None, a.device, a.max_upload_mb, dirs,
                    a.batch_size, a.queue_size, Path(a.auth_file) if a.auth_file else None, a.explain_mode,
                    {u: r for u, _, r in entries} if entries else None,
                    open_to_network=not entries and not is_loopback(a.host))


def _existing_dir(path: str, flag: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_dir():
        raise UsageError(f"{flag} '{path}' is not an existing folder")
    return p.resolve()


def library_root(library: str) -> tuple[Path, str]:
    """(served root, path of the library relative to it) for --library; UsageError unless it is an existing
    folder, or a .csv/.json manifest file (then its folder is the root). The root is never widened: a
    missing path is an error, not its parent, and the filesystem root or the home folder is refused."""
    p = Path(library).expanduser()
    if not p.exists():
        raise UsageError(f"--library '{library}' does not exist (give a clip folder or a manifest file)")
    p = p.resolve()
    if p.is_file():
        if p.suffix.lower() not in MANIFEST_SUFFIXES:
            raise UsageError(f"--library '{library}' is a file but not a manifest (.csv or .json); "
                             "give a clip folder or a manifest")
        root, rel = p.parent, p.name
    elif p.is_dir():
        root, rel = p, "."
    else:
        raise UsageError(f"--library '{library}' is neither a folder nor a manifest file")
    refuse_wide_root(root, library)
    return root, rel


def refuse_wide_root(root: Path, library: str) -> None:
    """UsageError when `root` (resolved) is a system folder, lies in one of SYSTEM_TREES, or contains the
    home folder: the library root is served to every user of the app."""
    home = Path.home().resolve()
    system = {Path(f).resolve() for f in SYSTEM_FOLDERS} | {Path(f) for f in SYSTEM_FOLDERS}
    trees = {Path(f).resolve() for f in SYSTEM_TREES} | {Path(f) for f in SYSTEM_TREES}
    if root == Path(root.anchor):
        why = "the whole filesystem"
    elif root == home or root in home.parents:
        why = "the home folder" if root == home else f"a folder that contains the home folder {home}"
    elif root in system or any(t in root.parents for t in trees):
        why = f"the system folder {root}"
    else:
        return
    raise UsageError(f"--library '{library}' would serve {why}; point it at the folder of clips")


WARMUP_CLIPS = ROOT / "assets" / "examples"


def build(settings: Settings, private_dir: Path | None = None):
    """Load the model once, open the store, build the Blocks app (not launched). Playback copies go to
    `private_dir`/playback (a fresh private temp folder when None). With --explain-mode auto one warm-up
    prediction is timed to choose the default explain mode."""
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
                      loader=lambda ck: Pipeline.load(ck, device=settings.device),
                      checkpoint_dirs=settings.checkpoint_dirs, batch_size=settings.batch_size,
                      playback_dir=private_dir / "playback" if private_dir else None,
                      explain_mode=settings.explain_mode)
    backend.audit = AuditStore(settings.db)
    warmup = sorted(WARMUP_CLIPS.glob("*.mp4"))
    if settings.explain_mode == "auto" and warmup:
        backend.warm_up(warmup[0])
    return build_app(backend, settings)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from r1omni.errors import R1OmniError

    # Uploads go to a private folder of this run, so the upload area served to users holds only its own files.
    private = Path(tempfile.mkdtemp(prefix="r1omni-app-"))
    os.environ.setdefault("GRADIO_TEMP_DIR", str(private / "uploads"))
    os.environ.setdefault("GRADIO_EXAMPLES_CACHE", str(private / "cached_examples"))
    try:
        settings = parse_args(argv)
        logger.info("settings: %s", {k: v for k, v in vars(settings).items() if k != "auth"})
        demo = build(settings, private)
    except R1OmniError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from r1omni.ui import launch_options

    demo.launch(**launch_options(settings, demo.r1omni_backend))
    return 0


if __name__ == "__main__":
    sys.exit(main())
