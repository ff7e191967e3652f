"""The session simulator: synthetic listening sessions in the exact MSSD format, with a known truth.

MSSD can no longer be downloaded or redistributed, so this simulator is every reader's data. It
writes the same files as MSSD (book/paper.md section 6) and, beside them, the ground truth of the
process that generated them, so the book can compute an oracle (the best any model could do).
Everything below is synthetic; only the marginal statistics are calibrated to real samples.

Generative model
----------------
Catalogue. ``G`` genres, each split into ``S`` sub-genres (the clusters, ``C = G * S``, a few
hundred for large catalogues). Latent vectors live in R^d (d = 16) at unit scale::

    genre centre      mu_g = N(0, I/d)
    sub-genre centre  nu_c = mu_g(c) + sigma_sub   * N(0, I/d)
    track vector      v_j  = nu_c(j) + sigma_track * N(0, I/d)

Cluster sizes are log-normal (at least one track each). Popularity is Zipf-like with a long
tail: ``w_j ∝ (rank_j + r0)^-alpha`` (alpha = 1, ranks a random permutation, the offset
``r0 = 0.005 M`` keeps the head from dominating), normalised to sum 1; the mass of a cluster is
``W_c = sum of w_j over its tracks``.

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
Skips do not change the next track; they carry information about ``u``, hence about the future.

Skips. The fit is ``f = cos(u, v_j)``. Its empirical CDF ``F`` over played tracks (from a
pilot run with its own random stream, stored) turns it into a standard normal score
``g = Phi^-1(F(f))``. With ``s = skip_signal``::

    z = s * g + sqrt(1 - s^2) * eps,     eps ~ N(0, 1) fresh per row
    y = base(position, context, shuffle, premium) - z
    skip strength = #{m : y > theta_m}  in 0..3,   theta = (0.13, 0.50, 0.80)
                    (y above the first threshold: skip_3; the second: skip_2; the third: skip_1)

``base`` rises with the position (``0.5 (1 - exp(-(t-1)/4))``) and has context, shuffle and
premium offsets. Since ``z ~ N(0, 1)`` over all rows for every ``s``, the skip rates, their rise
with position and the context effects barely depend on ``s``, while the share of skipping
explained by the fit does: ``s = 0`` makes skips independent of the fit given position, context,
shuffle and premium (the fit still differs between contexts, e.g. charts sessions play more
tracks outside the listener's taste, so a raw, unstratified correlation is slightly non-zero:
a confounder to show in the book); at ``s = 1`` a track is skipped exactly when it fits the
listener too badly for its position and context. The flags are cumulative (strength 3 = skip_1,
skip_2 and skip_3).

Behaviour columns. ``reason_end`` follows the skip (skipped: mostly fwdbtn, some backbtn,
endplay, clickrow; played in full: trackdone; a few unskipped tracks, mostly last ones, end with
endplay/logout and then have ``not_skipped = false``). ``reason_start`` repeats the previous
``reason_end`` (fwdbtn -> fwdbtn, trackdone -> trackdone, ...), except on the first track (a
table led by fwdbtn, clickrow, trackdone: MSSD sessions are cut from longer listening), after
endplay/logout (a resume: clickrow, playbtn, appload) and, for 60% of them, at a context switch
(clickrow, clickside, uriopen, remote).
Pauses, seeks, the hour of each track (the start hour plus the time played so far) and the date
are drawn from simple tables in `ModelParams`.

Determinism. All randomness of session ``i`` comes from the block ``i // BLOCK`` (a numpy
``SeedSequence(seed, spawn_key=(tag, block))``) in a fixed layout, so files are byte-identical
for a seed, whatever the chunk size used to write them.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from scipy.special import ndtri

from ..atomic import replace_dir
from ..errors import ConfigError, NegrecError, NegrecFileError, display_path, file_error
from . import schema

VERSION = 1
BLOCK = 1024                      # sessions per random-number block (fixes the random layout)
START_DATE = dt.date(2018, 7, 15)
MAX_SESSIONS_PER_FILE = 200_000   # MSSD files hold about 196 K sessions; at most 10 files a day
_TAG_CATALOGUE, _TAG_FEATURES, _TAG_PILOT, _TAG_SESSIONS = 0, 1, 2, 3
_PILOT_BLOCKS = 8
_N_QUANTILES = 1000
_RS = {name: i for i, name in enumerate(schema.REASONS_START)}
_RE = {name: i for i, name in enumerate(schema.REASONS_END)}
# Session-level and row-level uniforms, in their fixed layout.
_S_CTX, _S_CTX2, _S_LEN, _S_SHUF, _S_PREM, _S_HOUR, _S_MIN, _S_NG = range(8)
_S_G, _S_W, _N_SU = 8, 11, 14     # three genre draws at _S_G.., three mixture weights at _S_W..
(_P_SWITCH, _P_COMP, _P_CLUSTER, _P_STAY, _P_TRACK, _P_END, _P_EARLY, _P_START, _P_PAUSE,
 _P_SEEKF, _P_SEEKB) = range(11)
_N_PU = 11


class OutputExistsError(NegrecError, FileExistsError):
    """The output folder exists and is not empty (pass ``force=True`` to replace it)."""


@dataclass(frozen=True)
class ModelParams:
    """Knobs of the generative model (see the module docstring); defaults are calibrated to MSSD."""

    dim: int = 16
    max_genres: int = 12
    max_subgenres: int = 24
    tracks_per_cluster: int = 30
    zipf_exponent: float = 1.0
    zipf_offset: float = 0.005            # head flattening, as a share of the catalogue
    subgenre_spread: float = 0.5
    track_spread: float = 0.3
    taste_noise: float = 0.3
    taste_sharpness: float = 8.0          # beta
    stay: float = 0.4                     # kappa: a coherent step stays in the sub-genre
    # (coherent a, taste b, popular e) by context, in schema.CONTEXT_TYPES order
    context_mix: tuple = ((0.55, 0.30, 0.15), (0.45, 0.50, 0.05), (0.20, 0.20, 0.60),
                          (0.75, 0.20, 0.05), (0.70, 0.25, 0.05), (0.40, 0.55, 0.05))
    shuffle_coherence: float = 0.5        # shuffle multiplies a by this (the rest goes to b)
    context_shares: tuple = (0.24, 0.36, 0.02, 0.14, 0.20, 0.05)
    shuffle_by_context: tuple = (0.30, 0.40, 0.25, 0.10, 0.25, 0.30)
    premium_rate: float = 0.85
    full_length_share: float = 0.45
    switch_rate: float = 0.04             # share of rows with context_switch = 1
    hour_profile: tuple = (2.0, 1.4, 1.0, 0.7, 0.6, 0.7, 1.3, 2.4, 3.2, 3.6, 3.8, 4.0,
                           4.2, 4.3, 4.4, 4.6, 4.9, 5.2, 5.4, 5.3, 5.0, 4.4, 3.6, 2.7)
    # skip model: y = base - z; strength = #{theta below y}
    skip_thresholds: tuple = (0.13, 0.50, 0.80)   # skip_3, skip_2, skip_1
    position_effect: float = 0.50         # base rises by this ...
    position_scale: float = 4.0           # ... with this many tracks' time constant
    context_skip: tuple = (0.10, -0.15, 0.20, 0.15, -0.05, 0.05)
    shuffle_skip: float = 0.10
    premium_skip: float = 0.05
    played_share: tuple = (1.0, 0.75, 0.3, 0.05)   # share of the track played, by skip strength
    # behaviour tables: {value: probability}
    end_skipped: dict = field(default_factory=lambda: {
        "fwdbtn": 0.71, "backbtn": 0.12, "endplay": 0.10, "clickrow": 0.045, "remote": 0.01,
        "clickside": 0.01, "trackerror": 0.0025, "logout": 0.0025})
    end_skipped_last: dict = field(default_factory=lambda: {
        "fwdbtn": 0.55, "backbtn": 0.08, "endplay": 0.25, "logout": 0.06, "clickrow": 0.03,
        "remote": 0.02, "clickside": 0.01})
    ended_early: tuple = (0.04, 0.30)     # unskipped track ended by endplay/logout (other, last)
    end_early: dict = field(default_factory=lambda: {"endplay": 0.85, "logout": 0.15})
    start_first: dict = field(default_factory=lambda: {
        "fwdbtn": 0.27, "trackdone": 0.20, "clickrow": 0.27, "playbtn": 0.10, "appload": 0.07,
        "backbtn": 0.03, "remote": 0.02, "clickside": 0.02, "uriopen": 0.01, "popup": 0.01})
    start_switch: dict = field(default_factory=lambda: {     # "keep": the previous reason_end
        "keep": 0.40, "clickrow": 0.45, "clickside": 0.07, "uriopen": 0.05, "remote": 0.03})
    start_resume: dict = field(default_factory=lambda: {
        "clickrow": 0.40, "playbtn": 0.35, "appload": 0.25})
    # pauses (no, short, long) for: first track, context switch, resume, otherwise
    pause: tuple = ((0.3, 0.2, 0.5), (0.6, 0.2, 0.2), (0.1, 0.1, 0.8), (0.9, 0.05, 0.05))
    seekfwd: tuple = ((0.88, 0.07, 0.03, 0.02), (0.95, 0.03, 0.015, 0.005))  # unskipped, skipped
    seekback: tuple = (0.96, 0.025, 0.01, 0.005)


@dataclass
class SimulationSummary:
    """What `simulate` wrote."""

    out_dir: Path
    sessions: int
    rows: int
    tracks: int
    files: list[str]
    bytes: int
    seconds: float

    def __str__(self) -> str:
        return (f"simulated {self.sessions:,} sessions ({self.rows:,} rows, {self.tracks:,} tracks) "
                f"into {len(self.files)} files, {self.bytes / 1e6:.1f} MB, in {self.seconds:.1f} s "
                f"-> {self.out_dir}")


# ---------------------------------------------------------------------------- small helpers
def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _pmf(table: dict, names: dict) -> tuple[np.ndarray, np.ndarray]:
    """(codes, cumulative probabilities) of a {value: probability} table."""
    codes = np.array([names.get(k, -1) for k in table], dtype=np.int8)   # -1: "keep"
    cdf = np.cumsum(np.array(list(table.values()), dtype=np.float64))
    return codes, cdf / cdf[-1]


def _draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw: index of the category of each uniform."""
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _uuid_bytes(raw: np.ndarray, prefix: np.ndarray) -> np.ndarray:
    """[n, 16] random bytes -> [n, p + 36] ASCII of ``prefix`` + a version-4 UUID."""
    raw = raw.copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexd = np.empty((len(raw), 32), np.uint8)
    hexd[:, 0::2], hexd[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 15]
    p = prefix.shape[1]
    out = np.full((len(raw), p + 36), ord("-"), np.uint8)
    out[:, :p] = prefix
    for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)):
        shift = p + a + (a > 0) + (a > 8) + (a > 12) + (a > 16)
        out[:, shift:shift + b - a] = hexd[:, a:b]
    return out


