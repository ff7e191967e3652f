"""Where every random number comes from: the seeded streams and their fixed layout.

All randomness of session ``i`` comes from the block ``i // BLOCK``, a numpy
``SeedSequence(seed, spawn_key=(TAG_SESSIONS, block))``, laid out as below (session-level
uniforms ``su``, taste noise ``sn``, id bytes, per-position uniforms ``pu`` and normals ``pn``).
The catalogue, the track features and the pilot run have streams of their own (their tags).
So the files are byte-identical for a seed, whatever the chunk size used to write them; and
changing how one number is drawn changes no other.
"""

from __future__ import annotations

import numpy as np

BLOCK = 1024  # sessions per random-number block (fixes the random layout)
TAG_CATALOGUE, TAG_FEATURES, TAG_PILOT, TAG_SESSIONS = 0, 1, 2, 3
# Session-level uniforms su[:, k], in their fixed layout.
S_CTX, S_CTX2, S_LEN, S_SHUF, S_PREM, S_HOUR, S_MIN, S_NG = range(8)
S_G, S_W, N_SU = 8, 11, 14  # three genre draws at S_G.., three mixture weights at S_W..
# Per-position uniforms pu[:, k, t].
(
    P_SWITCH,
    P_COMP,
    P_CLUSTER,
    P_STAY,
    P_TRACK,
    P_END,
    P_EARLY,
    P_START,
    P_PAUSE,
    P_SEEKF,
    P_SEEKB,
) = range(11)
N_PU = 11


def rng(seed: int, *key: int) -> np.random.Generator:
    """The generator of stream ``key`` (a tag, then a block) under ``seed``.

    Examples
    --------
    >>> a, b = rng(0, TAG_SESSIONS, 5), rng(0, TAG_SESSIONS, 5)
    >>> bool(a.random() == b.random())
    True
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def randoms(seed: int, tag: int, b0: int, b1: int, L: int, d: int) -> dict[str, np.ndarray]:
    """All random numbers of the sessions in blocks [b0, b1), in the fixed layout.

    Parameters
    ----------
    seed, tag : the stream (`TAG_SESSIONS`, or `TAG_PILOT` for the pilot run).
    b0, b1 : the blocks (of `BLOCK` sessions each).
    L : the longest session; d : the latent dimension.

    Returns
    -------
    ``su`` [n, N_SU], ``sn`` [n, d], ``ids`` [n, 16] uint8, ``pu`` [n, N_PU, L], ``pn`` [n, L]
    with ``n = (b1 - b0) * BLOCK``.

    Examples
    --------
    >>> R = randoms(0, TAG_SESSIONS, 0, 1, L=4, d=2)
    >>> R["su"].shape, R["pu"].shape, R["ids"].dtype
    ((1024, 14), (1024, 11, 4), dtype('uint8'))
    """
    parts: dict[str, list] = {"su": [], "sn": [], "ids": [], "pu": [], "pn": []}
    for b in range(b0, b1):
        g = rng(seed, tag, b)
        parts["su"].append(g.random((BLOCK, N_SU)))
        parts["sn"].append(g.standard_normal((BLOCK, d)))
        parts["ids"].append(g.integers(0, 256, (BLOCK, 16), dtype=np.uint8))
        parts["pu"].append(g.random((BLOCK, N_PU, L)))
        parts["pn"].append(g.standard_normal((BLOCK, L)))
    return {k: np.concatenate(v) for k, v in parts.items()}


def draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw: index of the category of each uniform.

    Examples
    --------
    >>> draw(np.array([0.2, 0.7, 1.0]), np.array([0.1, 0.5, 0.99])).tolist()
    [0, 1, 2]
    """
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


def pmf(table: dict, names: dict) -> tuple[np.ndarray, np.ndarray]:
    """(codes, cumulative probabilities) of a {value: probability} table.

    Values missing from ``names`` (``"keep"``) get the code -1.

    Examples
    --------
    >>> codes, cdf = pmf({"b": 1.0, "keep": 3.0}, {"a": 0, "b": 1})
    >>> codes.tolist(), cdf.tolist()
    ([1, -1], [0.25, 1.0])
    """
    codes = np.array([names.get(k, -1) for k in table], dtype=np.int8)  # -1: "keep"
    cdf = np.cumsum(np.array(list(table.values()), dtype=np.float64))
    return codes, cdf / cdf[-1]
