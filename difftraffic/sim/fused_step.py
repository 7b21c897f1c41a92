"""The fused step as one autograd node, run eagerly or through ``torch.compile`` (lazily, cached).

``fused_step`` wraps :func:`~difftraffic.sim.step_kernels.step_forward` /
:func:`~difftraffic.sim.step_kernels.step_backward` in a ``torch.autograd.Function``. Kernels are compiled
with inductor on first use of a specialisation (static config, dtypes, shapes, strides, scalar
parameter values, which inputs need a gradient): traced with ``make_fx`` and handed to inductor
directly, so calls skip dynamo's guards and no recompile limit applies. Results are cached for the
life of the process (and on disk by inductor). If compiling fails (no C
compiler, no triton on CUDA, ...) a one-line warning is issued once and the eager kernels are used.
Second-order gradients are not supported by the fused node (use ``backend="eager"``).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import replace

import torch
from torch.autograd.function import once_differentiable

from difftraffic.sim.step_kernels import StepSpec, step_backward, step_backward_coef, step_forward

_COMPILED: dict[tuple, Callable] = {}
_COMPILE_BROKEN: set[str] = set()  # device types on which compiling failed once


def _signature(args) -> tuple:
    """Compile-cache key of a kernel's arguments: tensor metadata, float values (baked into the code)."""
    return tuple((t.dtype, t.shape, t.stride(), t.device) if isinstance(t, torch.Tensor) else t for t in args)


def _compile(fn: Callable, static: tuple, args: tuple) -> Callable:
    """Trace ``fn(*static, *args)`` to an FX graph and compile it with inductor.

    Calling inductor's output directly skips dynamo's per-call guards (~10 us): the cache key in
    :func:`_run` already pins everything the code was specialised on.
    """
    from torch._inductor import config as inductor_config
    from torch._inductor.compile_fx import compile_fx
    from torch.fx.experimental.proxy_tensor import make_fx

    tensor_pos = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]

    def traced(*tensors):
        full = list(args)
        for i, t in zip(tensor_pos, tensors):
            full[i] = t
        return fn(*static, *full)

    example = [args[i] for i in tensor_pos]
    # one small kernel per graph: compile in this process rather than starting inductor's worker pool
    with torch.no_grad(), inductor_config.patch(compile_threads=1):
        gm = make_fx(traced)(*example)
        kernel = compile_fx(gm, example)

    def call(*call_args):
        return kernel(*[call_args[i] for i in tensor_pos])

    return call


def _run(fn: Callable, compiled: bool, static: tuple, args: tuple):
    """Call ``fn(*static, *args)``, through a cached compiled specialisation when ``compiled``.

    Failures to compile (or of a new specialisation's first call) fall back to the eager kernels, with
    one warning per device type; errors of later calls propagate.
    """
    if not compiled or torch.compiler.is_compiling():
        return fn(*static, *args)
    device = next(t.device.type for t in args if isinstance(t, torch.Tensor))
    if device in _COMPILE_BROKEN:
        return fn(*static, *args)
    key = (fn.__name__, static, _signature(args))
    cfn = _COMPILED.get(key)
    if cfn is None:
        try:
            cfn = _compile(fn, static, args)
            with torch.no_grad():
                out = tuple(cfn(*args))  # some backends finish compiling on the first call
        except Exception as err:  # noqa: BLE001 - no C++ compiler, no triton, unsupported op, ...
            _COMPILE_BROKEN.add(device)
            text = str(err).strip()
            first_line = text.splitlines()[0] if text else type(err).__name__
            warnings.warn(
                f"difftraffic: compiling the fused step failed on {device} ({first_line[:200]}); "
                "using the eager fused kernels",
                RuntimeWarning,
                stacklevel=3,
            )
            return fn(*static, *args)
        _COMPILED[key] = cfn
        return out
    with torch.no_grad():
        return tuple(cfn(*args))


def _forward_node(ctx, spec: StepSpec, compiled: bool, args: tuple) -> tuple:
    """The forward kernel inside an autograd Function (the bad-row outputs are not differentiable)."""
    out = _run(step_forward, compiled, (spec,), args)
    ctx.mark_non_differentiable(out[3], out[4])
    ctx.set_materialize_grads(False)
    ctx.spec, ctx.compiled = spec, compiled
    return out


