"""The session process: who listens, in which context, and which track comes next.

Session. A context type ``x`` (MSSD's shares), shuffle ``h`` (depends on the context, 0.30
overall), premium (0.85), a start hour (a daily profile), a length (45% of sessions have
``max_length`` tracks, the rest are uniform on ``[ceil(max_length/2), max_length - 1]``, i.e. 10-19
for 20) and a listener taste ``u = sum_k pi_k mu_gk + sigma_u N(0, I/d)``, a mixture of 1-3
genres drawn by genre mass (stored as float16; the sampler uses the rounded values). At every
position after the first the context switches with probability ``q`` (toggling between the
session's context and a second one), which makes about 4% of rows ``context_switch = 1``.

Next track. With ``x_t`` the context at position ``t`` and ``c'`` the previous track's cluster::

    p(c | session, c', t) = a(x_t, h) T(c' -> c) + b(x_t, h) Q_u(c) + e(x_t, h) W_c
    T(c' -> c) = kappa [c = c'] + (1 - kappa) W_c / W_genre(c')      (c in the genre of c')
    Q_u(c)     ∝ W_c exp(beta <u, nu_c>)                              (the listener's taste)
    p(j | c)   = w_j / W_c                                            (popularity within c)

``a`` (coherence: stay in the sub-genre or move within the genre), ``b`` (taste) and ``e``
(popularity) sum to 1 and depend on the context: radio and catalog are coherent, charts popular;
shuffle halves ``a`` (the rest goes to taste). At position 1 and at a context switch ``a = 0``.
The next track therefore depends on the past only through the previous track, and on the
session only through (u, x_t, h, a switch at t): `SimulationTruth.next_track_probs` is exact.
Skips do not change the next track; they carry information about ``u``, hence about the future
(`behaviour.py`).
"""

from __future__ import annotations

import math

import numpy as np

from .catalogue import Catalogue
from .params import ModelParams
from .streams import (
    P_CLUSTER,
    P_COMP,
    P_STAY,
    P_SWITCH,
    P_TRACK,
    S_CTX,
    S_CTX2,
    S_G,
    S_HOUR,
    S_LEN,
    S_MIN,
    S_NG,
    S_PREM,
    S_SHUF,
    S_W,
    draw,
)


def mix_table(P: ModelParams) -> np.ndarray:
    """[n_contexts, 2 (shuffle), 3] mixture weights (coherent a, taste b, popular e).

    Examples
    --------
    >>> mix = mix_table(ModelParams())
    >>> mix.shape, mix[3, 0].round(2).tolist(), mix[3, 1].round(3).tolist()   # radio
    ((6, 2, 3), [0.75, 0.2, 0.05], [0.375, 0.575, 0.05])
    """
    mix = np.array(P.context_mix, dtype=np.float64)
    mix = mix / mix.sum(1, keepdims=True)
    shuf = mix.copy()
    shuf[:, 1] += (1 - P.shuffle_coherence) * mix[:, 0]
    shuf[:, 0] *= P.shuffle_coherence
    return np.stack([mix, shuf], 1)


def length_cdf(L: int, P: ModelParams) -> tuple[np.ndarray, np.ndarray]:
    """(session lengths, their cumulative probabilities) for the longest session ``L``.

    Examples
    --------
    >>> values, cdf = length_cdf(4, ModelParams())
    >>> values.tolist(), cdf.round(3).tolist()
    ([2, 3, 4], [0.275, 0.55, 1.0])
    """
    lo = max(1, math.ceil(L / 2))
    values = np.arange(lo, L + 1)
    probs = np.full(len(values), (1 - P.full_length_share) / max(len(values) - 1, 1))
    probs[-1] = P.full_length_share if len(values) > 1 else 1.0
    return values, np.cumsum(probs) / probs.sum()


def switch_prob(L: int, P: ModelParams) -> float:
    """Per-position probability of a context switch that makes ``P.switch_rate`` of rows switch.

    Examples
    --------
    >>> round(switch_prob(20, ModelParams()), 4)
    0.0425
    """
    values, cdf = length_cdf(L, P)
    probs = np.diff(np.concatenate([[0.0], cdf]))
    mean_len = float((values * probs).sum())
    return min(1.0, P.switch_rate * mean_len / max(mean_len - 1, 1e-9))


def taste_logits(taste: np.ndarray, cat: Catalogue, P: ModelParams) -> np.ndarray:
    """[n, C] log of the unnormalised taste distribution Q_u(c) of tastes [n, d]."""
    return P.taste_sharpness * (taste @ cat.centres.T) + np.log(cat.mass)