def _uuid_key(raw: np.ndarray) -> np.ndarray:
    """The first 64 bits of the UUID (after the version bits are set) as uint64."""
    first = raw[:, :8].copy()
    first[:, 6] = (first[:, 6] & 0x0F) | 0x40
    return np.ascontiguousarray(first).view(">u8").ravel().astype(np.uint64)


def _pa_strings(chars: np.ndarray) -> pa.Array:
    """[n, w] uint8 ASCII -> a pyarrow string array (fixed width, no copy through Python)."""
    n, w = chars.shape
    offsets = np.arange(n + 1, dtype=np.int32) * w
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


# ---------------------------------------------------------------------------- the catalogue
@dataclass
class _Catalogue:
    vectors: np.ndarray        # [M, d] float32, tracks sorted by cluster
    popularity: np.ndarray     # [M] float64, sums to 1
    cluster: np.ndarray        # [M] int32
    centres: np.ndarray        # [C, d] float32 sub-genre centres
    genre: np.ndarray          # [C] int32 genre of each cluster
    genre_centres: np.ndarray  # [G, d] float32
    id_chars: np.ndarray       # [M, 38] uint8 ("t_" + uuid)

    def __post_init__(self) -> None:
        C, G = len(self.centres), len(self.genre_centres)
        self.start = np.searchsorted(self.cluster, np.arange(C + 1))            # [C+1]
        self.track_cum = np.concatenate([[0.0], np.cumsum(self.popularity)])  # [M+1]
        self.cluster_cum = self.track_cum[self.start]                          # [C+1]
        self.mass = np.diff(self.cluster_cum)                                  # [C]
        self.genre_first = np.searchsorted(self.genre, np.arange(G + 1))      # [G+1]
        self.genre_mass = self.cluster_cum[self.genre_first[1:]] - self.cluster_cum[self.genre_first[:-1]]
        self.unit = self.vectors / np.linalg.norm(self.vectors, axis=1, keepdims=True)


