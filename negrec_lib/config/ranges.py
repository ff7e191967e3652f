"""The range of every numeric and enumerated setting (`ExperimentConfig.validate`)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .experiment import ExperimentConfig

_METRIC = re.compile(r"(hr|ndcg|mrr)@([1-9][0-9]*)\Z|mrr\Z")
_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:[0-9]+)?)\Z")


def _range_problems(cfg: ExperimentConfig) -> list[tuple[str, Any, str]]:
    """(key, value, what is wrong) for every out-of-range setting of ``cfg``."""
    out: list[tuple[str, Any, str]] = []

    def need(ok: bool, key: str, value: Any, why: str) -> None:
        if not ok:
            out.append((key, value, why))

    def finite(x: float) -> bool:
        return isinstance(x, (int, float)) and math.isfinite(x)

    s, d, m, lo, t = cfg.sim, cfg.data, cfg.model, cfg.loss, cfg.train
    need(
        bool(cfg.name.strip()) and "/" not in cfg.name and cfg.name not in (".", ".."),
        "name",
        cfg.name,
        "expected a non-empty name without '/'",
    )
    need(s.sessions >= 1, "sim.sessions", s.sessions, "expected at least 1")
    need(s.tracks >= 2, "sim.tracks", s.tracks, "expected at least 2")
    need(
        finite(s.skip_signal) and 0 <= s.skip_signal <= 1,
        "sim.skip_signal",
        s.skip_signal,
        "expected a number from 0 to 1",
    )
    need(s.days >= 1, "sim.days", s.days, "expected at least 1")
    need(s.max_length >= 1, "sim.max_length", s.max_length, "expected at least 1")
    need(s.seed >= 0, "sim.seed", s.seed, "expected 0 or more")
    need(
        1 <= d.skip_strength <= 3,
        "data.skip_strength",
        d.skip_strength,
        "expected 1, 2 or 3 (skip_3, skip_2, skip_1)",
    )
    need(d.min_length >= 1, "data.min_length", d.min_length, "expected at least 1")
    need(d.min_count >= 1, "data.min_count", d.min_count, "expected at least 1")
    need(d.valid_days >= 1, "data.valid_days", d.valid_days, "expected at least 1")
    need(d.test_days >= 1, "data.test_days", d.test_days, "expected at least 1")
    need(d.max_length >= 1, "data.max_length", d.max_length, "expected at least 1")
    need(
        d.max_sessions is None or d.max_sessions >= 1,
        "data.max_sessions",
        d.max_sessions,
        "expected at least 1 (or null for all)",
    )
    if d.split == "paper":
        need(
            d.min_length >= 3,
            "data.min_length",
            d.min_length,
            "the paper split needs sessions of at least 3 tracks (training input, "
            "validation and test targets)",
        )
        need(
            d.max_length >= 3,
            "data.max_length",
            d.max_length,
            "the paper split needs sessions of at least 3 tracks",
        )
    else:
        need(
            d.min_length >= 2,
            "data.min_length",
            d.min_length,
            "the by_day split needs sessions of at least 2 tracks (a prefix and a target)",
        )
    need(m.d_model >= 1, "model.d_model", m.d_model, "expected at least 1")
    need(m.n_heads >= 1, "model.n_heads", m.n_heads, "expected at least 1")
    if m.d_model >= 1 and m.n_heads >= 1:
        need(
            m.d_model % m.n_heads == 0,
            "model.n_heads",
            m.n_heads,
            f"must divide model.d_model={m.d_model}",
        )
    need(m.n_layers >= 1, "model.n_layers", m.n_layers, "expected at least 1")
    need(m.d_ff >= 1, "model.d_ff", m.d_ff, "expected at least 1")
    need(
        finite(m.dropout) and 0 <= m.dropout < 1,
        "model.dropout",
        m.dropout,
        "expected a number in [0, 1)",
    )
    need(m.max_length >= 2, "model.max_length", m.max_length, "expected at least 2")
    need(
        finite(m.mask_prob) and 0 < m.mask_prob < 1,
        "model.mask_prob",
        m.mask_prob,
        "expected a number in (0, 1)",
    )
    need(lo.n_negatives >= 1, "loss.n_negatives", lo.n_negatives, "expected at least 1")
    need(
        finite(lo.skip_weight) and lo.skip_weight >= 0,
        "loss.skip_weight",
        lo.skip_weight,
        "expected a number >= 0 (0 disables the skip loss)",
    )
    need(
        finite(lo.skip_temperature) and lo.skip_temperature > 0,
        "loss.skip_temperature",
        lo.skip_temperature,
        "expected a number > 0",
    )
    need(t.epochs >= 1, "train.epochs", t.epochs, "expected at least 1")
    need(t.batch_size >= 1, "train.batch_size", t.batch_size, "expected at least 1")
    need(
        finite(t.lr) and t.lr >= 0, "train.lr", t.lr, "expected a number >= 0 (0 freezes the model)"
    )
    need(
        finite(t.weight_decay) and t.weight_decay >= 0,
        "train.weight_decay",
        t.weight_decay,
        "expected a number >= 0",
    )
    need(
        t.grad_clip is None or (finite(t.grad_clip) and t.grad_clip > 0),
        "train.grad_clip",
        t.grad_clip,
        "expected a number > 0, or null for no clipping",
    )
    need(t.warmup_steps >= 0, "train.warmup_steps", t.warmup_steps, "expected 0 or more")
    need(t.seed >= 0, "train.seed", t.seed, "expected 0 or more")
    need(
        bool(_DEVICE.match(t.device)),
        "train.device",
        t.device,
        "expected auto, cpu, mps, cuda or cuda:<index>",
    )
    need(
        t.patience is None or t.patience >= 1,
        "train.patience",
        t.patience,
        "expected at least 1, or null for no early stopping",
    )
    metric = _METRIC.match(t.select_metric)
    need(
        metric is not None and (metric.group(2) is None or int(metric.group(2)) in _KS),
        "train.select_metric",
        t.select_metric,
        f"expected hr@K, ndcg@K or mrr@K with K in {list(_KS)}, or mrr",
    )
    need(t.eval_batch_size >= 1, "train.eval_batch_size", t.eval_batch_size, "expected at least 1")
    need(
        t.sampled_eval_batch_size >= 1,
        "train.sampled_eval_batch_size",
        t.sampled_eval_batch_size,
        "expected at least 1",
    )
    need(t.eval_every >= 1, "train.eval_every", t.eval_every, "expected at least 1")
    return out


_KS = (1, 5, 10, 20)  # the cut-offs `metrics.evaluate` reports (metrics.DEFAULT_KS)
