"""The popularity-plateau figure of the training chapter (legibility checked by conftest.py)."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd

from negrec_lib.study.diagnostics import plateau_curves
from negrec_lib.viz.plateau import plot_plateau


def _runs() -> pd.DataFrame:
    curves = {"gpt": [0.08, 0.08, 0.09], "torch": [0.11, 0.2, 0.25], "scaled": [0.26, 0.27, 0.27]}
    return pd.DataFrame(
        [
            {
                "variant": v,
                "seed": s,
                "valid_hr@10_by_epoch": json.dumps([x + 0.002 * s for x in c]),
            }
            for v, c in curves.items()
            for s in range(3)
        ]
    )


def _drift() -> dict[str, pd.DataFrame]:
    steps = list(range(0, 160, 10))
    return {
        name: pd.DataFrame(
            {
                "step": steps,
                "loss": 0.0,
                "identity_kept": [1 - k * i / 150 for i in steps],
                "pairwise_cos": [k * i / 500 for i in steps],
            }
        )
        for name, k in (("gpt", 0.5), ("scaled", 0.1))
    }


def test_plateau_figure_draws_every_variant_and_the_popularity_line():
    curves = plateau_curves(_runs())
    fig = plot_plateau(curves, popularity=0.079, drift=_drift())
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines()[:3]] == ["gpt", "torch", "scaled"]
    assert any(line.get_ydata()[0] == 0.079 for line in left.get_lines())  # popularity
    assert len(right.get_lines()) == 4
    plt.close(fig)


def test_plateau_figure_alone_on_given_axes():
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    out = plot_plateau(plateau_curves(_runs()), popularity=0.08, ax=ax, variants=["scaled"])
    assert out is fig and [line.get_label() for line in ax.get_lines()][:1] == ["scaled"]
    plt.close(fig)


def test_a_variant_has_one_colour_in_both_panels():
    fig = plot_plateau(plateau_curves(_runs()), popularity=0.079, drift=_drift())
    left, right = fig.axes
    colour = {line.get_label(): line.get_color() for line in left.get_lines()}
    for line in right.get_lines():
        name = line.get_label().split(":")[0]
        assert line.get_color() == colour[name]
    plt.close(fig)
