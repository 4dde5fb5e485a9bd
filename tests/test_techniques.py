"""Salimans et al.'s techniques (arXiv 1606.03498): each one's mechanism, and the engine's checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from engine_toy import run
from torch import nn

from ot_gan.engine import load_checkpoint
from ot_gan.engine.techniques import HistoricalAverage, feature_matching_loss
from ot_gan.errors import InputError
from ot_gan.models import DCGANGenerator, MinibatchDiscrimination
from ot_gan.objectives import amgan_discriminator_loss, get_objective


def test_historical_averaging_pulls_the_weights_toward_their_running_mean() -> None:
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    history = HistoricalAverage(net)
    first = nn.utils.parameters_to_vector(net.parameters()).clone()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    history.update(net)
    second = nn.utils.parameters_to_vector(net.parameters()).clone()
    assert torch.allclose(history.mean, (first + second) / 2)  # the mean of theta over the steps so far
    before = history.distance(net)
    assert torch.isclose(before, (second - history.mean).square().sum())
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    history.distance(net).backward()
    opt.step()
    after = nn.utils.parameters_to_vector(net.parameters())
    assert history.distance(net) < before
    assert torch.allclose(after, second - 0.2 * (second - history.mean))  # gradient 2 (theta - mean)


def test_historical_averaging_in_training_is_logged_and_resumes(tmp_path: Path) -> None:
    def generator_weights(out: Path) -> torch.Tensor:
        state = load_checkpoint(out / "checkpoints" / "latest.pt", "toy")["task"]
        return torch.cat([v.flatten() for k, v in state.items() if k.startswith("generator.")])

    pulled = run(tmp_path / "pulled", steps=20, lr=1e-2, historical_averaging=10.0)
    assert pulled.metrics["generator/historical_averaging"] > 0 and pulled.metrics["critic/historical_averaging"] > 0
    history = load_checkpoint(tmp_path / "pulled" / "checkpoints" / "latest.pt", "toy")["history"]
    assert int(history["generator.count"]) == 21  # the initial weights and 20 steps
    # A resumed run carries the running mean: 10 + 10 steps end where 20 do.
    run(tmp_path / "split", steps=10, lr=1e-2, historical_averaging=10.0)
    run(tmp_path / "split", steps=20, lr=1e-2, historical_averaging=10.0)
    resumed = load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt", "toy")["history"]
    assert torch.equal(resumed["generator.mean"], history["generator.mean"])
    assert torch.equal(generator_weights(tmp_path / "split"), generator_weights(tmp_path / "pulled"))


def test_the_smoothed_target_appears_in_the_loss() -> None:
    objective = get_objective("log_sigmoid")
    f_real, f_fake = torch.tensor([0.3, -1.2]), torch.tensor([0.5])
    expected = (0.9 * F.softplus(-f_real) + 0.1 * F.softplus(f_real)).mean() + F.softplus(f_fake).mean()
    assert torch.isclose(objective.critic_loss(f_real, f_fake, 0.9), expected)
    # Its minimizer is the target: sigmoid(f(x_r)) -> 0.9 instead of 1.
    f = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([f], lr=1.0)
    for _ in range(300):
        opt.zero_grad()
        objective.critic_loss(f, torch.zeros(1), 0.9).backward()  # the fakes are constants here
        opt.step()
    assert abs(torch.sigmoid(f).item() - 0.9) < 1e-3
    # AM-GAN: a real image's target is 0.9 on its class and 0.1 on "fake" (the last logit).
    logits = torch.zeros(1, 4, requires_grad=True)
    opt = torch.optim.SGD([logits], lr=1.0)
    for _ in range(500):
        opt.zero_grad()
        amgan_discriminator_loss(logits, torch.tensor([1]), torch.zeros(1, 4), real_target=0.9).backward()
        opt.step()
    assert torch.allclose(logits.softmax(1), torch.tensor([[0.0, 0.9, 0.0, 0.1]]), atol=2e-3)


def test_label_smoothing_is_refused_for_objectives_without_labels() -> None:
    with pytest.raises(InputError, match="needs an objective with labels") as err:
        get_objective("wgan").critic_loss(torch.zeros(2), torch.zeros(2), 0.9)
    assert "objective='wgan'" in str(err.value)
    assert get_objective("wgan").critic_loss(torch.ones(2), torch.zeros(2)) == -1  # no target: unchanged


def test_the_minibatch_layer_output_depends_on_the_other_samples() -> None:
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(6, kernels=100, kernel_dim=5)
    x = torch.randn(4, 6)
    out = layer(x)
    assert out.shape == (4, 6 + 100) and torch.equal(out[:, :6], x)
    others = x.clone()
    others[1:] = torch.randn(3, 6)
    assert not torch.allclose(layer(others)[0], out[0])  # same sample, other companions
    alike = layer(x[:1].expand(4, -1))[0, 6:]
    assert torch.allclose(alike, torch.full((100,), 4.0))  # c_b = exp(0) = 1 for each of the 4 copies
    assert (out[0, 6:] < alike).all()  # distinct companions score lower: what the critic reads


def test_virtual_batch_norm_gives_a_sample_the_same_output_whatever_its_batch() -> None:
    torch.manual_seed(0)
    z = torch.randn(9, 16)
    vbn = DCGANGenerator(16, 1, 8, width=8, num_classes=3, reference=32)
    labels = torch.tensor([2, 0, 1, 1, 0, 2, 2, 1, 0])
    alone = vbn(z[:1], labels[:1])
    assert torch.allclose(vbn(z, labels)[:1], alone, atol=1e-6)
    assert torch.allclose(vbn(torch.cat([z[:1], 3 * z[1:]]), labels)[:1], alone, atol=1e-6)
    assert torch.equal(vbn.eval()(z[:1], labels[:1]), alone)  # no running statistics: eval mode is the same
    batch_norm = DCGANGenerator(16, 1, 8, width=8, num_classes=3)
    assert not torch.allclose(batch_norm(z, labels)[:1], batch_norm(torch.cat([z[:1], 3 * z[1:]]), labels)[:1])
    assert "reference_noise" in vbn.state_dict()  # the reference batch is fixed and checkpointed


def test_feature_matching_loss_is_zero_when_the_batches_match() -> None:
    torch.manual_seed(0)
    real = torch.randn(8, 3, 2, 2)
    assert feature_matching_loss(real, real[torch.randperm(8)]) < 1e-10  # means match, order does not matter
    fake = (real + 0.5).requires_grad_(True)
    loss = feature_matching_loss(real, fake)
    assert torch.isclose(loss, torch.tensor(0.25 * 12))
    loss.backward()
    assert torch.allclose(fake.grad, torch.full_like(fake, 2 * 0.5 / 8))


@pytest.mark.parametrize("setting", ["virtual_batch_norm", "minibatch_discrimination", "label_smoothing",
                                     "feature_matching"])
def test_the_engine_refuses_what_the_task_does_not_build(tmp_path: Path, setting: str) -> None:
    value = "alone" if setting == "feature_matching" else True
    with pytest.raises(InputError, match=f"^{setting}[^:]*: the toy app"):
        run(tmp_path, steps=1, **{setting: value})