def sessions_state(R: dict, cat: Catalogue, P: ModelParams, L: int) -> dict[str, np.ndarray]:
    """Session-level latent state (context pair, length, shuffle, premium, taste, switches).

    ``R`` holds the sessions' random numbers (`streams.randoms`).

    Examples
    --------
    >>> from negrec_lib.sim.catalogue import build_catalogue
    >>> from negrec_lib.sim.streams import TAG_SESSIONS, randoms
    >>> P = ModelParams()
    >>> rand = randoms(0, TAG_SESSIONS, 0, 1, 20, P.dim)
    >>> st = sessions_state(rand, build_catalogue(0, 200, P), P, 20)
    >>> st["taste"].shape, st["switch"].shape, int(st["length"].min()), int(st["length"].max())
    ((1024, 16), (1024, 20), 10, 20)
    """
    su, n = R["su"], len(R["su"])
    shares = np.array(P.context_shares) / np.sum(P.context_shares)
    ctx_a = draw(np.cumsum(shares), su[:, S_CTX]).astype(np.int8)
    other = np.where(np.eye(len(shares), dtype=bool), 0.0, shares)  # [K, K] shares without a
    other_cdf = np.cumsum(other, 1) / other.sum(1, keepdims=True)
    ctx_b = np.minimum((other_cdf[ctx_a] <= su[:, S_CTX2, None]).sum(1), len(shares) - 1).astype(
        np.int8
    )
    values, len_cdf = length_cdf(L, P)
    length = values[draw(len_cdf, su[:, S_LEN])].astype(np.int16)
    shuffle = su[:, S_SHUF] < np.array(P.shuffle_by_context)[ctx_a]
    premium = su[:, S_PREM] < P.premium_rate
    hour_cdf = np.cumsum(P.hour_profile) / np.sum(P.hour_profile)
    hour0 = draw(hour_cdf, su[:, S_HOUR])
    G = len(cat.genre_centres)
    n_genres = 1 + (su[:, S_NG] > 0.5) + (su[:, S_NG] > 0.85)
    genre_cdf = np.cumsum(cat.genre_mass) / cat.genre_mass.sum()
    taste = np.zeros((n, cat.centres.shape[1]))
    weights = -np.log1p(-su[:, S_W : S_W + 3]) * (np.arange(3) < n_genres[:, None])
    weights /= weights.sum(1, keepdims=True)
    for k in range(3):
        g = np.minimum(draw(genre_cdf, su[:, S_G + k]), G - 1)
        taste += weights[:, k, None] * cat.genre_centres[g]
    taste += P.taste_noise * R["sn"] / math.sqrt(taste.shape[1])
    taste = taste.astype(np.float16).astype(np.float32)
    pos = np.arange(L)
    switch = (R["pu"][:, P_SWITCH] < switch_prob(L, P)) & (pos > 0) & (pos < length[:, None])
    return dict(
        ctx_a=ctx_a,
        ctx_b=ctx_b,
        length=length,
        shuffle=shuffle,
        premium=premium,
        hour0=hour0,
        minute0=su[:, S_MIN] * 60,
        taste=taste,
        switch=switch,
    )


def sample_tracks(
    st: dict, pu: np.ndarray, cat: Catalogue, P: ModelParams
) -> tuple[np.ndarray, np.ndarray]:
    """Clusters and tracks [n, L] of every position (the next-track model above).

    ``st`` is `sessions_state`'s result and ``pu`` the per-position uniforms [n, N_PU, L].
    """
    n, L = st["switch"].shape
    ctx = np.where(np.cumsum(st["switch"], 1) % 2 == 1, st["ctx_b"][:, None], st["ctx_a"][:, None])
    newstart = st["switch"].copy()
    newstart[:, 0] = True
    w = mix_table(P)[ctx, st["shuffle"][:, None].astype(np.int64)]  # [n, L, 3]
    w[..., 0] = np.where(newstart, 0.0, w[..., 0])
    w /= w.sum(-1, keepdims=True)
    u = pu[:, P_COMP]
    # 0 coherent, 1 taste, 2 popular
    comp = (u >= w[..., 0]).astype(np.int8) + (u >= w[..., 0] + w[..., 1])
    comp[newstart & (comp == 0)] = 1
    C = len(cat.centres)
    logits = taste_logits(st["taste"], cat, P)
    q = np.exp(logits - logits.max(1, keepdims=True))
    cdf = np.cumsum(q, 1)
    cdf /= cdf[:, -1:]
    rows = np.arange(n)[:, None]
    uc = pu[:, P_CLUSTER]
    taste_c = (
        np.searchsorted((cdf + rows).ravel(), (rows + uc).ravel(), side="right").reshape(n, L)
        - rows * C
    )
    pop_c = np.searchsorted(cat.cluster_cum[1:], uc, side="right")
    clusters = np.minimum(np.where(comp == 1, taste_c, pop_c), C - 1)
    for t in range(1, L):
        prev = clusters[:, t - 1]
        g = cat.genre[prev]
        lo, hi = cat.genre_first[g], cat.genre_first[g + 1] - 1
        target = cat.cluster_cum[lo] + uc[:, t] * cat.genre_mass[g]
        moved = np.clip(np.searchsorted(cat.cluster_cum[1:], target, side="right"), lo, hi)
        step = np.where(pu[:, P_STAY, t] < P.stay, prev, moved)
        clusters[:, t] = np.where(comp[:, t] == 0, step, clusters[:, t])
    target = cat.cluster_cum[clusters] + pu[:, P_TRACK] * cat.mass[clusters]
    tracks = np.searchsorted(cat.track_cum[1:], target, side="right")
    tracks = np.clip(tracks, cat.start[clusters], cat.start[clusters + 1] - 1)
    return clusters.astype(np.int32), tracks.astype(np.int32)
