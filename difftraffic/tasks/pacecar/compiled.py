"""CompiledStep: torch.compile a pure step function once per variant, then call the compiled graph directly.

A torch.compile'd call pays for frame evaluation, guard checks and output reconstruction on every call
(measured ~40 us of a ~100 us pace-car step at 64 envs). Here dynamo traces the function once per
*variant* (grad mode, static arguments, and each tensor argument's shape, strides, dtype, device and
requires_grad); the graph inductor compiles for it is captured by a custom backend, mapped back to the
caller's arguments, checked to reproduce dynamo's outputs exactly, and from then on called directly
with a plain dictionary lookup as the guard. Anything unexpected (an input the mapping cannot place, an
output mismatch, a missing private API) keeps that variant on the ordinary dynamo path, so results never
depend on the shortcut. A private copy of the function's code object gives every instance its own
dynamo cache and recompile limit.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import torch

_USE_DYNAMO = object()


def _signature(arg: Any) -> Any:
    if arg is None:
        return None
    return (tuple(arg.shape), arg.stride(), arg.dtype, arg.device, arg.requires_grad)


class CompiledStep:
    """Call ``fn(*tensors, *static)`` through torch.compile with a per-variant direct fast path.

    ``fn`` must be pure: tensors (or None) in, a tuple of tensors (or None) out, no side effects.
    ``options`` are inductor config patches. Raises whatever compiling raises (the caller falls back).
    """

    def __init__(self, fn: Callable, options: dict[str, Any]):
        bound = isinstance(fn, types.MethodType)
        func = fn.__func__ if bound else fn
        own = types.FunctionType(
            func.__code__.replace(), func.__globals__, func.__name__, func.__defaults__, func.__closure__
        )
        self._fn = types.MethodType(own, fn.__self__) if bound else own
        self.options = dict(options)
        self._captured: list[tuple[Callable, list[torch.Tensor]]] = []
        self._direct: dict[Any, Any] = {}
        self.direct_calls = 0
        try:
            from torch._inductor.compile_fx import compile_fx
        except ImportError:  # private API moved: plain torch.compile, no fast path
            self._dynamo = torch.compile(self._fn, fullgraph=True, dynamic=False, options=self.options)
            return

        def backend(gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]) -> Callable:
            compiled = compile_fx(gm, example_inputs, config_patches=self.options)
            self._captured.append((compiled, list(example_inputs)))
            return compiled

        self._dynamo = torch.compile(self._fn, backend=backend, fullgraph=True, dynamic=False)

    def __call__(self, args: tuple, static: tuple = ()) -> tuple:
        key = (torch.is_grad_enabled(), torch.is_inference_mode_enabled(), static, tuple(map(_signature, args)))
        entry = self._direct.get(key)
        if entry is not None and entry is not _USE_DYNAMO:
            compiled, perm, positions, count = entry
            flat = compiled(*[args[i] for i in perm])
            out: list[Any] = [None] * count
            for pos, value in zip(positions, flat):
                out[pos] = value
            self.direct_calls += 1
            return tuple(out)
        self._captured.clear()
        out = self._dynamo(*args, *static)
        if entry is None:
            self._direct[key] = self._capture(args, out)
        self._captured.clear()
        return out

    def _capture(self, args: tuple, out: tuple) -> Any:
        """Map the graph compiled by this call to ``args``; _USE_DYNAMO when that is not certain."""
        if len(self._captured) != 1 or not isinstance(out, tuple):
            return _USE_DYNAMO
        compiled, examples = self._captured[0]
        perm = []
        for example in examples:
            hits = [i for i, a in enumerate(args) if a is example]
            if len(hits) != 1:
                return _USE_DYNAMO
            perm.append(hits[0])
        positions = [i for i, o in enumerate(out) if isinstance(o, torch.Tensor)]
        if any(o is not None and not isinstance(o, torch.Tensor) for o in out):
            return _USE_DYNAMO
        flat = compiled(*[args[i] for i in perm])
        if len(flat) != len(positions):
            return _USE_DYNAMO
        for pos, value in zip(positions, flat):
            ref = out[pos]
            if value.shape != ref.shape or value.dtype != ref.dtype or not torch.equal(value, ref):
                return _USE_DYNAMO
            if value.requires_grad != ref.requires_grad:
                return _USE_DYNAMO
        return compiled, perm, positions, len(out)
