"""The optimiser of a training run: Adam (fused where it can), lazy Adam, gradient clipping.

`make_optimizer` is the one choice a run makes (``train.sparse_embeddings``):

- False (default, the paper): ``torch.optim.Adam`` over every parameter, ``fused=True`` where
  this torch build supports it on the parameters' device (the same update in one pass); for a
  table of `SCATTER_TABLE` ids or more on the CPU, the same Adam as `ScatterAdam` (the table's
  gradient kept sparse until Adam's step);
- True: `LazyAdam` with the track table on sparse gradients; only the rows a batch touched move
  (a different optimiser, see `LazyAdam`).

`clip_grad_norm_` is ``torch.nn.utils.clip_grad_norm_`` that also accepts sparse gradients.
`dense_table_note` is the line a run prints when exact Adam over a large table will dominate it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from .config import TrainConfig
from .errors import ConfigError
from .model import SessionEncoder

LARGE_TABLE = 500_000  # ids from which exact Adam's pass over the table dominates a CPU step
# ids from which a CPU run keeps the table's gradient sparse until Adam (`ScatterAdam`): the
# zero-fill and norm of a [V, D] gradient grow with V (two cores: the step 1.1x as fast at 100 k
# ids, 1.4x at 1 M); below, within noise, and runs stay bit for bit those of the dense gradient
# (every committed result trained on fewer than 10 k ids)
SCATTER_TABLE = 50_000

__all__ = [
    "LARGE_TABLE",
    "SCATTER_TABLE",
    "LazyAdam",
    "ScatterAdam",
    "clip_grad_norm_",
    "dense_table_note",
    "make_optimizer",
]


class LazyAdam(torch.optim.Optimizer):
    """Adam for dense gradients; "lazy" Adam for sparse ones (only the rows present move).

    Dense gradients get exactly the update of ``torch.optim.Adam`` (no weight decay, no amsgrad):
    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``p <- p - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)``.

    A sparse gradient (the track table with ``sparse_grad=True``) is coalesced and only its rows
    are updated, with the same formula (same ``eps`` placement as Adam, unlike
    ``torch.optim.SparseAdam``). Rows absent from the step keep their moments and weights. Dense
    Adam would decay those moments and keep moving every row whose momentum is non-zero, so
    **lazy Adam is a different optimiser** (it coincides with Adam only when every row receives a
    gradient at every step). The step count ``t`` of the bias correction counts the steps of the
    parameter, as in Adam, not per row.

    Examples
    --------
    >>> emb = torch.nn.Embedding(5, 2, sparse=True)
    >>> before = emb.weight.detach().clone()
    >>> opt = LazyAdam(emb.parameters(), lr=0.1)
    >>> emb(torch.tensor([1, 3])).sum().backward()
    >>> opt.step()
    >>> (emb.weight != before).any(1).tolist()  # only the rows the batch touched moved
    [False, True, False, True, False]
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"LazyAdam: invalid lr={lr}, betas={betas} or eps={eps}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(  # type: ignore[override]  # the closure returns the loss tensor, as torch's own
        self, closure: Callable[[], Tensor] | None = None
    ) -> Tensor | None:
        """One update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = float(state["step"])
                step_size = lr / (1 - b1**t)
                bc2_sqrt = (1 - b2**t) ** 0.5
                m, v = state["exp_avg"], state["exp_avg_sq"]
                if p.grad.is_sparse:
                    g = p.grad.coalesce()  # duplicate rows summed
                    rows, vals = g.indices()[0], g.values()  # [U], [U, ...]
                    m_r = m.index_select(0, rows).lerp_(vals, 1 - b1)
                    v_r = v.index_select(0, rows).mul_(b2).addcmul_(vals, vals, value=1 - b2)
                    m.index_copy_(0, rows, m_r)
                    v.index_copy_(0, rows, v_r)
                    denom = (v_r.sqrt() / bc2_sqrt).add_(eps)
                    p.index_copy_(
                        0, rows, p.index_select(0, rows).addcdiv_(m_r, denom, value=-step_size)
                    )
                else:
                    g = p.grad
                    m.lerp_(g, 1 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1 - b2)
                    denom = (v.sqrt() / bc2_sqrt).add_(eps)
                    p.addcdiv_(m, denom, value=-step_size)
        return loss


class ScatterAdam(torch.optim.Adam):
    """``torch.optim.Adam``, the same update, for a track table whose gradient arrives sparse.

    Adam moves every row at every step, so a large table's step is bound by memory traffic; the
    dense path adds to it a [V, D] gradient zero-filled each step and a norm over all of it. Here
    the table's gradient stays sparse through backward and clipping (the norm of its rows is the
    norm of the dense gradient), and `step` writes its rows into a [V, D] buffer that is zero
    everywhere else, runs Adam with that buffer as the gradient (every row's moments decay and
    every row moves, exactly as with a dense gradient), then clears those rows again. The result
    is Adam's to rounding (duplicate rows and the norm are summed in another order). Parameters
    with dense gradients are stepped as by Adam.

    Examples
    --------
    >>> emb = torch.nn.Embedding(6, 2, sparse=True)
    >>> twin = torch.nn.Embedding(6, 2)
    >>> _ = twin.load_state_dict(emb.state_dict())
    >>> ours = ScatterAdam(emb.parameters(), lr=0.1)
    >>> adam = torch.optim.Adam(twin.parameters(), lr=0.1)
    >>> for ids in ([1, 3, 3], [2], [1]):
    ...     for m, o in ((emb, ours), (twin, adam)):
    ...         m(torch.tensor(ids)).sum().backward()
    ...         o.step()
    ...         o.zero_grad()
    >>> torch.allclose(emb.weight, twin.weight)  # row 3: a gradient at step 1 only, moved at 2, 3
    True
    """

    def __init__(self, params: Iterable, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._zero_grads: dict[int, Tensor] = {}

    @torch.no_grad()
    def step(  # type: ignore[override]  # the closure returns the loss tensor, as torch's own
        self, closure: Callable[[], Tensor] | None = None
    ) -> Tensor | None:
        """Adam's step; sparse gradients enter through the zero buffer and are then dropped."""
        swapped = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or not p.grad.is_sparse:
                    continue
                g = p.grad.coalesce()
                buf = self._zero_grads.get(id(p))
                if buf is None:
                    buf = self._zero_grads[id(p)] = torch.zeros_like(p)
                rows = g.indices()[0]
                buf.index_copy_(0, rows, g.values())
                p.grad = buf
                swapped.append((p, buf, rows))
        try:
            return super().step(closure)
        finally:
            for p, buf, rows in swapped:
                buf.index_fill_(0, rows, 0.0)  # zero everywhere again, for the next step
                p.grad = None


