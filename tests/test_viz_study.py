"""The study chapters' figures (`negrec_lib.viz.study`), loaders, figure script and summary page.

Figures are drawn from a synthetic study folder shaped like ``results/`` (every grid, baselines,
verdicts, targets, attention) and checked for labels and titles; `experiments/figures.py` runs
on it. The last test ties ``book/summary.md`` to the committed results: every number the page
quotes is recomputed from ``results/`` and must appear, verbatim, on the page and in the outputs
of chapters 6 and 7.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from figure_checks import assert_labelled

from negrec_lib.data.schema import CONTEXT_TYPES
from negrec_lib.errors import ConfigError
from negrec_lib.study import ceilings, claims, compare, curves, results
from negrec_lib.study.summary import summary_numbers
from negrec_lib.viz import ceilings as vc
from negrec_lib.viz import study as vs

ROOT = Path(__file__).resolve().parents[1]
KS = (1, 5, 10, 20)
EFFECTS = {
    "uni-base": ("", 1.0),
    "uni-skip-track": ("uni-base", 0.97),
    "uni-skip-hidden": ("uni-base", 0.96),
    "uni-skip-reference": ("uni-base", 0.99),
    "uni-control-permuted": ("uni-base", 0.95),
    "uni-control-kept-negatives": ("uni-base", 0.98),
    "bi-base": ("", 0.85),
    "bi-skip-track": ("bi-base", 0.86),
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def make_runs(effects, name="study_claims", seed=0, data_prefix="d", extra=None):
    rng = np.random.default_rng(seed)
    rows = []
    for variant, (baseline, effect) in effects.items():
        for r in range(5):
            level = effect * (1 + rng.normal(0, 0.01))
            row = {
                "variant": variant,
                "seed": r,
                "data_seed": 7 + r,
                "experiment": name,
                "data": f"{data_prefix}{r}",
                "baseline": baseline,
                "overrides": json.dumps(extra(variant) if extra else {}),
                "test_n": 2000,
                "test_n_skipped": 1000,
                "wall_seconds": 100.0,
                "hardware": "x86_64",
                "commit": "abcdef1",
                "best_epoch": 5,
                "epochs_run": 8,
                "max_epochs": 40,
                "command": f"negrec experiment {name} --only {variant}",
                "valid_hr@10_by_epoch": json.dumps([0.1 * level, 0.2 * level, 0.25 * level]),
            }
            for k in KS:
                row[f"test_hr@{k}"] = 0.05 * k**0.5 * level
                row[f"sampled_hr@{k}"] = 0.07 * k**0.5 * level
            for m, x in (("mrr", 0.1), ("skip_mrr", 0.08), ("unskipped_mrr", 0.12)):
                row[f"test_{m}"] = x * level * (1 + rng.normal(0, 0.01))
            for i, ctx in enumerate(CONTEXT_TYPES):
                row[f"ctx_{ctx}_n"] = 100 * (i + 1)
                row[f"ctx_{ctx}_hr@10"] = row["test_hr@10"] * (0.6 + 0.1 * i)
            rows.append(row)
    return pd.DataFrame(rows)


def make_baselines(datasets):
    rows = []
    for d in datasets:
        for m, x in (
            ("popularity", 0.1),
            ("markov", 0.8),
            ("sknn", 0.7),
            ("vsknn", 0.75),
            ("oracle", 1.3),
        ):
            row = {"experiment": "x", "method": m, "data": d, "data_seed": 7}
            for k in KS:
                row[f"test_hr@{k}"] = 0.05 * k**0.5 * x
            for ctx in CONTEXT_TYPES:
                row[f"ctx_{ctx}_hr@10"] = 0.15 * x
            rows.append(row)
    return pd.DataFrame(rows)


def study_folder(folder: Path) -> Path:
    """A results/ folder with every table the study chapters read."""
    folder.mkdir(parents=True, exist_ok=True)
    paper = make_runs(EFFECTS)
    by_day = make_runs(EFFECTS, "study_claims_by_day", seed=1, data_prefix="b")
    sig = {}
    for s in (0.0, 0.5, 1.0):
        sig[f"s{s:g}-base"] = ("", 1.0)
        sig[f"s{s:g}-skip"] = (f"s{s:g}-base", 1 + 0.05 * s)
    signal = make_runs(
        sig,
        "study_skip_signal",
        seed=2,
        data_prefix="s",
        extra=lambda v: {"sim.skip_signal": float(v.split("-")[0][1:])},
    )
    for name, df in (
        ("study_claims", paper),
        ("study_claims_by_day", by_day),
        ("study_skip_signal", signal),
    ):
        df.to_csv(folder / f"{name}.csv", index=False)
    make_baselines({*paper["data"], *by_day["data"], *signal["data"]}).to_csv(
        folder / "baselines.csv", index=False
    )
    pd.concat([claims.verdicts(paper, "paper"), claims.verdicts(by_day, "by_day")]).to_csv(
        folder / "verdicts.csv", index=False
    )
    pd.DataFrame(
        {
            "experiment": "study_claims",
            "data": [f"d{r}" for r in range(5)],
            "uni_targets": 270000.0,
            "bi_targets": 60000.0,
        }
    ).to_csv(folder / "study_targets.csv", index=False)
    pd.DataFrame(
        [
            {
                "variant": v,
                "seed": r,
                "data_seed": 7 + r,
                "layer": layer,
                "ratio": 1.0 + 0.01 * layer,
            }
            for v in ("uni-base", "uni-skip-track", "uni-control-permuted")
            for r in range(5)
            for layer in (1, 2)
        ]
    ).to_csv(folder / "study_claims_attention.csv", index=False)
    return folder


def test_loaders_read_and_explain_missing_files(tmp_path):
    study_folder(tmp_path)
    assert len(results.load_results("study_claims", tmp_path)) == 40
    assert set(results.load_baselines(root=tmp_path)["method"]) >= {"markov", "oracle"}
    assert {"claim", "p_holm", "verdict", "varies"} <= set(results.load_verdicts(tmp_path).columns)
    with pytest.raises(ConfigError, match="negrec experiment experiments/nope.yaml"):
        results.load_results("nope", tmp_path)
    (tmp_path / "verdicts.csv").unlink()
    with pytest.raises(ConfigError, match="experiments/verdicts.py"):
        results.load_verdicts(tmp_path)


def test_figures_are_labelled(tmp_path):
    r = study_folder(tmp_path)
    paper = results.load_results("study_claims", r)
    base = results.load_baselines(root=r)
    comp = compare.labelled_comparisons(paper, claims.CONTROL_PAIRS, ["hr@1", "hr@10"])
    assert_labelled(vs.forest_plot(comp, series="series"))
    assert_labelled(vs.plot_protocols(paper, claims.SKIP_PAIRS))
    assert_labelled(vs.plot_seed_spread(paper, claims.SEED_PAIRS, "hr@1"))
    assert_labelled(vs.plot_claims_by_split(results.load_verdicts(r), labels=claims.CLAIM_NAMES))
    models = ["uni-base", "bi-base"]
    assert_labelled(vc.plot_reference(ceilings.reference_table(paper, base, models), models))
    assert_labelled(
        vc.plot_contexts(
            ceilings.context_table(paper, base, "uni-skip-track", "uni-base"),
            "uni-skip-track",
            "uni-base",
        )
    )
    summary = curves.curve_summary(curves.curves(paper[paper["variant"].isin(models)]))
    assert_labelled(vs.plot_curves(summary, targets={"uni-base": 2e5, "bi-base": 5e4}))
    sig = results.load_results("study_skip_signal", r)
    sweep = compare.sweep_table(
        sig, "sim.skip_signal", ["hr@1", "hr@10"], ceilings=base[base["method"] == "oracle"]
    )
    assert_labelled(vc.sweep_plot(sweep, "skip_signal"))


def test_unbounded_fieller_intervals_are_drawn_to_the_edge():
    table = pd.DataFrame(
        {
            "label": ["a", "b"],
            "rel": [0.1, 0.05],
            "rel_low": [-np.inf, 0.01],
            "rel_high": [np.inf, 0.09],
        }
    )
    fig = vs.forest_plot(table)
    assert np.isfinite(fig.axes[0].get_xlim()).all()


def test_figures_script_writes_every_figure(tmp_path):
    spec = importlib.util.spec_from_file_location("figures", ROOT / "experiments" / "figures.py")
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    folder = study_folder(tmp_path / "results")
    written = figures.main(["--results", str(folder), "--out", str(tmp_path / "figs")])
    assert written and all(p.suffix == ".png" and p.stat().st_size > 5_000 for p in written)
    assert {p.stem for p in written} == set(figures.FIGURES)


# ------------------------------------------------------------------------ the summary page
def _chapter_text(*names: str) -> str:
    text = []
    for name in names:
        nb = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream":
                    text.append("".join(out["text"]))
                for mime in ("text/plain", "text/markdown", "text/html"):
                    if mime in out.get("data", {}):
                        v = out["data"][mime]
                        text.append("".join(v) if isinstance(v, list) else v)
    return "\n".join(text)


def test_summary_page_quotes_the_results():
    """Every number of book/summary.md is recomputed from results/ and found in chapters 6-7."""
    try:
        numbers = summary_numbers(ROOT / "results")
    except ConfigError as exc:
        pytest.fail(f"the summary's results are missing: {exc}")
    page = (ROOT / "book" / "summary.md").read_text(encoding="utf-8")
    chapters = _chapter_text("06_evaluation.ipynb", "07_beyond.ipynb")
    missing_page = {k: v for k, v in numbers.items() if v not in page}
    missing_ch = {k: v for k, v in numbers.items() if v not in chapters}
    assert not missing_page, f"book/summary.md does not quote the results: {missing_page}"
    assert not missing_ch, f"chapters 6-7 do not print these summary numbers: {missing_ch}"
    quoted = set(re.findall(r"[+-]\d+\.\d%", page))
    known = {m for v in numbers.values() for m in re.findall(r"[+-]\d+\.\d%", v)}
    paper = {f"{100 * g:+.2f}%" for g in claims.PAPER_SKIP_GAINS.values()}
    assert quoted <= known | paper, f"summary.md quotes changes not in results: {quoted - known}"
