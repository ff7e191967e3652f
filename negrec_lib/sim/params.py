"""The knobs of the generative model: `ModelParams`, calibrated to MSSD, and the format version.

The sizes a reader chooses (sessions, tracks, skip signal, seed, days, longest session) are a
`negrec_lib.config.SimConfig`; `ModelParams` holds everything else, with defaults calibrated to
the published marginals of MSSD (book/paper.md section 6). Each knob is explained where it is
used: the catalogue (`catalogue.py`), the session process (`process.py`) and the listener's
behaviour (`behaviour.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

VERSION = 1  # of the files `simulate` writes (ground_truth/truth.json)


@dataclass(frozen=True)
class ModelParams:
    """Knobs of the generative model; the defaults are calibrated to MSSD.

    Examples
    --------
    >>> P = ModelParams()
    >>> P.dim, P.skip_thresholds
    (16, (0.13, 0.5, 0.8))
    >>> ModelParams(stay=0.6).stay
    0.6
    """

    dim: int = 16
    max_genres: int = 12
    max_subgenres: int = 24
    tracks_per_cluster: int = 30
    zipf_exponent: float = 1.0
    zipf_offset: float = 0.005  # head flattening, as a share of the catalogue
    subgenre_spread: float = 0.5
    track_spread: float = 0.3
    taste_noise: float = 0.3
    taste_sharpness: float = 8.0  # beta
    stay: float = 0.4  # kappa: a coherent step stays in the sub-genre
    # (coherent a, taste b, popular e) by context, in schema.CONTEXT_TYPES order
    context_mix: tuple = (
        (0.55, 0.30, 0.15),
        (0.45, 0.50, 0.05),
        (0.20, 0.20, 0.60),
        (0.75, 0.20, 0.05),
        (0.70, 0.25, 0.05),
        (0.40, 0.55, 0.05),
    )
    shuffle_coherence: float = 0.5  # shuffle multiplies a by this (the rest goes to b)
    context_shares: tuple = (0.24, 0.36, 0.02, 0.14, 0.20, 0.05)
    shuffle_by_context: tuple = (0.30, 0.40, 0.25, 0.10, 0.25, 0.30)
    premium_rate: float = 0.85
    full_length_share: float = 0.45
    switch_rate: float = 0.04  # share of rows with context_switch = 1
    hour_profile: tuple = (
        2.0,
        1.4,
        1.0,
        0.7,
        0.6,
        0.7,
        1.3,
        2.4,
        3.2,
        3.6,
        3.8,
        4.0,
        4.2,
        4.3,
        4.4,
        4.6,
        4.9,
        5.2,
        5.4,
        5.3,
        5.0,
        4.4,
        3.6,
        2.7,
    )
    # skip model: y = base - z; strength = #{theta below y}
    skip_thresholds: tuple = (0.13, 0.50, 0.80)  # skip_3, skip_2, skip_1
    position_effect: float = 0.50  # base rises by this ...
    position_scale: float = 4.0  # ... with this many tracks' time constant
    context_skip: tuple = (0.10, -0.15, 0.20, 0.15, -0.05, 0.05)
    shuffle_skip: float = 0.10
    premium_skip: float = 0.05
    played_share: tuple = (1.0, 0.75, 0.3, 0.05)  # share of the track played, by skip strength
    # behaviour tables: {value: probability}
    end_skipped: dict = field(
        default_factory=lambda: {
            "fwdbtn": 0.71,
            "backbtn": 0.12,
            "endplay": 0.10,
            "clickrow": 0.045,
            "remote": 0.01,
            "clickside": 0.01,
            "trackerror": 0.0025,
            "logout": 0.0025,
        }
    )
    end_skipped_last: dict = field(
        default_factory=lambda: {
            "fwdbtn": 0.55,
            "backbtn": 0.08,
            "endplay": 0.25,
            "logout": 0.06,
            "clickrow": 0.03,
            "remote": 0.02,
            "clickside": 0.01,
        }
    )
    ended_early: tuple = (0.04, 0.30)  # unskipped track ended by endplay/logout (other, last)
    end_early: dict = field(default_factory=lambda: {"endplay": 0.85, "logout": 0.15})
    start_first: dict = field(
        default_factory=lambda: {
            "fwdbtn": 0.27,
            "trackdone": 0.20,
            "clickrow": 0.27,
            "playbtn": 0.10,
            "appload": 0.07,
            "backbtn": 0.03,
            "remote": 0.02,
            "clickside": 0.02,
            "uriopen": 0.01,
            "popup": 0.01,
        }
    )
    start_switch: dict = field(
        default_factory=lambda: {  # "keep": the previous reason_end
            "keep": 0.40,
            "clickrow": 0.45,
            "clickside": 0.07,
            "uriopen": 0.05,
            "remote": 0.03,
        }
    )
    start_resume: dict = field(
        default_factory=lambda: {"clickrow": 0.40, "playbtn": 0.35, "appload": 0.25}
    )
    # pauses (no, short, long) for: first track, context switch, resume, otherwise
    pause: tuple = ((0.3, 0.2, 0.5), (0.6, 0.2, 0.2), (0.1, 0.1, 0.8), (0.9, 0.05, 0.05))
    seekfwd: tuple = ((0.88, 0.07, 0.03, 0.02), (0.95, 0.03, 0.015, 0.005))  # unskipped, skipped
    seekback: tuple = (0.96, 0.025, 0.01, 0.005)