def _n_clusters(tracks: int, P: ModelParams) -> tuple[int, int]:
    G = min(P.max_genres, max(1, tracks // 40))
    return G, min(P.max_subgenres, max(1, tracks // (G * P.tracks_per_cluster)))


def _build_catalogue(seed: int, M: int, P: ModelParams) -> _Catalogue:
    rng = _rng(seed, _TAG_CATALOGUE)
    d = P.dim
    G, S = _n_clusters(M, P)
    C = G * S
    genre_centres = rng.standard_normal((G, d)) / math.sqrt(d)
    centres = np.repeat(genre_centres, S, 0) + P.subgenre_spread * rng.standard_normal((C, d)) / math.sqrt(d)
    sizes = np.exp(0.6 * rng.standard_normal(C))
    counts = 1 + rng.multinomial(M - C, sizes / sizes.sum())
    cluster = np.repeat(np.arange(C, dtype=np.int32), counts)
    vectors = centres[cluster] + P.track_spread * rng.standard_normal((M, d)) / math.sqrt(d)
    pop = (rng.permutation(M) + 1.0 + P.zipf_offset * M) ** -P.zipf_exponent
    raw = rng.integers(0, 256, (M, 16), dtype=np.uint8)
    ids = _uuid_bytes(raw, np.frombuffer(b"t_", np.uint8)[None].repeat(M, 0))
    if len(np.unique(ids.view(f"S{ids.shape[1]}"))) != M:   # pragma: no cover - 2^-122 odds
        raise RuntimeError("duplicate track ids; use another seed")
    return _Catalogue(vectors.astype(np.float32), pop / pop.sum(), cluster, centres.astype(np.float32),
                      np.repeat(np.arange(G, dtype=np.int32), S), genre_centres.astype(np.float32), ids)


def _track_features(seed: int, cat: _Catalogue) -> dict[str, np.ndarray]:
    """Track-feature columns (all but track_id): noisy functions of the latent vectors."""
    rng = _rng(seed, _TAG_FEATURES)
    M = len(cat.vectors)
    x = (cat.vectors - cat.vectors.mean(0)) / (cat.vectors.std(0) + 1e-9)
    h = x @ (rng.standard_normal((x.shape[1], 20)) / math.sqrt(x.shape[1]))  # [M, 20] ~N(0,1)
    h = (h - h.mean(0)) / (h.std(0) + 1e-9)
    noise = rng.standard_normal((M, 20))
    g = cat.genre[cat.cluster]
    G = len(cat.genre_centres)
    genre_year = 2018 - 14 * np.abs(rng.standard_normal(G))
    genre_dur = 0.25 * rng.standard_normal(G)
    cluster_key = rng.integers(0, 12, len(cat.centres))
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    r6 = lambda a: np.round(a, 6)  # noqa: E731
    f: dict[str, np.ndarray] = {}
    f["duration"] = np.round(np.clip(np.exp(np.log(215) + genre_dur[g] + 0.3 * noise[:, 0]), 60, 600), 3)
    f["release_year"] = np.clip(np.round(genre_year[g] + 6 * noise[:, 1]), 1950, 2018).astype(np.int16)
    pct = np.argsort(np.argsort(-cat.popularity)) / max(M - 1, 1)          # 0 = most popular
    f["us_popularity_estimate"] = np.round(np.clip(100 - 10 * pct ** 2 - 0.15 * np.abs(noise[:, 2]), 90, 100), 4)
    energy = sig(1.2 * h[:, 8] + 0.5 * noise[:, 3] + 0.3)
    f["acousticness"] = r6(sig(-1.5 * h[:, 8] + 0.8 * h[:, 9] - 1.0 + 0.5 * noise[:, 4]))
    f["beat_strength"] = r6(sig(0.9 * h[:, 10] + 0.4 * noise[:, 5]))
    f["bounciness"] = r6(sig(0.7 * h[:, 10] + 0.5 * h[:, 8] + 0.5 * noise[:, 6]))
    f["danceability"] = r6(sig(0.8 * h[:, 10] + 0.6 * h[:, 11] + 0.2 + 0.5 * noise[:, 7]))
    f["dyn_range_mean"] = r6(np.clip(8 + 3 * h[:, 12] + noise[:, 8], 0.5, None))
    f["energy"] = r6(energy)
    f["flatness"] = r6(np.clip(0.9 + 0.05 * h[:, 13] + 0.02 * noise[:, 9], 0, 1))
    f["instrumentalness"] = r6(sig(2.0 * h[:, 14] - 2.5 + 0.7 * noise[:, 10]))
    f["key"] = np.where(noise[:, 11] < 0, cluster_key[cat.cluster], rng.integers(0, 12, M)).astype(np.int8)
    f["liveness"] = r6(sig(0.6 * h[:, 15] - 1.8 + 0.6 * noise[:, 12]))
    f["loudness"] = np.round(np.clip(-16 + 14 * energy + 1.5 * noise[:, 13], -40, -0.5), 3)
    f["mechanism"] = r6(sig(0.9 * h[:, 16] + 0.5 * noise[:, 14]))
    valence = 0.9 * h[:, 18] + 0.3 * h[:, 11] + 0.5 * noise[:, 15]
    f["mode"] = (valence + 0.8 * noise[:, 16] < -0.5).astype(np.int8)     # code into TF_MODES
    f["organism"] = r6(sig(-0.7 * h[:, 16] + 0.5 * h[:, 9] + 0.5 * noise[:, 17]))
    f["speechiness"] = r6(sig(0.8 * h[:, 17] - 2.5 + 0.5 * noise[:, 18]))
    f["tempo"] = np.round(np.clip(120 + 22 * h[:, 19] + 8 * noise[:, 19], 50, 220), 3)
    f["time_signature"] = np.array([3, 4, 5], np.int8)[_draw(np.array([0.08, 0.98, 1.0]), rng.random(M))]
    f["valence"] = r6(sig(valence))
    vec = 0.8 * h[:, :8] + 0.6 * rng.standard_normal((M, 8))
    for i in range(8):
        f[f"acoustic_vector_{i}"] = r6(vec[:, i])
    return f


# ---------------------------------------------------------------------------- sessions
def _randoms(seed: int, tag: int, b0: int, b1: int, L: int, d: int) -> dict[str, np.ndarray]:
    """All random numbers of the sessions in blocks [b0, b1), in the fixed layout."""
    parts: dict[str, list] = {"su": [], "sn": [], "ids": [], "pu": [], "pn": []}
    for b in range(b0, b1):
        rng = _rng(seed, tag, b)
        parts["su"].append(rng.random((BLOCK, _N_SU)))
        parts["sn"].append(rng.standard_normal((BLOCK, d)))
        parts["ids"].append(rng.integers(0, 256, (BLOCK, 16), dtype=np.uint8))
        parts["pu"].append(rng.random((BLOCK, _N_PU, L)))
        parts["pn"].append(rng.standard_normal((BLOCK, L)))
    return {k: np.concatenate(v) for k, v in parts.items()}


def _mix_table(P: ModelParams) -> np.ndarray:
    """[n_contexts, 2 (shuffle), 3] mixture weights (coherent, taste, popular)."""
    mix = np.array(P.context_mix, dtype=np.float64)
    mix = mix / mix.sum(1, keepdims=True)
    shuf = mix.copy()
    shuf[:, 1] += (1 - P.shuffle_coherence) * mix[:, 0]
    shuf[:, 0] *= P.shuffle_coherence
    return np.stack([mix, shuf], 1)


def _length_cdf(L: int, P: ModelParams) -> tuple[np.ndarray, np.ndarray]:
    lo = max(1, math.ceil(L / 2))
    values = np.arange(lo, L + 1)
    probs = np.full(len(values), (1 - P.full_length_share) / max(len(values) - 1, 1))
    probs[-1] = P.full_length_share if len(values) > 1 else 1.0
    return values, np.cumsum(probs) / probs.sum()


def _switch_prob(L: int, P: ModelParams) -> float:
    values, cdf = _length_cdf(L, P)
    probs = np.diff(np.concatenate([[0.0], cdf]))
    mean_len = float((values * probs).sum())
    return min(1.0, P.switch_rate * mean_len / max(mean_len - 1, 1e-9))


def _taste_logits(taste: np.ndarray, cat: _Catalogue, P: ModelParams) -> np.ndarray:
    """[n, C] log of the unnormalised taste distribution Q_u(c)."""
    return P.taste_sharpness * (taste @ cat.centres.T) + np.log(cat.mass)


def _sessions_state(R: dict, cat: _Catalogue, P: ModelParams, L: int) -> dict[str, np.ndarray]:
    """Session-level latent state (context pair, length, shuffle, premium, taste, switches)."""
    su, n = R["su"], len(R["su"])
    shares = np.array(P.context_shares) / np.sum(P.context_shares)
    ctx_a = _draw(np.cumsum(shares), su[:, _S_CTX]).astype(np.int8)
    other = np.where(np.eye(len(shares), dtype=bool), 0.0, shares)           # [K, K] shares without a
    other_cdf = np.cumsum(other, 1) / other.sum(1, keepdims=True)
    ctx_b = np.minimum((other_cdf[ctx_a] <= su[:, _S_CTX2, None]).sum(1), len(shares) - 1).astype(np.int8)
    values, len_cdf = _length_cdf(L, P)
    length = values[_draw(len_cdf, su[:, _S_LEN])].astype(np.int16)
    shuffle = su[:, _S_SHUF] < np.array(P.shuffle_by_context)[ctx_a]
    premium = su[:, _S_PREM] < P.premium_rate
    hour_cdf = np.cumsum(P.hour_profile) / np.sum(P.hour_profile)
    hour0 = _draw(hour_cdf, su[:, _S_HOUR])
    G = len(cat.genre_centres)
    n_genres = 1 + (su[:, _S_NG] > 0.5) + (su[:, _S_NG] > 0.85)
    genre_cdf = np.cumsum(cat.genre_mass) / cat.genre_mass.sum()
    taste = np.zeros((n, cat.centres.shape[1]))
    weights = -np.log1p(-su[:, _S_W:_S_W + 3]) * (np.arange(3) < n_genres[:, None])
    weights /= weights.sum(1, keepdims=True)
    for k in range(3):
        g = np.minimum(_draw(genre_cdf, su[:, _S_G + k]), G - 1)
        taste += weights[:, k, None] * cat.genre_centres[g]
    taste += P.taste_noise * R["sn"] / math.sqrt(taste.shape[1])
    taste = taste.astype(np.float16).astype(np.float32)
    pos = np.arange(L)
    switch = (R["pu"][:, _P_SWITCH] < _switch_prob(L, P)) & (pos > 0) & (pos < length[:, None])
    return dict(ctx_a=ctx_a, ctx_b=ctx_b, length=length, shuffle=shuffle, premium=premium,
                hour0=hour0, minute0=su[:, _S_MIN] * 60, taste=taste, switch=switch)


def _sample_tracks(st: dict, pu: np.ndarray, cat: _Catalogue, P: ModelParams) -> tuple[np.ndarray, np.ndarray]:
    """Clusters and tracks [n, L] of every position (the next-track model of the docstring)."""
    n, L = st["switch"].shape
    ctx = np.where(np.cumsum(st["switch"], 1) % 2 == 1, st["ctx_b"][:, None], st["ctx_a"][:, None])
    newstart = st["switch"].copy()
    newstart[:, 0] = True
    w = _mix_table(P)[ctx, st["shuffle"][:, None].astype(np.int64)]         # [n, L, 3]
    w[..., 0] = np.where(newstart, 0.0, w[..., 0])
    w /= w.sum(-1, keepdims=True)
    u = pu[:, _P_COMP]
    comp = (u >= w[..., 0]).astype(np.int8) + (u >= w[..., 0] + w[..., 1])  # 0 coherent, 1 taste, 2 popular
    comp[newstart & (comp == 0)] = 1
    C = len(cat.centres)
    logits = _taste_logits(st["taste"], cat, P)
    q = np.exp(logits - logits.max(1, keepdims=True))
    cdf = np.cumsum(q, 1)
    cdf /= cdf[:, -1:]
    rows = np.arange(n)[:, None]
    uc = pu[:, _P_CLUSTER]
    taste_c = np.searchsorted((cdf + rows).ravel(), (rows + uc).ravel(), side="right").reshape(n, L) - rows * C
    pop_c = np.searchsorted(cat.cluster_cum[1:], uc, side="right")
    clusters = np.minimum(np.where(comp == 1, taste_c, pop_c), C - 1)
    for t in range(1, L):
        prev = clusters[:, t - 1]
        g = cat.genre[prev]
        lo, hi = cat.genre_first[g], cat.genre_first[g + 1] - 1
        target = cat.cluster_cum[lo] + uc[:, t] * cat.genre_mass[g]
        moved = np.clip(np.searchsorted(cat.cluster_cum[1:], target, side="right"), lo, hi)
        step = np.where(pu[:, _P_STAY, t] < P.stay, prev, moved)
        clusters[:, t] = np.where(comp[:, t] == 0, step, clusters[:, t])
    target = cat.cluster_cum[clusters] + pu[:, _P_TRACK] * cat.mass[clusters]
    tracks = np.searchsorted(cat.track_cum[1:], target, side="right")
    tracks = np.clip(tracks, cat.start[clusters], cat.start[clusters + 1] - 1)
    return clusters.astype(np.int32), tracks.astype(np.int32)


def _fit(taste: np.ndarray, tracks: np.ndarray, cat: _Catalogue) -> np.ndarray:
    """cos(u_s, v_j) for tracks [n, ...] of sessions with tastes [n, d]."""
    unit = taste / np.linalg.norm(taste, axis=1, keepdims=True)
    return np.einsum("nd,n...d->n...", unit, cat.unit[tracks])


def _gaussianize(fit: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    levels = (np.arange(len(quantiles)) + 0.5) / len(quantiles)
    return ndtri(np.interp(fit, quantiles, levels))


def _pilot_quantiles(seed: int, cat: _Catalogue, P: ModelParams, L: int) -> np.ndarray:
    """Quantiles of the fit over played tracks, from a pilot run with its own random stream."""
    R = _randoms(seed, _TAG_PILOT, 0, _PILOT_BLOCKS, L, P.dim)
    st = _sessions_state(R, cat, P, L)
    _, tracks = _sample_tracks(st, R["pu"], cat, P)
    valid = np.arange(L) < st["length"][:, None]
    fit = _fit(st["taste"], tracks, cat)[valid]
    return np.quantile(fit, (np.arange(_N_QUANTILES) + 0.5) / _N_QUANTILES)


def _simulate_rows(R: dict, cat: _Catalogue, P: ModelParams, L: int, skip_signal: float,
                   quantiles: np.ndarray, duration: np.ndarray) -> tuple[dict, dict]:
    """Session state and every log column as [n, L] arrays (rows beyond the length included)."""
    st = _sessions_state(R, cat, P, L)
    pu = R["pu"]
    n = len(pu)
    _, tracks = _sample_tracks(st, pu, cat, P)
    pos = np.arange(L)
    length = st["length"][:, None]
    is_last = pos == length - 1
    ctx = np.where(np.cumsum(st["switch"], 1) % 2 == 1, st["ctx_b"][:, None], st["ctx_a"][:, None])
    # skips
    s = float(skip_signal)
    z = s * _gaussianize(_fit(st["taste"], tracks, cat), quantiles) + math.sqrt(max(0.0, 1 - s * s)) * R["pn"]
    base = (P.position_effect * (1 - np.exp(-pos / P.position_scale))[None]
            + np.array(P.context_skip)[ctx] + P.shuffle_skip * st["shuffle"][:, None]
            + P.premium_skip * st["premium"][:, None])
    y = base - z
    strength = sum((y > th).astype(np.int8) for th in sorted(P.skip_thresholds))
    skipped = strength >= 1
    # reason_end
    codes, cdf = _pmf(P.end_skipped, _RE)
    end = codes[_draw(cdf, pu[:, _P_END])]
    codes, cdf = _pmf(P.end_skipped_last, _RE)
    end = np.where(is_last, codes[_draw(cdf, pu[:, _P_END])], end)
    early = ~skipped & (pu[:, _P_EARLY] < np.where(is_last, P.ended_early[1], P.ended_early[0]))
    codes, cdf = _pmf(P.end_early, _RE)
    end = np.where(skipped, end, np.where(early, codes[_draw(cdf, pu[:, _P_END])], _RE["trackdone"]))
    not_skipped = ~skipped & ~early
    # reason_start: repeat the previous reason_end, except first track, resume and context switch
    end_to_start = np.array([_RS.get(name, _RS["clickrow"]) for name in schema.REASONS_END], np.int8)
    prev_end = np.concatenate([np.full((n, 1), _RE["trackdone"], np.int8), end[:, :-1]], 1)
    start = end_to_start[prev_end]
    resume = (pos > 0) & np.isin(prev_end, [_RE["endplay"], _RE["logout"]])
    first = np.broadcast_to(pos == 0, (n, L))
    ustart = pu[:, _P_START]
    for mask, table in ((resume, P.start_resume), (st["switch"], P.start_switch), (first, P.start_first)):
        codes, cdf = _pmf(table, _RS)
        drawn = codes[_draw(cdf, ustart)]
        start = np.where(mask & (drawn >= 0), drawn, start)
    # pauses, seeks, hour
    situation = np.where(first, 0, np.where(st["switch"], 1, np.where(resume, 2, 3)))
    pause_cdf = np.cumsum(np.array(P.pause), 1)
    pause = (pause_cdf[situation] <= pu[:, _P_PAUSE, :, None]).sum(-1).clip(0, 2)
    seekf_cdf = np.cumsum(np.array(P.seekfwd), 1)[skipped.astype(np.int64)]
    seekf = (seekf_cdf <= pu[:, _P_SEEKF, :, None]).sum(-1).clip(0, 3)
    seekb = _draw(np.cumsum(P.seekback), pu[:, _P_SEEKB])
    played = duration[tracks] * np.where(early, 0.8, np.array(P.played_share)[strength])
    elapsed = np.cumsum(played, 1) - played + st["minute0"][:, None] * 60
    hour = (st["hour0"][:, None] + elapsed // 3600).astype(np.int64) % 24
    cols = {
        "session_position": np.broadcast_to(pos + 1, (n, L)).astype(np.int16),
        "session_length": np.broadcast_to(length, (n, L)),
        "track": tracks,
        "skip_1": strength >= 3, "skip_2": strength >= 2, "skip_3": skipped, "not_skipped": not_skipped,
        "context_switch": st["switch"].astype(np.int8),
        "no_pause_before_play": (pause == 0).astype(np.int8),
        "short_pause_before_play": (pause == 1).astype(np.int8),
        "long_pause_before_play": (pause == 2).astype(np.int8),
        "hist_user_behavior_n_seekfwd": seekf.astype(np.int8),
        "hist_user_behavior_n_seekback": seekb.astype(np.int8),
        "hist_user_behavior_is_shuffle": np.broadcast_to(st["shuffle"][:, None], (n, L)),
        "hour_of_day": hour.astype(np.int8),
        "premium": np.broadcast_to(st["premium"][:, None], (n, L)),
        "context_type": ctx.astype(np.int8),
        "hist_user_behavior_reason_start": start.astype(np.int8),
        "hist_user_behavior_reason_end": end.astype(np.int8),
    }
    return st, cols


# ---------------------------------------------------------------------------- writing
def _file_plan(n: int, days: int) -> list[tuple[int, int, int, int]]:
    """(day, file index k, first session, end session) of every log file, in session order."""
    plan, start = [], 0
    for day in range(days):
        size = n // days + (day < n % days)
        n_files = min(10, math.ceil(size / MAX_SESSIONS_PER_FILE))
        for k in range(n_files):
            plan.append((day, k, start + size * k // n_files, start + size * (k + 1) // n_files))
        start += size
    return plan


def _log_name(day: int, k: int) -> str:
    return f"log_{k}_{(START_DATE + dt.timedelta(days=day)).strftime('%Y%m%d')}_000000000000.csv"


def _header(columns: Sequence[str]) -> bytes:
    return (",".join(columns) + "\n").encode()


_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")


def _dictionary(codes: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes), values)


def _log_table(cols: dict, valid: np.ndarray, sid: pa.Array, day: np.ndarray,
               track_ids: pa.Array, names: dict[str, pa.Array]) -> pa.Table:
    """The log rows of a chunk, columns in schema.LOG_COLUMNS order."""
    rows = np.nonzero(valid)[0].astype(np.int32)
    out = {}
    for name in schema.LOG_COLUMNS:
        if name == "session_id":
            out[name] = _dictionary(rows, sid)
        elif name == "track_id_clean":
            out[name] = _dictionary(cols["track"][valid], track_ids)
        elif name == "date":
            out[name] = _dictionary(day[rows], names["date"])
        elif name in names:
            out[name] = _dictionary(cols[name][valid], names[name])
        else:
            out[name] = pa.array(cols[name][valid])
    return pa.table(out)


def _write_tf(folder: Path, cat: _Catalogue, feats: dict[str, np.ndarray]) -> list[Path]:
    """track_features/tf_00...0.csv (and ..1.csv: the catalogue in two halves), sorted by id."""
    M = len(cat.popularity)
    order = np.argsort(cat.id_chars.view(f"S{cat.id_chars.shape[1]}").ravel(), kind="stable")
    cols = {"track_id": _pa_strings(cat.id_chars[order])}
    for name in schema.TF_COLUMNS[1:]:
        values = feats[name][order]
        cols[name] = _dictionary(values, pa.array(schema.TF_MODES)) if name == "mode" else pa.array(values)
    table = pa.table(cols)
    halves = [(0, (M + 1) // 2), ((M + 1) // 2, M)] if M > 1 else [(0, M)]
    paths = []
    for i, (a, b) in enumerate(halves):
        path = folder / f"tf_{i:012d}.csv"
        with pa.OSFile(str(path), "wb") as sink:
            sink.write(_header(schema.TF_COLUMNS))
            pacsv.write_csv(table.slice(a, b - a), sink, _CSV_OPTIONS)
        paths.append(path)
    return paths


def _check_args(sessions: int, tracks: int, skip_signal: float, seed: int, days: int,
                max_length: int) -> None:
    for name, value, low in (("sessions", sessions, 1), ("tracks", tracks, 1), ("seed", seed, 0),
                             ("days", days, 1), ("max_length", max_length, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"simulate: {name} must be an integer >= {low}, got {value!r}")
    if max_length > 10_000:
        raise ConfigError(f"simulate: max_length must be at most 10000, got {max_length}")
    if not (isinstance(skip_signal, (int, float)) and 0.0 <= float(skip_signal) <= 1.0):
        raise ConfigError(f"simulate: skip_signal must be a number in [0, 1], got {skip_signal!r}")


def _note(config: dict, P: ModelParams, n_clusters: int, n_genres: int) -> str:
    lines = [
        "# Simulated data (not MSSD)", "",
        "These files were written by negrec's session simulator (`negrec_lib.data.simulate`).",
        "They follow the layout and columns of the Music Streaming Sessions Dataset (Spotify, 2019),",
        "but every row is synthetic: no real listener, track or session is in them. Only the",
        "marginal statistics (skip rates, lengths, context shares, reasons) are calibrated to small",
        "real samples. The generating process is known: `ground_truth/` holds its parameters, and",
        "`negrec_lib.data.simulate.SimulationTruth.load(<this folder>)` gives the oracle.", "",
        "## Parameters", "",
    ]
    lines += [f"- {k}: {v}" for k, v in config.items()]
    lines += [f"- genres x sub-genres: {n_genres} x {n_clusters // n_genres}",
              f"- latent dimension: {P.dim}", f"- simulator version: {VERSION}", ""]
    return "\n".join(lines)


def simulate(out_dir: str | Path, sessions: int = 20_000, tracks: int = 5_000,
             skip_signal: float = 0.8, seed: int = 0, days: int = 8, max_length: int = 20, *,
             force: bool = False, progress: bool = True, chunk_sessions: int | None = None,
             params: ModelParams | None = None) -> SimulationSummary:
    """Simulate listening sessions and write them in MSSD format, with their ground truth.

    Parameters
    ----------
    out_dir : folder to create; gets ``training_set/``, ``track_features/``, ``ground_truth/``
        and ``SIMULATED.md``. Written to a temporary sibling and renamed at the end.
    sessions, tracks : numbers of sessions and of catalogue tracks.
    skip_signal : 0 makes skips independent of the listener-track fit, 1 strongly fit-driven.
    seed : the same seed gives byte-identical files.
    days : sessions are spread evenly over this many days from 2018-07-15.
    max_length : the longest session (45% of sessions have this length).
    force : replace a non-empty ``out_dir`` (otherwise `OutputExistsError`).
    progress : show a progress bar (only when stderr is a terminal).
    chunk_sessions : sessions generated and written at a time (memory); results do not depend on it.
    params : model knobs (`ModelParams`); the defaults are calibrated to MSSD.
    """
    t0 = time.perf_counter()
    _check_args(sessions, tracks, skip_signal, seed, days, max_length)
    P = params or ModelParams()
    out_dir = Path(out_dir)
    if out_dir.exists() and not force and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputExistsError(f"{display_path(out_dir)} exists and is not empty; choose another "
                                "folder or pass force=True to replace it").with_cli(
            f"{display_path(out_dir)} exists and is not empty; choose another --out or pass "
            "--force to replace it")
    n, L = int(sessions), int(max_length)
    chunk = chunk_sessions or max(BLOCK, 32 * BLOCK * 20 // L)
    chunk = max(BLOCK, -(-int(chunk) // BLOCK) * BLOCK)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        rows, files = _simulate_into(tmp, n, int(tracks), float(skip_signal), int(seed), int(days),
                                     L, chunk, P, progress)
        if out_dir.exists() and not out_dir.is_dir():
            out_dir.unlink()
        # the old folder is moved aside before the new one takes its name, and deleted after:
        # a kill at any moment leaves the old dataset or the new one, never half of one
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    return SimulationSummary(out_dir, n, rows, int(tracks), files, size, time.perf_counter() - t0)


def _simulate_into(tmp: Path, n: int, M: int, skip_signal: float, seed: int, days: int, L: int,
                   chunk: int, P: ModelParams, progress: bool) -> tuple[int, list[str]]:
    from ..progress import ProgressSlot

    for sub in ("training_set", "track_features", "ground_truth"):
        (tmp / sub).mkdir(parents=True)
    cat = _build_catalogue(seed, M, P)
    feats = _track_features(seed, cat)
    tf_paths = _write_tf(tmp / "track_features", cat, feats)
    quantiles = _pilot_quantiles(seed, cat, P, L)
    duration = feats["duration"].astype(np.float64)
    plan = _file_plan(n, days)
    starts = np.array([p[2] for p in plan])
    plan_day = np.array([p[0] for p in plan])
    plan_k = np.array([p[1] for p in plan])
    names = {"date": pa.array([(START_DATE + dt.timedelta(days=d)).isoformat() for d in range(days)]),
             **{c: pa.array(v) for c, v in schema.LOG_CATEGORICAL_COLUMNS.items()}}
    track_ids = _pa_strings(cat.id_chars)
    keep: dict[str, list] = {k: [] for k in ("taste", "context", "switch", "shuffle", "premium", "length", "keys")}
    log_paths: list[Path] = []
    open_file, sink, writer, rows = -1, None, None, 0
    slot = ProgressSlot(progress)          # tqdm.auto: stderr in a terminal, a widget in Jupyter
    bar = slot.bar(total=n, unit="session", desc="simulate")
    try:
        for c0 in range(0, n, chunk):
            c1 = min(n, c0 + chunk)
            R = _randoms(seed, _TAG_SESSIONS, c0 // BLOCK, -(-c1 // BLOCK), L, P.dim)
            R = {k: v[: c1 - c0] for k, v in R.items()}
            st, cols = _simulate_rows(R, cat, P, L, skip_signal, quantiles, duration)
            valid = np.arange(L) < st["length"][:, None]
            file_of = np.searchsorted(starts, np.arange(c0, c1), side="right") - 1
            prefix = np.stack([ord("0") + plan_k[file_of], np.full(c1 - c0, ord("_"))], 1).astype(np.uint8)
            sid = _pa_strings(_uuid_bytes(R["ids"], prefix))
            table = _log_table(cols, valid, sid, plan_day[file_of].astype(np.int16), track_ids, names)
            row_end = np.concatenate([[0], np.cumsum(st["length"])])
            for f in np.unique(file_of):
                a, b = np.searchsorted(file_of, f), np.searchsorted(file_of, f, side="right")
                if f != open_file:
                    if writer is not None:
                        writer.close()
                        sink.close()
                    path = tmp / "training_set" / _log_name(plan[f][0], plan[f][1])
                    sink = pa.OSFile(str(path), "wb")
                    sink.write(_header(schema.LOG_COLUMNS))
                    writer = pacsv.CSVWriter(sink, table.schema, write_options=_CSV_OPTIONS)
                    open_file = f
                    log_paths.append(path)
                writer.write_table(table.slice(row_end[a], row_end[b] - row_end[a]))
            rows += int(row_end[-1])
            keep["taste"].append(st["taste"].astype(np.float16))
            keep["context"].append(np.stack([st["ctx_a"], st["ctx_b"]], 1))
            keep["switch"].append(np.packbits(st["switch"], axis=1))
            keep["shuffle"].append(st["shuffle"])
            keep["premium"].append(st["premium"])
            keep["length"].append(st["length"])
            keep["keys"].append(_uuid_key(R["ids"]))
            bar.update(c1 - c0)
    finally:
        slot.done(bar)
        slot.close()
        if writer is not None:
            writer.close()
            sink.close()
    gt = tmp / "ground_truth"
    arrays = {f"session_{k}": np.concatenate(v) for k, v in keep.items()}
    if len(np.unique(arrays["session_keys"])) != n:   # pragma: no cover - about 1e-8 odds at 1 M
        raise RuntimeError("two session ids share their first 64 bits; use another seed")
    arrays.update(track_ids=cat.id_chars.view(f"S{cat.id_chars.shape[1]}").ravel(),
                  track_vectors=cat.vectors, popularity=cat.popularity, track_cluster=cat.cluster,
                  cluster_centres=cat.centres, cluster_genre=cat.genre, genre_centres=cat.genre_centres,
                  fit_quantiles=quantiles)
    for name, arr in arrays.items():
        np.save(gt / f"{name}.npy", arr, allow_pickle=False)
    config = dict(sessions=n, tracks=M, skip_signal=skip_signal, seed=seed, days=days, max_length=L)
    G = len(cat.genre_centres)
    meta = {"format": "negrec-simulation", "version": VERSION, "seed": seed, "config": config,
            "params": dataclasses.asdict(P), "n_genres": G, "n_clusters": len(cat.centres),
            "block": BLOCK, "rows": rows, "start_date": START_DATE.isoformat(),
            "files": [p.relative_to(tmp).as_posix() for p in log_paths + tf_paths]}
    (gt / "truth.json").write_text(json.dumps(meta, indent=1) + "\n")
    (tmp / "SIMULATED.md").write_text(_note(config, P, len(cat.centres), G))
    return rows, meta["files"]


# ---------------------------------------------------------------------------- the ground truth
def _ascii(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(the ids as an array, the same as ASCII bytes; non-ASCII characters become '?')."""
    ids = np.asarray(values)
    if ids.dtype.kind not in "US" and len(ids):
        ids = ids.astype(str)
    try:
        return ids, ids.astype("S")
    except UnicodeEncodeError:
        return ids, np.array([str(v).encode("ascii", "replace") for v in ids], dtype="S")


class SimulationTruth:
    """The generating process of a simulated folder: latent vectors, session states, the oracle.

    Sessions and tracks are addressed by latent index (`session_index`, `track_index` map the
    ids in the files to it). ``position`` arguments are the 1-based ``session_position`` of the
    track being predicted (2 for the second track).
    """

    def __init__(self, folder: Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        self.folder = folder
        self.meta = meta
        self.config: dict = meta["config"]
        self.params = ModelParams(**meta["params"])
        self.max_length = int(self.config["max_length"])
        ids = arrays["track_ids"]
        self._track_sorted = np.argsort(ids)
        self._track_ids_s = ids
        self.track_ids = ids.astype(str).astype(object)                 # [M]
        self.track_vectors = arrays["track_vectors"]                    # [M, d]
        self.popularity = arrays["popularity"]                          # [M]
        self.track_cluster = arrays["track_cluster"]                    # [M]
        self.cluster_genre = arrays["cluster_genre"]                    # [C]
        self.fit_quantiles = arrays["fit_quantiles"]
        self.session_taste = arrays["session_taste"]                    # [n, d] float16
        self.session_context = arrays["session_context"]                # [n, 2] int8 (first, second)
        self.session_switch = arrays["session_switch"]                  # [n, ceil(L/8)] packed bits
        self.session_shuffle = arrays["session_shuffle"]                # [n]
        self.session_premium = arrays["session_premium"]                # [n]
        self.session_length = arrays["session_length"]                  # [n]
        self._keys = arrays["session_keys"]
        self._key_order = np.argsort(self._keys)
        self._cat = _Catalogue(self.track_vectors, self.popularity, self.track_cluster,
                               arrays["cluster_centres"], self.cluster_genre, arrays["genre_centres"],
                               np.zeros((0, 38), np.uint8))
        self._mix = _mix_table(self.params)
        self._within = self.popularity / self._cat.mass[self.track_cluster]    # p(j | c(j))
        G, C = len(self._cat.genre_centres), len(self._cat.centres)
        in_genre = self.cluster_genre[None, :] == np.arange(G)[:, None]
        self._genre_dist = np.where(in_genre, self._cat.mass[None], 0.0) / self._cat.genre_mass[:, None]  # [G, C]

    @classmethod
    def load(cls, out_dir: str | Path) -> "SimulationTruth":
        """Read ``out_dir/ground_truth`` written by `simulate`."""
        folder = Path(out_dir) / "ground_truth"
        path = folder / "truth.json"
        if not path.is_file():
            raise NegrecError(f"{path}: not found; is {out_dir} a folder written by negrec simulate?")
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise file_error(NegrecFileError, path, exc, "simulation record",
                             "simulate again") from None
        if not isinstance(meta, dict):
            raise NegrecFileError("expected a JSON object; simulate again", path)
        if meta.get("format") != "negrec-simulation" or meta.get("version") != VERSION:
            raise NegrecError(f"{path}: simulator format {meta.get('format')!r} version "
                              f"{meta.get('version')!r}; this negrec reads version {VERSION}: simulate again")
        arrays = {}
        for p in sorted(folder.glob("*.npy")):
            try:
                arrays[p.stem] = np.load(p, allow_pickle=False)
            except Exception as exc:   # truncated or damaged
                raise file_error(NegrecFileError, p, exc, "ground-truth array",
                                 "simulate again") from None
        try:
            return cls(Path(out_dir), meta, arrays)
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            raise NegrecFileError(f"the ground truth is incomplete or inconsistent "
                                  f"({type(exc).__name__}: {exc}); simulate again",
                                  folder) from None

    @property
    def n_sessions(self) -> int:
        return len(self.session_length)

    @property
    def n_clusters(self) -> int:
        return len(self._cat.centres)

    def session_index(self, session_ids: Sequence[str]) -> np.ndarray:
        """[n] latent session index of session ids (KeyError naming the unknown ones)."""
        ids, full = _ascii(session_ids)
        if not len(ids):
            return np.zeros(0, np.int64)
        arr = full.astype("S40")
        chars = arr.view(np.uint8).reshape(len(arr), 40)
        lookup = np.full(256, 255, np.uint8)
        lookup[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16)
        lookup[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
        hexpos = np.r_[2:10, 11:15, 16:20]
        digits = lookup[chars[:, hexpos]].astype(np.uint64)                  # [n, 16]
        ok = (np.char.str_len(full) == 38) & (digits < 16).all(1) & (chars[:, 1] == ord("_"))
        key = (np.where(digits < 16, digits, 0) << (4 * np.arange(15, -1, -1, dtype=np.uint64))).sum(1, dtype=np.uint64)
        sorted_keys = self._keys[self._key_order]
        where = np.minimum(np.searchsorted(sorted_keys, key), len(sorted_keys) - 1)
        index = self._key_order[where].astype(np.int64)
        plan = _file_plan(self.n_sessions, int(self.config["days"]))
        plan_k = np.array([p[1] for p in plan])
        k = plan_k[np.searchsorted(np.array([p[2] for p in plan]), index, side="right") - 1]
        ok &= (sorted_keys[where] == key) & (chars[:, 0].astype(np.int64) - ord("0") == k)
        if not ok.all():
            bad = [str(ids[i]) for i in np.nonzero(~ok)[0][:5]]
            raise KeyError(f"{int((~ok).sum())} session id(s) are not in the simulation at "
                           f"{self.folder}, e.g. {bad}")
        return index

    def track_index(self, track_ids: Sequence[str]) -> np.ndarray:
        """[n] latent track index of track ids (KeyError naming the unknown ones)."""
        ids, full = _ascii(track_ids)
        if not len(ids):
            return np.zeros(0, np.int64)
        arr = full.astype(self._track_ids_s.dtype)
        sorted_ids = self._track_ids_s[self._track_sorted]
        where = np.minimum(np.searchsorted(sorted_ids, arr), len(sorted_ids) - 1)
        ok = (sorted_ids[where] == arr) & (np.char.str_len(full) == self._track_ids_s.dtype.itemsize)
        if not ok.all():
            bad = [str(ids[i]) for i in np.nonzero(~ok)[0][:5]]
            raise KeyError(f"{int((~ok).sum())} track id(s) are not in the simulation at {self.folder}, e.g. {bad}")
        return self._track_sorted[where].astype(np.int64)

    def context_at(self, sessions: np.ndarray, position: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(context code [n], context switched at this position [n]) of sessions at 1-based positions."""
        sessions = np.asarray(sessions, np.int64)
        n = len(sessions)
        if position is None:
            return self.session_context[sessions, 0].astype(np.int64), np.zeros(n, bool)
        position = np.broadcast_to(np.asarray(position, np.int64), (n,))
        if n and (position.min() < 1 or position.max() > self.max_length):
            raise ValueError(f"position must lie in 1..{self.max_length}")
        bits = np.unpackbits(self.session_switch[sessions], axis=1, count=self.max_length)  # [n, L]
        rows = np.arange(n)
        parity = np.cumsum(bits, 1)[rows, position - 1] % 2
        ctx = self.session_context[sessions, parity].astype(np.int64)
        return ctx, bits[rows, position - 1].astype(bool)

    def next_cluster_probs(self, sessions: np.ndarray, prev_tracks: np.ndarray,
                           position: np.ndarray | None = None) -> np.ndarray:
        """[n, C] the true distribution of the next track's sub-genre (cluster); see `next_track_probs`."""
        sessions = np.asarray(sessions, np.int64)
        prev = np.broadcast_to(np.asarray(prev_tracks, np.int64), sessions.shape)
        ctx, switched = self.context_at(sessions, position)
        newstart = switched | (prev < 0)
        if position is not None:
            newstart |= np.broadcast_to(np.asarray(position) == 1, sessions.shape)
        w = self._mix[ctx, self.session_shuffle[sessions].astype(np.int64)]    # [n, 3]
        w[:, 0] = np.where(newstart, 0.0, w[:, 0])
        w /= w.sum(1, keepdims=True)
        taste = self.session_taste[sessions].astype(np.float32)
        logits = _taste_logits(taste, self._cat, self.params).astype(np.float64)  # [n, C]
        q = np.exp(logits - logits.max(1, keepdims=True))
        q /= q.sum(1, keepdims=True)
        probs = w[:, 1:2] * q + w[:, 2:3] * self._cat.mass[None]
        prev_c = self.track_cluster[np.maximum(prev, 0)]
        kappa = self.params.stay
        probs += (w[:, 0] * (1 - kappa))[:, None] * self._genre_dist[self.cluster_genre[prev_c]]
        probs[np.arange(len(sessions)), prev_c] += w[:, 0] * kappa
        return probs / probs.sum(1, keepdims=True)

    def next_track_probs(self, sessions: np.ndarray, prev_tracks: np.ndarray,
                         position: np.ndarray | None = None, dtype: type = np.float32) -> np.ndarray:
        """[n, M] the true distribution of the next track; rows sum to 1.

        Parameters
        ----------
        sessions : [n] latent session indices (`session_index`).
        prev_tracks : [n] latent index of the previous track (-1: none, the session's first track).
        position : [n] 1-based position of the track to predict. The context can switch inside a
            session, so the oracle is exact only with it; None assumes the session's first
            context and no switch (exact for rows before the session's first context switch).
        dtype : of the result (float32 keeps a large [n, M] batch affordable).
        """
        pc = self.next_cluster_probs(sessions, prev_tracks, position)          # [n, C]
        out = pc[:, self.track_cluster].astype(dtype)                           # [n, M]
        out *= self._within.astype(dtype)[None]
        return out

    def skip_fit(self, sessions: np.ndarray, tracks: np.ndarray, standardized: bool = False) -> np.ndarray:
        """[n] listener-track fit cos(u, v) of the skip model (standardized: the N(0,1) score g)."""
        sessions = np.asarray(sessions, np.int64)
        tracks = np.asarray(tracks, np.int64)
        fit = _fit(self.session_taste[sessions].astype(np.float32), tracks, self._cat)
        return _gaussianize(fit, self.fit_quantiles) if standardized else fit.astype(np.float64)


# ---------------------------------------------------------------------------- command line
def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``negrec simulate`` to ``parser``."""
    parser.add_argument("--profile", choices=["ci", "cpu", "gpu", "auto"], default="auto",
                        help="take sizes from a profile (auto: NEGREC_PROFILE or the hardware)")
    parser.add_argument("--sessions", type=int, help="number of sessions")
    parser.add_argument("--tracks", type=int, help="number of catalogue tracks")
    parser.add_argument("--skip-signal", type=float, dest="skip_signal",
                        help="0: skips independent of taste ... 1: strongly taste-driven")
    parser.add_argument("--seed", type=int, help="random seed (same seed, same files)")
    parser.add_argument("--days", type=int, help="number of days of logs")
    parser.add_argument("--max-length", type=int, dest="max_length", help="longest session")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    from ..progress import add_quiet_argument
    add_quiet_argument(parser, "--no-progress")


def main_simulate(args: argparse.Namespace) -> int:
    """Run ``negrec simulate``: explicit flags override the profile's `SimConfig`."""
    from ..config import profile_config

    try:
        sim = profile_config(None if args.profile == "auto" else args.profile).sim
        values = {f.name: getattr(sim, f.name) for f in dataclasses.fields(sim)}
        for name in values:
            if getattr(args, name, None) is not None:
                values[name] = getattr(args, name)
        summary = simulate(args.out, force=args.force, progress=not args.quiet, **values)
    except NegrecError as exc:
        print(f"negrec simulate: error: {exc.for_cli()}", file=sys.stderr)
        return 2
    print(summary)
    return 0
