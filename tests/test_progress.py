"""Progress in the terminal and in notebooks: bars while a step runs, one summary line per epoch,
a live learning curve, one --quiet spelling, and no progress-bar debris in a saved notebook."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from negrec_lib.cli import build_parser, main
from negrec_lib.config import profile_config
from negrec_lib.progress import epoch_summary

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(
    r"^epoch (\d+)/(\d+)  train loss \d+\.\d{4}  valid ndcg@10 \d\.\d{4}"
    r"( \(best\))?  \d+\.\d s$",
    re.M,
)
FAST = ["--set", "train.epochs=2", "--set", "train.batch_size=256"]


def test_ci_profile_shows_progress():
    assert profile_config("ci").train.progress, "`negrec train --profile ci` must show progress"


def test_epoch_summary_line():
    row = {"epoch": 3, "loss": 5.123456, "valid_hr@10": 0.25, "train_seconds": 12.0}
    assert (
        epoch_summary(row, 5, "hr@10", best=True)
        == "epoch 3/5  train loss 5.1235  valid hr@10 0.2500 (best)  12.0 s"
    )
    assert (
        epoch_summary({**row, "epoch_seconds": 14.25}, 5) == "epoch 3/5  train loss 5.1235  14.2 s"
    )


def test_train_prints_one_summary_per_epoch(tmp_path, capsys):
    assert main(["train", "--profile", "ci", *FAST, "--out", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    lines = SUMMARY.findall(out)
    assert [(int(a), int(b)) for a, b, _ in lines] == [(1, 2), (2, 2)], out
    assert lines[0][2] == " (best)"
    assert "epoch 1/2" in err  # the bar itself, on stderr, as tqdm does


def test_quiet_silences_bars_and_summaries(tmp_path, capsys):
    assert main(["train", "--profile", "ci", *FAST, "--quiet", "--out", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    assert not SUMMARY.search(out) and "epoch 1/2" not in err
    assert "test (ci" in out  # the result is still printed


@pytest.mark.parametrize("command", ["simulate", "prepare", "train", "evaluate", "experiment"])
def test_every_command_spells_quiet_the_same(command):
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    flags = {f for a in sub._actions for f in a.option_strings if a.help != "==SUPPRESS=="}
    assert "--quiet" in flags
    assert not flags & {"--no-progress", "--silent", "--no-bar"}


def test_no_progress_is_a_hidden_deprecated_alias(tmp_path, capsys):
    sub = build_parser()._subparsers._group_actions[0].choices["simulate"]
    assert "--no-progress" not in sub.format_help()
    args = build_parser().parse_args(["simulate", "--out", str(tmp_path), "--no-progress"])
    assert args.quiet is True
    assert "deprecated" in capsys.readouterr().err


def test_live_curve_follows_fit_and_cached_runs(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from negrec_lib.runs import run_cached
    from negrec_lib.viz.live import LiveCurve

    cfg = profile_config("ci").override(
        ["train.epochs=2", "train.progress=false", "train.batch_size=256", "name=live"]
    )
    curve = LiveCurve(display=False)
    run_cached(cfg, tmp_path, callbacks=[curve])
    assert list(curve.runs) == ["live"]
    assert [r["epoch"] for r in curve.runs["live"]] == [1, 2]
    again = LiveCurve("hr@10", display=False)
    run_cached(cfg, tmp_path, callbacks=[again])  # finished: drawn from its history
    assert [r["epoch"] for r in again.runs["live"]] == [1, 2]
    fig = again.figure()
    loss_ax, val_ax = fig.axes
    assert len(loss_ax.lines) == 1 and len(val_ax.lines) == 1
    assert list(val_ax.lines[0].get_xdata()) == [1, 2]
    assert "HR@10" in val_ax.get_ylabel()


NOTEBOOK_CELL = """
from negrec_lib.config import profile_config
from negrec_lib.runs import run_cached
from negrec_lib.viz.live import LiveCurve
cfg = profile_config("ci").override(["train.epochs=2", "train.batch_size=256", "name=nb"])
curve = LiveCurve()
result, run_dir = run_cached(cfg, {runs!r}, {data!r}, callbacks=[curve])   # fresh data: simulate
"""


def test_notebook_keeps_summaries_and_final_curve_but_no_bar(tmp_path):
    """Executed as `make notebooks` does (simulating, preparing and training): no stderr, no
    bar or its widgets left, the summary lines and one figure."""
    nbformat = pytest.importorskip("nbformat")
    sys.path.insert(0, str(ROOT / "book"))
    try:
        from build_tools import execute_in_place
    finally:
        sys.path.pop(0)
    nb = nbformat.v4.new_notebook()
    nb.cells.append(
        nbformat.v4.new_code_cell(
            NOTEBOOK_CELL.format(runs=str(tmp_path / "runs"), data=str(tmp_path / "data"))
        )
    )
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert execute_in_place([path], timeout=300) == 0
    saved = json.loads(path.read_text())
    outputs = saved["cells"][0]["outputs"]
    assert not [o for o in outputs if o.get("name") == "stderr"], outputs
    text = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    assert len(SUMMARY.findall(text)) == 2, text
    assert not re.search(r"\r|\d+%\|", json.dumps(outputs))
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert not views, "a progress bar stayed in the saved outputs"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1, "the live curve is one output, updated in place"
    state = (
        saved["metadata"]
        .get("widgets", {})
        .get("application/vnd.jupyter.widget-state+json", {})
        .get("state", {})
    )
    assert not state, (
        f"closed progress widgets were saved: {sorted(s['model_name'] for s in state.values())}"
    )
