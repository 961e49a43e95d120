"""Checkpoints: exact round trip, and an interrupted save keeps the previous checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from model_training.checkpoint import load_checkpoint, load_weights, save_checkpoint
from pneumoviewer.core.errors import ModelLoadError


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))


X = torch.linspace(-1, 1, 32).reshape(8, 4)


def _step(model: nn.Module, opt: torch.optim.Optimizer) -> None:
    model.train()
    loss = model(X).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_round_trip_weights_optimizer_and_state(tmp_path):
    model = _model(0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    _step(model, opt)
    save_checkpoint(tmp_path, "last", model=model, optimizer=opt, state={"epoch": 3, "x": 0.5})
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["last.json", "last.optim.pt", "last.safetensors"]

    other = _model(1)
    other_opt = torch.optim.AdamW(other.parameters(), lr=1e-2)
    state = load_checkpoint(tmp_path, "last", model=other, optimizer=other_opt)
    assert state == {"epoch": 3, "x": 0.5}
    for (k, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    _step(model, opt)
    _step(other, other_opt)  # same optimizer moments -> same next step
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        assert torch.equal(a, b)


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = _model(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _step(model, opt)
    save_checkpoint(tmp_path, "last", model=model, optimizer=opt, state={"epoch": 1})
    ck = tmp_path / "checkpoints"
    before = {p.name: p.read_bytes() for p in ck.iterdir()}

    def crash(obj, f, *args, **kwargs):
        f.write(b"half an optimizer")
        raise OSError("disk full")

    _step(model, opt)
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, "last", model=model, optimizer=opt, state={"epoch": 2})
    after = {p.name: p.read_bytes() for p in ck.iterdir()}
    assert sorted(after) == sorted(before)  # no temporary files left
    assert after["last.optim.pt"] == before["last.optim.pt"]
    assert json.loads(after["last.json"]) == {"epoch": 1}  # state not advanced


def test_load_weights_refuses_another_architecture(tmp_path):
    save_checkpoint(tmp_path, "best", model=_model(0), optimizer=None, state={})
    with pytest.raises(ModelLoadError, match="weights do not match the model"):
        load_weights(tmp_path / "checkpoints" / "best.safetensors", nn.Linear(4, 1))
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_weights(tmp_path / "nothing.safetensors", nn.Linear(4, 1))
