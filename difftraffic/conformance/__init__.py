"""Conformance checker for the DiffEnv contract (see :mod:`difftraffic.env`).

``check_env(env_or_factory)`` runs every check and returns a list of :class:`Finding`;
``assert_env_conforms`` raises :class:`ConformanceError` with a readable report when a check fails;
``format_report`` renders findings for humans (``difftraffic check TASK|SCENARIO`` prints it).

Pass either a DiffEnv instance or a factory called as ``factory(num_envs=, device=, dtype=, seed=)``
(``learners.tasks.task_factory(NAME)`` makes one). With a factory the checker also builds fresh
instances (state_dict into a new env, construction determinism) and a float64 copy for the gradient
checks; with an instance, gradients are checked only if the instance itself is float64.

Checks (table in docs/tasks.md): attributes (incl. ``family``); every output's shape, dtype, device and finiteness;
terminated/truncated exclusivity and the time limit; same-step autoreset (``final_obs``, episode stats);
``detach()``; the ``state_dict`` round trip through ``torch.load(weights_only=True)``; reset seeding; and
action gradients against central finite differences in float64 (one step and a window), where entries at
episode ends are excluded and a few disagreeing ones (contacts, clips) only warn. The checks themselves
are in the modules beside this one (attributes, step_outputs, reproducibility, gradients; findings, context and
snapshots are their shared parts); this module runs them and reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from difftraffic.conformance.attributes import check_attributes, check_render
from difftraffic.conformance.context import CheckContext
from difftraffic.conformance.findings import FAIL, PASS, SKIP, WARN, Finding, describe_exception
from difftraffic.conformance.gradients import check_detach, check_grad
from difftraffic.conformance.reproducibility import check_replay, check_seed
from difftraffic.conformance.step_outputs import check_rollout
from difftraffic.env import DiffEnv

__all__ = [
    "FAIL",
    "PASS",
    "SKIP",
    "WARN",
    "ConformanceError",
    "Finding",
    "assert_env_conforms",
    "check_env",
    "failures",
    "format_report",
]


class ConformanceError(AssertionError):
    """A DiffEnv broke its contract; the message is the full report."""


def format_report(findings: list[Finding], title: str = "") -> str:
    """Human-readable report: one line per finding and a summary line."""
    lines = [title] if title else []
    lines += [f"  {f}" for f in findings]
    n_fail = sum(f.status == FAIL for f in findings)
    n_warn = sum(f.status == WARN for f in findings)
    lines.append(f"Result: {'FAILED' if n_fail else 'OK'} ({n_fail} failed, {n_warn} warnings, {len(findings)} checks)")
    return "\n".join(lines)


def failures(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.status == FAIL]


def assert_env_conforms(env_or_factory: DiffEnv | Callable[..., DiffEnv], **kwargs: Any) -> list[Finding]:
    """Run :func:`check_env`; raise :class:`ConformanceError` with the report if anything failed."""
    findings = check_env(env_or_factory, **kwargs)
    if failures(findings):
        raise ConformanceError(format_report(findings, _title(env_or_factory, kwargs)))
    return findings


def _title(env_or_factory: Any, kwargs: dict[str, Any]) -> str:
    name = env_or_factory.name if isinstance(env_or_factory, DiffEnv) else getattr(env_or_factory, "__name__", "")
    return f"Conformance report for {name or 'env'} ({kwargs.get('device', 'cpu')}):"


def check_env(
    env_or_factory: DiffEnv | Callable[..., DiffEnv],
    *,
    num_envs: int = 4,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    steps: int | None = None,
    grad: bool = True,
    grad_envs: int = 2,
    grad_window: int = 8,
    grad_warmup: int = 5,
    fd_eps: float = 1e-6,
    rtol: float = 1e-3,
    max_mismatch: float = 0.05,
) -> list[Finding]:
    """Check a DiffEnv (or factory) against the contract; returns every finding (see module docstring).

    ``steps``: length of the autoreset rollout (default ``episode_length + 1``, capped at 1200).
    ``grad_window``: steps of the multi-step gradient check (0 disables it); ``fd_eps``: central
    finite-difference step on actions in [-1, 1]; an entry agrees when
    ``|g - fd| <= rtol * max(|g|, |fd|) + 1e-6 * max|fd|``; more than ``max_mismatch`` of the entries
    disagreeing is a failure.
    """
    ctx = CheckContext(env_or_factory, num_envs, torch.device(device), dtype, seed)
    findings: list[Finding] = []
    try:
        env = ctx.make(num_envs, dtype)
    except Exception as exc:  # the factory itself failed: nothing else can run
        return [Finding("construct", FAIL, describe_exception(exc))]
    findings += _guard("attributes", lambda: check_attributes(env, ctx))
    if failures(findings):
        return findings
    findings += _guard("rollout", lambda: check_rollout(env, ctx, steps))
    findings += _guard("state_dict", lambda: check_replay(env, ctx, ctx.replay))
    findings += _guard("render_state", lambda: check_render(env))
    findings += _guard("detach", lambda: check_detach(env, ctx))
    findings += _guard("seed", lambda: check_seed(env, ctx))
    if grad:
        fd_args = (grad_envs, grad_warmup, fd_eps, rtol, max_mismatch)
        findings += _guard("grad-1step", lambda: check_grad(ctx, 1, *fd_args))
        if grad_window > 1 and env.episode_length > 1:
            window = min(grad_window, env.episode_length)
            findings += _guard(f"grad-{window}step", lambda: check_grad(ctx, window, *fd_args))
    return findings


def _guard(check: str, fn: Callable[[], list[Finding]]) -> list[Finding]:
    try:
        return fn()
    except Exception as exc:
        return [Finding(check, FAIL, describe_exception(exc))]
