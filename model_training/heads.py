"""Classifier heads: losses for training, and scores/probabilities through the core.

Scores and probabilities are :mod:`pneumoviewer.core.inference.calibration`'s (the
viewer's engine computes them the same way); this module only converts tensors.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from model_training.losses import SquaredHingeLoss
from pneumoviewer.core.inference.calibration import HEADS, head_scores, outputs_to_probability


def output_layer(model: nn.Module) -> nn.Linear:
    """Return the last ``nn.Linear`` of a network (DenseNet's ``classifier``)."""
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            last = m
    if last is None:
        raise ValueError("the model has no linear output layer")
    return last


def make_loss(head: str, *, svm_c: float = 1.0):
    """``loss(bare_model, outputs, targets)`` for a head.

    ``svm``: squared hinge on the (N, 1) margins plus ½·wᵀw of the output layer;
    ``softmax``: cross-entropy on the (N, 2) logits. Targets are float {0, 1} (N,).
    """
    if head == "svm":
        hinge = SquaredHingeLoss(c=svm_c, reduction="mean")

        def svm_loss(model: nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            hinge.output_layer = output_layer(model)
            return hinge(out.float().reshape(-1), y)

        return svm_loss
    if head == "softmax":

        def ce_loss(model: nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(out.float(), y.long())

        return ce_loss
    raise ValueError(f"head must be one of {HEADS}, not {head!r}")


def _numpy(outputs: torch.Tensor) -> np.ndarray:
    return outputs.detach().float().cpu().numpy()


def scores(head: str, outputs: torch.Tensor) -> np.ndarray:
    """Decision scores, float64 (N,): the SVM margin, or logit₁ − logit₀ for softmax."""
    return head_scores(_numpy(outputs), head=head)


def probabilities(
    head: str, outputs: torch.Tensor, *, platt: tuple[float, float] | None = None
) -> np.ndarray:
    """Positive-class probability, float64 (N,), as the viewer's engine computes it.

    ``svm``: ``1 / (1 + exp(a·margin + b))`` with Platt ``(a, b)``, else sigmoid(margin);
    ``softmax``: softmax of logit 1 (see
    :func:`pneumoviewer.core.inference.calibration.outputs_to_probability`).
    """
    return outputs_to_probability(_numpy(outputs), head=head, platt=platt)[0]
