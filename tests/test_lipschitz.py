import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from ot_gan.errors import InputError
from ot_gan.lipschitz import MaxAL, MaxGP, _Bjorck, fixed_weights, gradient_norms, interpolates, make_regularizer
from ot_gan.models.critics import ConvCritic, GroupSort, MLPCritic


class Linear(nn.Module):
    """f(x) = w . x with a known Lipschitz constant ||w||."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float32))

    def forward(self, x):
        return x.flatten(1) @ self.w


def batches(n=64, d=3):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g) + 1


def test_gradient_norms_and_interpolates():
    f = Linear([3.0, 4.0, 0.0])
    real, fake = batches()
    x = interpolates(real, fake)
    assert x.shape == real.shape
    a = (x - fake) / (real - fake)  # each row lies on its segment, one weight per row
    assert torch.allclose(a, a[:, :1].expand_as(a), atol=1e-4) and (a >= 0).all() and (a <= 1).all()
    torch.testing.assert_close(gradient_norms(f, x), torch.full((64,), 5.0))


class HalfSquare(nn.Module):
    """f(x) = |x|^2 / 2, whose slope at x is |x|: slopes that differ from point to point."""

    def forward(self, x):
        return 0.5 * x.flatten(1).square().sum(1)


@pytest.mark.parametrize("name,expected", [
    ("gp", lambda s: 10 * (s - 1).square().mean()),  # every slope pulled to 1
    ("lp", lambda s: 10 * (s - 1).clamp(min=0).square().mean()),  # only those above 1
    ("maxgp", lambda s: 10 * (s.max() - 1) ** 2),  # the largest one
    ("maxal", lambda s: 10 * (s.max() - 1) ** 2 + 2.0 * (s.max() - 1)),  # ... plus the multiplier's term
])
def test_penalties_of_slopes_below_and_above_1(name, expected):
    """On a critic whose slopes straddle 1, each regularizer's penalty is its own function of the
    slopes at the interpolates it draws (MaxAL with its multiplier at 2)."""
    g = torch.Generator().manual_seed(0)
    real, fake = 0.6 * torch.randn(256, 3, generator=g), 0.6 * torch.randn(256, 3, generator=g) + 0.3
    reg = make_regularizer(name)
    reg.generator = torch.Generator().manual_seed(1)
    if name == "maxal":
        reg.multiplier.fill_(2.0)
    slopes = interpolates(real, fake, torch.Generator().manual_seed(1)).norm(dim=1)
    assert slopes.min() < 1 < slopes.max()
    assert reg.penalty(HalfSquare(), real, fake).item() == pytest.approx(expected(slopes).item(), rel=1e-5)
    assert reg.last_slope == pytest.approx(slopes.max().item(), rel=1e-5)


@pytest.mark.parametrize("group", [2, 4])
def test_groupsort_sorts_each_group_and_keeps_gradient_norms(group):
    """GroupSort is a per-sample permutation of its inputs: the features at one position of the
    ``group`` parts, in decreasing order (for 2, (max, min) of the two halves), and the norm of any
    back-propagated gradient unchanged."""
    x = torch.randn(32, 8, requires_grad=True)
    out = GroupSort(group)(x)
    parts = x.detach().chunk(group, dim=1)
    expected = torch.stack(parts).sort(dim=0, descending=True).values
    torch.testing.assert_close(out, torch.cat(list(expected), dim=1))
    if group == 2:
        torch.testing.assert_close(out, torch.cat([torch.maximum(*parts), torch.minimum(*parts)], dim=1))
    v = torch.randn(32, 8)
    (grad,) = torch.autograd.grad((out * v).sum(), x)
    torch.testing.assert_close(grad.norm(dim=1), v.norm(dim=1))


def test_max_slope_penalty_has_the_gradient_of_the_batch_maximum():
    """Only the arg-max interpolate is differentiated twice, and the parameter gradient is the
    same as through the whole batch's slopes."""
    torch.manual_seed(0)
    f = MLPCritic(3, width=16, depth=2)
    real, fake = batches()
    torch.manual_seed(1)
    MaxGP().penalty(f, real, fake).backward()
    ours = [p.grad for p in f.parameters()]  # None for the output bias, which has no slope
    f.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same interpolates
    (10 * (gradient_norms(f, interpolates(real, fake)).max() - 1) ** 2).backward()
    assert [g is None for g in ours] == [p.grad is None for p in f.parameters()] == [False] * 5 + [True]
    for g, p in zip(ours[:-1], list(f.parameters())[:-1]):
        torch.testing.assert_close(g, p.grad)


