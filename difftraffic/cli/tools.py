"""The small ``difftraffic`` commands: view and export (viewer entry points), check, bench."""

from __future__ import annotations

import argparse
import ast
import functools
import re
import subprocess
import sys
from pathlib import Path

from difftraffic.errors import UserError


def parse_size(text: str | None, flag: str = "--size") -> tuple[int, int] | None:
    """'1280x720' → (1280, 720); None stays None."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 16 or int(m.group(2)) < 16:
        raise UserError(f"{flag} {text}: expected WIDTHxHEIGHT in pixels, e.g. 1280x720 (each >= 16)")
    return int(m.group(1)), int(m.group(2))


def _source(src: str) -> str:
    if not Path(src).exists():
        raise UserError(f"{src}: no such run directory or episode file")
    return src


def _view_options(args: argparse.Namespace) -> dict:
    """ViewOptions fields set by flags shared by view and export."""
    return {"overlay": bool(args.overlay), "panels": not args.no_panels}


def _viewer_call(fn, *args, **kwargs):
    """Call a viewer entry point, turning its input errors into one-line UserErrors and its fallback
    warnings (no OpenGL: rendered with Pillow) into one-line notes."""
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            result = fn(*args, **kwargs)
        for w in caught:
            print(f"difftraffic: note: {' '.join(str(w.message).split())}", file=sys.stderr)
        return result
    except ValueError as exc:  # ViewerError and EpisodeError are ValueErrors naming the file
        raise UserError(str(exc)) from None
    except ImportError as exc:
        raise UserError(
            f"viewer: needs the optional package {exc.name or exc!s} (pip install "
            "'difftraffic[viewer]'; MP4 also needs 'difftraffic[mp4]')"
        ) from None


def _import_viewer(module: str):
    try:
        return __import__(f"viewer.{module}", fromlist=[module])
    except ImportError as exc:
        raise UserError(f"viewer: cannot import viewer.{module} ({exc}); install 'difftraffic[viewer]'") from None


def cmd_view(args: argparse.Namespace) -> int:
    src = _source(args.src)
    if args.frames is not None and args.frames < 1:
        raise UserError(f"--frames {args.frames}: must be >= 1")
    kwargs = {"screenshot": args.screenshot, "frames": args.frames, "env": args.env, **_view_options(args)}
    size = parse_size(args.size)
    if size is not None:
        kwargs["size"] = size
    app = _import_viewer("app")
    shot = _viewer_call(app.view, src, **kwargs)
    if shot is not None:
        print(f"wrote {shot}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    src = _source(args.src)
    if args.fps is not None and not args.fps > 0:
        raise UserError(f"--fps {args.fps}: must be > 0")
    if not args.speed > 0:
        raise UserError(f"--speed {args.speed}: must be > 0")
    kwargs = {"env": args.env, "renderer": args.renderer, "speed": args.speed, **_view_options(args)}
    if args.fps is not None:
        kwargs["fps"] = args.fps
    size = parse_size(args.size)
    if size is not None:
        kwargs["size"] = size
    export = _import_viewer("export")
    written = _viewer_call(export.export, src, args.out, **kwargs)
    print(f"wrote {written or args.out}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a scenario and run the conformance checker; exit 0 (clean), 1 (findings) or 2 (bad input)."""
    from difftraffic.registry import bundled_scenarios
    from difftraffic.run.factory import resolve_device, resolve_task

    device = resolve_device(args.device)
    task, name, family = resolve_task(args.target)
    if family == "traffic":
        from difftraffic.scenario import ScenarioError, check_scenario, load_scenario

        path = bundled_scenarios().get(task, task)
        try:
            print(check_scenario(path))
            kind = load_scenario(path).kind
        except ScenarioError as exc:
            raise UserError(str(exc)) from None
        if kind == "none":
            print(f"{name}: a pure simulation scenario (no task): the DiffEnv conformance check does not apply")
            return 0
    import learners
    from difftraffic.conformance import check_env, failures, format_report

    try:  # constructing once turns missing extras and bad specs into one-line errors
        learners.make_task(task, num_envs=1, device=device).close()
    except ImportError as exc:
        raise UserError(f"{name}: needs the optional package {exc.name or exc!s} (see docs/tasks.md)") from None
    except ValueError as exc:
        raise UserError(f"{name}: {exc}") from None
    findings = check_env(functools.partial(learners.make_task, task), device=device)
    print(format_report(findings, f"Conformance report for {name} ({device}):"))
    return 1 if failures(findings) else 0


def benchmarks_dir() -> Path:
    from difftraffic.run.factory import repo_root

    return repo_root() / "benchmarks"


def _benchmarks() -> dict[str, Path]:
    root = benchmarks_dir()
    if not root.is_dir():
        raise UserError(f"{root}: no benchmarks directory (benchmarks ship with the source tree)")
    return {p.stem: p for p in sorted(root.glob("*.py")) if not p.name.startswith("_")}


def _first_doc_line(path: Path) -> str:
    try:
        doc = ast.get_docstring(ast.parse(path.read_text()))
    except (SyntaxError, OSError):
        doc = None
    return (doc or "").strip().splitlines()[0] if doc else ""


def cmd_bench(args: argparse.Namespace) -> int:
    scripts = _benchmarks()
    if args.list:
        width = max((len(n) for n in scripts), default=0)
        for name, path in scripts.items():
            print(f"{name:<{width}}  {_first_doc_line(path)}")
        return 0
    names = args.names or list(scripts)
    for name in names:
        if name.removesuffix(".py") not in scripts:
            raise UserError(f"bench {name}: unknown benchmark (available: {', '.join(scripts) or 'none'})")
    failed = []
    for name in names:
        name = name.removesuffix(".py")
        print(f"== {name} ==", flush=True)
        rc = subprocess.run([sys.executable, str(scripts[name])], cwd=benchmarks_dir().parent).returncode
        if rc != 0:
            failed.append(f"{name} (exit {rc})")
    if failed:
        print(f"difftraffic: bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
