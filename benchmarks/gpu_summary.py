"""Collects what benchmarks/gpu_check.sh's parts wrote into results.json, figures.csv and summary.md.

    python benchmarks/gpu_summary.py --stage STAGE_DIR --out OUT_DIR

``STAGE_DIR`` holds ``status.tsv`` (part, exit code, seconds, limit, note; one line per finished part),
``json/<part>.json`` (each benchmark's ``--json`` output), ``junit/<part>.xml`` (pytest) and ``env.json``.
Writes (atomically, so a run cut short keeps the last complete set): ``results.json`` (everything),
``figures.csv`` (``figure,value``: one named number a line) and ``summary.md`` (the headline figures
against the issue-16 targets; also printed). Parts that have not run yet are simply absent.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

PAPER_GIPPO_10LANE_S = 533.0  # paper Table 2: GI-PPO, 10 lanes, 500 epochs, RTX A5000
TARGET_FWD_VEH_STEPS = 5e9  # issue 16: forward vehicle-steps/s at 4096 x 1000, compiled
TARGET_GIPPO_SPEEDUP = 5.0  # issue 16: a 500-epoch 10-lane GI-PPO run >= 5x faster than 533 s
TARGET_GIPPO_OVER_RP = 1.15  # issue 16: GI-PPO / RP <= 1.15 (paper: 1.07-1.26)


def read_status(stage: Path) -> list[dict]:
    rows = []
    path = stage / "status.tsv"
    if path.is_file():
        for line in path.read_text().splitlines():
            part, rc, secs, limit, *note = line.split("\t") + [""]
            rows.append({"part": part, "rc": int(rc), "seconds": float(secs), "limit_s": float(limit), "note": note[0]})
    return rows


def read_junit(path: Path) -> dict:
    """Counts (tests, passed, failed, errors, skipped) and the ids of failed tests from a pytest junit file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    failed, skips = [], {}
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname')}::{case.get('name')}")
        skipped = case.find("skipped")
        if skipped is not None:
            reason = (skipped.get("message") or "?").strip()
            skips[reason] = skips.get(reason, 0) + 1
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    counts["failed_ids"] = failed[:50]
    counts["skip_reasons"] = skips
    return counts


def collect(stage: Path) -> dict:
    out: dict = {"status": read_status(stage), "env": {}, "parts": {}, "pytest": {}}
    env = stage / "env.json"
    if env.is_file():
        out["env"] = json.loads(env.read_text())
    install = stage / "install_mode"
    if install.is_file():
        out["env"]["install"] = install.read_text().strip()
    for path in sorted((stage / "json").glob("*.json")):
        try:
            out["parts"][path.stem] = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            out["parts"][path.stem] = {"error": f"unreadable JSON: {err}"}
    for path in sorted((stage / "junit").glob("*.xml")):
        try:
            out["pytest"][path.stem] = read_junit(path)
        except ET.ParseError as err:
            out["pytest"][path.stem] = {"error": f"unreadable junit XML: {err}"}
    return out


def figures(res: dict) -> list[tuple[str, object]]:
    """Named numbers, one per row of figures.csv."""
    rows: list[tuple[str, object]] = []
    for st in res["status"]:
        rows += [(f"part/{st['part']}/rc", st["rc"]), (f"part/{st['part']}/seconds", round(st["seconds"], 1))]
    for name, counts in res["pytest"].items():
        rows += [(f"pytest/{name}/{k}", v) for k, v in counts.items() if isinstance(v, int)]
    parts = res["parts"]
    for row in parts.get("sim_throughput", {}).get("rows", []):
        head = f"sim/{row['envs']}x{row['cars']}/{row['path']}"
        rows += [(f"{head}/{k}", v) for k, v in row.items() if isinstance(v, float)]
    for r in parts.get("pacecar_latency", {}).get("results", []):
        rows += [(f"pacecar/{r['num_envs']}envs/{k}", v) for k, v in r.items() if isinstance(v, float | bool)]
    for row in parts.get("learner_cost", {}).get("rows", []):
        head = f"learner/{row['task']}/{row['learner']}"
        rows += [(f"{head}/{k}", v) for k, v in row.items() if isinstance(v, float)]
    for dtype, r in parts.get("gpu_agreement", {}).get("results", {}).items():
        for key, stats in r.items():
            if isinstance(stats, dict) and "max_abs" in stats:
                rows += [(f"agreement/{dtype}/{key}/{k}", v) for k, v in stats.items()]
        rows.append((f"agreement/{dtype}/first_discrete_difference_step", r.get("first_discrete_difference_step")))
    return rows