def test_one_sided_lp_does_not_penalize_small_slopes():
    real, fake = batches()
    f = Linear([0.3, 0.4, 0.0])  # K = 0.5
    assert make_regularizer("lp").penalty(f, real, fake).item() == 0.0
    assert make_regularizer("gp").penalty(f, real, fake).item() == pytest.approx(10 * 0.25)


def test_clip_clamps_after_step_and_sn_normalizes():
    torch.manual_seed(0)  # the power iteration's convergence depends on the start
    f = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    make_regularizer("clip", c=0.01).after_step(f)
    assert all(p.abs().max() <= 0.01 for p in f.parameters())

    g = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        g[0].weight.mul_(100)
    g = make_regularizer("sn").prepare(g)
    for _ in range(50):  # power iteration converges in training mode
        g(torch.randn(4, 3))
    sigma = torch.linalg.matrix_norm(g[0].weight.detach(), ord=2)
    assert sigma.item() == pytest.approx(1.0, rel=1e-3)


def test_maxal_multiplier_update_and_state_dict():
    real, fake = batches()
    f = Linear([3.0, 4.0, 0.0])  # c = 5 - 1 = 4
    reg = MaxAL(rho=2.0, eta=0.5)
    reg.penalty(f, real, fake)
    reg.after_step(f)
    assert reg.multiplier.item() == pytest.approx(2.0)  # 0 + 0.5 * 4
    assert reg.penalty(f, real, fake).item() == pytest.approx(2 * 16 + 2 * 4)
    restored = MaxAL(rho=2.0, eta=0.5)
    restored.load_state_dict(reg.state_dict())
    assert restored.multiplier.item() == pytest.approx(2.0)


def test_maxal_inequality_variant():
    real, fake = batches()
    small = Linear([0.3, 0.4, 0.0])  # K = 0.5 < 1: the constraint holds
    reg = MaxAL(rho=2.0, eta=1.0, inequality=True)
    reg.multiplier.fill_(1.0)
    p = reg.penalty(small, real, fake)
    # s = min(c + lam/(2 rho), 0) = min(-0.5 + 0.25, 0) = -0.25; c - s = -0.25
    assert p.item() == pytest.approx(2 * 0.0625 + 1.0 * -0.25)
    assert torch.autograd.grad(p, small.w)[0].abs().max() == 0  # inactive: no gradient
    reg.after_step(small)
    assert reg.multiplier.item() == pytest.approx(0.5)
    for _ in range(3):
        reg.penalty(small, real, fake)
        reg.after_step(small)
    assert reg.multiplier.item() == 0.0  # clamped at zero


def test_worst_point_buffer_is_carried_and_saved():
    torch.manual_seed(0)
    f = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    points = torch.randn(64, 3) * 2
    reg = MaxGP(buffer=5)
    reg.penalty(f, points, points)  # real = fake: the interpolates are the points themselves
    slopes = gradient_norms(f, points, create_graph=False)
    top = slopes.topk(5).values
    worst_slopes = gradient_norms(f, reg.worst, create_graph=False).sort(descending=True).values
    torch.testing.assert_close(worst_slopes, top)

    far = torch.full((64, 3), 50.0)  # tanh saturates: slopes near 0 out here
    reg.penalty(f, far, far)
    assert reg.last_slope == pytest.approx(top[0].item(), rel=1e-5)  # the carried worst point sets the max

    copy = MaxGP(buffer=5)
    copy.load_state_dict(reg.state_dict())
    assert torch.equal(copy.worst, reg.worst)


def test_unknown_regularizer():
    with pytest.raises(ValueError, match="choose one of"):
        make_regularizer("wc")


def test_shards_of_a_global_batch_get_the_interpolation_weights_of_one_process():
    """Rank r of N draws the weights of the global batch and keeps its rows: the shards together
    are the interpolates one process makes of the whole batch."""
    real, fake = torch.randn(8, 3), torch.randn(8, 3)
    one = interpolates(real, fake, torch.Generator().manual_seed(0))
    shards = [interpolates(real[4 * r:4 * r + 4], fake[4 * r:4 * r + 4], torch.Generator().manual_seed(0), (r, 2))
              for r in range(2)]
    torch.testing.assert_close(torch.cat(shards), one)


@pytest.mark.parametrize("shape", [(8, 40), (40, 8), (16, 16)])
def test_bjorck_through_the_gram_matrix_is_the_plain_iteration(shape):
    """Wide weights are iterated as P_k W (r x r work); the result is W_k of the plain iteration
    from W divided by its largest singular value."""
    weight = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    w = weight.T if shape[0] > shape[1] else weight
    w = w / torch.linalg.matrix_norm(w, 2)
    for _ in range(12):
        w = 1.5 * w - 0.5 * (w @ w.T) @ w
    torch.testing.assert_close(_Bjorck(12, 12, 0.0)(weight), w.T if shape[0] > shape[1] else w, atol=1e-4, rtol=0)


