"""One transformer block: self-attention and feed-forward, post-LN or pre-LN, with its maps."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from .dropout import Dropout


class TransformerLayer(nn.Module):
    """One self-attention + feed-forward block, post-LN (PyTorch default) or pre-LN.

    Examples
    --------
    >>> import torch
    >>> layer = TransformerLayer(d_model=8, n_heads=2, d_ff=16, dropout=0.0, pre_ln=False)
    >>> x = torch.randn(1, 4, 8)  # [B, L, D]
    >>> allowed = torch.ones(4, 4, dtype=torch.bool).tril()[None, None]  # causal [1, 1, L, L]
    >>> y, weights = layer(x, allowed, need_weights=True)
    >>> y.shape, weights.shape, bool(weights[0, 0, 0, 1] == 0)  # position 0 cannot see 1
    (torch.Size([1, 4, 8]), torch.Size([1, 2, 4, 4]), True)
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, pre_ln: bool) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ConfigError(
                f"model.d_model={d_model} is not divisible by model.n_heads={n_heads}"
            )
        self.n_heads, self.pre_ln, self.dropout = n_heads, pre_ln, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, d_ff), nn.ReLU(), Dropout(dropout), nn.Linear(d_ff, d_model)
        )
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop1, self.drop2 = Dropout(dropout), Dropout(dropout)

    def _attend(
        self, x: Tensor, allowed: Tensor, need_weights: bool, query: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        if query is not None:  # one query per row (its position): [B, H, 1, Dh], mask [B, 1, 1, L]
            rows = torch.arange(B, device=x.device)
            q = q[rows, :, query].unsqueeze(2)
            allowed = allowed[rows, :, query].unsqueeze(2)
            L = 1
        p = self.dropout if self.training else 0.0  # q, k, v: [B, H, L, Dh]
        if not need_weights:  # fast path (fused kernels)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
            weights = None
        else:  # explicit path, same maths
            logits = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # [B, H, L, L]
            weights = logits.float().masked_fill(~allowed, float("-inf")).softmax(-1)
            ctx = F.dropout(weights, p, self.training).to(v.dtype) @ v  # [B, H, L, Dh]
        return self.out(ctx.transpose(1, 2).reshape(B, L, D)), weights  # [B, L, D]

    def forward(
        self,
        x: Tensor,
        allowed: Tensor,
        need_weights: bool = False,
        query: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Apply the block to ``x`` [B, L, D]; ``allowed`` [B, 1, L, L]: which keys it may see.

        ``query`` [B] (long): compute the output only at that position of each row, [B, 1, D],
        attending over all of ``x`` as usual (what a last layer needs when only one state per
        row is scored; the keys and values are those of the full block).
        """
        x_q = x if query is None else x[torch.arange(x.shape[0], device=x.device), query][:, None]
        if self.pre_ln:
            a, w = self._attend(self.norm1(x), allowed, need_weights, query)
            x_q = x_q + self.drop1(a)
            x_q = x_q + self.drop2(self.ff(self.norm2(x_q)))
        else:
            a, w = self._attend(x, allowed, need_weights, query)
            x_q = self.norm1(x_q + self.drop1(a))
            x_q = self.norm2(x_q + self.drop2(self.ff(x_q)))
        return x_q, w
