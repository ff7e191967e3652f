"""Tables and figures of the study chapters (6 and 7): committed results in, claims and plots out.

Every number of these chapters comes from a results table, ``results/<grid>.csv`` (one row per
trained run, written by ``negrec experiment``) or ``results/<grid>_bounds.csv`` (the oracle and
the popularity baseline of each dataset, written by ``negrec bounds``). The functions here only
read, pair and plot them: they train nothing, so a chapter that uses them gives the same output
under every profile.

Statistics, everywhere the same (`negrec_lib.experiments`): a mean over seeds with a two-sided
95% Student-t interval; a comparison pairs the runs of two variants by seed, takes the seed-wise
differences, and reports their mean with its t-interval, divided by the baseline's mean for the
relative change, and the paired t-test and Wilcoxon signed-rank p-values.

Plotting functions draw into a new pyplot figure and return it; titles state what the numbers
show, computed from them, unless ``title`` is given.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..data.schema import CONTEXT_TYPES
from ..errors import ConfigError
from ..experiments import compare, read_results_table, t_interval
from .training import PAPER_SKIP_GAINS, claim_verdict, metric_label

__all__ = ["PROTOCOLS", "KS", "CLAIMS", "SETTINGS", "SKIP_PAIRS", "REFERENCE_PAIRS", "SEED_PAIRS",
           "FEATURE_PAIRS", "LENGTH_PAIRS", "load_results", "load_bounds", "grid_facts",
           "config_facts", "column", "format_change", "variant_means", "comparisons",
           "labelled_comparisons", "claims_table", "claims_overview", "protocol_table",
           "rank_agreement", "seed_pairings", "override_values", "sweep_table", "bound_for",
           "best_variant", "oracle_variants", "oracle_table", "context_table", "summary_numbers",
           "forest_plot", "plot_protocols", "plot_claims_by_split", "plot_seed_spread",
           "sweep_plot", "oracle_curves", "plot_oracle", "plot_contexts", "plot_long_sessions"]

PROTOCOLS = {"full": "test_", "sampled": "sampled_"}
"""Evaluation protocol -> column prefix: the full catalogue, or the batch targets + 1000 random."""
KS = (1, 5, 10, 20)
CLAIMS: tuple[tuple[str, str, str, str], ...] = (
    ("1", "uni-skip-track", "uni-base", "the skip loss improves HR@K (unidirectional)"),
    ("2", "uni-base", "bi-base", "unidirectional beats bidirectional"),
    ("3", "uni-skip-track", "uni-skip-hidden", "the track anchor beats the hidden anchor"),
)
"""The paper's three claims (book/paper.md section 5): (claim, variant, baseline, statement)."""
CLAIM_LABELS = {"1": "skip loss", "2": "uni vs bi", "3": "track vs hidden anchor"}
SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("leave-last-out, sampled", "claims_paper", "sampled"),
    ("leave-last-out, full", "claims_paper", "full"),
    ("by day, full", "claims_by_day", "full"),
)
"""(label, grid, protocol): the paper's 2024 protocol, its 2023 protocol, and the honest one."""
SKIP_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (f"{d}-skip-{a}", f"{d}-base") for d in ("uni", "bi") for a in ("track", "hidden", "reference"))
"""Every skip variant of the claims grids against the baseline of its direction."""
REFERENCE_PAIRS: dict[str, tuple[str, str]] = {
    "uni: reference vs correct pairing": ("uni-skip-reference", "uni-skip-track"),
    "uni: reference pairing vs no skip loss": ("uni-skip-reference", "uni-base"),
    "bi: reference vs correct pairing": ("bi-skip-reference", "bi-skip-track"),
    "bi: reference pairing vs no skip loss": ("bi-skip-reference", "bi-base"),
}
"""The cost of the reference code's cross-session pairing (pitfall 1), paired by seed."""
SEED_PAIRS: dict[str, tuple[str, str]] = {
    "claim 1: skip loss, uni": ("uni-skip-track", "uni-base"),
    "skip loss, bi": ("bi-skip-track", "bi-base"),
    "hidden anchor, uni": ("uni-skip-hidden", "uni-base"),
    "claim 3: track vs hidden anchor": ("uni-skip-track", "uni-skip-hidden"),
}
"""The comparisons whose single-seed spread chapter 6 shows."""
FEATURE_PAIRS: dict[str, tuple[str, str]] = {
    "skip loss (ids only)": ("ids-skip", "ids-base"),
    "features (no skip loss)": ("features-base", "ids-base"),
    "features + skip loss": ("features-skip", "ids-base"),
    "skip loss (with features)": ("features-skip", "features-base"),
}
"""The features grid: every comparison against its reference, paired by seed."""
LENGTH_PAIRS: dict[str, tuple[str, str]] = {"sessions of up to 20 tracks": ("L20-uni", "L20-bi"),
                                            "sessions of up to 50 tracks": ("L50-uni", "L50-bi")}
"""The long-sessions grid: the unidirectional model against the bidirectional, per length."""
SERIES_COLORS = ("C0", "C1", "C2", "C3", "C4", "C5")