@pytest.mark.parametrize("shape", [(8, 40), (40, 8), (16, 16)])
def test_bjorck_stops_once_orthonormal_within_its_tolerance(shape):
    """From an orthonormal weight slightly perturbed, a few steps reach the tolerance and the
    iteration stops there, at the matrix that all 15 steps give, within the tolerance."""
    weight = torch.nn.init.orthogonal_(torch.empty(*shape), generator=torch.Generator().manual_seed(0))
    weight = weight + 0.02 * torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    steps = []
    early = _Bjorck(15, 15, 1e-4)
    early._orthonormal = lambda gram, check=early._orthonormal: steps.append(1) or check(gram)
    torch.testing.assert_close(early(weight), _Bjorck(15, 15, 0.0)(weight), atol=1e-4, rtol=0)
    assert 2 <= len(steps) <= 5  # checks made: the steps taken, and the one that stopped


def test_bjorck_orthonormalizes_in_float32_under_autocast():
    """Under bf16 autocast (the W1 critic's ``bf16`` training) the orthonormalization still runs in
    float32 and stops within its tolerance, at the weight it gives without autocast; a bf16
    iterate's Gram matrix could never come within 1e-4 of the identity."""
    weight = torch.nn.init.orthogonal_(torch.empty(16, 40), generator=torch.Generator().manual_seed(0))
    weight = weight + 0.02 * torch.randn(16, 40, generator=torch.Generator().manual_seed(1))
    steps = []
    bjorck = _Bjorck(15, 15, 1e-4)
    bjorck._orthonormal = lambda gram, check=bjorck._orthonormal: steps.append(gram.dtype) or check(gram)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        w = bjorck(weight)
    assert w.dtype == torch.float32 and set(steps) == {torch.float32} and len(steps) < 15
    torch.testing.assert_close(w, _Bjorck(15, 15, 1e-4)(weight))
    assert torch.get_float32_matmul_precision() == "highest"  # set for the iteration, then restored


def test_bjorck_weights_have_no_singular_value_above_1_and_become_orthonormal():
    """Bjorck's iteration never lifts a singular value above 1; from the largest singular value's
    scale it drives them all to 1 in the eval mode's 15 steps, and only partly in training's 2
    (from nn.Linear's random weights: ``prepare`` starts them orthogonal)."""
    torch.manual_seed(0)
    critic = make_regularizer("bjorck", train_iters=2).prepare(MLPCritic(16, width=32, depth=2, group=4))
    raw = [m.parametrizations.weight.original.detach() for m in critic.modules() if isinstance(m, nn.Linear)]
    torch.testing.assert_close(torch.cat([torch.linalg.svdvals(w) for w in raw]), torch.ones(16 + 32 + 1))
    with torch.no_grad():
        for module in critic.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.parametrizations.weight.original, a=5**0.5)

    def singular_values():
        return torch.cat([torch.linalg.svdvals(m.weight.detach()) for m in critic.modules() if isinstance(m, nn.Linear)])

    trained = singular_values()
    assert trained.max() <= 1 + 1e-5 and trained.min() < 0.9
    critic.eval()
    evaluated = singular_values()
    assert evaluated.max() <= 1 + 1e-5 and evaluated.min() > 1 - 1e-3
    slopes = gradient_norms(critic, torch.randn(500, 16) * 3, create_graph=False)
    assert slopes.max() <= 1 + 1e-4 and slopes.min() > 0.05
    with pytest.raises(InputError, match="linear layers only"):
        make_regularizer("bjorck").prepare(ConvCritic(3, 8))


def test_fixed_weights_computes_a_parametrized_weight_once_and_keeps_input_gradients():
    """Within fixed_weights the orthonormalization runs once for any number of passes, the
    values are the parametrized critic's, and slopes (input gradients) still work."""
    torch.manual_seed(0)
    critic = make_regularizer("bjorck").prepare(MLPCritic(8, width=16, depth=2, group=4)).eval()
    calls = []
    for module in critic.modules():
        if parametrize.is_parametrized(module):
            module.parametrizations.weight[0].register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(64, 8)
    expected = critic(x).detach()
    calls.clear()
    with fixed_weights(critic):
        values = [critic(x[i:i + 16]) for i in range(0, 64, 16)]
        slopes = gradient_norms(critic, x, create_graph=False)
    assert len(calls) == 3  # one per linear layer, not one per pass
    torch.testing.assert_close(torch.cat(values).detach(), expected)
    assert slopes.max() <= 1 + 1e-4 and slopes.min() > 0
