"""benchmarks/peer_recbole.py without RecBole: the .inter file, the configurations, the report.

Nothing here installs a package or reaches the network: the runs are a stub runner, and the
only real work is simulating and preparing a tiny folder and writing its ``.inter`` file.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location(
        "peer_recbole", ROOT / "benchmarks" / "peer_recbole.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["peer_recbole"] = module
    spec.loader.exec_module(module)
    return module


peer = _load()


def _read_inter(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


def test_inter_file_holds_the_prepared_sessions(tiny_prepared, tmp_path):
    out = tmp_path / "mssd" / "mssd.inter"
    counts = peer.write_inter(tiny_prepared, out)
    header, rows = _read_inter(out)
    assert header == ["session_id:token", "track_id:token", "timestamp:float"]

    tracks = np.load(tiny_prepared / "tracks.npy")
    length = np.load(tiny_prepared / "length.npy")
    sids = pq.read_table(tiny_prepared / "session_ids.parquet").column("session_id").to_pylist()
    vocab = pq.read_table(tiny_prepared / "vocab.parquet").to_pydict()
    name = dict(zip(vocab["id"], vocab["track_id"], strict=True)) | {1: "[oov]"}
    manifest = json.loads((tiny_prepared / "manifest.json").read_text())

    assert len(rows) == counts["interactions"] == int(length.sum())
    assert counts["sessions"] == len(sids) == manifest["sessions_kept"]
    # a leave-last-two-out split trains on what negrec's paper split trains on
    assert counts["train_targets"] == manifest["split_sizes"]["train_targets"]
    assert counts["items"] == len({r[1] for r in rows})

    # every session, in order, its tracks at positions 1..n, the ids of the MSSD files
    i = 0
    for sid, row, n in zip(sids, tracks, length, strict=True):
        block = rows[i : i + n]
        assert [r[0] for r in block] == [sid] * n
        assert [float(r[2]) for r in block] == list(range(1, n + 1))
        assert [r[1] for r in block] == [name[int(t)] for t in row[:n]]
        i += n
    assert i == len(rows)


def test_runner_data_simulates_prepares_and_converts(tmp_path):
    args = peer.parse_args(["--sessions", "120", "--workdir", str(tmp_path)])
    data = peer.Runner(args, tmp_path).data(80)
    assert data["tracks"] == 80 and data["sessions_simulated"] == 120
    assert 0 < data["sessions"] <= 120
    assert data["train_targets"] == data["inter"]["train_targets"] > 0
    inter = Path(data["recbole_data"]) / data["dataset"] / f"{data['dataset']}.inter"
    assert inter.exists()
    assert not (Path(data["workdir"]) / "sim").exists()  # only the prepared folder is kept


def test_configurations_are_the_papers():
    cfg = peer.recbole_config("/d", "mssd_10", "/w")
    assert cfg["loss_type"] == "CE" and cfg["train_neg_sample_args"] is None  # full softmax
    assert (cfg["hidden_size"], cfg["inner_size"], cfg["n_layers"], cfg["n_heads"]) == (
        128,
        128,
        2,
        8,
    )
    assert cfg["hidden_dropout_prob"] == cfg["attn_dropout_prob"] == 0.2
    assert cfg["MAX_ITEM_LIST_LENGTH"] == 20 and cfg["train_batch_size"] == 128
    assert cfg["epochs"] == 1 and cfg["learning_rate"] == 0.005
    assert cfg["eval_args"]["split"] == {"LS": "valid_and_test"}
    assert cfg["eval_args"]["order"] == "TO" and cfg["use_gpu"] is False
    assert cfg["USER_ID_FIELD"] == "session_id" and cfg["ITEM_ID_FIELD"] == "track_id"

    from negrec_lib.config import ExperimentConfig

    paper = ExperimentConfig.from_yaml(peer.PAPER_CONFIG).override(peer.negrec_sets("full"))
    assert paper.model == ExperimentConfig().model
    assert paper.loss.next_loss == "full" and paper.train.epochs == 1
    assert paper.train.batch_size == cfg["train_batch_size"]
    assert paper.train.lr == cfg["learning_rate"]
    assert paper.train.grad_clip == cfg["clip_grad_norm"]["max_norm"]
    argv = peer.negrec_train_args("/p", "/r", "sampled")
    assert argv[:5] == ["train", "--config", str(peer.PAPER_CONFIG), "--data", "/p"]
    assert "loss.next_loss=sampled" in argv


class StubRunner:
    """Canned figures in place of the venv, the data and the two trainings."""

    env = {
        "ok": True,
        "recbole": "1.2.1",
        "torch": "2.13.0+cpu",
        "numpy": "1.26.4",
        "python": "3.11.7",
        "anomaly_detection_after_import": True,
    }
    calls: list = []

    def __init__(self, args, work):
        self.args = args

    def environment(self):
        return dict(self.env)

    def data(self, tracks):
        StubRunner.calls.append(("data", tracks))
        return {
            "tracks": tracks,
            "sessions": 10,
            "train_targets": 50,
            "vocab_size": tracks + 3,
            "sessions_simulated": 12,
            "inter": {"sessions": 10},
            "workdir": "/x",
        }

    def recbole(self, data):
        StubRunner.calls.append(("recbole", data["tracks"]))
        return {
            "system": "recbole",
            "tracks": data["tracks"],
            "loss": "full",
            "status": "ok",
            "sessions_per_s": 1.0,
            "targets_per_s": 5.0,
            "prefixes_per_s": 5.0,
            "peak_rss_mb": 1.0,
        }

    def negrec(self, data, loss):
        StubRunner.calls.append(("negrec", data["tracks"], loss))
        return {
            "system": "negrec",
            "tracks": data["tracks"],
            "loss": loss,
            "status": "ok",
            "sessions_per_s": 2.0,
            "targets_per_s": 10.0,
            "peak_rss_mb": 1.0,
        }


def test_report_has_provenance_and_a_row_per_system_tracks_loss(tmp_path, monkeypatch):
    StubRunner.calls = []
    out = tmp_path / "r.json"
    argv = ["--tracks", "100,2000", "--sessions", "12", "--out", str(out)]
    assert peer.main(argv, runner_factory=StubRunner) == 0
    r = json.loads(out.read_text())
    assert r["benchmark"] == "peer_recbole" and r["command"][-len(argv) :] == argv
    assert "commit" in r and "dirty" in r
    assert r["hardware"]["cpu"] and r["hardware"]["cpu_count"] >= 1
    assert r["recbole_env"]["recbole"] == "1.2.1" and r["recbole_env"]["torch"]
    assert "prefix" in r["counting"]
    assert [(row["system"], row["tracks"], row["loss"]) for row in r["rows"]] == [
        ("recbole", 100, "full"),
        ("negrec", 100, "full"),
        ("negrec", 100, "sampled"),
        ("recbole", 2000, "full"),
        ("negrec", 2000, "full"),
        ("negrec", 2000, "sampled"),
    ]
    assert [d["tracks"] for d in r["data"]] == [100, 2000]
    assert all("workdir" not in d for d in r["data"])
    assert r["seconds"] >= 0 and len(r["load_average_after"]) == 3


def test_without_recbole_one_row_says_why_and_exits_0(tmp_path):
    class Broken(StubRunner):
        env = {"ok": False, "reason": "pip install ... exited 1", "error_tail": "No matching dist"}

    StubRunner.calls = []
    out = tmp_path / "r.json"
    assert peer.main(["--tracks", "100", "--out", str(out)], runner_factory=Broken) == 0
    r = json.loads(out.read_text())
    assert r["rows"] == [
        {
            "system": "recbole",
            "version": "1.2.1",
            "status": "unavailable",
            "reason": "pip install ... exited 1",
            "python": r["hardware"]["python"],
            "error_tail": "No matching dist",
        }
    ]
    assert StubRunner.calls == []  # no data made, nothing trained, no numbers


def test_skip_install_without_a_venv_installs_nothing(tmp_path):
    args = peer.parse_args(["--skip-install", "--venv", str(tmp_path / "none")])
    env = peer.Runner(args, tmp_path).environment()
    assert env["ok"] is False and "--skip-install" in env["reason"]
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("text", ["x" * 5000, b"y" * 10])
def test_tail_keeps_the_end(text):
    kept = peer.tail(text)
    assert len(kept) == min(len(text), peer.TAIL) and kept[-1] in "xy"