# ------------------------------------------------------------------------ loading
def _root(root: str | Path | None) -> Path:
    if root is not None:
        return Path(root)
    from ..notebook import project_root
    return project_root() / "results"


def _fetch(path: Path, root: str | Path | None) -> None:
    """Outside a clone (Colab), download a committed results file of the repository once."""
    from ..notebook import project_root
    if path.is_file() or root is not None or (project_root() / "pyproject.toml").is_file():
        return
    from urllib.request import urlretrieve

    from .. import REPOSITORY_URL
    slug = REPOSITORY_URL.removeprefix("https://github.com/").rstrip("/")
    url = f"https://raw.githubusercontent.com/{slug}/main/results/{path.name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        urlretrieve(url, path)
    except OSError as exc:
        raise ConfigError(f"{path}: not here, and {url} could not be fetched ({exc}); clone "
                          "the repository or run the grid") from None


def load_results(name: str, root: str | Path | None = None) -> pd.DataFrame:
    """The runs of one grid, ``<root>/<name>.csv`` (default root: the repository's results/).

    Outside a clone of the repository (on Colab) and without ``root``, the committed table is
    downloaded from the repository into ``results/`` first.
    """
    path = _root(root) / f"{name}.csv"
    _fetch(path, root)
    if not path.is_file():
        raise ConfigError(f"{path}: no results table; run `negrec experiment experiments/"
                          f"{name}.yaml` to create it")
    df = read_results_table(path)
    if "baseline" in df.columns:             # grids name a baseline variant; baselines.csv not
        df["baseline"] = df["baseline"].fillna("").astype(str)
    return df


def load_baselines(experiment: str | None = None, root: str | Path | None = None) -> pd.DataFrame:
    """``<root>/baselines.csv`` (`negrec baselines`): popularity, Markov, SKNN, V-SKNN and the
    oracle per dataset; only the rows of ``experiment`` when given."""
    path = _root(root) / "baselines.csv"
    _fetch(path, root)
    if not path.is_file():
        raise ConfigError(f"{path}: no baselines table; run `negrec baselines "
                          f"experiments/<grid>.yaml` to create it")
    df = read_results_table(path, key_columns=("experiment", "method"))
    return df if experiment is None else df[df["experiment"] == experiment]


def load_bounds(name: str, root: str | Path | None = None) -> pd.DataFrame:
    """The oracle and popularity rows of one grid, ``<root>/<name>_bounds.csv``."""
    path = _root(root) / f"{name}_bounds.csv"
    _fetch(path, root)
    if not path.is_file():
        raise ConfigError(f"{path}: no bounds table; run `negrec bounds experiments/"
                          f"{name}.yaml` to create it")
    return read_results_table(path, ("variant", "kind"))