def _fmt(x, spec: str = ".3g") -> str:
    return "n/a" if x is None else format(x, spec)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _env_and_parts(res: dict) -> list[str]:
    env = res["env"]
    lines = ["# GPU check summary", ""]
    if env:
        lines += [
            f"{env.get('device_name', '?')} ({env.get('device', '?')}), torch {env.get('torch', '?')}, "
            f"CUDA {env.get('cuda')}, Python {env.get('python', '?')}, install: {env.get('install', '?')}, "
            f"dry run: {env.get('dry_run', '?')}",
            "",
        ]
    lines += ["| part | exit | seconds | limit | note |", "|---|---|---|---|---|"]
    for st in res["status"]:
        lines.append(f"| {st['part']} | {st['rc']} | {st['seconds']:.0f} | {st['limit_s']:.0f} | {st['note']} |")
    lines.append("")
    for name, c in res["pytest"].items():
        if "error" in c:
            lines.append(f"- pytest {name}: {c['error']}")
            continue
        text = f"- pytest {name}: {c['passed']} passed, {c['failures']} failed, {c['errors']} errors, "
        text += f"{c['skipped']} skipped"
        if name == "pytest_cuda":
            ok = c["passed"] > 0 and c["failures"] == 0 and c["errors"] == 0
            text += f" (target: all that run pass: {_met(ok)})"
        lines.append(text)
        lines += [f"  - failed: {t}" for t in c["failed_ids"][:10]]
        lines += [f"  - skipped {n}: {reason[:150]}" for reason, n in c["skip_reasons"].items()]
    return lines


def _sim(rows: list[dict]) -> list[str]:
    lines = ["", "Simulator (float32, 10 lanes, 32-step windows), vehicle-steps/s:", ""]
    lines += ["| envs x cars | path | fwd | fwd+bwd | fwd x naive |", "|---|---|---|---|---|"]
    for r in rows:
        size = f"{r['envs']} x {r['cars']}"
        if "error" in r:
            lines.append(f"| {size} | {r['path']} | failed: {r['error'][:80]} | | |")
            continue
        fwd, fb = r["fwd_vehicle_steps_per_s"], r["fwd_bwd_vehicle_steps_per_s"]
        lines.append(f"| {size} | {r['path']} | {fwd:.3g} | {fb:.3g} | {_fmt(r.get('fwd_x_naive'), '.2f')} |")
    big = [r for r in rows if (r["envs"], r["cars"], r["path"]) == (4096, 1000, "compiled") and "error" not in r]
    if big:
        v = big[0]["fwd_vehicle_steps_per_s"]
        target = f"Target >= {TARGET_FWD_VEH_STEPS:.0e} fwd vehicle-steps/s at 4096 x 1000 compiled"
        lines.append(f"\n{target}: {v:.3g} ({_met(v >= TARGET_FWD_VEH_STEPS)})")
    return lines


