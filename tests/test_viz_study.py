"""Tests of the study chapters' helpers (`negrec_lib.viz.study`) and of the summary page.

The statistics are recomputed independently (numpy and scipy, no library code) on small
synthetic results tables shaped like ``results/<grid>.csv``; the figures are checked for labels
and titles; `experiments/figures.py` is run on synthetic tables. The last tests tie
``book/summary.md`` to the committed results: every number the page quotes is recomputed from
``results/`` and must appear, verbatim, both on the page and in the outputs of chapters 6 and 7.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from negrec_lib.config import profile_config  # noqa: E402
from negrec_lib.data.schema import CONTEXT_TYPES  # noqa: E402
from negrec_lib.errors import ConfigError  # noqa: E402
from negrec_lib.viz import study as vs  # noqa: E402
from figure_checks import assert_labelled  # noqa: E402  (tests/figure_checks.py)

ROOT = Path(__file__).resolve().parents[1]
KS = (1, 5, 10, 20)
CONFIG = json.dumps(profile_config("ci").to_dict())


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------ synthetic tables
def make_grid(variants: dict[str, tuple[str, float, dict]], seeds=(0, 1, 2, 3, 4), seed: int = 0,
              data: str = "data/sim-a", name: str = "grid") -> pd.DataFrame:
    """A results table like ``negrec experiment`` writes, with made-up metrics.

    ``variants``: name -> (baseline, multiplicative effect on every metric, overrides). Each
    seed adds a shared offset (so that pairing by seed helps) and independent noise.
    """
    rng = np.random.default_rng(seed)
    shared = {s: rng.normal(0, 0.02) for s in seeds}
    rows = []
    for name_, (baseline, effect, overrides) in variants.items():
        for s in seeds:
            row = {"variant": name_, "seed": s, "experiment": name, "baseline": baseline or np.nan}
            for k in KS:
                level = 0.05 * k ** 0.5 * effect * (1 + shared[s] + rng.normal(0, 0.01))
                row[f"test_hr@{k}"] = level
                row[f"sampled_hr@{k}"] = min(1.0, 1.6 * level * (1 + rng.normal(0, 0.01)))
                row[f"test_ndcg@{k}"] = 0.6 * level
            row["test_mrr"] = 0.4 * row["test_hr@1"] + 0.02
            row["sampled_mrr"] = 1.5 * row["test_mrr"]
            row["test_n"] = row["sampled_n"] = 2100
            for i, ctx in enumerate(CONTEXT_TYPES):
                row[f"ctx_{ctx}_n"] = 100 * (i + 1)
                row[f"ctx_{ctx}_hr@10"] = row["test_hr@10"] * (0.6 + 0.1 * i)
            row.update({"wall_seconds": 60.0 + s, "hardware": "x86_64", "commit": "abcdef123456",
                        "command": f"negrec experiment experiments/{name}.yaml --only {name_} "
                                   f"--seed {s}",
                        "data": overrides.get("_data", data),
                        "overrides": json.dumps({k: v for k, v in overrides.items()
                                                 if not k.startswith("_")}),
                        "config": CONFIG})
            rows.append(row)
    return pd.DataFrame(rows)


def make_bounds(datasets: dict[str, float]) -> pd.DataFrame:
    """Oracle and popularity rows for each dataset (value: the oracle's HR@1)."""
    rows = []
    for data, top in datasets.items():
        for kind, scale in (("oracle", 1.0), ("popularity", 0.2)):
            row = {"variant": "x", "kind": kind, "data": data}
            for k in KS:
                row[f"test_hr@{k}"] = min(1.0, scale * top * k ** 0.4)
            for i, ctx in enumerate(CONTEXT_TYPES):
                row[f"ctx_{ctx}_hr@10"] = row["test_hr@10"] * (0.7 + 0.05 * i)
            rows.append(row)
    return pd.DataFrame(rows)


CLAIM_VARIANTS = {
    "uni-base": ("", 1.0, {"model.causal": True, "loss.skip_weight": 0}),
    "uni-skip-track": ("uni-base", 1.10, {"model.causal": True, "loss.skip_weight": 1}),
    "uni-skip-hidden": ("uni-base", 1.04, {"model.causal": True, "loss.skip_weight": 1}),
    "uni-skip-reference": ("uni-base", 1.00, {"model.causal": True, "loss.skip_weight": 1}),
    "bi-base": ("", 0.80, {"model.causal": False, "loss.skip_weight": 0}),
    "bi-skip-track": ("bi-base", 0.85, {"model.causal": False, "loss.skip_weight": 1}),
    "bi-skip-hidden": ("bi-base", 0.82, {"model.causal": False, "loss.skip_weight": 1}),
    "bi-skip-reference": ("bi-base", 0.80, {"model.causal": False, "loss.skip_weight": 1}),
}


def synthetic_results(folder: Path) -> Path:
    """Every grid of experiments/ as a synthetic table (and bounds) in ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    grids = {"claims_paper": (CLAIM_VARIANTS, (0, 1, 2, 3, 4), "data/sim-paper"),
             "claims_by_day": (CLAIM_VARIANTS, (0, 1, 2, 3, 4), "data/sim-day")}
    signal = {}
    for s in (0.0, 0.25, 0.5, 0.75, 1.0):
        d = {"_data": f"data/sim-s{s}", "sim.skip_signal": s}
        signal[f"s{s:g}-base"] = ("", 1.0, {**d, "loss.skip_weight": 0})
        signal[f"s{s:g}-skip"] = (f"s{s:g}-base", 1 + 0.1 * s, {**d, "loss.skip_weight": 1})
    grids["skip_signal"] = (signal, (0, 1, 2), None)
    weight = {f"lambda{w:g}": ("" if w == 0 else "lambda0", 1 + 0.05 * min(w, 1),
                               {"loss.skip_weight": w}) for w in (0, 0.1, 0.3, 1.0, 3.0)}
    grids["skip_weight"] = (weight, (0, 1, 2), "data/sim-paper")
    grids["features"] = ({"ids-base": ("", 1.0, {"model.use_features": False}),
                          "ids-skip": ("ids-base", 1.1, {"model.use_features": False}),
                          "features-base": ("ids-base", 1.05, {"model.use_features": True}),
                          "features-skip": ("ids-base", 1.12, {"model.use_features": True})},
                         (0, 1, 2), "data/sim-paper")
    grids["long_sessions"] = ({f"L{n}-{d}": ("" if d == "uni" else f"L{n}-uni",
                                             1.0 if d == "uni" else 0.8,
                                             {"_data": f"data/sim-L{n}", "sim.max_length": n,
                                              "model.causal": d == "uni"})
                               for n in (20, 50) for d in ("uni", "bi")}, (0, 1, 2), None)
    for i, (name, (variants, seeds, data)) in enumerate(grids.items()):
        df = make_grid(variants, seeds, seed=i, data=data or "", name=name)
        df.to_csv(folder / f"{name}.csv", index=False)
        make_bounds({d: 0.3 for d in df["data"].unique()}).to_csv(folder / f"{name}_bounds.csv",
                                                                   index=False)
    return folder


# ------------------------------------------------------------------------ statistics
def _t_ci(x: np.ndarray) -> tuple[float, float, float]:
    m, se = x.mean(), x.std(ddof=1) / np.sqrt(len(x))
    h = stats.t.ppf(0.975, len(x) - 1) * se
    return m, m - h, m + h


def test_loaders_read_and_explain_missing_files(tmp_path):
    synthetic_results(tmp_path)
    df = vs.load_results("claims_paper", tmp_path)
    assert len(df) == 40 and set(df.loc[df["variant"] == "uni-base", "baseline"]) == {""}
    assert set(vs.load_bounds("claims_paper", tmp_path)["kind"]) == {"oracle", "popularity"}
    with pytest.raises(ConfigError, match="negrec experiment experiments/nope.yaml"):
        vs.load_results("nope", tmp_path)
    with pytest.raises(ConfigError, match="negrec bounds"):
        vs.load_bounds("nope", tmp_path)
    facts = vs.grid_facts({"claims_paper": df})
    assert facts.loc["claims_paper", "runs"] == 40
    assert facts.loc["claims_paper", "CPU minutes"] == round(df["wall_seconds"].sum() / 60)


def test_claims_table_matches_an_independent_paired_computation():
    df = make_grid(CLAIM_VARIANTS, seed=3)
    for protocol, prefix in (("full", "test_"), ("sampled", "sampled_")):
        table = vs.claims_table(df, protocol)
        assert len(table) == 3 * len(KS)
        for claim, variant, baseline, _ in vs.CLAIMS:
            for k in KS:
                col = f"{prefix}hr@{k}"
                a = df[df["variant"] == variant].set_index("seed")[col].sort_index()
                b = df[df["variant"] == baseline].set_index("seed")[col].sort_index()
                d = (a - b).to_numpy()
                m, lo, hi = _t_ci(d)
                row = table.loc[(claim, f"HR@{k}")]
                assert row["rel_change"] == pytest.approx(m / b.mean())
                assert row["rel_ci_low"] == pytest.approx(lo / b.mean())
                assert row["rel_ci_high"] == pytest.approx(hi / b.mean())
                assert row["p_ttest"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
                assert row["change [95% CI]"] == (f"{100 * m / b.mean():+.1f}% "
                                                  f"[{100 * lo / b.mean():+.1f}, "
                                                  f"{100 * hi / b.mean():+.1f}]")
    t = vs.claims_table(df)
    assert t.loc[("1", "HR@1"), "paper"] == "+20.26%" and t.loc[("2", "HR@1"), "paper"] == ""
    assert t.loc[("1", "HR@1"), "verdict"].startswith("holds")       # a built-in +10% effect


def test_variant_means_are_t_intervals():
    df = make_grid(CLAIM_VARIANTS, seed=4)
    means = vs.variant_means(df, ["hr@10"], "sampled").set_index("variant")
    x = df.loc[df["variant"] == "bi-base", "sampled_hr@10"].to_numpy()
    m, lo, hi = _t_ci(x)
    got = means.loc["bi-base", ["mean", "ci_low", "ci_high"]].tolist()
    assert got == pytest.approx([m, lo, hi])
    assert means.loc["bi-base", "seeds"] == 5
    with pytest.raises(ValueError, match="protocol"):
        vs.column("hr@10", "batch")


def test_protocol_table_and_rank_agreement():
    df = make_grid(CLAIM_VARIANTS, seed=5)
    pt = vs.protocol_table(df, ["hr@10"])
    g = df.groupby("variant")[["test_hr@10", "sampled_hr@10"]].mean()
    for v in CLAIM_VARIANTS:
        row = pt.loc[("HR@10", v)]
        expected = g.loc[v, "sampled_hr@10"] / g.loc[v, "test_hr@10"]
        assert row["sampled / full"] == pytest.approx(expected)
    ra = vs.rank_agreement(df, ["hr@10"]).loc["HR@10"]
    tau = stats.kendalltau(g["test_hr@10"], g["sampled_hr@10"]).statistic
    assert ra["Kendall tau"] == pytest.approx(tau)
    assert ra["best (full)"] == g["test_hr@10"].idxmax() and ra["variants"] == 8


def test_seed_pairings_cover_every_pair():
    df = make_grid(CLAIM_VARIANTS, seed=6)
    sp = vs.seed_pairings(df, "uni-skip-track", "uni-base", "hr@1")
    assert len(sp) == 25 and sp["paired"].sum() == 5
    a = df[df["variant"] == "uni-skip-track"].set_index("seed")["test_hr@1"]
    b = df[df["variant"] == "uni-base"].set_index("seed")["test_hr@1"]
    r = sp[(sp["variant_seed"] == 3) & (sp["baseline_seed"] == 1)]["rel_change"].item()
    assert r == pytest.approx((a[3] - b[1]) / b[1])
    # the mean of the paired single-seed differences, over the baseline mean, is the headline
    paired = sp[sp["paired"]].set_index("variant_seed")
    assert np.mean((a - b).to_numpy()) / b.mean() == pytest.approx(
        vs.comparisons(df, [("uni-skip-track", "uni-base")], ["hr@1"])["rel_change"].item())
    assert len(paired) == 5


def test_sweep_extraction_reads_the_overrides(tmp_path):
    folder = synthetic_results(tmp_path)
    sig = vs.sweep_table(vs.load_results("skip_signal", folder), "sim.skip_signal", ["hr@1"])
    assert sig["value"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert (sig["variant"] == [f"s{v:g}-skip" for v in sig["value"]]).all()
    df = vs.load_results("skip_signal", folder)
    a = df[df["variant"] == "s0.5-skip"].set_index("seed")["test_hr@1"]
    b = df[df["variant"] == "s0.5-base"].set_index("seed")["test_hr@1"]
    got = sig.loc[sig["value"] == 0.5, "rel_change"].item()
    assert got == pytest.approx((a - b).mean() / b.mean())
    w = vs.sweep_table(vs.load_results("skip_weight", folder), "loss.skip_weight", ["hr@10"])
    assert w["value"].tolist() == [0.0, 0.1, 0.3, 1.0, 3.0]
    assert w.loc[w["value"] == 0, "rel_change"].item() == 0.0
    assert w.loc[w["value"] == 0, "change [95% CI]"].item() == "baseline"


def test_oracle_fraction_and_context_table():
    df = make_grid(CLAIM_VARIANTS, seed=7, data="data/a")
    other = make_grid({"z": ("", 1.0, {})}, data="data/b")
    bounds = make_bounds({"data/b": 0.9, "data/a": 0.25})
    table = vs.oracle_table(pd.concat([df, other]), bounds, ["uni-skip-track", "uni-base"])
    for k in KS:
        model = df.loc[df["variant"] == "uni-skip-track", f"test_hr@{k}"].mean()
        rows = bounds[(bounds["data"] == "data/a") & (bounds["kind"] == "oracle")]
        oracle = rows[f"test_hr@{k}"].item()
        assert table.loc[k, "oracle"] == oracle                     # the right dataset's oracle
        assert table.loc[k, "uni-skip-track / oracle"] == pytest.approx(model / oracle)
    ctx = vs.context_table(df, bounds, "uni-skip-track", "uni-base")
    assert list(ctx.index) == list(CONTEXT_TYPES)
    col = "ctx_radio_hr@10"
    a = df[df["variant"] == "uni-skip-track"].set_index("seed")[col]
    b = df[df["variant"] == "uni-base"].set_index("seed")[col]
    assert ctx.loc["radio", "rel_change"] == pytest.approx((a - b).mean() / b.mean())
    assert ctx.loc["radio", "examples"] == 400
    with pytest.raises(KeyError, match="negrec bounds"):
        vs.oracle_table(df, bounds[bounds["data"] == "data/b"], ["uni-base"])


# ------------------------------------------------------------------------ figures
def test_figures_are_labelled():
    df = make_grid(CLAIM_VARIANTS, seed=8)
    pairs = [("uni-skip-track", "uni-base"), ("bi-skip-track", "bi-base")]
    comp = vs.comparisons(df, pairs, ["hr@1", "hr@10"])
    comp["label"] = comp["variant"]
    assert_labelled(vs.forest_plot(comp, series="metric"))
    assert_labelled(vs.plot_protocols(df, pairs))
    assert_labelled(vs.plot_seed_spread(df, {"skip": pairs[0], "bi skip": pairs[1]}, "hr@1"))
    bounds = make_bounds({"data/sim-a": 0.3})
    table = vs.oracle_table(df, bounds, ["uni-skip-track", "uni-base"])
    assert_labelled(vs.oracle_curves(table, ["uni-skip-track", "uni-base"]))
    assert_labelled(vs.plot_contexts(vs.context_table(df, bounds, "uni-skip-track", "uni-base"),
                               "uni-skip-track", "uni-base"))
    w = make_grid({f"l{x}": ("" if x == 0 else "l0", 1 + x / 10, {"loss.skip_weight": x})
                   for x in (0, 0.1, 1, 3)}, seeds=(0, 1, 2))
    assert_labelled(vs.sweep_plot(vs.sweep_table(w, "loss.skip_weight"), "lambda", xscale="symlog"))


def test_figures_script_writes_every_figure(tmp_path):
    spec = importlib.util.spec_from_file_location("figures", ROOT / "experiments" / "figures.py")
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    results = synthetic_results(tmp_path / "results")
    written = figures.main(["--results", str(results), "--out", str(tmp_path / "figs")])
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
        numbers = vs.summary_numbers(ROOT / "results")
    except ConfigError as exc:
        pytest.fail(f"the summary's results are missing: {exc}")
    page = (ROOT / "book" / "summary.md").read_text(encoding="utf-8")
    chapters = _chapter_text("06_evaluation.ipynb", "07_beyond.ipynb")
    missing_page = {k: v for k, v in numbers.items() if v not in page}
    missing_ch = {k: v for k, v in numbers.items() if v not in chapters}
    assert not missing_page, f"book/summary.md does not quote the results: {missing_page}"
    assert not missing_ch, f"chapters 6-7 do not print these summary numbers: {missing_ch}"
    # and the page quotes nothing else that looks like a result
    quoted = set(re.findall(r"[+-]\d+\.\d%", page))
    known = {m for v in numbers.values() for m in re.findall(r"[+-]\d+\.\d%", v)}
    paper = {f"{100 * g:+.2f}%" for g in vs.PAPER_SKIP_GAINS.values()}
    assert quoted <= known | paper, f"summary.md quotes changes not in results: {quoted - known}"
