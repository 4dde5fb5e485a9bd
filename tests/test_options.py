"""Options declared once: a changed default keeps the help and range, and the device setting
sets torch's threads and refuses a missing GPU."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ot_gan.engine import TrainConfig
from ot_gan.errors import InputError, cli_setting
from ot_gan.options import Device, redefault


def test_redefault_keeps_help_range_and_place() -> None:
    @dataclasses.dataclass
    class Longer(TrainConfig):
        steps: int = redefault(TrainConfig, "steps", 7)
        seed: int = redefault(TrainConfig, "seed", 3)

    fields = {f.name: f for f in dataclasses.fields(Longer)}
    base = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert Longer().steps == 7 and fields["steps"].metadata == base["steps"].metadata
    assert fields["steps"].metadata["min"] == 1
    assert fields["seed"].kw_only and Longer().seed == 3  # redefaulted, and still keyword-only (after the app's fields)


def test_device_sets_threads_and_refuses_a_missing_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Device(device="cpu", threads=2).torch_device() == torch.device("cpu")
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert Device().torch_device() == torch.device("cpu")
    with pytest.raises(InputError) as err:
        Device(device="cuda").torch_device()
    assert err.value.render(cli_setting) == "--device cuda: no CUDA device is available; use the CPU"