def _pacecar(results: list[dict]) -> list[str]:
    lines = ["", "Pace-car env step (10lane), us per batched step:", ""]
    keys = ("compiled_fwd_us", "compiled_fwd_bwd_us", "compiled_nograd_us", "eager_fwd_us", "eager_fwd_bwd_us")
    lines += ["| envs | compiled fwd | compiled fwd+bwd | compiled no-grad | eager fwd | eager fwd+bwd | "
              "compile failed |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        cells = " | ".join(_fmt(r.get(k), ".0f") for k in keys)
        lines.append(f"| {r['num_envs']} | {cells} | {r.get('compile_failed')} |")
    return lines


def _learners(rows: list[dict]) -> list[str]:
    n = rows[0]["timed_epochs"]
    lines = ["", f"Learners on 10lane ({rows[0]['num_envs']} envs; {n} timed epochs, extrapolated to 500):", ""]
    lines += ["| learner | s/epoch | x RP | s per 500 epochs | paper s | paper x RP |", "|---|---|---|---|---|---|"]
    for r in rows:
        ours = f"{r['s_per_epoch']:.3f} | {_fmt(r['x_rp'], '.2f')} | {r['s_per_500_epochs_extrapolated']:.0f}"
        lines.append(f"| {r['learner']} | {ours} | {_fmt(r['paper_s'], '.0f')} | {_fmt(r['paper_x_rp'], '.2f')} |")
    gi = [r for r in rows if r["learner"] == "gippo"]
    if gi:
        s500, ratio = gi[0]["s_per_500_epochs_extrapolated"], gi[0]["x_rp"]
        speedup = PAPER_GIPPO_10LANE_S / s500
        lines.append(
            f"\nTargets: 500-epoch GI-PPO >= {TARGET_GIPPO_SPEEDUP:g}x faster than {PAPER_GIPPO_10LANE_S:.0f} s: "
            f"{speedup:.2f}x ({_met(speedup >= TARGET_GIPPO_SPEEDUP)}, extrapolated from {n} epochs); "
            f"GI-PPO / RP <= {TARGET_GIPPO_OVER_RP}: {_fmt(ratio, '.2f')} "
            f"({_met(ratio is not None and ratio <= TARGET_GIPPO_OVER_RP)}; paper 1.07-1.26)"
        )
    return lines


def _agreement(ag: dict) -> list[str]:
    lines = ["", f"CPU <-> {ag.get('device')} agreement, {ag['scenario']} {ag['envs']} envs x {ag['steps']} "
             f"steps (windows of {ag['window']}):", ""]  # fmt: skip
    lines += ["| dtype | quantity | max abs | max rel | rel norm |", "|---|---|---|---|---|"]
    for dtype, r in ag["results"].items():
        for key in ("obs", "reward", "v", "action_grad"):
            s = r[key]
            lines.append(f"| {dtype} | {key} | {s['max_abs']:.3g} | {s['max_rel']:.3g} | {s['rel_norm']:.3g} |")
        first = _fmt(r["first_discrete_difference_step"], "d")
        lines.append(f"| {dtype} | first discrete difference (step) | {first} | | |")
    return lines


def headline(res: dict) -> list[str]:
    """The summary's lines: parts, tests, and each benchmark's key figures against the targets."""
    lines = _env_and_parts(res)
    parts = res["parts"]
    if parts.get("sim_throughput", {}).get("rows"):
        lines += _sim(parts["sim_throughput"]["rows"])
    if parts.get("pacecar_latency", {}).get("results"):
        lines += _pacecar(parts["pacecar_latency"]["results"])
    learners = [r for r in parts.get("learner_cost", {}).get("rows", []) if "error" not in r]
    if learners:
        lines += _learners(learners)
    if parts.get("gpu_agreement", {}).get("results"):
        lines += _agreement(parts["gpu_agreement"])
    return lines


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", required=True, type=Path, help="the parts' staging directory")
    p.add_argument("--out", required=True, type=Path, help="where results.json, figures.csv, summary.md go")
    p.add_argument("--quiet", action="store_true", help="do not print the summary")
    args = p.parse_args(argv)
    if not args.stage.is_dir():
        p.error(f"--stage: {args.stage}: not a directory")
    args.out.mkdir(parents=True, exist_ok=True)
    res = collect(args.stage)
    write_text(args.out / "results.json", json.dumps(res, indent=1) + "\n")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["figure", "value"])
    writer.writerows(figures(res))
    write_text(args.out / "figures.csv", buf.getvalue())
    text = "\n".join(headline(res)) + "\n"
    write_text(args.out / "summary.md", text)
    if not args.quiet:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