def _fused_adam_supported(params: list[nn.Parameter]) -> bool:
    """Whether ``torch.optim.Adam(fused=True)`` takes these parameters (CPU: torch >= 2.4)."""
    try:
        torch.optim.Adam(
            [
                torch.zeros(1, device=p.device, dtype=p.dtype, requires_grad=True)
                for p in params[:1]
            ],
            fused=True,
        )
    except (RuntimeError, TypeError, ValueError):
        return False
    return all(p.is_floating_point() for p in params) and len({p.device.type for p in params}) == 1


def make_optimizer(
    model: SessionEncoder, cfg: TrainConfig, sparse_table_ok: bool = False
) -> torch.optim.Optimizer:
    """The optimiser for ``model`` under ``cfg``; also sets ``model.sparse_grad`` to match.

    ``cfg.sparse_embeddings`` False (default, the paper): ``torch.optim.Adam`` over every
    parameter, with ``fused=True`` where this torch build supports it on the parameters' device
    (one pass over the 1 M x 128 table instead of a dozen; the same Adam update). When the caller
    allows sparse table gradients (``sparse_table_ok``: one process, not compiled, no gradient
    scaler) and the table has `SCATTER_TABLE` ids or more on the CPU, the same Adam as `ScatterAdam`
    (no [V, D] gradient to zero-fill and take the norm of; Adam's result to rounding). True:
    `LazyAdam`, with the track table on sparse gradients; only the rows of a batch are updated (a
    different optimiser: see `LazyAdam`). Weight decay cannot be lazy, so it is refused there.

    Clip with `clip_grad_norm_` of this module (``torch.nn.utils.clip_grad_norm_`` rejects
    sparse gradients).

    Examples
    --------
    >>> from negrec_lib.config import ModelConfig, TrainConfig
    >>> from negrec_lib.model import SessionEncoder
    >>> model = SessionEncoder(ModelConfig(d_model=8, n_heads=2, d_ff=8), vocab_size=10)
    >>> type(make_optimizer(model, TrainConfig())).__name__, model.sparse_grad
    ('Adam', False)
    >>> opt = make_optimizer(model, TrainConfig(sparse_embeddings=True))
    >>> type(opt).__name__, model.sparse_grad
    ('LazyAdam', True)
    """
    params = [p for p in model.parameters() if p.requires_grad]
    sparse = bool(getattr(cfg, "sparse_embeddings", False))
    model.sparse_grad = sparse
    if sparse:
        if cfg.weight_decay:
            raise ConfigError(
                f"train.sparse_embeddings=true updates only the rows of each batch and "
                f"cannot apply weight decay to the others; set train.weight_decay=0 "
                f"(got {cfg.weight_decay}) or train.sparse_embeddings=false"
            )
        return LazyAdam(params, lr=cfg.lr)
    # fused=None is Adam's default (its own choice of loop); True where supported
    fused = True if _fused_adam_supported(params) else None
    on_cpu = model.item_emb.weight.device.type == "cpu"
    if sparse_table_ok and on_cpu and model.vocab_size >= SCATTER_TABLE:
        model.sparse_grad = True
        return ScatterAdam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)