def grid_facts(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per grid: variants, seeds, runs, CPU time, hardware and commit: what a rerun costs."""
    rows = []
    for name, df in tables.items():
        rows.append({"grid": name, "variants": df["variant"].nunique(),
                     "seeds": df["seed"].nunique(), "runs": len(df),
                     "CPU minutes": round(float(df["wall_seconds"].sum()) / 60),
                     "hardware": ", ".join(sorted(set(map(str, df["hardware"])))),
                     "commit": ", ".join(sorted({str(c)[:7] for c in df["commit"]}))})
    return pd.DataFrame(rows).set_index("grid")


def config_facts(df: pd.DataFrame) -> dict[str, object]:
    """The sizes every run of a grid shares, read from the ``config`` column of its first row."""
    import inspect

    from ..metrics import evaluate
    cfg = json.loads(df["config"].iloc[0])
    n_random = inspect.signature(evaluate).parameters["n_random"].default
    return {"simulated sessions": cfg["sim"]["sessions"], "tracks": cfg["sim"]["tracks"],
            "days": cfg["sim"]["days"], "skip_signal": cfg["sim"]["skip_signal"],
            "split": cfg["data"]["split"], "d_model": cfg["model"]["d_model"],
            "layers": cfg["model"]["n_layers"], "heads": cfg["model"]["n_heads"],
            "epochs": cfg["train"]["epochs"], "batch": cfg["train"]["batch_size"],
            "training: sampled candidates": cfg["loss"]["n_negatives"],
            "sampled evaluation: batch": cfg["train"]["sampled_eval_batch_size"],
            "sampled evaluation: random tracks": n_random,
            "test examples": int(df["test_n"].iloc[0])}


# ------------------------------------------------------------------------ statistics
def column(metric: str, protocol: str = "full") -> str:
    """The results column of a metric under a protocol: ("hr@10", "sampled") -> sampled_hr@10."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    return PROTOCOLS[protocol] + metric


def format_change(rel: float, lo: float, hi: float) -> str:
    """A relative change and its interval in percent: ``+20.5% [+14.2, +26.7]``."""
    return f"{100 * rel:+.1f}% [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def variant_means(df: pd.DataFrame, metrics: Sequence[str] = tuple(f"hr@{k}" for k in KS),
                  protocol: str = "full") -> pd.DataFrame:
    """Per variant and metric: seeds, the mean over seeds and its 95% t-interval (long format)."""
    rows = []
    for variant, g in df.groupby("variant", sort=False):
        for m in metrics:
            mean, lo, hi = t_interval(g[column(m, protocol)].to_numpy(float))
            rows.append({"variant": variant, "metric": m, "protocol": protocol,
                         "seeds": int(g[column(m, protocol)].notna().sum()),
                         "mean": mean, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def comparisons(df: pd.DataFrame, pairs: Sequence[tuple[str, str]],
                metrics: Sequence[str] = tuple(f"hr@{k}" for k in KS),
                protocol: str = "full") -> pd.DataFrame:
    """Each (variant, baseline) pair on each metric, runs paired by seed (long format).

    Columns: variant, baseline, metric, protocol, n_pairs, variant_mean, baseline_mean, diff and
    its interval, rel_change (diff / baseline mean) and its interval, p_ttest, p_wilcoxon, and
    ``change [95% CI]``, the relative change as the chapters print it (`format_change`).
    """
    rows = []
    for variant, baseline in pairs:
        for m in metrics:
            col = column(m, protocol)
            r = compare(df, variant, baseline, col)
            rows.append({"variant": variant, "baseline": baseline, "metric": m,
                         "protocol": protocol,
                         "variant_mean": float(df.loc[df["variant"] == variant, col].mean()),
                         "baseline_mean": float(df.loc[df["variant"] == baseline, col].mean()),
                         **r, "change [95% CI]": format_change(r["rel_change"], r["rel_ci_low"],
                                                               r["rel_ci_high"])})
    return pd.DataFrame(rows)


def labelled_comparisons(df: pd.DataFrame, pairs: Mapping[str, tuple[str, str]],
                         metrics: Sequence[str], protocol: str = "full") -> pd.DataFrame:
    """`comparisons` of named pairs, with ``label`` (the name) and ``series`` (the metric label)."""
    comp = comparisons(df, list(pairs.values()), metrics, protocol)
    names = {pair: name for name, pair in pairs.items()}
    comp.insert(0, "label", [names[(v, b)] for v, b in zip(comp["variant"], comp["baseline"])])
    comp["series"] = comp["metric"].map(metric_label)
    return comp


def claims_table(df: pd.DataFrame, protocol: str = "full", ks: Sequence[int] = KS,
                 claims: Sequence[tuple[str, str, str, str]] = CLAIMS) -> pd.DataFrame:
    """The paper's claims against one grid: a row per (claim, HR@K), verdict included.

    The paper's number is its relative HR@K gain for claim 1 (`PAPER_SKIP_GAINS`), none for
    claims 2 and 3; the verdict is `negrec_lib.viz.training.claim_verdict` of our paired interval.
    Numeric columns (rel_change, rel_ci_low, rel_ci_high, p_ttest, p_wilcoxon) are kept for
    further use; ``change [95% CI]`` is the printed form.
    """
    rows = []
    for claim, variant, baseline, _ in claims:
        comp = comparisons(df, [(variant, baseline)], [f"hr@{k}" for k in ks], protocol)
        for _, r in comp.iterrows():
            claimed = PAPER_SKIP_GAINS.get(r["metric"]) if claim == "1" else None
            rows.append({"claim": claim, "metric": metric_label(r["metric"]),
                         "comparison": f"{variant} vs {baseline}",
                         "paper": f"{100 * claimed:+.2f}%" if claimed is not None else "",
                         "change [95% CI]": r["change [95% CI]"],
                         "p (t)": round(r["p_ttest"], 3),
                         "verdict": claim_verdict(r["rel_change"], r["rel_ci_low"],
                                                  r["rel_ci_high"], claimed),
                         **{k: r[k] for k in ("rel_change", "rel_ci_low", "rel_ci_high",
                                              "p_ttest", "p_wilcoxon", "n_pairs")}})
    return pd.DataFrame(rows).set_index(["claim", "metric"])


def claims_overview(tables: Mapping[str, pd.DataFrame], ks: Sequence[int] = KS
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The three claims under every setting of `SETTINGS`: (changes, verdicts), two tables.

    ``tables`` maps grid names (``claims_paper``, ``claims_by_day``) to their results. Both
    tables have a row per (claim, HR@K) and a column per setting; ``changes`` also has the
    paper's number.
    """
    changes, verdicts = {}, {}
    for label, grid, protocol in SETTINGS:
        t = claims_table(tables[grid], protocol, ks)
        changes.setdefault("paper", t["paper"])
        changes[label] = t["change [95% CI]"]
        verdicts[label] = t["verdict"]
    return pd.DataFrame(changes), pd.DataFrame(verdicts)


def protocol_table(df: pd.DataFrame, metrics: Sequence[str] = tuple(f"hr@{k}" for k in KS)
                   ) -> pd.DataFrame:
    """Per variant: the seed mean of each metric under both protocols, and sampled / full."""
    rows = []
    for variant, g in df.groupby("variant", sort=False):
        for m in metrics:
            full, sampled = g[column(m, "full")].mean(), g[column(m, "sampled")].mean()
            rows.append({"variant": variant, "metric": metric_label(m), "full": full,
                         "sampled": sampled, "sampled / full": sampled / full})
    return pd.DataFrame(rows).set_index(["metric", "variant"])


def rank_agreement(df: pd.DataFrame, metrics: Sequence[str] = tuple(f"hr@{k}" for k in KS)
                   ) -> pd.DataFrame:
    """Do the two protocols order the variants alike? Kendall's tau and Spearman's rho per metric.

    Computed on the variants' seed means; ``same best`` says whether both protocols put the same
    variant first.
    """
    from scipy import stats
    rows = []
    for m in metrics:
        means = df.groupby("variant")[[column(m, "full"), column(m, "sampled")]].mean()
        f, s = means.iloc[:, 0], means.iloc[:, 1]
        rows.append({"metric": metric_label(m), "variants": len(means),
                     "Kendall tau": stats.kendalltau(f, s).statistic,
                     "Spearman rho": stats.spearmanr(f, s).statistic,
                     "best (full)": f.idxmax(), "best (sampled)": s.idxmax(),
                     "same best": f.idxmax() == s.idxmax()})
    return pd.DataFrame(rows).set_index("metric")


def seed_pairings(df: pd.DataFrame, variant: str, baseline: str, metric: str,
                  protocol: str = "full") -> pd.DataFrame:
    """Every single-seed comparison: variant seed i against baseline seed j, for all i and j.

    ``paired`` marks i == j (the runs share initialisation, batch order and sampled negatives).
    ``rel_change`` is (variant_i - baseline_j) / baseline_j: what one researcher with one run of
    each would have reported.
    """
    col = column(metric, protocol)
    v = df.loc[df["variant"] == variant].set_index("seed")[col]
    b = df.loc[df["variant"] == baseline].set_index("seed")[col]
    rows = [{"variant_seed": i, "baseline_seed": j, "paired": i == j,
             "rel_change": (v[i] - b[j]) / b[j]} for i in v.index for j in b.index]
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ sweeps and bounds
def override_values(df: pd.DataFrame, key: str) -> pd.Series:
    """The value each run's variant set for ``key`` (from the ``overrides`` JSON column)."""
    return df["overrides"].map(lambda s: json.loads(s).get(key))


def sweep_table(df: pd.DataFrame, key: str, metrics: Sequence[str] = ("hr@1", "hr@10"),
                protocol: str = "full") -> pd.DataFrame:
    """Each variant with a baseline against it, indexed by the value of the swept ``key``.

    One row per (value, metric); a grid whose variants all share one baseline (a weight sweep)
    gives the baseline's own value a row with a zero change and no interval.
    """
    values = dict(zip(df["variant"], override_values(df, key)))
    pairs = list(dict.fromkeys((v, b) for v, b in zip(df["variant"], df["baseline"]) if b))
    comp = comparisons(df, pairs, metrics, protocol)
    comp.insert(0, "value", comp["variant"].map(values).astype(float))
    bases = {b for _, b in pairs}
    if len(bases) == 1 and (base := bases.pop()) not in {v for v, _ in pairs}:
        for m in metrics:                          # the shared baseline: zero change by definition
            level = float(df.loc[df["variant"] == base, column(m, protocol)].mean())
            zero = {"value": float(values[base]), "variant": base, "baseline": base, "metric": m,
                    "protocol": protocol, "variant_mean": level, "baseline_mean": level,
                    "rel_change": 0.0, "diff": 0.0}
            comp = pd.concat([comp, pd.DataFrame([zero])], ignore_index=True)
    comp["change [95% CI]"] = [format_change(r, lo, hi) if not pd.isna(lo) else "baseline"
                               for r, lo, hi in zip(comp["rel_change"], comp["rel_ci_low"],
                                                    comp["rel_ci_high"])]
    return comp.sort_values(["metric", "value"], kind="stable").reset_index(drop=True)


def bound_for(df: pd.DataFrame, bounds: pd.DataFrame, variant: str, kind: str) -> pd.Series:
    """The bounds row (kind ``oracle`` or ``popularity``) of the dataset ``variant`` ran on."""
    data = set(df.loc[df["variant"] == variant, "data"])
    if len(data) != 1:
        raise ValueError(f"variant {variant!r} ran on {len(data)} datasets: {sorted(data)}")
    rows = bounds[(bounds["data"] == data.pop()) & (bounds["kind"] == kind)]
    if rows.empty:
        raise KeyError(f"no {kind} row for the dataset of {variant!r}: rerun `negrec bounds`")
    return rows.iloc[0]


def best_variant(df: pd.DataFrame, metric: str = "hr@10", protocol: str = "full") -> str:
    """The variant with the highest seed mean of ``metric``."""
    return str(df.groupby("variant")[column(metric, protocol)].mean().idxmax())


def oracle_variants(df: pd.DataFrame) -> list[str]:
    """The variants chapter 7 sets beside the oracle: the best (by HR@10) and both baselines."""
    return list(dict.fromkeys([best_variant(df), "uni-base", "bi-base"]))


def oracle_table(df: pd.DataFrame, bounds: pd.DataFrame, variants: Sequence[str],
                 ks: Sequence[int] = KS) -> pd.DataFrame:
    """HR@K of popularity, the given variants (seed means with CI) and the oracle; one row per K.

    ``<variant> / oracle`` is the variant's mean HR@K divided by the oracle's: the share of the
    best possible hit rate that the model reaches (all variants must share one dataset).
    """
    oracle = bound_for(df, bounds, variants[0], "oracle")
    popularity = bound_for(df, bounds, variants[0], "popularity")
    rows = []
    for k in ks:
        m = f"hr@{k}"
        row = {"K": k, "popularity": float(popularity[f"test_{m}"])}
        for v in variants:
            mean, lo, hi = t_interval(df.loc[df["variant"] == v, f"test_{m}"].to_numpy(float))
            row.update({v: mean, f"{v} low": lo, f"{v} high": hi})
        row["oracle"] = float(oracle[f"test_{m}"])
        for v in variants:
            row[f"{v} / oracle"] = row[v] / row["oracle"]
        row["popularity / oracle"] = row["popularity"] / row["oracle"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("K")


def context_table(df: pd.DataFrame, bounds: pd.DataFrame, variant: str, baseline: str,
                  metric: str = "hr@10") -> pd.DataFrame:
    """Per listening context: test examples, popularity, baseline, variant and oracle ``metric``.

    Model columns are seed means with 95% t-intervals; ``change [95% CI]`` pairs the variant
    with the baseline by seed, within the context. Only contexts with results columns appear.
    """
    oracle = bound_for(df, bounds, baseline, "oracle")
    popularity = bound_for(df, bounds, baseline, "popularity")
    rows = []
    for ctx in CONTEXT_TYPES:
        col = f"ctx_{ctx}_{metric}"
        if col not in df.columns:
            continue
        r = compare(df, variant, baseline, col)
        row = {"context": ctx,
               "examples": int(df.loc[df["variant"] == baseline, f"ctx_{ctx}_n"].iloc[0]),
               "popularity": float(popularity.get(col, np.nan))}
        for v in (baseline, variant):
            mean, lo, hi = t_interval(df.loc[df["variant"] == v, col].to_numpy(float))
            row.update({v: mean, f"{v} low": lo, f"{v} high": hi})
        row["oracle"] = float(oracle.get(col, np.nan))
        row.update({"rel_change": r["rel_change"], "rel_ci_low": r["rel_ci_low"],
                    "rel_ci_high": r["rel_ci_high"],
                    "change [95% CI]": format_change(r["rel_change"], r["rel_ci_low"],
                                                     r["rel_ci_high"])})
        rows.append(row)
    return pd.DataFrame(rows).set_index("context")


def summary_numbers(root: str | Path | None = None) -> dict[str, str]:
    """Every number ``book/summary.md`` quotes, recomputed from the results tables.

    The keys say what each number is; the values are formatted exactly as chapters 6 and 7
    print them, so a test can check that the page and the chapters' outputs contain each one.
    """
    grids = {g: load_results(g, root) for g in ("claims_paper", "claims_by_day", "skip_signal",
                                                "features", "long_sessions", "skip_weight")}
    out: dict[str, str] = {}
    changes, _ = claims_overview(grids, ks=(1, 10))
    for (claim, metric), row in changes.iterrows():
        for label, _, _ in SETTINGS:
            out[f"claim {claim}, {metric}, {label}"] = row[label]
    paper = grids["claims_paper"]
    ref = labelled_comparisons(paper, {k: v for k, v in REFERENCE_PAIRS.items()
                                       if k.startswith("uni")}, ["hr@1", "hr@10"])
    for (label, m), text in zip(zip(ref["label"], ref["series"]), ref["change [95% CI]"]):
        out[f"{label}, {m}"] = text
    bounds = load_bounds("claims_paper", root)
    variants = oracle_variants(paper)
    oracle = oracle_table(paper, bounds, variants)
    for k, share in oracle[f"{variants[0]} / oracle"].items():
        out[f"{variants[0]} / oracle, K = {k}"] = f"{share:.0%} at K = {k}"
    ctx = context_table(paper, bounds, "uni-skip-track", "uni-base")
    for c in (ctx["rel_change"].idxmin(), ctx["rel_change"].idxmax()):
        out[f"skip loss in context {c}, HR@10"] = ctx.loc[c, "change [95% CI]"]
    for grid, key in (("skip_signal", "sim.skip_signal"), ("skip_weight", "loss.skip_weight")):
        sweep = sweep_table(grids[grid], key, ["hr@1"])
        for value, text in zip(sweep["value"], sweep["change [95% CI]"]):
            if text != "baseline":
                out[f"{grid} {value:g}, HR@1"] = text
    feat = labelled_comparisons(grids["features"], FEATURE_PAIRS, ["hr@1"])
    for (label, m), text in zip(zip(feat["label"], feat["series"]), feat["change [95% CI]"]):
        out[f"{label}, {m}"] = text
    gap = labelled_comparisons(grids["long_sessions"], LENGTH_PAIRS, ["hr@1", "hr@10"])
    for (label, m), text in zip(zip(gap["label"], gap["series"]), gap["change [95% CI]"]):
        out[f"uni vs bi, {label}, {m}"] = text
    return out


# ------------------------------------------------------------------------ figures
def forest_plot(table: pd.DataFrame, label: str = "label", series: str | None = None,
                paper: str | None = None,
                xlabel: str = "relative change (%), 95% CI over paired seeds",
                title: str | None = None) -> Figure:
    """Relative changes with their intervals: a row per ``label``, a colour per ``series``.

    ``table`` has columns rel_change, rel_ci_low, rel_ci_high (fractions) and the ``label`` and
    ``series`` columns; ``paper`` names a column of claimed changes, drawn as black crosses.
    """
    labels = list(dict.fromkeys(table[label]))
    groups = list(dict.fromkeys(table[series])) if series else [None]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(labels) * len(groups) + 1.5),
                           layout="constrained")
    y0 = np.arange(len(labels))[::-1].astype(float)
    step = 0.7 / max(1, len(groups))
    excl = total = 0
    for i, g in enumerate(groups):
        part = table if g is None else table[table[series] == g]
        part = part.set_index(label).reindex(labels)
        y = y0 + (len(groups) - 1) / 2 * step - i * step
        rel, lo, hi = (100 * part[c].to_numpy(float) for c in ("rel_change", "rel_ci_low",
                                                             "rel_ci_high"))
        ax.errorbar(rel, y, xerr=np.vstack([rel - lo, hi - rel]), fmt="o", ms=5, capsize=3,
                    color=SERIES_COLORS[i % len(SERIES_COLORS)],
                    label=str(g) if g is not None else None)
        ok = ~np.isnan(lo)
        excl += int(np.sum((lo[ok] > 0) | (hi[ok] < 0)))
        total += int(ok.sum())
        if paper and paper in part and i == 0:           # one cross per row, at its centre
            claimed = 100 * part[paper].to_numpy(float)
            ax.plot(claimed, y0, "x", color="black", ms=8, mew=2, label="paper", zorder=3)
    ax.axvline(0, color="0.3", lw=1)
    ax.set_yticks(y0, labels)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_xlabel(xlabel)
    handles, names = ax.get_legend_handles_labels()
    if len(handles) > 1:
        fig.legend(handles, names, loc="outside lower center", ncols=min(4, len(handles)),
                   frameon=False, fontsize=9)
    if title is None:
        title = (f"{excl} of {total} intervals exclude zero" if excl
                 else "Every interval includes zero")
    ax.set_title(title)
    return fig


def plot_protocols(df: pd.DataFrame, pairs: Sequence[tuple[str, str]], metric: str = "hr@10",
                   title: str | None = None) -> Figure:
    """Left: each variant's ``metric`` under both protocols; right: each pair's gain under both.

    The left panel shows how much the sampled protocol inflates the level and whether it keeps
    the order of the variants; the right one whether it keeps the size of relative gains (points
    on the diagonal: the same gain under both protocols).
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7.0, 3.9), layout="constrained",
                                 gridspec_kw={"width_ratios": [1.15, 1]})
    means = df.groupby("variant", sort=False)[[column(metric, "full"),
                                               column(metric, "sampled")]].mean()
    means = means.sort_values(column(metric, "full"))
    y = np.arange(len(means))
    a1.hlines(y, means.iloc[:, 0], means.iloc[:, 1], color="0.75", lw=2)
    a1.plot(means.iloc[:, 0], y, "o", color="C0", label="full catalogue")
    a1.plot(means.iloc[:, 1], y, "s", color="C1", label="sampled")
    a1.set_yticks(y, means.index)
    a1.set_xlabel(f"{metric_label(metric)} (test, mean of seeds)")
    a1.legend(frameon=False, fontsize=8.5, loc="lower right")
    full = comparisons(df, pairs, [metric], "full")
    sampled = comparisons(df, pairs, [metric], "sampled")
    x, xl, xh = (100 * full[c].to_numpy(float) for c in ("rel_change", "rel_ci_low", "rel_ci_high"))
    s, sl, sh = (100 * sampled[c].to_numpy(float) for c in ("rel_change", "rel_ci_low",
                                                          "rel_ci_high"))
    a2.errorbar(x, s, xerr=np.vstack([x - xl, xh - x]), yerr=np.vstack([s - sl, sh - s]),
                fmt="o", ms=4, capsize=2, color="C2", lw=1)
    lim = [min(xl.min(), sl.min(), 0) - 2, max(xh.max(), sh.max(), 0) + 2]
    a2.plot(lim, lim, color="0.5", lw=1, ls="--")
    a2.axhline(0, color="0.8", lw=0.8)
    a2.axvline(0, color="0.8", lw=0.8)
    a2.set_xlim(lim)
    a2.set_ylim(lim)
    a2.set_xlabel(f"gain in {metric_label(metric)}, full (%)")
    a2.set_ylabel("gain, sampled (%)")
    a2.set_title("each skip variant vs its baseline", fontsize=9.5, fontweight="normal")
    if title is None:
        ratio = (means.iloc[:, 1] / means.iloc[:, 0])
        shrink = float(np.median(s / np.where(x == 0, np.nan, x)))
        title = (f"Sampling inflates {metric_label(metric)} x{ratio.min():.1f}-x{ratio.max():.1f}; "
                 f"gains scale by about x{shrink:.2f}")
    fig.suptitle(title, fontweight="bold", fontsize=10.5)
    return fig


def plot_claims_by_split(tables: Mapping[str, pd.DataFrame], protocol: str = "full",
                         ks: Sequence[int] = (1, 10), title: str | None = None) -> Figure:
    """The three claims at HR@K under each split (a colour per split), the paper's gains as x."""
    parts = []
    for split, df in tables.items():
        t = claims_table(df, protocol, ks).reset_index()
        t["label"] = [f"{c}: {CLAIM_LABELS[c]}, {m}" for c, m in zip(t["claim"], t["metric"])]
        t["series"] = split
        t["paper_gain"] = [PAPER_SKIP_GAINS.get(m.lower()) if c == "1" else np.nan
                           for c, m in zip(t["claim"], t["metric"])]
        parts.append(t)
    both = pd.concat(parts, ignore_index=True)
    if title is None:
        signs = both.groupby("label").apply(
            lambda g: len({np.sign(r) if lo * hi > 0 else 0
                           for r, lo, hi in zip(g["rel_change"], g["rel_ci_low"],
                                                g["rel_ci_high"])}) > 1, include_groups=False)
        title = (f"The verdict changes with the split for {int(signs.sum())} of {len(signs)} rows"
                 if signs.any() else "Both splits give the same verdicts")
    return forest_plot(both, series="series", paper="paper_gain", title=title,
                       xlabel="relative change (%), 95% CI over paired seeds")


def plot_seed_spread(df: pd.DataFrame, pairs: Mapping[str, tuple[str, str]], metric: str,
                     protocol: str = "full", title: str | None = None) -> Figure:
    """Single-seed relative changes (all pairings, and the seed-paired ones) against the interval.

    One row per named comparison: grey dots are every (variant seed, baseline seed) pairing, dark
    dots the same-seed pairs, the bar the mean and 95% interval of the paired differences.
    """
    fig, ax = plt.subplots(figsize=(7, 0.75 * len(pairs) + 1.4), layout="constrained")
    flips = total = 0
    for i, (name, (variant, baseline)) in enumerate(pairs.items()):
        y = len(pairs) - 1 - i
        sp = seed_pairings(df, variant, baseline, metric, protocol)
        c = compare(df, variant, baseline, column(metric, protocol))
        jitter = np.linspace(-0.18, 0.18, len(sp))
        cross = sp[~sp["paired"]]
        ax.plot(100 * cross["rel_change"], y + jitter[:len(cross)], "o", ms=4, color="0.6",
                alpha=0.8, label="one run each, different seeds" if i == 0 else None)
        same = sp[sp["paired"]]
        ax.plot(100 * same["rel_change"], np.full(len(same), y - 0.3), "o", ms=5, color="C0",
                label="one run each, the same seed" if i == 0 else None)
        err = [[100 * (c["rel_change"] - c["rel_ci_low"])],
               [100 * (c["rel_ci_high"] - c["rel_change"])]]
        ax.errorbar(100 * c["rel_change"], y + 0.3, xerr=err, fmt="D", ms=6, capsize=4,
                    color="C3", lw=2,
                    label=f"all {c['n_pairs']} seeds: mean, 95% CI" if i == 0 else None)
        sign = np.sign(c["rel_change"])
        flips += int((np.sign(sp["rel_change"]) != sign).sum())
        total += len(sp)
    ax.axvline(0, color="0.3", lw=1)
    ax.set_yticks(range(len(pairs))[::-1], list(pairs))
    ax.set_xlabel(f"relative change in {metric_label(metric)} (%)")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3,
               frameon=False, fontsize=8.5)
    if title is None:
        title = (f"{flips} of {total} single-seed comparisons point the other way"
                 if flips else "Every single-seed comparison has the sign of the mean")
    fig.suptitle(title, fontweight="bold", fontsize=10.5)
    return fig


def sweep_plot(table: pd.DataFrame, xlabel: str, xscale: str = "linear",
               title: str | None = None) -> Figure:
    """Relative change (with 95% CI) against the swept value, a line per metric (`sweep_table`)."""
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    metrics = list(dict.fromkeys(table["metric"]))
    offsets = (np.arange(len(metrics)) - (len(metrics) - 1) / 2)
    span = float(table["value"].max() - table["value"].min()) or 1.0
    for i, m in enumerate(metrics):
        t = table[table["metric"] == m].sort_values("value")
        x = t["value"].to_numpy(float)
        dx = offsets[i] * (0.012 * span if xscale == "linear" else 0.04 * np.maximum(x, 0.02))
        rel = 100 * t["rel_change"].to_numpy(float)
        lo = 100 * t["rel_ci_low"].to_numpy(float)
        hi = 100 * t["rel_ci_high"].to_numpy(float)
        err = np.vstack([np.nan_to_num(rel - lo), np.nan_to_num(hi - rel)])
        ax.errorbar(x + dx, rel, yerr=err, fmt="o-", ms=5, capsize=3, color=SERIES_COLORS[i],
                    label=metric_label(m))
    ax.axhline(0, color="0.3", lw=1)
    if xscale == "symlog":
        ax.set_xscale("symlog", linthresh=0.1)
        values = sorted(set(table["value"]))
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.set_xlim(min(values) - 0.03, max(values) * 1.4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("change against the baseline (%)")
    if len(metrics) > 1:
        ax.legend(frameon=False, fontsize=9)
    if title is None:                              # the swept values, the baseline's row left out
        t = table[(table["metric"] == metrics[0]) & (table["variant"] != table["baseline"])]
        t = t.sort_values("value")
        best = t.loc[t["rel_change"].idxmax()]
        ends = [r for r in (t.iloc[0], t.iloc[-1]) if r["value"] != best["value"]]
        title = (f"{metric_label(metrics[0])}: largest gain {100 * best['rel_change']:+.1f}% at "
                 f"{best['value']:g}" + "".join(f"; {100 * r['rel_change']:+.1f}% at "
                                                 f"{r['value']:g}" for r in ends))
    ax.set_title(title)
    return fig


def oracle_curves(table: pd.DataFrame, variants: Sequence[str], title: str | None = None
                  ) -> Figure:
    """Left: HR@K of popularity, the variants and the oracle; right: each as a share of the oracle.

    ``table`` is an `oracle_table`.
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7.0, 3.6), layout="constrained")
    ks = table.index.to_numpy()
    a1.plot(ks, table["oracle"], "k^-", label="oracle (true next-track probabilities)")
    for i, v in enumerate(variants):
        a1.errorbar(ks, table[v], yerr=np.vstack([table[v] - table[f"{v} low"],
                                                  table[f"{v} high"] - table[v]]),
                    fmt="o-", ms=4, capsize=3, color=SERIES_COLORS[i], label=v)
        a2.plot(ks, 100 * table[f"{v} / oracle"], "o-", ms=4, color=SERIES_COLORS[i])
    a1.plot(ks, table["popularity"], "s--", color="0.5", ms=4, label="popularity")
    a2.plot(ks, 100 * table["popularity / oracle"], "s--", color="0.5", ms=4)
    for ax in (a1, a2):
        ax.set_xticks(ks)
        ax.set_xlabel("K (cut-off)")
    a1.set_ylabel("HR@K (test, full catalogue)")
    a1.set_ylim(0, None)
    a2.set_ylabel("% of the oracle's HR@K")
    a2.set_ylim(0, 100)
    fig.legend(*a1.get_legend_handles_labels(), loc="outside lower center", ncols=2,
               frameon=False, fontsize=8.5)
    if title is None:
        best = variants[0]
        share = 100 * table[f"{best} / oracle"]
        title = (f"{best} reaches {share.min():.0f}-{share.max():.0f}% of the best possible "
                 f"HR@K")
    fig.suptitle(title, fontweight="bold", fontsize=10.5)
    return fig


def plot_oracle(df: pd.DataFrame, bounds: pd.DataFrame, title: str | None = None) -> Figure:
    """`oracle_curves` of `oracle_variants` (the best model and both baselines) on one grid."""
    variants = oracle_variants(df)
    return oracle_curves(oracle_table(df, bounds, variants), variants, title)


def plot_contexts(table: pd.DataFrame, variant: str, baseline: str, metric: str = "hr@10",
                  title: str | None = None) -> Figure:
    """Per context: popularity, baseline and variant (with CI) and the oracle (`context_table`)."""
    t = table.sort_values("oracle")
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(t) + 1.9), layout="constrained")
    y = np.arange(len(t)).astype(float)
    ax.hlines(y, t["popularity"], t["oracle"], color="0.88", lw=6, zorder=0)
    ax.plot(t["popularity"], y, "s", color="0.5", ms=5, label="popularity")
    for i, (v, dy) in enumerate(((baseline, 0.14), (variant, -0.14))):
        ax.errorbar(t[v], y + dy, xerr=np.vstack([t[v] - t[f"{v} low"], t[f"{v} high"] - t[v]]),
                    fmt="o", ms=5, capsize=2, color=SERIES_COLORS[i], label=v)
    ax.plot(t["oracle"], y, "k^", ms=6, label="oracle")
    ax.set_yticks(y, [f"{c} ({n:,})" for c, n in zip(t.index, t["examples"])])
    ax.set_xlabel(f"{metric_label(metric)} (test, full catalogue)")
    ax.set_ylabel("context (test examples)")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=4,
               frameon=False, fontsize=8.5)
    if title is None:
        gap = (t["oracle"] - t[variant]) / t["oracle"]
        title = f"Gap to the oracle: largest in {gap.idxmax()},\nsmallest in {gap.idxmin()}"
    ax.set_title(title)
    return fig


def plot_long_sessions(df: pd.DataFrame, ks: Sequence[int] = KS, title: str | None = None
                       ) -> Figure:
    """The unidirectional model's relative lead over the bidirectional one at HR@K, per length."""
    comp = labelled_comparisons(df, LENGTH_PAIRS, [f"hr@{k}" for k in ks])
    comp = comp.rename(columns={"label": "length", "series": "K"})
    if title is None:
        lead = comp.groupby("length", sort=False)["rel_change"].mean()
        title = ("Mean lead of uni over bi: " + ", ".join(
            f"{100 * v:+.0f}% ({k.split()[-2]} tracks)" for k, v in lead.items()))
    return forest_plot(comp, label="K", series="length", title=title,
                       xlabel="relative change uni vs bi (%), 95% CI over paired seeds")
