"""`negrec_lib.model.dropout.Dropout` gives nn.Dropout's outputs, gradients and later draws."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from negrec_lib.config import LossConfig, ModelConfig
from negrec_lib.losses import UniformSampler, compute_losses
from negrec_lib.model import SessionEncoder
from negrec_lib.model.dropout import Dropout


def _run(module: nn.Module, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(seed)
    x = x.detach().clone().requires_grad_(True)
    y = module(x)
    (y.float() * torch.arange(y.numel()).view_as(y)).sum().backward()
    return y.detach(), x.grad, torch.rand(5)  # the draw after: the generator's state


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("shape", [(128, 20, 128), (7, 3), (2, 4, 5, 5), (1,)])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_same_as_nn_dropout(dtype: torch.dtype, shape: tuple[int, ...], p: float) -> None:
    x = torch.randn(shape).to(dtype)
    ours, theirs = _run(Dropout(p), x, 3), _run(nn.Dropout(p), x, 3)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
    assert (ours[0] == 0).any() or x.numel() < 10  # it did drop something


def test_fallbacks_and_eval() -> None:
    x = torch.randn(6, 4).t()  # non-contiguous: nn.Dropout's own path
    assert torch.equal(_run(Dropout(0.3), x, 1)[0], _run(nn.Dropout(0.3), x, 1)[0])
    d = Dropout(0.3).eval()
    assert torch.equal(d(x), x)
    assert torch.equal(Dropout(0.0)(x), x)
    assert repr(Dropout(0.2)) == repr(nn.Dropout(0.2))  # printed models look as before


def _nn_dropouts(model: nn.Module) -> nn.Module:
    """The same model with every `Dropout` replaced by torch's own ``nn.Dropout``."""
    for name, child in model.named_children():
        if isinstance(child, Dropout):
            setattr(model, name, nn.Dropout(child.p))
        else:
            _nn_dropouts(child)
    return model


def test_a_training_step_is_the_one_nn_dropout_gives() -> None:
    """The encoder's loss and every gradient of one step equal the nn.Dropout model's, bitwise."""
    results = []
    for swap in (False, True):
        torch.manual_seed(0)
        model = SessionEncoder(ModelConfig(d_model=16, n_heads=2, d_ff=16, max_length=8), 50)
        if swap:
            _nn_dropouts(model)
            assert not any(isinstance(m, Dropout) for m in model.modules())
        model.train()
        tracks = torch.randint(3, 50, (6, 8))
        lengths = torch.tensor([8, 5, 3, 8, 7, 2])
        skipped = torch.rand(6, 8) < 0.3
        gen = torch.Generator().manual_seed(1)
        cfg, sampler = LossConfig(n_negatives=20), UniformSampler(50)
        out = compute_losses(model, tracks, lengths, skipped, None, cfg, sampler, gen)
        out["total"].backward()
        results.append([out["total"].detach()] + [p.grad.clone() for p in model.parameters()])
    for a, b in zip(*results):
        assert torch.equal(a, b)
