"""same_device: the index-less ``cuda`` users pass names the current CUDA device, which a tensor's
``.device`` always spells with its index (``cuda:0``); checked without a GPU."""

import pytest
import torch

from difftraffic.env import check_action, same_device

CPU, CUDA, CUDA0, CUDA1 = (torch.device(d) for d in ("cpu", "cuda", "cuda:0", "cuda:1"))


def test_same_device_without_a_gpu():
    assert CUDA0 != CUDA  # the torch behaviour this guards against
    assert same_device(CUDA0, CUDA) and same_device(CUDA, CUDA0) and same_device(CUDA, CUDA)
    assert same_device(CPU, CPU) and same_device(CUDA1, CUDA1)
    assert not same_device(CUDA1, CUDA) and not same_device(CUDA0, CUDA1)
    assert not same_device(CPU, CUDA) and not same_device(CUDA0, CPU)


def test_same_device_uses_the_current_cuda_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert same_device(CUDA1, CUDA) and not same_device(CUDA0, CUDA)


class _Env:
    name, num_envs, act_dim, dtype = "stub", 2, 1, torch.float64

    def __init__(self, device):
        self.device = device


def test_check_action_compares_devices_with_same_device():
    out = check_action(_Env(CPU), torch.zeros(2, 1))
    assert out.dtype == torch.float64
    with pytest.raises(ValueError, match="action is on cpu, env is on cuda"):
        check_action(_Env(CUDA), torch.zeros(2, 1))
