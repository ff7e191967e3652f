"""Grids of runs over seeds, and the results table they fill.

An experiment file (YAML) names a base configuration, the seeds, and the variants::

    name: skip-ablation
    base: {profile: ci}            # or {config: path.yaml}; plus optional `set:` overrides
    seeds: [0, 1, 2, 3, 4]
    variants:
      - {name: uni, set: {model.causal: true, loss.skip_weight: 0}}
      - {name: uni+skip, set: {model.causal: true, loss.skip_weight: 1}, baseline: uni}
    # or `grid: {loss.skip_weight: [0, 1], model.causal: [true, false]}` for a full product
    replicate_data: true           # optional: seed s also simulates its own data (sim.seed + s)

`run_experiment` trains every (variant, seed) that has no result yet (so an interrupted grid
resumes where it stopped), and appends one row per run to ``results/<name>.csv`` with the
configuration, the seed, the command that reproduces the row, the commit, the hardware and the
wall time. The statistics that turn the table into comparisons live in `negrec_lib.study`
(`negrec_lib.study.compare.comparisons`, `negrec_lib.study.claims.verdicts`); after a grid, the
command line prints `summary_table`, built on them.

The package, one idea a module: experiment files (`spec`), training a grid (`runner`:
`run_experiment`, and `run_grid_cached` for a notebook's grid), and the results table
(`tables`). Every public name is importable from here; ``negrec experiment`` is in
`negrec_lib.cli.grids`.
"""

from __future__ import annotations

from .runner import run_experiment, run_grid_cached
from .spec import ExperimentSpec, Variant, load_spec, spec_from_dict
from .tables import read_results_table, summary_table

__all__ = [
    "ExperimentSpec",
    "Variant",
    "load_spec",
    "read_results_table",
    "run_experiment",
    "run_grid_cached",
    "spec_from_dict",
    "summary_table",
]
