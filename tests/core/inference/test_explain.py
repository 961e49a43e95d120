"""Grad-CAM through captum equals a non-in-place reference, on any device; pooled features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pneumoviewer.core.inference.explain import (
    FeatureClassifier,
    grad_cam,
    grad_cam_target,
    normalise_cam,
    supports_features,
)


def _densenet(outputs: int, seed: int = 0) -> torch.nn.Module:
    from torchvision.models import densenet121

    torch.manual_seed(seed)
    net = densenet121(weights=None, num_classes=outputs).eval()
    with torch.no_grad():  # mixed-sign weights: the map has positive and zero regions
        net.classifier.weight.normal_(0.0, 1.0)
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _reference_cam(net, x, target, shape) -> np.ndarray:
    """Grad-CAM written out with plain autograd and a non-in-place ReLU."""
    with torch.enable_grad():
        inp = x.clone().requires_grad_(True)
        act = F.relu(net.features(inp))  # not in place
        out = net.classifier(torch.flatten(F.adaptive_avg_pool2d(act, 1), 1))
        (grad,) = torch.autograd.grad(out[:, target].sum(), act)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act).sum(dim=1))[0].detach().numpy()
    return normalise_cam(cam, shape)


@pytest.fixture(scope="module", params=[("svm", 1, 1), ("softmax", 2, 2)], ids=["svm", "softmax"])
def model(request):
    """Seeds whose maps are non-zero at 160 px (softmax: ~70 % of the map, the rest 0)."""
    head, outputs, seed = request.param
    return head, _densenet(outputs, seed)


def _input(seed: int = 1, size: int = 160) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 3, size, size, generator=g)


def test_wrapper_matches_torchvision_forward(model) -> None:
    _, net = model
    x = _input()
    with torch.inference_mode():
        expected = net(x)
        out, pooled = FeatureClassifier(net)(x)
    assert torch.allclose(out, expected, atol=1e-6)
    assert pooled.shape == (1, 1024) and bool((pooled >= 0).all())


def test_grad_cam_equals_reference(model) -> None:
    head, net = model
    x = _input()
    target = grad_cam_target(head)
    with torch.inference_mode():  # the viewer's worker may call it from inside
        cam = grad_cam(FeatureClassifier(net), x, target=target, out_shape=(200, 150))
    ref = _reference_cam(net, x, target, (200, 150))
    assert cam.dtype == np.float32 and cam.shape == (200, 150)
    assert float(cam.min()) >= 0.0 and float(cam.max()) == pytest.approx(1.0, abs=1e-6)
    assert 0.3 < float((cam > 0).mean())
    np.testing.assert_allclose(cam, ref, atol=1e-5)


def test_grad_cam_leaves_no_gradients(model) -> None:
    head, net = model
    grad_cam(FeatureClassifier(net), _input(), target=grad_cam_target(head), out_shape=(64, 64))
    assert all(p.grad is None for p in net.parameters())


def test_norm5_hook_sees_the_inplace_relu_on_cpu() -> None:
    """Why the wrapper exists: torchvision's in-place ReLU rewrites what a norm5 hook kept."""
    net = _densenet(1)
    x = _input()
    with torch.inference_mode():
        pre_relu = net.features(x)  # norm5's true output
    assert bool((pre_relu < 0).any())
    for forward in (net, FeatureClassifier(net)):
        seen = {}
        handle = net.features.norm5.register_forward_hook(lambda m, i, o, s=seen: s.update(o=o))
        with torch.inference_mode():
            forward(x)
        handle.remove()
        if forward is net:  # the hooked tensor was overwritten in place (on the CPU)
            assert torch.equal(seen["o"], pre_relu.clamp(min=0))
        else:  # the wrapper leaves norm5's output alone
            assert torch.equal(seen["o"], pre_relu)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_grad_cam_same_on_cuda(model) -> None:
    head, net = model
    x = _input()
    target = grad_cam_target(head)
    cpu = grad_cam(FeatureClassifier(net), x, target=target, out_shape=(128, 128))
    gpu_net = FeatureClassifier(net).cuda()
    try:
        gpu = grad_cam(gpu_net, x.cuda(), target=target, out_shape=(128, 128))
    finally:
        gpu_net.cpu()
    np.testing.assert_allclose(gpu, cpu, atol=2e-3)


def test_supports_features_and_errors() -> None:
    assert not supports_features(torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match="DenseNet-style"):
        FeatureClassifier(torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match=r"\(1, C, S, S\)"):
        grad_cam(
            FeatureClassifier(_densenet(1)), torch.zeros(2, 3, 64, 64), target=0, out_shape=(8, 8)
        )


def test_normalise_cam() -> None:
    assert not normalise_cam(np.zeros((7, 7)), (10, 12)).any()
    cam = normalise_cam(np.array([[0.0, 2.0], [-1.0, 4.0]]), (2, 2))
    np.testing.assert_allclose(cam, [[0.0, 0.5], [0.0, 1.0]])
    big = normalise_cam(np.array([[0.0, 2.0], [1.0, 4.0]]), (7, 9))
    assert big.shape == (7, 9) and float(big.max()) == 1.0 and float(big.min()) >= 0.0
