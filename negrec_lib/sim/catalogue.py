"""The catalogue: genres, sub-genres (the clusters), track vectors, popularity and track features.

``G`` genres, each split into ``S`` sub-genres (the clusters, ``C = G * S``, a few hundred for
large catalogues). Latent vectors live in R^d (d = 16) at unit scale::

    genre centre      mu_g = N(0, I/d)
    sub-genre centre  nu_c = mu_g(c) + sigma_sub   * N(0, I/d)
    track vector      v_j  = nu_c(j) + sigma_track * N(0, I/d)

Cluster sizes are log-normal (at least one track each). Popularity is Zipf-like with a long
tail: ``w_j ∝ (rank_j + r0)^-alpha`` (alpha = 1, ranks a random permutation, the offset
``r0 = 0.005 M`` keeps the head from dominating), normalised to sum 1; the mass of a cluster is
``W_c = sum of w_j over its tracks``. The track features (MSSD's ``tf_*.csv`` columns) are noisy
functions of the latent vectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .layout import uuid_bytes
from .params import ModelParams
from .streams import TAG_CATALOGUE, TAG_FEATURES, draw, rng


@dataclass
class Catalogue:
    """The latent catalogue, tracks sorted by cluster, with its cumulative masses.

    Built by `build_catalogue`; `negrec_lib.sim.truth.SimulationTruth` rebuilds it from the
    ground truth (without ids).
    """

    vectors: np.ndarray  # [M, d] float32, tracks sorted by cluster
    popularity: np.ndarray  # [M] float64, sums to 1
    cluster: np.ndarray  # [M] int32
    centres: np.ndarray  # [C, d] float32 sub-genre centres
    genre: np.ndarray  # [C] int32 genre of each cluster
    genre_centres: np.ndarray  # [G, d] float32
    id_chars: np.ndarray  # [M, 38] uint8 ("t_" + uuid)

    def __post_init__(self) -> None:
        C, G = len(self.centres), len(self.genre_centres)
        self.start = np.searchsorted(self.cluster, np.arange(C + 1))  # [C+1]
        self.track_cum = np.concatenate([[0.0], np.cumsum(self.popularity)])  # [M+1]
        self.cluster_cum = self.track_cum[self.start]  # [C+1]
        self.mass = np.diff(self.cluster_cum)  # [C]
        self.genre_first = np.searchsorted(self.genre, np.arange(G + 1))  # [G+1]
        self.genre_mass = (
            self.cluster_cum[self.genre_first[1:]] - self.cluster_cum[self.genre_first[:-1]]
        )
        self.unit = self.vectors / np.linalg.norm(self.vectors, axis=1, keepdims=True)


def n_clusters(tracks: int, P: ModelParams) -> tuple[int, int]:
    """(genres G, sub-genres per genre S) of a catalogue of ``tracks`` tracks.

    Examples
    --------
    >>> n_clusters(5_000, ModelParams())
    (12, 13)
    """
    G = min(P.max_genres, max(1, tracks // 40))
    return G, min(P.max_subgenres, max(1, tracks // (G * P.tracks_per_cluster)))


def build_catalogue(seed: int, M: int, P: ModelParams) -> Catalogue:
    """The catalogue of ``M`` tracks drawn from the catalogue stream of ``seed``.

    Examples
    --------
    >>> cat = build_catalogue(0, 100, ModelParams())
    >>> cat.vectors.shape, len(cat.centres), round(float(cat.popularity.sum()), 6)
    ((100, 16), 2, 1.0)
    >>> cat.id_chars[0, :2].tobytes()
    b't_'
    """
    gen = rng(seed, TAG_CATALOGUE)
    d = P.dim
    G, S = n_clusters(M, P)
    C = G * S
    genre_centres = gen.standard_normal((G, d)) / math.sqrt(d)
    centres = np.repeat(genre_centres, S, 0) + P.subgenre_spread * gen.standard_normal(
        (C, d)
    ) / math.sqrt(d)
    sizes = np.exp(0.6 * gen.standard_normal(C))
    counts = 1 + gen.multinomial(M - C, sizes / sizes.sum())
    cluster = np.repeat(np.arange(C, dtype=np.int32), counts)
    vectors = centres[cluster] + P.track_spread * gen.standard_normal((M, d)) / math.sqrt(d)
    pop = (gen.permutation(M) + 1.0 + P.zipf_offset * M) ** -P.zipf_exponent
    raw = gen.integers(0, 256, (M, 16), dtype=np.uint8)
    ids = uuid_bytes(raw, np.frombuffer(b"t_", np.uint8)[None].repeat(M, 0))
    if len(np.unique(ids.view(f"S{ids.shape[1]}"))) != M:  # pragma: no cover - 2^-122 odds
        raise RuntimeError("duplicate track ids; use another seed")
    return Catalogue(
        vectors.astype(np.float32),
        pop / pop.sum(),
        cluster,
        centres.astype(np.float32),
        np.repeat(np.arange(G, dtype=np.int32), S),
        genre_centres.astype(np.float32),
        ids,
    )


def track_features(seed: int, cat: Catalogue) -> dict[str, np.ndarray]:
    """Track-feature columns (all but track_id): noisy functions of the latent vectors.

    Examples
    --------
    >>> f = track_features(0, build_catalogue(0, 100, ModelParams()))
    >>> len(f), f["duration"].shape, bool(((60 <= f["duration"]) & (f["duration"] <= 600)).all())
    (29, (100,), True)
    """
    gen = rng(seed, TAG_FEATURES)
    M = len(cat.vectors)
    x = (cat.vectors - cat.vectors.mean(0)) / (cat.vectors.std(0) + 1e-9)
    h = x @ (gen.standard_normal((x.shape[1], 20)) / math.sqrt(x.shape[1]))  # [M, 20] ~N(0,1)
    h = (h - h.mean(0)) / (h.std(0) + 1e-9)
    noise = gen.standard_normal((M, 20))
    g = cat.genre[cat.cluster]
    G = len(cat.genre_centres)
    genre_year = 2018 - 14 * np.abs(gen.standard_normal(G))
    genre_dur = 0.25 * gen.standard_normal(G)
    cluster_key = gen.integers(0, 12, len(cat.centres))

    def sig(a):
        return 1 / (1 + np.exp(-a))

    def r6(a):
        return np.round(a, 6)

    f: dict[str, np.ndarray] = {}
    f["duration"] = np.round(
        np.clip(np.exp(np.log(215) + genre_dur[g] + 0.3 * noise[:, 0]), 60, 600), 3
    )
    f["release_year"] = np.clip(np.round(genre_year[g] + 6 * noise[:, 1]), 1950, 2018).astype(
        np.int16
    )
    pct = np.argsort(np.argsort(-cat.popularity)) / max(M - 1, 1)  # 0 = most popular
    f["us_popularity_estimate"] = np.round(
        np.clip(100 - 10 * pct**2 - 0.15 * np.abs(noise[:, 2]), 90, 100), 4
    )
    energy = sig(1.2 * h[:, 8] + 0.5 * noise[:, 3] + 0.3)
    f["acousticness"] = r6(sig(-1.5 * h[:, 8] + 0.8 * h[:, 9] - 1.0 + 0.5 * noise[:, 4]))
    f["beat_strength"] = r6(sig(0.9 * h[:, 10] + 0.4 * noise[:, 5]))
    f["bounciness"] = r6(sig(0.7 * h[:, 10] + 0.5 * h[:, 8] + 0.5 * noise[:, 6]))
    f["danceability"] = r6(sig(0.8 * h[:, 10] + 0.6 * h[:, 11] + 0.2 + 0.5 * noise[:, 7]))
    f["dyn_range_mean"] = r6(np.clip(8 + 3 * h[:, 12] + noise[:, 8], 0.5, None))
    f["energy"] = r6(energy)
    f["flatness"] = r6(np.clip(0.9 + 0.05 * h[:, 13] + 0.02 * noise[:, 9], 0, 1))
    f["instrumentalness"] = r6(sig(2.0 * h[:, 14] - 2.5 + 0.7 * noise[:, 10]))
    f["key"] = np.where(noise[:, 11] < 0, cluster_key[cat.cluster], gen.integers(0, 12, M)).astype(
        np.int8
    )
    f["liveness"] = r6(sig(0.6 * h[:, 15] - 1.8 + 0.6 * noise[:, 12]))
    f["loudness"] = np.round(np.clip(-16 + 14 * energy + 1.5 * noise[:, 13], -40, -0.5), 3)
    f["mechanism"] = r6(sig(0.9 * h[:, 16] + 0.5 * noise[:, 14]))
    valence = 0.9 * h[:, 18] + 0.3 * h[:, 11] + 0.5 * noise[:, 15]
    f["mode"] = (valence + 0.8 * noise[:, 16] < -0.5).astype(np.int8)  # code into TF_MODES
    f["organism"] = r6(sig(-0.7 * h[:, 16] + 0.5 * h[:, 9] + 0.5 * noise[:, 17]))
    f["speechiness"] = r6(sig(0.8 * h[:, 17] - 2.5 + 0.5 * noise[:, 18]))
    f["tempo"] = np.round(np.clip(120 + 22 * h[:, 19] + 8 * noise[:, 19], 50, 220), 3)
    f["time_signature"] = np.array([3, 4, 5], np.int8)[
        draw(np.array([0.08, 0.98, 1.0]), gen.random(M))
    ]
    f["valence"] = r6(sig(valence))
    vec = 0.8 * h[:, :8] + 0.6 * gen.standard_normal((M, 8))
    for i in range(8):
        f[f"acoustic_vector_{i}"] = r6(vec[:, i])
    return f
