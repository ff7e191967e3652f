"""Nothing half-written: output folders appear whole or not at all, and two grid runners on one
results table never write a row twice nor lose one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from negrec_lib.atomic import atomic_write_text, building_dir
from negrec_lib.errors import ResultsError
from negrec_lib.sim import run as sim_run
from negrec_lib.sim import simulate
from negrec_lib.study.grids import read_results_table


def test_building_dir_appears_whole_or_not_at_all(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with building_dir(out) as tmp:
            (tmp / "a").write_text("1")
            raise RuntimeError("interrupted")
    assert not out.exists() and not list(tmp_path.iterdir())
    with building_dir(out) as tmp:
        (tmp / "a").write_text("1")
    assert (out / "a").read_text() == "1" and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    path.write_text("old")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_simulate_with_force_keeps_the_old_data_when_interrupted(tmp_path, monkeypatch):
    out = tmp_path / "sim"
    simulate(out, sessions=60, tracks=40, seed=1, days=2, progress=False)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim_run, "write_simulation", boom)
    with pytest.raises(KeyboardInterrupt):
        simulate(out, sessions=60, tracks=40, seed=2, days=2, progress=False, force=True)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["sim"]


@pytest.mark.parametrize("command", ["simulate", "prepare"])
def test_kill_9_leaves_no_folder_a_later_command_accepts(tmp_path, command):
    """Kill the command at some moment; the output folder is either absent or complete."""
    src = tmp_path / "src"
    if command == "prepare":
        simulate(src, sessions=3000, tracks=500, seed=1, days=3, progress=False)
        args = ["prepare", "--input", str(src), "--out", str(tmp_path / "out"), "--quiet"]
    else:
        args = [
            "simulate",
            "--sessions",
            "20000",
            "--tracks",
            "2000",
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for delay in (0.5, 1.5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "negrec_lib.cli", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        out = tmp_path / "out"
        if out.exists():  # finished before the kill: it must be complete
            marker = "manifest.json" if command == "prepare" else "ground_truth/truth.json"
            assert (out / marker).is_file()
            break


def test_a_damaged_results_table_is_a_results_error(tmp_path):
    path = tmp_path / "grid.csv"
    path.write_text("variant,seed,x\na,1,2\nb,2,3,4,5\n")
    with pytest.raises(ResultsError) as err:
        read_results_table(path)
    assert err.value.path == path and err.value.line == 3
    path.write_text("something,else\n1,2\n")
    with pytest.raises(ResultsError, match="variant"):
        read_results_table(path)


def test_two_grid_runners_write_every_row_once(tiny, tmp_path):
    spec = {
        "name": "twice",
        "seeds": [0, 1],
        "base": {"profile": "ci", "set": tiny},
        "variants": [{"name": "a"}, {"name": "b", "set": {"loss.skip_weight": 1}, "baseline": "a"}],
    }
    path = tmp_path / "twice.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NEGREC_DATA": str(tmp_path / "data")}
    # the dataset first, so that both runners start training at once
    subprocess.run(
        [
            sys.executable,
            "-m",
            "negrec_lib.cli",
            "experiment",
            str(path),
            "--quiet",
            "--only",
            "a",
            "--seed",
            "0",
            "--results",
            str(tmp_path / "results"),
            "--runs",
            str(tmp_path / "runs"),
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    cmd = [
        sys.executable,
        "-m",
        "negrec_lib.cli",
        "experiment",
        str(path),
        "--quiet",
        "--results",
        str(tmp_path / "results"),
        "--runs",
        str(tmp_path / "runs"),
    ]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    df = pd.read_csv(tmp_path / "results" / "twice.csv")
    keys = sorted(zip(df["variant"], df["seed"]))
    assert keys == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    # each run was trained once, in its own folder <runs>/<experiment>/<variant>-<run_key>
    for v in ("a", "b"):
        assert len(list((tmp_path / "runs" / "twice").glob(f"{v}-*/metrics.json"))) == 2


def test_kill_9_during_training_never_leaves_a_finished_looking_run(tiny_sets, tmp_path):
    """metrics.json marks a finished run: after a kill it is absent (or the run had finished),
    every checkpoint present loads, and --resume finishes the run."""
    from negrec_lib.checkpoint import load_checkpoint

    env = {**os.environ, "OMP_NUM_THREADS": "1", "NEGREC_DATA": str(tmp_path / "data")}
    sets = sum((["--set", s] for s in [*tiny_sets, "train.epochs=3"]), [])
    out = tmp_path / "run"
    base = [
        sys.executable,
        "-m",
        "negrec_lib.cli",
        "train",
        "--profile",
        "ci",
        "--out",
        str(out),
        "--quiet",
        "--checkpoint-every",
        "2",
        *sets,
    ]
    # the dataset first, so that the kill lands in training
    subprocess.run(
        [
            sys.executable,
            "-m",
            "negrec_lib.cli",
            "train",
            "--profile",
            "ci",
            "--out",
            str(tmp_path / "warm"),
            "--quiet",
            *sets,
            "--set",
            "train.epochs=1",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    proc = subprocess.Popen(base, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "last.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for name in ("last.pt", "best.pt"):
        if (out / name).exists():
            load_checkpoint(out / name)  # whole, never half-written
    if (out / "metrics.json").exists():  # only a finished run has one
        assert (out / "last.pt").exists()
    run = subprocess.run(base + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (out / "metrics.json").is_file()


def test_replace_dir_swaps_a_folder_for_its_new_contents(tmp_path):
    from negrec_lib.atomic import replace_dir

    out, new = tmp_path / "out", tmp_path / ".out.tmp"
    out.mkdir()
    (out / "old").write_text("old")
    new.mkdir()
    (new / "new").write_text("new")
    replace_dir(new, out)
    assert [p.name for p in out.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    fresh = tmp_path / ".fresh"
    fresh.mkdir()
    replace_dir(fresh, tmp_path / "absent")
    assert (tmp_path / "absent").is_dir() and not fresh.exists()
