"""Experiment grids: spec parsing, resumable runs with provenance, and the statistics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from negrec_lib.cli import main as cli_main
from negrec_lib.errors import ConfigError
from negrec_lib.study.compare import comparisons
from negrec_lib.study.grids import load_spec, run_experiment, spec_from_dict, summary_table

TINY = {
    "sim.sessions": 500,
    "sim.tracks": 250,
    "sim.days": 4,
    "model.d_model": 16,
    "model.n_heads": 2,
    "model.d_ff": 16,
    "loss.n_negatives": 40,
    "train.epochs": 1,
    "train.batch_size": 64,
    "train.progress": False,
}


def test_summary_table_pairs_by_seed_and_reports_fieller_changes():
    """The CLI's summary after a grid: per variant and metric the mean, and against the baseline
    the change of `negrec_lib.study.compare.comparisons` (runs paired by seed, in any order)."""
    rng = np.random.default_rng(0)
    base = rng.normal(0.20, 0.01, 5)
    gain = base + 0.02 + rng.normal(0, 0.002, 5)
    df = pd.DataFrame(
        {
            "variant": ["b"] * 5 + ["v"] * 5,
            "seed": list(range(5)) * 2,
            "baseline": [""] * 5 + ["b"] * 5,
            "test_hr@1": np.r_[base, gain],
        }
    )
    df = df.sample(frac=1, random_state=1)  # order must not matter
    s = summary_table(df, ["hr@1", "hr@10"])  # hr@10 is not in the table
    assert set(s.index) == {("b", "HR@1"), ("v", "HR@1")}
    v, b = s.loc[("v", "HR@1")], s.loc[("b", "HR@1")]
    comp = comparisons(df, [("v", "b")], ["hr@1"]).iloc[0]
    assert comp["n"] == 5 and comp["rel"] == pytest.approx(gain.mean() / base.mean() - 1)
    assert comp["p"] == pytest.approx(stats.ttest_rel(gain, base).pvalue)
    assert v["change [95% CI]"] == comp["change [95% CI]"] and v["pairs"] == 5
    assert v["baseline"] == "b" and v["runs"] == 5
    lo, hi = stats.t.interval(0.95, 4, loc=gain.mean(), scale=stats.sem(gain))
    assert v["mean [95% CI]"] == f"{gain.mean():.4f} [{lo:.4f}, {hi:.4f}]"
    assert b["change [95% CI]"] == "" and b["baseline"] == ""


def test_spec_validation(tmp_path):
    with pytest.raises(ConfigError, match="seeds"):
        spec_from_dict({"name": "x", "variants": [{"name": "a"}]})
    with pytest.raises(ConfigError, match="baseline"):
        spec_from_dict(
            {
                "name": "x",
                "seeds": [0],
                "base": {"profile": "ci"},
                "variants": [{"name": "a", "baseline": "zzz"}],
            }
        )
    with pytest.raises(ConfigError, match="unknown field"):
        spec_from_dict(
            {
                "name": "x",
                "seeds": [0],
                "base": {"profile": "ci"},
                "variants": [{"name": "a", "set": {"loss.skip_wieght": 1}}],
            }
        )
    spec = spec_from_dict(
        {
            "name": "g",
            "seeds": [0, 1],
            "base": {"profile": "ci"},
            "grid": {"loss.skip_weight": [0, 1], "model.causal": [True, False]},
        }
    )
    assert len(spec.variants) == 4
    assert spec.config(spec.variants[3], 1).train.seed == 1


def test_grid_runs_resumes_and_records_provenance(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEGREC_DATA", str(tmp_path / "data"))
    spec_file = tmp_path / "exp.yaml"
    spec_file.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "seeds": [0, 1],
                "base": {"profile": "ci", "set": TINY},
                "variants": [
                    {"name": "base", "set": {"loss.skip_weight": 0}},
                    {"name": "skip", "set": {"loss.skip_weight": 1}, "baseline": "base"},
                ],
            }
        )
    )
    spec = load_spec(spec_file)
    df = run_experiment(
        spec, tmp_path / "results", tmp_path / "runs", only=["base"], progress=False
    )
    assert sorted(zip(df["variant"], df["seed"])) == [("base", 0), ("base", 1)]
    # The rest of the grid runs through the CLI; finished rows are not run again.
    assert (
        cli_main(
            [
                "experiment",
                str(spec_file),
                "--results",
                str(tmp_path / "results"),
                "--runs",
                str(tmp_path / "runs"),
                "--quiet",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out  # the summary after the grid
    assert "change [95% CI]" in printed and "Fieller" in printed and "skip" in printed
    table = pd.read_csv(tmp_path / "results" / "tiny.csv")
    assert len(table) == 4 and set(table["variant"]) == {"base", "skip"}
    row = table[table["variant"] == "skip"].iloc[0]
    assert row["command"].startswith("negrec experiment") and "--only skip" in row["command"]
    assert row["hardware"] and row["wall_seconds"] > 0 and 0 <= row["test_hr@10"] <= 1
    assert json.loads(row["config"])["loss"]["skip_weight"] == 1.0
    # A row's recorded metrics are reproduced by rerunning its command's configuration.
    again = run_experiment(
        spec,
        tmp_path / "results2",
        tmp_path / "runs2",
        only=["skip"],
        seeds=[int(row["seed"])],
        progress=False,
    )
    assert again.iloc[0]["test_hr@10"] == pytest.approx(row["test_hr@10"])


def test_replicate_data_gives_every_seed_its_own_dataset():
    from negrec_lib.study.grids import spec_from_dict

    raw = {
        "name": "rep",
        "base": {"profile": "ci", "set": {"sim.seed": 100}},
        "seeds": [0, 1, 2],
        "variants": [{"name": "a"}, {"name": "b", "set": {"loss.skip_weight": 1}}],
    }
    fixed = spec_from_dict(raw)
    assert {fixed.config(v, s).sim.seed for v in fixed.variants for s in fixed.seeds} == {100}
    assert len(fixed.datasets()) == 1  # one dataset, whatever the seed
    rep = spec_from_dict({**raw, "replicate_data": True})
    a, b = rep.variants
    assert [rep.config(a, s).sim.seed for s in rep.seeds] == [100, 101, 102]
    assert [rep.config(a, s).train.seed for s in rep.seeds] == [0, 1, 2]
    assert rep.config(a, 1).sim == rep.config(b, 1).sim  # variants pair on the same data
    assert [seed for _, seed, _ in rep.datasets()] == [0, 1, 2]
    with pytest.raises(ConfigError, match="replicate_data"):
        spec_from_dict({**raw, "replicate_data": "yes"})
