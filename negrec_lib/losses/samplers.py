"""Candidate samplers for sampled softmax: uniform, and popularity with its log-probabilities.

Reserved ids (PAD, MASK, OOV) are never sampled. `make_sampler` builds the one `LossConfig` names.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import Tensor

from ..config import LossConfig
from ..errors import ConfigError
from ..tokens import N_RESERVED


class CandidateSampler(Protocol):
    """Draws negative candidates (with replacement) and reports their per-draw log-probability.

    Examples
    --------
    >>> sampler: CandidateSampler = UniformSampler(vocab_size=10)
    >>> ids = sampler.sample(4, generator=torch.Generator().manual_seed(0))
    >>> ids.shape, bool((ids >= N_RESERVED).all())
    (torch.Size([4]), True)
    """

    vocab_size: int

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``n`` track ids (>= N_RESERVED) as a LongTensor [n]."""
        ...

    def log_q(self, ids: Tensor) -> Tensor:
        """Log of the per-draw probability of each id (same shape as ``ids``)."""
        ...


def _gen_device(generator: torch.Generator | None, fallback: torch.device) -> torch.device:
    return generator.device if generator is not None else fallback


class UniformSampler:
    """Uniform over the non-reserved ids (the paper's sampler).

    Examples
    --------
    >>> s = UniformSampler(vocab_size=10)  # 7 tracks
    >>> round(s.log_q(torch.tensor([3, 9])).exp()[0].item(), 4)
    0.1429
    """

    def __init__(self, vocab_size: int) -> None:
        if vocab_size <= N_RESERVED:
            raise ConfigError(f"vocab_size={vocab_size}: no tracks to sample")
        self.vocab_size = vocab_size
        self._log_q = -math.log(vocab_size - N_RESERVED)

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``n`` ids drawn uniformly from [N_RESERVED, V)."""
        device = torch.device("cpu") if device is None else torch.device(device)
        ids = torch.randint(
            N_RESERVED,
            self.vocab_size,
            (n,),
            generator=generator,
            device=_gen_device(generator, device),
        )
        return ids.to(device)

    def log_q(self, ids: Tensor) -> Tensor:
        """-log(V - N_RESERVED) for every id."""
        return torch.full(ids.shape, self._log_q, device=ids.device)


class PopularitySampler:
    """Probability proportional to ``max(count, floor) ** alpha`` over the non-reserved ids.

    The floor keeps tracks unseen in training (count 0) drawable; ``alpha=0`` is uniform.
    Sampling is inverse-CDF (``searchsorted``), O(n log V) per call.

    Examples
    --------
    >>> s = PopularitySampler(torch.tensor([0, 0, 0, 3, 1]))  # ids 3 and 4, seen 3 and 1 times
    >>> s.log_q(torch.tensor([3, 4])).exp().tolist()
    [0.75, 0.25]
    """

    def __init__(self, counts: Tensor, alpha: float = 1.0, floor: float = 1.0) -> None:
        counts = torch.as_tensor(counts, dtype=torch.float64)
        if counts.ndim != 1 or counts.numel() <= N_RESERVED:
            raise ConfigError(
                f"counts must be a [V] vector with V > {N_RESERVED}; got {tuple(counts.shape)}"
            )
        w = counts.clamp(min=floor) ** alpha  # [V]
        w[:N_RESERVED] = 0.0
        if not bool(w.sum() > 0):
            raise ConfigError("PopularitySampler: every track has weight 0; use floor > 0")
        self.vocab_size = counts.numel()
        probs = w / w.sum()
        self.cdf = probs.cumsum(0)  # [V] float64
        self.log_probs = probs.float().log()  # [V], -inf on reserved

    def to(self, device: torch.device | str) -> PopularitySampler:
        """Move the tables to ``device`` (so `log_q` and `sample` run there); returns self."""
        self.cdf, self.log_probs = self.cdf.to(device), self.log_probs.to(device)
        return self

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``n`` ids drawn with probability ``probs`` (with replacement)."""
        device = self.cdf.device if device is None else torch.device(device)
        u = torch.rand(
            n,
            generator=generator,
            dtype=torch.float64,
            device=_gen_device(generator, self.cdf.device),
        ).to(self.cdf.device)
        ids = torch.searchsorted(self.cdf, u * self.cdf[-1], right=True)  # first index with cdf > u
        return ids.clamp_(N_RESERVED, self.vocab_size - 1).to(device)

    def log_q(self, ids: Tensor) -> Tensor:
        """log probs[ids]."""
        return self.log_probs.to(ids.device)[ids]


def make_sampler(
    loss_cfg: LossConfig, vocab_size: int, counts: Tensor | None = None
) -> CandidateSampler | None:
    """The sampler ``loss_cfg`` asks for (None: full softmax); popularity needs ``counts`` [V].

    Examples
    --------
    >>> from negrec_lib.config import LossConfig
    >>> type(make_sampler(LossConfig(), vocab_size=10)).__name__
    'UniformSampler'
    >>> make_sampler(LossConfig(next_loss="full"), vocab_size=10) is None
    True
    """
    if loss_cfg.next_loss == "full":
        return None
    if loss_cfg.sampler == "uniform":
        return UniformSampler(vocab_size)
    if counts is None:
        raise ConfigError("loss.sampler=popularity needs training counts of every track id")
    return PopularitySampler(counts)
