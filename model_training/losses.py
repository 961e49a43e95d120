"""Training losses: the DLSVM squared hinge (report §4) and Dice + Focal (report §5)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def squared_hinge_loss(
    margins: torch.Tensor,
    targets: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    c: float = 1.0,
    reduction: str = "sum",
) -> torch.Tensor:
    """L2-SVM objective ``½·wᵀw + C·Σ max(1 − tₙ·wᵀxₙ, 0)²`` (Tang 2013, "DLSVM").

    Parameters
    ----------
    margins : Tensor
        float (N,) or (N, 1): the linear output ``wᵀxₙ`` of the network.
    targets : Tensor
        (N,) labels, either {0, 1} or {−1, +1}; 0 is mapped to −1.
    weight : Tensor or None
        The weight ``w`` of the output layer; its ``½·wᵀw`` is added when given.
    c : float
        The penalty ``C`` on the squared hinge term.
    reduction : {"sum", "mean"}
        ``"sum"`` is the formula as written; ``"mean"`` divides the hinge term by N
        (batch-size independent, used for mini-batch training).

    Returns
    -------
    Tensor
        Scalar loss.
    """
    m = margins.reshape(-1).float()
    t = targets.reshape(-1).to(m.dtype)
    t = torch.where(t > 0, torch.ones_like(t), -torch.ones_like(t))
    hinge = torch.clamp(1.0 - t * m, min=0.0) ** 2
    if reduction == "sum":
        data_term = hinge.sum()
    elif reduction == "mean":
        data_term = hinge.mean()
    else:
        raise ValueError(f"reduction must be 'sum' or 'mean', not {reduction!r}")
    loss = c * data_term
    if weight is not None:
        loss = loss + 0.5 * (weight.float() ** 2).sum()
    return loss


class SquaredHingeLoss(nn.Module):
    """The DLSVM loss as a module, regularising the classifier's output layer.

    Parameters
    ----------
    output_layer : nn.Linear or None
        The layer whose weight ``w`` enters ``½·wᵀw`` (bias excluded, as in the SVM).
    c : float
        Penalty on the squared hinge term.
    reduction : {"sum", "mean"}
        See :func:`squared_hinge_loss`.
    """

    def __init__(
        self, output_layer: nn.Linear | None = None, *, c: float = 1.0, reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.output_layer = output_layer
        self.c = c
        self.reduction = reduction

    def forward(self, margins: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Loss of float (N,) or (N, 1) margins against (N,) {0,1} or {−1,+1} targets."""
        weight = None if self.output_layer is None else self.output_layer.weight
        return squared_hinge_loss(
            margins, targets, weight=weight, c=self.c, reduction=self.reduction
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DiceFocalConfig:
    """Weights of the segmentation loss ``dice_weight·Dice + focal_weight·Focal``."""

    dice_weight: float = 1.0
    focal_weight: float = 1.0
    gamma: float = 2.0


class DiceFocalLoss(nn.Module):
    """``smp.losses.DiceLoss(mode="binary")`` plus ``smp.losses.FocalLoss(mode="binary")``.

    Parameters
    ----------
    config : DiceFocalConfig
        Term weights and the focal ``gamma``.
    """

    def __init__(self, config: DiceFocalConfig = DiceFocalConfig()) -> None:
        super().__init__()
        from segmentation_models_pytorch.losses import DiceLoss, FocalLoss

        self.config = config
        self.dice = DiceLoss(mode="binary", from_logits=True)
        self.focal = FocalLoss(mode="binary", gamma=config.gamma)

    def forward(self, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Loss of float (N, 1, H, W) logits against float {0,1} (N, 1, H, W) masks."""
        logits = logits.float()
        masks = masks.float()
        loss = logits.new_zeros(())
        if self.config.dice_weight:
            loss = loss + self.config.dice_weight * self.dice(logits, masks)
        if self.config.focal_weight:
            loss = loss + self.config.focal_weight * self.focal(logits, masks)
        return loss
