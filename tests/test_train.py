"""The training loop: both directions, determinism, exact resume, early stopping, CLI, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from negrec_lib.checkpoint import load_checkpoint, model_from_checkpoint
from negrec_lib.cli import main as cli_main
from negrec_lib.config import profile_config
from negrec_lib.data.cache import ensure_dataset
from negrec_lib.data.sessions import SessionData
from negrec_lib.errors import ConfigError
from negrec_lib.train import Trainer

# conftest's tiny configuration, larger: enough data and width to learn in two short epochs
SIZE = [
    "sim.sessions=600",
    "sim.tracks=300",
    "model.d_model=16",
    "model.d_ff=16",
    "loss.n_negatives=50",
    "train.epochs=2",
]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def make_cfg(tiny_config):
    """``make_cfg(*sets)``: this module's configuration, then ``sets``."""
    return lambda *sets: tiny_config(*SIZE, *sets)


def _data(cfg, root) -> SessionData:
    return SessionData.load(ensure_dataset(cfg.sim, cfg.data, root))


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize(
    "skip", ["loss.skip_weight=0", "loss.skip_weight=1", "loss.skip_anchor=hidden"]
)
def test_training_runs_and_writes_its_outputs(make_cfg, tmp_path, data_root, causal, skip):
    sets = [f"model.causal={str(causal).lower()}", skip]
    if "hidden" in skip:
        sets.append("loss.skip_weight=1")
    cfg = make_cfg(*sets)
    result = Trainer(cfg, _data(cfg, data_root), tmp_path).fit()
    for key in ("hr@1", "hr@10", "ndcg@10", "mrr"):
        assert 0.0 <= result["test"][key] <= 1.0
    assert result["test"]["hr@10"] <= result["test_sampled"]["hr@10"]  # sampled flatters
    hist = json.loads((tmp_path / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2]
    assert all("valid_ndcg@10" in h for h in hist)
    if cfg.loss.skip_weight > 0:
        assert all(h["skip_loss"] > 0 for h in hist)
    else:
        assert all(h["skip_loss"] == 0 for h in hist)
    for name in ("best.pt", "last.pt", "config.yaml", "metrics.json", "history.csv"):
        assert (tmp_path / name).is_file()
    ckpt = load_checkpoint(tmp_path / "best.pt")  # weights_only=True
    assert ckpt["state"]["best_epoch"] == result["best_epoch"]


def test_training_lowers_the_loss_and_beats_popularity(tmp_path, data_root):
    cfg = profile_config("ci").override(["train.epochs=6", "train.progress=false"])
    data = _data(cfg, data_root)
    result = Trainer(cfg, data, tmp_path).fit()
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist[-1]["loss"] < hist[0]["loss"]
    # Popularity baseline on the same test examples, computed here by brute force.
    pop = data.popularity.float()
    hits, n = 0, 0
    top = set(torch.topk(pop, 10).indices.tolist())
    for b in data.eval_batches("test", 512):
        hits += sum(int(t) in top for t in b.targets)
        n += len(b.targets)
    assert result["test"]["hr@10"] > hits / n


def test_identical_runs_give_identical_metrics(make_cfg, tmp_path, data_root):
    cfg = make_cfg("loss.skip_weight=1")
    data = _data(cfg, data_root)
    a = Trainer(cfg, data, tmp_path / "a").fit()
    b = Trainer(cfg, data, tmp_path / "b").fit()
    assert a["test"] == b["test"]
    wa = load_checkpoint(tmp_path / "a" / "last.pt")["model"]
    wb = load_checkpoint(tmp_path / "b" / "last.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize(
    "stop_at_save, every, extra",
    [
        (1, None, "train.sparse_embeddings=false"),  # killed at the end of epoch 1
        (3, 4, "train.sparse_embeddings=false"),  # killed mid-epoch
        (3, 4, "train.sparse_embeddings=true"),  # lazy Adam's state resumes too
        (3, 4, "scatter"),  # and ScatterAdam's (a large table on the CPU: threshold lowered)
    ],
)
def test_interrupted_run_resumes_to_the_same_result(
    make_cfg, tmp_path, data_root, monkeypatch, stop_at_save, every, extra
):
    """Kill a run right after its n-th checkpoint and resume it: same weights, same metrics."""
    if extra == "scatter":
        import negrec_lib.optim as optim

        monkeypatch.setattr(optim, "SCATTER_TABLE", 100)
        extra = "train.sparse_embeddings=false"
    cfg = make_cfg("loss.skip_weight=1", "train.epochs=3", "model.dropout=0.3", extra)
    data = _data(cfg, data_root)
    full = Trainer(cfg, data, tmp_path / "full", checkpoint_every=every).fit()

    saves = {"n": 0}
    original = Trainer._save

    def save_then_die(self, name):
        original(self, name)
        if name == "last.pt":
            saves["n"] += 1
            if saves["n"] == stop_at_save:
                raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, data, tmp_path / "cut", checkpoint_every=every).fit()
    monkeypatch.setattr(Trainer, "_save", original)
    with pytest.raises(ConfigError, match="resume=True"):
        Trainer(cfg, data, tmp_path / "cut")
    resumed = Trainer(cfg, data, tmp_path / "cut", resume=True, checkpoint_every=every).fit()
    assert resumed["test"] == full["test"]
    wa = load_checkpoint(tmp_path / "full" / "last.pt")["model"]
    wb = load_checkpoint(tmp_path / "cut" / "last.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ha = json.loads((tmp_path / "full" / "history.json").read_text())
    hb = json.loads((tmp_path / "cut" / "history.json").read_text())
    drop = ("train_seconds", "sessions_per_s")
    assert [{k: v for k, v in h.items() if k not in drop} for h in ha] == [
        {k: v for k, v in h.items() if k not in drop} for h in hb
    ]


def test_model_selection_uses_validation_and_tests_once(make_cfg, tmp_path, data_root, monkeypatch):
    cfg = make_cfg("train.epochs=3", "train.lr=0.0", "train.patience=1")
    calls = []
    original = Trainer.evaluate

    def spy(self, split, protocol="full"):
        calls.append((split, protocol))
        return original(self, split, protocol)

    monkeypatch.setattr(Trainer, "evaluate", spy)
    result = Trainer(cfg, _data(cfg, data_root), tmp_path).fit()
    # lr = 0: nothing improves after epoch 1, so patience 1 stops after epoch 2.
    assert result["epochs_run"] == 2 and result["best_epoch"] == 1
    assert [c for c in calls if c[0] == "test"] == [("test", "full"), ("test", "sampled")]
    assert calls.index(("test", "full")) == len(calls) - 2


def test_checkpoint_rebuilds_the_model(make_cfg, tmp_path, data_root):
    cfg = make_cfg("model.causal=false")
    data = _data(cfg, data_root)
    Trainer(cfg, data, tmp_path).fit()
    model, cfg2 = model_from_checkpoint(tmp_path / "best.pt", data)
    assert cfg2 == cfg and not model.cfg.causal
    b = next(data.eval_batches("test", 8))
    scores, ids = model.recommend(b.tracks, b.lengths, k=5)
    assert ids.shape == (len(b.targets), 5) and (ids >= 3).all()


def test_cli_train_evaluate_and_errors(tiny_sets, tmp_path, data_root, capsys, monkeypatch):
    monkeypatch.setenv("NEGREC_DATA", str(data_root))
    args = ["train", "--profile", "ci", "--out", str(tmp_path / "run")]
    for s in [*tiny_sets, *SIZE]:
        args += ["--set", s]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "hr@10=" in out
    assert (
        cli_main(
            [
                "evaluate",
                "--checkpoint",
                str(tmp_path / "run" / "best.pt"),
                "--protocol",
                "sampled",
                "--json",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "m.json").read_text())["metrics"]["n"] > 0
    assert cli_main(["train", "--profile", "ci", "--set", "loss.skip_anchr=track"]) == 2
    assert "unknown field" in capsys.readouterr().err
    assert cli_main(["train", "--profile", "ci", "--dump-config"]) == 0
    assert "skip_weight" in capsys.readouterr().out


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(make_cfg, tiny_sets, tmp_path, data_root):
    cfg = make_cfg()
    prepared = ensure_dataset(cfg.sim, cfg.data, data_root)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "negrec_lib.cli",
        "train",
        "--profile",
        "ci",
        "--data",
        str(prepared),
        "--out",
        str(tmp_path / "ddp"),
    ]
    for s in [*tiny_sets, *SIZE]:
        cmd += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "ddp" / "best.pt").is_file()
    ev = subprocess.run(
        [
            sys.executable,
            "-m",
            "negrec_lib.cli",
            "evaluate",
            "--checkpoint",
            str(tmp_path / "ddp" / "best.pt"),
            "--data",
            str(prepared),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ev.returncode == 0, ev.stderr[-3000:]
    assert "hr@10=" in ev.stdout


@pytest.mark.parametrize("sparse", [False, True])
def test_a_large_table_on_the_cpu_names_lazy_adam_once(
    make_cfg, tmp_path, data_root, capsys, monkeypatch, sparse
):
    """Exact Adam over a table above `optim.LARGE_TABLE` ids prints one note at the start of fit
    (the threshold lowered here to this test's 303 ids); lazy Adam prints none."""
    import negrec_lib.optim as optim

    monkeypatch.setattr(optim, "LARGE_TABLE", 100)
    cfg = make_cfg("train.epochs=1", "train.progress=true", f"train.sparse_embeddings={sparse}")
    Trainer(cfg, _data(cfg, data_root), tmp_path).fit()
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    if sparse:
        assert notes == []
    else:
        assert len(notes) == 1 and "train.sparse_embeddings=true" in notes[0], notes


def test_scatter_adam_is_adam_to_rounding(make_cfg, tmp_path, data_root, monkeypatch):
    """A large table on the CPU trains with `ScatterAdam` (`optim.SCATTER_TABLE` lowered to this
    test's table): the same run as dense Adam to float32 rounding, with and without weight
    decay; below the threshold the dense path (every committed result's) is kept."""
    import negrec_lib.optim as optim

    for decay in ("0", "0.01"):
        cfg = make_cfg("loss.skip_weight=1", f"train.weight_decay={decay}")
        data = _data(cfg, data_root)
        dense = Trainer(cfg, data, tmp_path / f"dense{decay}")
        assert type(dense.optimizer) is torch.optim.Adam and not dense.model.sparse_grad
        a = dense.fit()
        monkeypatch.setattr(optim, "SCATTER_TABLE", 100)
        scatter = Trainer(cfg, data, tmp_path / f"scatter{decay}")
        assert isinstance(scatter.optimizer, optim.ScatterAdam) and scatter.model.sparse_grad
        b = scatter.fit()
        monkeypatch.setattr(optim, "SCATTER_TABLE", 10**9)
        assert scatter.model.item_emb.weight.grad is None  # the buffer is the optimiser's
        for k, v in dense.model.state_dict().items():
            torch.testing.assert_close(scatter.model.state_dict()[k], v, rtol=2e-3, atol=2e-5)
        assert abs(a["test"]["hr@10"] - b["test"]["hr@10"]) <= 0.02
