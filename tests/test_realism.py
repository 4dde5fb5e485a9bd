"""The realism figure sees garbage: noise, one repeated image and a blurred copy of the real
images are far from their floor, and real images the measure never saw are not."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2.functional import gaussian_blur

from ot_gan.data import load_source
from ot_gan.realism import FAR, Realism, realism_lines, realism_report, texture_statistics

STEPS = 150


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """Real 8 x 8 digits of one class (178 of them, shuffled): 110 to measure against, 68 held out."""
    data = load_source("digits", size=8)
    zeros = data.data[data.labels == 0]
    zeros = zeros[torch.randperm(len(zeros), generator=torch.Generator().manual_seed(0))]
    return zeros[:110], zeros[110:]


def report(outputs: torch.Tensor, real: torch.Tensor) -> dict:
    return realism_report({"0": (outputs, real)}, steps=STEPS)["0"]


def test_real_images_it_never_saw_are_near_their_floor(digits) -> None:
    real, held = digits
    row = report(held, real)
    assert not row["far"], row
    # 11 held-out images a side: the realism seeds 0-4 read gaps of -0.134 to 0.070 in pixels, far is 0.5
    assert abs(row["pixels"]["gap"]) < 0.2, row  # texture's gap is noisier (2 dimensions, a small spread)
    assert row["pixels"]["coverage"] > 0.8 and 0.7 < row["pixels"]["density"] < 1.3, row


@pytest.mark.parametrize("garbage", ["noise", "one image", "blur"])
def test_garbage_is_far_from_its_floor(digits, garbage: str) -> None:
    real, held = digits
    outputs = {"noise": torch.rand(held.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1,
               "one image": held[:1].expand_as(held).clone(),
               "blur": gaussian_blur(held, [5, 5], [1.0, 1.0])}[garbage]
    row = report(outputs, real)
    assert row["far"], row
    # where each is seen: noise everywhere, a repeated image in pixels (its texture is a real one's),
    # blur in texture (in pixels a blurred digit is still near its sharp self)
    space = {"noise": "pixels", "one image": "pixels", "blur": "texture"}[garbage]
    assert row[space]["gap"] > FAR, row
    if garbage == "one image":
        assert row["pixels"]["coverage"] < 0.2, row  # one image covers the few real balls around it
    lines = realism_lines({"0": row}, "class")
    assert lines[-1].startswith("caution: the outputs of class 0 are far from real images"), lines


def test_a_class_without_outputs_is_far_and_named(digits) -> None:
    real, _ = digits
    rows = realism_report({"0": (real[:2], real)}, steps=STEPS)
    assert rows == {"0": {"outputs": 2, "far": True}}
    assert "too few outputs" in realism_lines(rows, "class")[-2]


def test_far_needs_the_gap_and_intervals_apart() -> None:
    def case(w1: float, interval: tuple[float, float]) -> Realism:
        return Realism(10, w1, interval, 0.0, (-0.2, 0.2), 1.0, 1.0, 1.0, 1.0, 1.0)

    assert case(0.8, (0.5, 1.1)).far
    assert not case(0.4, (0.3, 0.5)).far  # a gap under FAR
    assert not case(0.8, (0.1, 1.5)).far  # an interval that reaches the floor's: noise, not a finding


def test_texture_statistics_see_blur_and_detail_at_each_scale() -> None:
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    stats = texture_statistics(image)
    assert stats.shape == (1, 3 * 3)  # bands at 16, 8 and 4 pixels, 3 channels
    blurred = texture_statistics(gaussian_blur(image, [5, 5], [1.0, 1.0]))
    assert (blurred[:, :3] < stats[:, :3] - 1).all()  # the finest band loses most of its contrast
