import copy
import math

import pytest
import torch
from torch import nn

from examples.adashift_counterexample import SEQUENTIAL, sequential
from ot_gan import AdaShift
from ot_gan.optim import REDUCES


@pytest.mark.slow
def test_sequential_counterexample_adashift_converges_where_adam_does_not():
    """docs/algorithms.md section 5: f_t = 1010 theta every 101st step, -10 theta otherwise."""
    adam = sequential(SEQUENTIAL["Adam"], 5000)[-1]
    shift = sequential(SEQUENTIAL["AdaShift (n 10)"], 5000)[-1]
    assert adam > 0.8, adam
    assert shift < -0.8, shift


def _params(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(7, 5), (5,), (3, 4, 3, 3), (1,), (11,)]
    return [torch.randn(s, generator=g).requires_grad_() for s in shapes]


def _run(params, opt, steps: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g) * 3.0
        opt.step()


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("betas,keep_num", [((0.9, 0.999), 4), ((0.0, 0.99), 10)])
def test_foreach_matches_single_tensor(reduce, betas, keep_num):
    a, b = _params(0), _params(0)
    kw = dict(lr=1e-2, betas=betas, keep_num=keep_num, reduce=reduce, weight_decay=1e-3)
    _run(a, AdaShift(a, foreach=True, **kw), 60, seed=1)
    _run(b, AdaShift(b, foreach=False, **kw), 60, seed=1)
    start = _params(0)
    for x, y, s in zip(a, b, start):
        assert not torch.equal(x, s)  # it moved
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)


def test_matches_direct_formula_of_the_paper():
    """Recompute the update from the gradient history with the paper's formulas."""
    beta1, beta2, n, lr, eps = 0.8, 0.9, 3, 0.1, 1e-8
    theta = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    opt = AdaShift([theta], lr=lr, betas=(beta1, beta2), keep_num=n, eps=eps, reduce="mean")
    gen = torch.Generator().manual_seed(3)
    grads, expected, v = [], theta.detach().clone(), 0.0
    for t in range(1, 12):
        g = torch.randn(3, generator=gen)
        grads.append(g)
        theta.grad = g.clone()
        opt.step()
        if t > n:
            k = t - n
            v = beta2 * v + (1 - beta2) * (grads[t - 1 - n] ** 2).mean().item()
            w = [beta1**i for i in range(n)]
            m = sum(wi * grads[t - 1 - i] for i, wi in enumerate(w)) / sum(w)
            expected -= lr * m / (math.sqrt(v / (1 - beta2**k)) + eps)
        torch.testing.assert_close(theta.detach(), expected, rtol=1e-5, atol=1e-6)


def test_no_update_during_first_window_and_keep_num_forced_to_one():
    p = torch.ones(4, requires_grad=True)
    opt = AdaShift([p], keep_num=5)
    for _ in range(5):
        p.grad = torch.ones(4)
        opt.step()
    assert torch.equal(p.detach(), torch.ones(4))
    p.grad = torch.ones(4)
    opt.step()
    assert (p.detach() < 1).all()

    q = torch.ones(4, requires_grad=True)
    opt = AdaShift([q], betas=(0.0, 0.999), keep_num=5)
    q.grad = torch.ones(4)
    opt.step()
    assert opt.state[q]["grad_window"].shape[0] == 1
    q.grad = torch.ones(4)
    opt.step()
    assert (q.detach() < 1).all()


def test_param_groups_keep_their_own_settings():
    a, b = torch.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    opt = AdaShift([{"params": [a]}, {"params": [b], "lr": 0.0}], lr=0.1, keep_num=1)
    for _ in range(3):
        a.grad, b.grad = torch.ones(3), torch.ones(3)
        opt.step()
    assert (a.detach() < 0).all() and torch.equal(b.detach(), torch.zeros(3))


@pytest.mark.parametrize("foreach", [True, False])
def test_resume_mid_window_is_bit_for_bit(foreach):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    x, y = torch.randn(32, 4), torch.randn(32, 1)

    def train(m, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.mse_loss(m(x), y).backward()
            opt.step()

    kw = dict(lr=1e-2, keep_num=10, reduce="max_mean", foreach=foreach)
    straight = copy.deepcopy(model)
    train(straight, AdaShift(straight.parameters(), **kw), 17)

    first = copy.deepcopy(model)
    opt = AdaShift(first.parameters(), **kw)
    train(first, opt, 7)  # stops mid-window (7 < keep_num)
    saved = copy.deepcopy((first.state_dict(), opt.state_dict()))
    resumed = copy.deepcopy(model)
    resumed.load_state_dict(saved[0])
    opt2 = AdaShift(resumed.parameters(), **kw)
    opt2.load_state_dict(saved[1])
    train(resumed, opt2, 10)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(p, q)


def test_sparse_gradients_are_refused():
    emb = nn.Embedding(10, 3, sparse=True)
    opt = AdaShift(emb.parameters())
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()


@pytest.mark.parametrize("kwargs", [dict(lr=-1), dict(betas=(1.0, 0.9)), dict(keep_num=0),
                                    dict(reduce="median"), dict(eps=-1.0)])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        AdaShift([torch.zeros(1, requires_grad=True)], **kwargs)


@pytest.mark.slow
def test_mlp_regression_learns():
    torch.manual_seed(0)
    x = torch.linspace(-2, 2, 256).unsqueeze(1)
    y = torch.sin(2 * x)
    model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    opt = AdaShift(model.parameters(), lr=3e-3, keep_num=10)
    first = nn.functional.mse_loss(model(x), y).item()
    for _ in range(1500):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.03 < first / 10, (first, loss.item())


@pytest.mark.slow
def test_gan_steps_with_gan_settings():
    """A tiny WGAN on a 1-D Gaussian: the generator's mean moves toward the data's, no NaN."""
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    critic = nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 1))
    kw = dict(lr=2e-3, betas=(0.0, 0.999), reduce="max_mean", eps=1e-8)
    opt_g, opt_c = AdaShift(gen.parameters(), **kw), AdaShift(critic.parameters(), **kw)
    start_gap = abs(gen(torch.randn(2000, 2)).mean().item() - 3.0)
    for _ in range(400):
        real, fake = torch.randn(64, 1) + 3.0, gen(torch.randn(64, 2))
        opt_c.zero_grad()
        (critic(fake.detach()).mean() - critic(real).mean()).backward()
        opt_c.step()
        with torch.no_grad():
            for p in critic.parameters():
                p.clamp_(-0.1, 0.1)
        opt_g.zero_grad()
        (-critic(gen(torch.randn(64, 2))).mean()).backward()
        opt_g.step()
    samples = gen(torch.randn(2000, 2)).detach()
    assert torch.isfinite(samples).all()
    assert abs(samples.mean().item() - 3.0) < 0.25 * start_gap, (start_gap, samples.mean().item())
