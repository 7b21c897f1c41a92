"""Actor and critic MLPs of the authors' GI-PPO code (docs/reference.md §A2), initialised from a generator.

* Actor: each hidden layer is Linear -> activation (ELU) -> LayerNorm; a linear mean head and a
  separate linear log-std head on the last hidden layer (state-dependent std = exp(head)).
  PyTorch's default Linear init (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias).
* Critic: Linear -> ELU -> LayerNorm per hidden layer, then Linear -> 1; orthogonal weights
  (gain 1) and zero biases.

All random init draws from the ``generator`` passed in (never the global torch RNG), so a learner's
seed fixes its networks.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh, "identity": nn.Identity}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: unknown {name!r}; choose from {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


@torch.no_grad()
def init_default_linear(layer: nn.Linear, gen: torch.Generator) -> None:
    """PyTorch's default nn.Linear init (kaiming_uniform a=sqrt(5) == U(+-1/sqrt(fan_in))), from ``gen``."""
    bound = 1.0 / math.sqrt(layer.in_features) if layer.in_features > 0 else 0.0
    nn.init.uniform_(layer.weight, -bound, bound, generator=gen)
    nn.init.uniform_(layer.bias, -bound, bound, generator=gen)


@torch.no_grad()
def init_orthogonal_linear(layer: nn.Linear, gen: torch.Generator, gain: float = 1.0) -> None:
    nn.init.orthogonal_(layer.weight, gain=gain, generator=gen)
    nn.init.zeros_(layer.bias)


def _linear(n_in: int, n_out: int, factory: dict) -> nn.Linear:
    """An uninitialised Linear (``skip_init``: the constructor's init would draw from the global RNG)."""
    device = factory.get("device") or "cpu"
    return torch.nn.utils.skip_init(nn.Linear, n_in, n_out, device=device, dtype=factory.get("dtype"))


def _hidden_stack(in_dim: int, hidden: list[int], activation: str, gen, init, factory) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    prev = in_dim
    for width in hidden:
        lin = _linear(prev, width, factory)
        init(lin, gen)
        layers += [lin, _activation(activation), nn.LayerNorm(width, **factory)]
        prev = width
    return nn.Sequential(*layers), prev


class ActorStochasticMLP(nn.Module):
    """Gaussian policy ``obs [N, obs_dim] -> (mu [N, act_dim], logstd [N, act_dim])`` (pre-tanh space)."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: list[int],
        activation: str = "elu",
        *,
        generator: torch.Generator,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.body, width = _hidden_stack(obs_dim, list(hidden), activation, generator, init_default_linear, factory)
        self.mu = _linear(width, act_dim, factory)
        self.logstd = _linear(width, act_dim, factory)
        init_default_linear(self.mu, generator)
        init_default_linear(self.logstd, generator)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(obs)
        return self.mu(h), self.logstd(h)


class CriticMLP(nn.Module):
    """State value ``obs [N, obs_dim] -> V [N]``."""

    def __init__(
        self,
        obs_dim: int,
        hidden: list[int],
        activation: str = "elu",
        *,
        generator: torch.Generator,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.body, width = _hidden_stack(obs_dim, list(hidden), activation, generator, init_orthogonal_linear, factory)
        self.head = _linear(width, 1, factory)
        init_orthogonal_linear(self.head, generator)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(obs)).squeeze(-1)
