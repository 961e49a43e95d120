"""Grad-CAM heat-maps of the classifier (captum ``LayerGradCam``) and its pooled features.

torchvision's DenseNet ends its forward with ``F.relu(features, inplace=True)`` right after
``features.norm5``. A hook on ``norm5`` therefore sees a tensor that the ReLU overwrites
afterwards; whether the hook's copy is the pre- or the post-ReLU tensor depends on the
backend (post-ReLU on CPU, pre-ReLU on CUDA: maps differed by up to 0.17). So nothing here
hooks ``norm5``: :class:`FeatureClassifier` re-expresses the same forward with its own
*non-in-place* ReLU module, ``relu5``, and Grad-CAM attributes at ``relu5``'s output, the
rectified last feature block (as in the Grad-CAM paper). Its output is the same as the
plain network's (same operations), and the same on every device.

The pooled features (``relu5`` averaged over space: 1024 values for DenseNet-121) come out
of the same forward, for the out-of-distribution score (:mod:`.ood`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pneumoviewer.core.preprocessing import resize_probability

__all__ = ["FeatureClassifier", "grad_cam", "grad_cam_target", "supports_features"]


def supports_features(net: nn.Module) -> bool:
    """Return True for DenseNet-style classifiers (``features`` + linear ``classifier``)."""
    return isinstance(getattr(net, "features", None), nn.Module) and isinstance(
        getattr(net, "classifier", None), nn.Linear
    )


class FeatureClassifier(nn.Module):
    """A DenseNet classifier whose forward also returns the pooled features.

    ``forward(x) -> (outputs, pooled)``: ``features -> relu5 (not in place) -> global
    average pool -> classifier``, exactly torchvision's DenseNet forward without the
    in-place ReLU. The wrapped network's parameters are shared, not copied.

    Parameters
    ----------
    net : torch.nn.Module
        A torchvision DenseNet (see :func:`supports_features`).
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        if not supports_features(net):
            raise ValueError(
                f"{type(net).__name__} has no DenseNet-style features/classifier; "
                "pooled features and Grad-CAM need one"
            )
        self.net = net
        self.relu5 = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(outputs (N, K), pooled features (N, D))``."""
        rectified = self.relu5(self.net.features(x))
        pooled = torch.flatten(F.adaptive_avg_pool2d(rectified, (1, 1)), 1)
        return self.net.classifier(pooled), pooled

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Return the outputs only (the forward function Grad-CAM differentiates)."""
        return self.forward(x)[0]


def grad_cam_target(head: str) -> int:
    """Output index Grad-CAM explains: the svm margin (0) or the softmax class 1 logit (1)."""
    return 0 if head == "svm" else 1


def grad_cam(
    model: FeatureClassifier,
    x: torch.Tensor,
    *,
    target: int,
    out_shape: tuple[int, int],
) -> np.ndarray:
    """Grad-CAM of one input at the classifier's rectified last feature block.

    Runs with gradients enabled even when called inside ``torch.inference_mode``; in
    float32 (no autocast), so the map does not depend on the device.

    Parameters
    ----------
    model : FeatureClassifier
        In eval mode, on ``x``'s device.
    x : torch.Tensor
        float32 (1, C, S, S), the classifier's normalised input.
    target : int
        Output index to explain (:func:`grad_cam_target`).
    out_shape : tuple of int
        (H, W) of the image the map is drawn on.

    Returns
    -------
    numpy.ndarray
        float32 (H, W) in [0, 1]: ReLU of the gradient-weighted feature maps, bilinearly
        resized to ``out_shape``, divided by its maximum (:func:`normalise_cam`; all zeros
        when no region raises the target output).
    """
    from captum.attr import LayerGradCam

    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one input of shape (1, C, S, S), got {tuple(x.shape)}")
    with torch.inference_mode(False), torch.enable_grad():
        inp = x.detach().clone().float().requires_grad_(True)
        cam = LayerGradCam(model.outputs, model.relu5)
        attr = cam.attribute(inp, target=int(target), relu_attributions=True)
    small = attr[0, 0].detach().float().cpu().numpy()
    return normalise_cam(small, out_shape)


def normalise_cam(small: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """Resize a (h, w) class-activation map to ``out_shape`` and scale it to [0, 1].

    Negative values count as 0; the resized map is divided by its maximum, so the hottest
    pixel is 1 (all zeros when nothing is positive).
    """
    small = np.maximum(np.asarray(small, dtype=np.float32), 0.0)
    top = float(small.max()) if small.size else 0.0
    if not np.isfinite(top) or top <= 0.0:
        return np.zeros(tuple(out_shape), np.float32)
    big = resize_probability(np.ascontiguousarray(small / top), tuple(out_shape))
    big /= max(float(big.max()), 1e-12)
    return np.clip(big, 0.0, 1.0, out=big)
