"""The track table as one training step sees it: every lookup shares one gradient node.

The track table dominates memory and time at a realistic catalogue (V = 1 M tracks, D = 128:
512 MB of weights). One training step looks up three sets of rows (input tracks, candidates,
skip keys); `TrackTable` routes them through ONE autograd node whose lookups have sparse
gradients, so a step never builds more than one dense [V, D] gradient, and builds none when the
parameter already holds a dense ``.grad`` to add into (``zero_grad(set_to_none=False)``). The
optional sparse path (``sparse_grad=True`` + `negrec_lib.optim.LazyAdam`, chosen by
`negrec_lib.optim.make_optimizer`) keeps the gradient sparse and updates only the rows a batch
touched ("lazy Adam", not the same algorithm as Adam).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from .tokens import PAD_ID

if TYPE_CHECKING:
    from .model import SessionEncoder


def _compiling() -> bool:
    """True while torch.compile traces the code (False on torch versions without the query)."""
    query = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    return bool(query()) if query is not None else False


class _SharedTableGrad(torch.autograd.Function):
    """Identity on the [V, D] track table; the gradients of every lookup meet here once.

    Lookups into the output use ``F.embedding(..., sparse=True)``: autograd sums their gradients
    as sparse tensors (no [V, D] buffer per lookup). ``backward`` then hands the total to the
    parameter in the cheapest form that keeps its ``.grad`` what the optimiser expects:

    - ``sparse=True`` (lazy Adam): as the sparse tensor; ``.grad`` becomes sparse;
    - dense, and ``.grad`` is already a dense tensor (``zero_grad(set_to_none=False)``): as the
      sparse tensor, which autograd adds into ``.grad`` in place (no new [V, D] allocation);
    - dense, and ``.grad`` is None (or sparse): as one dense tensor.

    A dense incoming gradient (the full softmax multiplies with the whole table) passes unchanged.
    """

    @staticmethod
    def forward(ctx, weight: Tensor, sparse: bool) -> Tensor:
        ctx.weight, ctx.sparse = weight, sparse
        return weight.view_as(weight)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        if grad.is_sparse and not ctx.sparse:
            current = ctx.weight.grad
            if current is None or current.is_sparse:
                grad = grad.to_dense()  # one [V, D] buffer
        return grad, None


class TrackTable:
    """The track table as one training step sees it: every lookup shares one gradient node.

    Build one per step with `SessionEncoder.track_table` and use it for all lookups of that step
    (encoder inputs, candidate columns, skip keys). Values are exactly those of
    `SessionEncoder.embed` / `SessionEncoder.item_embeddings`; only the way gradients reach the
    table differs (see `_SharedTableGrad`). Without autograd (evaluation, ``torch.no_grad``) it
    is a plain lookup. Under ``torch.compile`` too: the compiler cannot trace sparse gradients,
    so each lookup then has its own dense gradient, as plain ``nn.Embedding`` lookups do (and
    the sparse option, ``sparse_grad=True``, cannot be compiled).

    Examples
    --------
    >>> import torch
    >>> from negrec_lib.config import ModelConfig
    >>> from negrec_lib.model import SessionEncoder
    >>> _ = torch.manual_seed(0)
    >>> model = SessionEncoder(ModelConfig(d_model=8, n_heads=2, d_ff=8, max_length=5), 10)
    >>> tracks = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 3]])  # [B=2, L=5], 0 = PAD
    >>> lengths = torch.tensor([3, 5])
    >>> table = model.track_table()  # one per training step
    >>> ids = torch.tensor([3, 4])
    >>> torch.equal(table(ids), model.embed(ids)), table.full().shape  # same values as embed
    (True, torch.Size([10, 8]))
    """

    def __init__(self, model: SessionEncoder) -> None:
        self.model = model
        weight = model.item_emb.weight  # [V, D]
        self.shared = torch.is_grad_enabled() and weight.requires_grad and not _compiling()
        self.weight = _SharedTableGrad.apply(weight, model.sparse_grad) if self.shared else weight

    def __call__(self, ids: Tensor) -> Tensor:
        """Representations of ``ids`` [...] -> [..., D] (embedding + projected features)."""
        e = F.embedding(ids, self.weight, padding_idx=PAD_ID, sparse=self.shared)
        m = self.model
        if m.feature_proj is not None:
            e = e + m.feature_proj(m.features[ids])
        return e

    def full(self) -> Tensor:
        """The whole [V, D] table (for the full softmax), on the same gradient node."""
        m = self.model
        if m.feature_proj is None:
            return self.weight
        return self.weight + m.feature_proj(m.features)
