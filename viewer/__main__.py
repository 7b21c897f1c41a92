"""``python -m viewer RUN|EPISODE [--screenshot PNG --frames N | --export OUT] [--env B] [--size WxH] [--overlay]``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m viewer", description="Replay a recorded difftraffic episode.")
    p.add_argument("src", help="episode .npz or run directory (opens its latest episode)")
    p.add_argument("--screenshot", help="render without interaction and save the last frame here (PNG)")
    p.add_argument("--frames", type=int, help="number of frames to render for --screenshot (default 1)")
    p.add_argument("--export", metavar="OUT", help="write OUT.gif, OUT.mp4 or a directory of PNG frames")
    p.add_argument("--fps", type=float, help="export frame rate (default: one frame per simulation step)")
    p.add_argument("--renderer", default="auto", choices=("auto", "gl", "pillow"), help="export renderer")
    p.add_argument("--env", type=int, default=0, help="which env of the batch (default 0)")
    p.add_argument("--size", default=None, help="picture size WxH in px (default 1280x720, export 960x540)")
    p.add_argument("--overlay", action="store_true", help="start with the gradient-flow overlay on")
    args = p.parse_args(argv)

    from .source import ViewerError

    try:
        size = None
        if args.size:
            try:
                w, h = (int(v) for v in args.size.lower().split("x"))
            except ValueError:
                raise ViewerError(f"--size: expected WxH such as 960x540, got {args.size!r}") from None
            size = (w, h)
        if args.export:
            from .export import export

            kw = {"size": size} if size else {}
            out = export(args.src, args.export, fps=args.fps, env=args.env, renderer=args.renderer,
                         overlay=args.overlay, **kw)  # fmt: skip
            print(f"wrote {out}")
            return 0
        from .app import view

        kw = {"size": size} if size else {}
        shot = view(args.src, screenshot=args.screenshot, frames=args.frames, env=args.env, overlay=args.overlay, **kw)
        if shot is not None:
            print(f"wrote {shot}")
        return 0
    except ViewerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
