"""Every number ``book/summary.md`` quotes, recomputed from the committed results tables.

The keys say what each number is; the values are formatted exactly as chapters 6 and 7 print
them, so a test can check that the page and the chapters' outputs contain each one.
"""

from __future__ import annotations

from pathlib import Path

from . import ceilings, claims, compare, results

__all__ = ["summary_numbers"]


def summary_numbers(root: str | Path | None = None) -> dict[str, str]:
    """{what: printed value} for the claims, controls, mechanism, ceilings and the sweep."""
    verdicts = results.load_verdicts(root)
    paper = results.load_results("study_claims", root)
    out: dict[str, str] = {}
    changes, _ = claims.claims_table(verdicts, metrics=("hr@1", "hr@10"))
    for (claim, k), row in changes.iterrows():
        for setting in changes.columns[1:]:
            if isinstance(row[setting], str):
                out[f"claim {claim}, {k}, {setting}"] = row[setting]
    controls = compare.labelled_comparisons(paper, claims.CONTROL_PAIRS, ["hr@1", "hr@10"])
    for label, series, text in zip(
        controls["label"], controls["series"], controls["change [95% CI]"]
    ):
        out[f"{label}, {series}"] = text
    one = compare.seed_pairings(paper, "uni-skip-track", "uni-base", "hr@1")["rel_change"]
    out["skip loss, single runs, lowest HR@1"] = f"{one.min():+.1%}"
    out["skip loss, single runs, highest HR@1"] = f"{one.max():+.1%}"
    mech = compare.labelled_comparisons(
        paper,
        {"skip loss": claims.CONTROL_PAIRS["skip loss (true labels)"]},
        ["skip_mrr", "unskipped_mrr"],
    )
    for series, text in zip(mech["series"], mech["change [95% CI]"]):
        out[f"skip loss, {series}"] = text
    base = results.load_baselines(root=root)
    ref = ceilings.reference_table(paper, base, ["uni-base"], ks=(1, 10))
    for k in ref.index:
        out[f"uni-base / oracle, HR@{k}"] = f"{ref.loc[k, 'uni-base / oracle']:.0%}"
        out[f"markov / oracle, HR@{k}"] = f"{ref.loc[k, 'markov / oracle']:.0%}"
    signal = results.with_borrowed_runs(
        results.load_results("study_skip_signal", root),
        paper,
        results.SIGNAL_FROM_CLAIMS,
        {"sim.skip_signal": 0.8},
    )
    sweep = compare.sweep_table(
        signal, "sim.skip_signal", ["hr@1"], ceilings=base[base["method"] == "oracle"]
    )
    for value, text in zip(sweep["value"], sweep["change [95% CI]"]):
        out[f"skip_signal {value:g}, HR@1"] = text
    return out
