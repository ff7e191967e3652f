"""What the listener does with each track: skips, and the other behaviour columns of a log row.

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
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from ..data import schema
from .catalogue import Catalogue
from .params import ModelParams
from .process import sample_tracks, sessions_state
from .streams import (
    P_EARLY,
    P_END,
    P_PAUSE,
    P_SEEKB,
    P_SEEKF,
    P_START,
    TAG_PILOT,
    draw,
    pmf,
    randoms,
)

PILOT_BLOCKS = 8  # sessions of the pilot run, in blocks
N_QUANTILES = 1000  # stored quantiles of the fit
_RS = {name: i for i, name in enumerate(schema.REASONS_START)}
_RE = {name: i for i, name in enumerate(schema.REASONS_END)}


def fit(taste: np.ndarray, tracks: np.ndarray, cat: Catalogue) -> np.ndarray:
    """cos(u_s, v_j) for tracks [n, ...] of sessions with tastes [n, d]."""
    unit = taste / np.linalg.norm(taste, axis=1, keepdims=True)
    return np.einsum("nd,n...d->n...", unit, cat.unit[tracks])


def gaussianize(fit: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """The standard normal score ``Phi^-1(F(fit))`` of fits, ``F`` given by its quantiles.

    Examples
    --------
    >>> gaussianize(np.array([0.5]), np.linspace(0.0, 1.0, 1001)).round(6).tolist()
    [0.0]
    """
    levels = (np.arange(len(quantiles)) + 0.5) / len(quantiles)
    return ndtri(np.interp(fit, quantiles, levels))


def pilot_quantiles(seed: int, cat: Catalogue, P: ModelParams, L: int) -> np.ndarray:
    """Quantiles of the fit over played tracks, from a pilot run with its own random stream."""
    R = randoms(seed, TAG_PILOT, 0, PILOT_BLOCKS, L, P.dim)
    st = sessions_state(R, cat, P, L)
    _, tracks = sample_tracks(st, R["pu"], cat, P)
    valid = np.arange(L) < st["length"][:, None]
    fits = fit(st["taste"], tracks, cat)[valid]
    return np.quantile(fits, (np.arange(N_QUANTILES) + 0.5) / N_QUANTILES)


def simulate_rows(
    R: dict,
    cat: Catalogue,
    P: ModelParams,
    L: int,
    skip_signal: float,
    quantiles: np.ndarray,
    duration: np.ndarray,
) -> tuple[dict, dict]:
    """Session state and every log column as [n, L] arrays (rows beyond the length included).

    Parameters
    ----------
    R : the sessions' random numbers (`streams.randoms`).
    cat, P, L : the catalogue, the knobs, the longest session.
    skip_signal : ``s`` of the skip model.
    quantiles : of the fit (`pilot_quantiles`); duration : [M] track durations in seconds.

    Examples
    --------
    >>> from negrec_lib.sim.catalogue import build_catalogue, track_features
    >>> from negrec_lib.sim.streams import TAG_SESSIONS
    >>> P, L = ModelParams(), 20
    >>> cat = build_catalogue(0, 200, P)
    >>> R = randoms(0, TAG_SESSIONS, 0, 1, L, P.dim)
    >>> st, cols = simulate_rows(R, cat, P, L, 0.8, pilot_quantiles(0, cat, P, L),
    ...                          track_features(0, cat)["duration"])
    >>> cols["track"].shape, sorted(cols)[:3]
    ((1024, 20), ['context_switch', 'context_type', 'hist_user_behavior_is_shuffle'])
    """
    st = sessions_state(R, cat, P, L)
    pu = R["pu"]
    n = len(pu)
    _, tracks = sample_tracks(st, pu, cat, P)
    pos = np.arange(L)
    length = st["length"][:, None]
    is_last = pos == length - 1
    ctx = np.where(np.cumsum(st["switch"], 1) % 2 == 1, st["ctx_b"][:, None], st["ctx_a"][:, None])
    # skips
    s = float(skip_signal)
    z = (
        s * gaussianize(fit(st["taste"], tracks, cat), quantiles)
        + math.sqrt(max(0.0, 1 - s * s)) * R["pn"]
    )
    base = (
        P.position_effect * (1 - np.exp(-pos / P.position_scale))[None]
        + np.array(P.context_skip)[ctx]
        + P.shuffle_skip * st["shuffle"][:, None]
        + P.premium_skip * st["premium"][:, None]
    )
    y = base - z
    strength = sum((y > th).astype(np.int8) for th in sorted(P.skip_thresholds))
    skipped = strength >= 1
    # reason_end
    codes, cdf = pmf(P.end_skipped, _RE)
    end = codes[draw(cdf, pu[:, P_END])]
    codes, cdf = pmf(P.end_skipped_last, _RE)
    end = np.where(is_last, codes[draw(cdf, pu[:, P_END])], end)
    early = ~skipped & (pu[:, P_EARLY] < np.where(is_last, P.ended_early[1], P.ended_early[0]))
    codes, cdf = pmf(P.end_early, _RE)
    end = np.where(skipped, end, np.where(early, codes[draw(cdf, pu[:, P_END])], _RE["trackdone"]))
    not_skipped = ~skipped & ~early
    # reason_start: repeat the previous reason_end, except first track, resume and context switch
    end_to_start = np.array(
        [_RS.get(name, _RS["clickrow"]) for name in schema.REASONS_END], np.int8
    )
    prev_end = np.concatenate([np.full((n, 1), _RE["trackdone"], np.int8), end[:, :-1]], 1)
    start = end_to_start[prev_end]
    resume = (pos > 0) & np.isin(prev_end, [_RE["endplay"], _RE["logout"]])
    first = np.broadcast_to(pos == 0, (n, L))
    ustart = pu[:, P_START]
    for mask, table in (
        (resume, P.start_resume),
        (st["switch"], P.start_switch),
        (first, P.start_first),
    ):
        codes, cdf = pmf(table, _RS)
        drawn = codes[draw(cdf, ustart)]
        start = np.where(mask & (drawn >= 0), drawn, start)
    # pauses, seeks, hour
    situation = np.where(first, 0, np.where(st["switch"], 1, np.where(resume, 2, 3)))
    pause_cdf = np.cumsum(np.array(P.pause), 1)
    pause = (pause_cdf[situation] <= pu[:, P_PAUSE, :, None]).sum(-1).clip(0, 2)
    seekf_cdf = np.cumsum(np.array(P.seekfwd), 1)[skipped.astype(np.int64)]
    seekf = (seekf_cdf <= pu[:, P_SEEKF, :, None]).sum(-1).clip(0, 3)
    seekb = draw(np.cumsum(P.seekback), pu[:, P_SEEKB])
    played = duration[tracks] * np.where(early, 0.8, np.array(P.played_share)[strength])
    elapsed = np.cumsum(played, 1) - played + st["minute0"][:, None] * 60
    hour = (st["hour0"][:, None] + elapsed // 3600).astype(np.int64) % 24
    cols = {
        "session_position": np.broadcast_to(pos + 1, (n, L)).astype(np.int16),
        "session_length": np.broadcast_to(length, (n, L)),
        "track": tracks,
        "skip_1": strength >= 3,
        "skip_2": strength >= 2,
        "skip_3": skipped,
        "not_skipped": not_skipped,
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