def dense_table_note(vocab_size: int, cfg: TrainConfig, device: torch.device) -> str | None:
    """A note for a CPU run whose exact Adam will spend most of each step on a large table.

    Adam moves every row of the [V, D] track table at every step (its moments decay even where a
    batch left no gradient), so on a CPU, from about half a million ids, that pass over the table
    outweighs the model (benchmarks/trainer.py on two cores: the lazy step 1.1 times as fast as
    the Trainer's Adam at 100 k ids, twice at 1 M). The run stays exact Adam; the note only names
    the choice. None when it does not apply (lazy Adam chosen, a smaller table, a GPU).

    Examples
    --------
    >>> cpu = torch.device("cpu")
    >>> dense_table_note(1_000_003, TrainConfig(), cpu).startswith("note: Adam updates all")
    True
    >>> dense_table_note(1_000_003, TrainConfig(sparse_embeddings=True), cpu) is None
    True
    >>> dense_table_note(10_003, TrainConfig(), cpu) is None
    True
    """
    if vocab_size < LARGE_TABLE or cfg.sparse_embeddings or device.type != "cpu":
        return None
    return (
        f"note: Adam updates all {vocab_size:,} rows of the track table at every step, which "
        "takes most of each step on a CPU at this size; train.sparse_embeddings=true (lazy "
        "Adam: only the rows of a batch move, a different optimiser) trains about twice as "
        "fast at 1 M ids (benchmarks/trainer.py)"
    )


@torch.no_grad()
def clip_grad_norm_(parameters: Iterable[Tensor], max_norm: float) -> Tensor:
    """Rescale gradients to a total L2 norm of at most ``max_norm``; returns the norm before.

    The same result as ``torch.nn.utils.clip_grad_norm_`` (factor ``min(1, max_norm / (norm +
    1e-6))``), plus: sparse gradients are coalesced in place first (their norm is then that of
    the dense gradient), and on the CPU the rescaling is skipped when the factor is exactly 1
    (multiplying by 1 changes nothing, and it saves a pass over a [V, D] gradient).

    Examples
    --------
    >>> p = torch.nn.Parameter(torch.zeros(2))
    >>> p.grad = torch.tensor([3.0, 4.0])
    >>> clip_grad_norm_([p], max_norm=1.0).item(), [round(g, 4) for g in p.grad.tolist()]
    (5.0, [0.6, 0.8])
    """
    grads: list[Tensor] = []
    for p in parameters:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
        grads.append(p.grad)
    if not grads:
        return torch.zeros(())
    values = [g._values() if g.is_sparse else g for g in grads]  # what the norm and scaling see
    device = grads[0].device
    norms = [torch.linalg.vector_norm(v).to(device) for v in values]
    total = torch.linalg.vector_norm(torch.stack(norms))
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    if device.type == "cpu" and bool(coef >= 1.0):
        return total
    for v in values:
        v.mul_(coef.to(v.device))
    return total