class _FusedStep(torch.autograd.Function):
    """Fused step, any inputs: the backward recomputes the forward (IDM parameters can get gradients)."""

    @staticmethod
    def forward(ctx, spec, compiled, x, v, acc_in, ctrl, noise, leader, exists, follower, has_follower, lane,
                topo_lane, lone_offset, laps, ring_len, v0, T, a, b, s0, delta, length):  # fmt: skip
        params = (v0, T, a, b, s0, delta, length)
        args = (x, v, acc_in, ctrl, noise, leader, exists, lane, topo_lane, lone_offset, laps, ring_len, *params)
        out = _forward_node(ctx, spec, compiled, args)
        ctx.float_params = tuple(None if isinstance(p, torch.Tensor) else p for p in params)
        tensor_params = tuple(p if isinstance(p, torch.Tensor) else None for p in params)
        ctx.save_for_backward(
            x, v, acc_in, ctrl, noise, leader, exists, follower, has_follower, lone_offset, ring_len, *tensor_params
        )
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g_x, g_v, g_app, _g_bad, _g_any):
        saved = ctx.saved_tensors
        ng = ctx.needs_input_grad
        state, tparams = saved[:11], saved[11:]
        params = tuple(t if t is not None else f for t, f in zip(tparams, ctx.float_params))
        needs = (ng[2], ng[3], ng[4], *ng[16:23])
        grads = _run(step_backward, ctx.compiled, (ctx.spec, needs), (*state, *params, g_x, g_v, g_app))
        g_xx, g_vv, g_acc = grads[:3]
        g_params = []
        for g, p in zip(grads[3:], params):
            g_params.append(None if g is None else g.sum_to_size(p.shape) if p.dim() > 0 else g.sum())
        return (None, None, g_xx, g_vv, g_acc, *([None] * 11), *g_params)


class _FusedStepCoef(torch.autograd.Function):
    """Fused step when only x, v and the controlled accelerations need gradients (Euler/explicit): the
    forward saves three partial derivatives per vehicle and the backward is a short elementwise pass.
    Non-differentiable inputs travel in one plain tuple ``rest`` (fewer arguments: less call overhead)."""

    @staticmethod
    def forward(ctx, spec, compiled, rest, x, v, acc_in):
        ctrl, noise, leader, exists, follower, has_follower, lane, topo_lane, lone_offset, laps, ring_len, params = rest
        args = (x, v, acc_in, ctrl, noise, leader, exists, lane, topo_lane, lone_offset, laps, ring_len, *params)
        out = _forward_node(ctx, spec, compiled, args)
        ctx.save_for_backward(ctrl, follower, has_follower, *out[5:])
        return out[:5]

    @staticmethod
    @once_differentiable
    def backward(ctx, g_x, g_v, g_app, _g_bad, _g_any):
        needs = ctx.needs_input_grad[3:6]
        grads = _run(step_backward_coef, ctx.compiled, (ctx.spec, needs), (*ctx.saved_tensors, g_x, g_v, g_app))
        return (None, None, None, *grads)


@functools.lru_cache(maxsize=64)
def _with_coef(spec: StepSpec) -> StepSpec:
    return replace(spec, save_coef=True)


def fused_step(
    spec: StepSpec, compiled: bool, x, v, acc_in, ctrl, lane, topo, params: tuple, noise=None, ring_len=None
):
    """Run one fused step on topology ``topo``; returns (x_new, v_new, applied accel, bad [B], any bad).

    ``noise``: additive acceleration of IDM-driven vehicles ``[B, N]`` (m/s^2, ``spec.has_noise``);
    ``ring_len``: per-env ring length ``[B, 1]`` (m, float64) on a ring road (``spec.ring``)."""
    grad = torch.is_grad_enabled()
    param_grad = grad and any(isinstance(p, torch.Tensor) and p.requires_grad for p in params)
    state_grad = grad and (x.requires_grad or v.requires_grad or (acc_in is not None and acc_in.requires_grad))
    if topo.lanes_unchanged(lane):
        lane = None  # skip the O(N) lane comparison in the kernel
    if compiled:  # int32 indices: half the index traffic (eager gather wants int64 on older torch)
        leader, follower = topo.leader32, topo.follower32
    else:
        leader, follower = topo.leader, topo.follower
    if param_grad or (state_grad and spec.integrator == "ballistic"):
        return _FusedStep.apply(spec, compiled, x, v, acc_in, ctrl, noise, leader, topo.exists, follower,
                                topo.has_follower, lane, topo.lane, topo.lone_offset, topo.laps, ring_len,
                                *params)  # fmt: skip
    if state_grad:
        rest = (ctrl, noise, leader, topo.exists, follower, topo.has_follower, lane, topo.lane, topo.lone_offset,
                topo.laps, ring_len, params)  # fmt: skip
        return _FusedStepCoef.apply(_with_coef(spec), compiled, rest, x, v, acc_in)
    args = (x, v, acc_in, ctrl, noise, leader, topo.exists, lane, topo.lane, topo.lone_offset, topo.laps, ring_len)
    return _run(step_forward, compiled, (spec,), (*args, *params))
