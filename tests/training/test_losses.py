from __future__ import annotations

import numpy as np
import pytest
import torch

from model_training.heads import make_loss, output_layer, probabilities, scores
from model_training.losses import (
    DiceFocalConfig,
    DiceFocalLoss,
    SquaredHingeLoss,
    squared_hinge_loss,
)


def test_squared_hinge_hand_computed():
    # w = (1, -2): ½·wᵀw = ½·(1 + 4) = 2.5
    w = torch.tensor([[1.0, -2.0]])
    x = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    m = (x @ w.T).reshape(-1)  # margins 2, -2, -1
    t = torch.tensor([1.0, 1.0, -1.0])
    # hinge: max(1 - 1*2, 0)=0; max(1 - 1*(-2), 0)=3 -> 9; max(1 - (-1)(-1), 0)=0
    loss = squared_hinge_loss(m, t, weight=w, c=0.5, reduction="sum")
    assert loss.item() == pytest.approx(2.5 + 0.5 * 9.0)
    # {0, 1} targets mean the same as {-1, +1}
    loss01 = squared_hinge_loss(m, torch.tensor([1.0, 1.0, 0.0]), weight=w, c=0.5)
    assert loss01.item() == pytest.approx(loss.item())
    # mean reduction divides the data term only: 2.5 + 0.5 * 9 / 3
    mean = squared_hinge_loss(m, t, weight=w, c=0.5, reduction="mean")
    assert mean.item() == pytest.approx(2.5 + 1.5)
    # a point inside the margin: t=+1, m=0.25 -> (0.75)^2
    inner = squared_hinge_loss(torch.tensor([0.25]), torch.tensor([1.0]), reduction="sum")
    assert inner.item() == pytest.approx(0.5625)


def test_squared_hinge_gradient_matches_formula():
    m = torch.tensor([0.5, -0.2], requires_grad=True)
    t = torch.tensor([1.0, -1.0])
    squared_hinge_loss(m, t, c=2.0, reduction="sum").backward()
    # d/dm C*(1 - t m)^2 = -2 C t (1 - t m)
    expected = [-2 * 2.0 * 1 * 0.5, -2 * 2.0 * -1 * 0.8]
    assert m.grad.tolist() == pytest.approx(expected)


def test_svm_head_separates_linearly_separable_points():
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x[:, 0] + 2 * x[:, 1] > 0.3).astype(np.float32)
    x[y == 1] += 0.3 * np.array([1, 2], np.float32) / np.sqrt(5)  # widen the gap
    x[y == 0] -= 0.3 * np.array([1, 2], np.float32) / np.sqrt(5)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    torch.manual_seed(0)
    head = torch.nn.Linear(2, 1)
    loss_fn = SquaredHingeLoss(head, c=10.0, reduction="mean")
    opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=200)

    def closure():
        opt.zero_grad()
        loss = loss_fn(head(xt), yt)
        loss.backward()
        return loss

    opt.step(closure)
    pred = (head(xt).reshape(-1) > 0).float()
    assert (pred == yt).float().mean().item() == 1.0


def test_head_helpers_on_densenet_like_outputs():
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    assert output_layer(net) is net[2]
    out = torch.tensor([[0.0], [2.0]])
    assert probabilities("svm", out).tolist() == pytest.approx([0.5, 1 / (1 + np.exp(-2))])
    # Platt p = 1 / (1 + exp(a m + b))
    assert probabilities("svm", out, platt=(-1.0, 2.0))[1] == pytest.approx(0.5)
    logits = torch.tensor([[1.0, 3.0]])
    assert scores("softmax", logits).tolist() == [2.0]
    assert probabilities("softmax", logits)[0] == pytest.approx(np.exp(3) / (np.exp(1) + np.exp(3)))
    loss = make_loss("svm", svm_c=1.0)
    val = loss(net, torch.tensor([[2.0]]), torch.tensor([1.0]))
    w = net[2].weight
    assert val.item() == pytest.approx(
        0.5 * float((w.detach() ** 2).sum())
    )  # hinge is 0 at margin 2
    ce = make_loss("softmax")(net, logits, torch.tensor([1.0]))
    assert ce.item() == pytest.approx(-np.log(np.exp(3) / (np.exp(1) + np.exp(3))), rel=1e-5)
    with pytest.raises(ValueError):
        make_loss("hinge")


def test_dice_focal_prefers_the_right_mask():
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:10, 4:10] = 1
    good = (mask * 2 - 1) * 8
    bad = -good
    loss = DiceFocalLoss(DiceFocalConfig(dice_weight=1.0, focal_weight=1.0, gamma=2.0))
    assert loss(good, mask).item() < 0.05
    assert loss(bad, mask).item() > 0.9
    dice_only = DiceFocalLoss(DiceFocalConfig(dice_weight=1.0, focal_weight=0.0))
    assert dice_only(bad, mask).item() == pytest.approx(1.0, abs=1e-3)
