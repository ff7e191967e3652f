"""negrec next to a peer library: RecBole's SASRec on the same MSSD-format sessions (issue 14).

    python benchmarks/peer_recbole.py          # 20 k sessions; 10 k and 89 k tracks
    python benchmarks/peer_recbole.py --sessions 500 --tracks 1000 --out /tmp/peer.json  # quick

What it does, for every ``--tracks``:

1. Simulates ``--sessions`` MSSD-format sessions (`negrec_lib.sim.simulate`, skip signal 0.8,
   seed 0) and runs ``negrec prepare`` on them with the paper's filters and split (sessions of
   at least 6 tracks with a skip, the last 20 tracks kept, leave-last-out: the last track tests,
   the second-last validates, the rest train).
2. Writes the prepared sessions, all of them, as RecBole's atomic ``.inter`` file
   (`write_inter`): the session id as the user, the track id as the item, the position in the
   session as the timestamp. RecBole's own leave-one-out split (``LS: valid_and_test``, ordered
   by time, grouped by user) then holds out the same last two tracks of every session, so both
   systems train on the same sessions and the same targets.
3. Trains one epoch of RecBole 1.2.1's SASRec with RecBole's own ``Trainer`` in a separate
   virtual environment (``--venv``), with the paper's model (d 128, feed-forward 128, 2 layers,
   8 heads, ReLU, dropout 0.2, max length 20), batch 128, Adam lr 0.005, clipping at 5, and the
   full softmax (``loss_type: CE``, ``train_neg_sample_args: None``; RecBole has no sampled
   softmax with many negatives). Importing ``recbole.model`` switches autograd's anomaly
   detection on for the whole process (``torch.autograd.set_detect_anomaly(True)`` at the top
   of its ``sine.py``), which slows every backward pass several times; the child switches it
   off again after the import and records both states in the row (``anomaly_detection_*``).
4. Trains one epoch of ``negrec train`` on the prepared folder with the paper's configuration
   (``experiments/paper_base.yaml``: the same model, batch, optimiser and clipping), once with
   the full softmax (``loss.next_loss=full``, the blocked loss) and once with its default sampled
   softmax (1,000 uniform negatives), in fp32 on the CPU.

What is counted. RecBole makes one training sample per prefix of a session (the tracks before
a target, then the target), so a session of n tracks gives n - 3 samples, each its own forward
pass; negrec feeds each session once and scores all of its n - 3 training targets in that pass.
Both therefore train on the same targets (the prepared folder's ``train_targets``), and a row
reports both ``targets_per_s`` (for RecBole: prefixes, i.e. training samples, per second) and
``sessions_per_s`` (sessions whose targets were trained, per second: for negrec the Trainer's own
figure from the run's ``history.json``; for RecBole the distinct sessions among its training
samples divided by the same seconds). Seconds are the epoch's training loop only (negrec: the
Trainer's ``train_seconds``; RecBole: ``Trainer.fit`` for one epoch with no validation data);
data loading, validation and testing are outside them. ``peak_rss_mb`` is the child process's own
peak resident memory (``VmHWM``, which starts afresh at ``exec``), and ``ru_maxrss_mb`` what
``os.wait4`` reports for it (``getrusage`` of the child, which can include the parent's resident
size at the fork).

If RecBole does not install or import on this Python (it needs NumPy below 2 and Python below
3.12), the report holds one row saying so, with the tail of the error, and the script exits 0.
Run the real measurement on a quiet machine; the JSON (``--out``) holds the command, the commit,
the hardware, the versions of both environments and one row per (system, tracks, loss).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAPER_CONFIG = ROOT / "experiments" / "paper_base.yaml"

RECBOLE_VERSION = "1.2.1"
# ray (a RecBole dependency, imported by recbole.quick_start) needs pkg_resources, which
# setuptools 81 removed; RecBole 1.2.1 predates NumPy 2.
RECBOLE_REQUIREMENTS = [f"recbole=={RECBOLE_VERSION}", "numpy<2", "setuptools<81"]
TAIL = 3000  # characters of a failed command's output kept in the report

# The paper's model and training step, in RecBole's names (book/paper.md section 2).
RECBOLE_MODEL = {
    "hidden_size": 128,
    "inner_size": 128,
    "n_layers": 2,
    "n_heads": 8,
    "hidden_dropout_prob": 0.2,
    "attn_dropout_prob": 0.2,
    "hidden_act": "relu",  # negrec's feed-forward (model/layer.py); RecBole's default is gelu
    "layer_norm_eps": 1e-12,
    "initializer_range": 0.02,
    "loss_type": "CE",  # full softmax over every item
    "MAX_ITEM_LIST_LENGTH": 20,
}
RECBOLE_TRAIN = {
    "epochs": 1,
    "train_batch_size": 128,
    "learner": "adam",
    "learning_rate": 0.005,
    "weight_decay": 0.0,
    "clip_grad_norm": {"max_norm": 5.0},
    "train_neg_sample_args": None,  # required with CE: no sampled negatives
}


# --------------------------------------------------------------------------- pure parts


def write_inter(prepared: str | Path, out: str | Path) -> dict[str, int]:
    """Write every session of a prepared folder as a RecBole atomic ``.inter`` file.

    One line per (session, position): ``session_id:token`` (the MSSD session id),
    ``track_id:token`` (the MSSD track id; a track outside the vocabulary is ``[oov]``, as
    negrec sees it) and ``timestamp:float`` (the 1-based position in the session, so RecBole's
    time order is the session's order). The sessions are those `negrec prepare` kept, with the
    tracks it kept (the last ``max_length``).

    Returns the counts: ``sessions``, ``interactions``, ``train_targets`` (what a leave-last-two-
    out split trains on: n - 3 per session of n tracks, the same as the folder's paper split)
    and ``items`` (distinct item tokens).
    """
    import numpy as np
    import pyarrow.parquet as pq

    prepared, out = Path(prepared), Path(out)
    tracks = np.load(prepared / "tracks.npy", mmap_mode="r")
    length = np.load(prepared / "length.npy").astype(np.int64)
    sessions = pq.read_table(prepared / "session_ids.parquet").column("session_id").to_pylist()
    vocab = pq.read_table(prepared / "vocab.parquet", columns=["id", "track_id"])
    names: dict[int, str] = dict(
        zip(vocab.column("id").to_pylist(), vocab.column("track_id").to_pylist(), strict=True)
    )
    names.setdefault(1, "[oov]")  # negrec_lib.tokens: 0 padding, 1 out of vocabulary, 2 mask
    if len(sessions) != len(length):
        raise ValueError(f"{prepared}: {len(sessions)} session ids for {len(length)} sessions")
    out.parent.mkdir(parents=True, exist_ok=True)
    seen: set[int] = set()
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("session_id:token\ttrack_id:token\ttimestamp:float\n")
        for sid, row, n in zip(sessions, tracks, length, strict=True):
            ids = row[:n].tolist()
            seen.update(ids)
            fh.write("".join(f"{sid}\t{names[t]}\t{p}\n" for p, t in enumerate(ids, 1)))
    tmp.replace(out)
    return {
        "sessions": len(length),
        "interactions": int(length.sum()),
        "train_targets": int(np.maximum(length - 3, 0).sum()),
        "items": len(seen),
    }


def recbole_config(data_path: str | Path, dataset: str, workdir: str | Path) -> dict[str, Any]:
    """RecBole's configuration for one epoch of SASRec on ``data_path/dataset/dataset.inter``."""
    return {
        "data_path": str(data_path),
        "dataset": dataset,
        "checkpoint_dir": str(Path(workdir) / "saved"),
        "USER_ID_FIELD": "session_id",
        "ITEM_ID_FIELD": "track_id",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["session_id", "track_id", "timestamp"]},
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        "eval_args": {
            "split": {"LS": "valid_and_test"},
            "order": "TO",
            "group_by": "user",
            "mode": "full",
        },
        **RECBOLE_MODEL,
        **RECBOLE_TRAIN,
        "use_gpu": False,
        "gpu_id": "",
        "worker": 0,
        "seed": 2020,
        "reproducibility": True,
        "show_progress": False,
        "state": "WARNING",
        "log_wandb": False,
        "save_dataset": False,
        "save_dataloaders": False,
    }


def negrec_sets(loss: str) -> list[str]:
    """The ``--set`` overrides of the paper's configuration: one epoch, fp32 on the CPU."""
    return [
        "train.epochs=1",
        "train.patience=null",
        "train.device=cpu",
        "train.precision=fp32",
        "train.progress=false",
        f"loss.next_loss={loss}",
    ]


def negrec_train_args(prepared: str | Path, run_dir: str | Path, loss: str) -> list[str]:
    """``negrec train`` arguments: `PAPER_CONFIG` with `negrec_sets`, on a prepared folder."""
    args = ["train", "--config", str(PAPER_CONFIG), "--data", str(prepared)]
    args += ["--out", str(run_dir), "--quiet"]
    for s in negrec_sets(loss):
        args += ["--set", s]
    return args


def tail(text: str | bytes | None, n: int = TAIL) -> str:
    """The last ``n`` characters of a command's output."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return (text or "")[-n:]


def hardware() -> dict[str, Any]:
    """`train_step.hardware` (CPU model and flags, cores, memory, versions), plus the CPUs this
    process may use and OMP_NUM_THREADS. Imported here: the RecBole child cannot import it."""
    for path in (ROOT, ROOT / "benchmarks"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    import torch
    import train_step

    info = train_step.hardware(torch.device("cpu"))
    info["affinity"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    info["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    return info


def git_commit() -> dict[str, Any]:
    """The commit and whether the code that makes numbers differs from it (negrec's provenance).

    Imported here, not at the top: this file also runs as the child in RecBole's environment,
    where negrec_lib is not installed.
    """
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from negrec_lib.provenance import provenance

    prov = provenance()
    return {"commit": prov.get("commit"), "dirty": prov.get("dirty")}


def unavailable_row(env: dict[str, Any]) -> dict[str, Any]:
    """The row that says RecBole could not be used here, and why (no numbers)."""
    return {
        "system": "recbole",
        "version": RECBOLE_VERSION,
        "status": "unavailable",
        "reason": env.get("reason"),
        "python": platform.python_version(),
        "error_tail": env.get("error_tail"),
    }


# --------------------------------------------------------------------------- children


def run_child(cmd: list[str], *, cwd: str | Path | None = None) -> dict[str, Any]:
    """Run ``cmd``; its exit code, output and resource usage (``os.wait4``: this child only)."""
    with tempfile.TemporaryFile() as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        log.seek(0)
        output = log.read().decode("utf-8", "replace")
    return {
        "rc": proc.returncode,
        "output": output,
        "wall_s": wall,
        "ru_maxrss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
    }


_VMHWM = (
    "def _vmhwm():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM'):\n"
    "            return int(line.split()[1]) / 1024\n"
)


class Runner:
    """The real work: the virtual environment, the data, and the two trainings, each a child."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.venv = Path(args.venv)
        self.python = self.venv / "bin" / "python"

    # -- RecBole's environment

    def probe(self) -> dict[str, Any]:
        """Import RecBole in the venv: versions, and anomaly detection before and after."""
        code = (
            "import json, numpy, pandas, sys, torch\n"
            "before = torch.is_anomaly_enabled()\n"
            "import recbole\n"
            "from recbole.model.sequential_recommender import SASRec\n"
            "from recbole.trainer import Trainer\n"
            "print(json.dumps({'recbole': recbole.__version__, 'torch': torch.__version__,\n"
            "    'numpy': numpy.__version__, 'pandas': pandas.__version__,\n"
            "    'python': sys.version.split()[0],\n"
            "    'anomaly_detection_before_import': before,\n"
            "    'anomaly_detection_after_import': torch.is_anomaly_enabled()}))\n"
        )
        res = run_child([str(self.python), "-c", code])
        if res["rc"] != 0:
            return {"ok": False, "reason": "import failed", "error_tail": tail(res["output"])}
        info = json.loads(res["output"].strip().splitlines()[-1])
        if info["recbole"] != RECBOLE_VERSION:
            return {
                "ok": False,
                "reason": f"the venv has recbole {info['recbole']}, not {RECBOLE_VERSION}",
                **info,
            }
        return {"ok": True, **info}

    def environment(self) -> dict[str, Any]:
        """Create (or reuse) the venv with RecBole; what is in it, or why it failed."""
        a = self.args
        if self.python.exists():
            found = self.probe()
            if found["ok"] or a.skip_install:
                return {"venv": str(self.venv), "installed_now": False, **found}
        elif a.skip_install:
            return {"ok": False, "reason": f"--skip-install, and no venv at {self.venv}"}
        steps = [
            [a.python, "-m", "venv", str(self.venv)],
            # the CPU wheel first, so that RecBole's plain 'torch' requirement is already met
            [str(self.python), "-m", "pip", "install", f"torch=={a.torch}", "numpy<2"],
            [str(self.python), "-m", "pip", "install", *RECBOLE_REQUIREMENTS, f"torch=={a.torch}"],
        ]
        t0 = time.perf_counter()
        for cmd in steps:
            print("$", " ".join(cmd), flush=True)
            res = run_child(cmd)
            if res["rc"] != 0:
                return {
                    "ok": False,
                    "venv": str(self.venv),
                    "reason": f"{' '.join(cmd[1:4])} ... exited {res['rc']}",
                    "error_tail": tail(res["output"]),
                }
        found = self.probe()
        return {
            "venv": str(self.venv),
            "installed_now": True,
            "install_seconds": round(time.perf_counter() - t0, 1),
            **found,
        }

    # -- data

    def data(self, tracks: int) -> dict[str, Any]:
        """Simulate, prepare, and write the ``.inter`` file for one catalogue size."""
        a = self.args
        base = self.work / f"tracks_{tracks}"
        sim, prep = base / "sim", base / "prepared"
        code = (
            "from negrec_lib.sim import simulate\n"
            f"simulate({str(sim)!r}, sessions={a.sessions}, tracks={tracks}, skip_signal=0.8, "
            f"seed={a.seed}, force=True, progress=False)\n"
        )
        for cmd in (
            [sys.executable, "-c", code],
            [
                sys.executable,
                "-m",
                "negrec_lib.cli",
                "prepare",
                "--input",
                str(sim),
                "--out",
                str(prep),
                "--force",
                "--quiet",
            ],
        ):
            res = run_child(cmd, cwd=ROOT)
            if res["rc"] != 0:
                raise RuntimeError(f"{' '.join(cmd[:4])} failed:\n{tail(res['output'])}")
        dataset = f"mssd_{tracks}"
        counts = write_inter(prep, base / "recbole" / dataset / f"{dataset}.inter")
        manifest = json.loads((prep / "manifest.json").read_text())
        split = manifest["split_sizes"]
        if split["train_targets"] != counts["train_targets"]:
            raise RuntimeError(f"train targets differ: {split} vs {counts}")
        shutil.rmtree(sim)  # the prepared folder is all both systems read from here on
        return {
            "tracks": tracks,
            "prepared": str(prep),
            "recbole_data": str(base / "recbole"),
            "dataset": dataset,
            "workdir": str(base),
            "sessions_simulated": manifest["sessions_read"],
            "sessions": manifest["sessions_kept"],
            "train_targets": split["train_targets"],
            "vocab_size": manifest["vocab_size"],
            "inter": counts,
        }

    # -- the two trainings

    def recbole(self, data: dict[str, Any]) -> dict[str, Any]:
        """One epoch of RecBole's SASRec (full softmax) in the venv."""
        workdir = Path(data["workdir"]) / "recbole_run"
        workdir.mkdir(parents=True, exist_ok=True)
        spec = workdir / "spec.json"
        result = workdir / "result.json"
        cfg = recbole_config(data["recbole_data"], data["dataset"], workdir)
        spec.write_text(json.dumps({"config": cfg, "result": str(result)}))
        res = run_child(
            [str(self.python), str(Path(__file__).resolve()), "--recbole-child", str(spec)],
            cwd=workdir,
        )
        row = {
            "system": "recbole",
            "version": RECBOLE_VERSION,
            "model": "SASRec",
            "tracks": data["tracks"],
            "loss": "full",
        }
        if res["rc"] != 0 or not result.exists():
            return {**row, "status": "failed", "rc": res["rc"], "error_tail": tail(res["output"])}
        child = json.loads(result.read_text())
        secs = child["train_seconds"]
        return {
            **row,
            "status": "ok",
            "items": child["n_items"],
            "sessions": child["train_sessions"],
            "train_targets": child["train_prefixes"],
            "train_seconds": secs,
            "sessions_per_s": child["train_sessions"] / secs,
            "targets_per_s": child["train_prefixes"] / secs,
            "prefixes_per_s": child["train_prefixes"] / secs,
            "peak_rss_mb": child["peak_rss_mb"],
            "ru_maxrss_mb": res["ru_maxrss_mb"],
            "child_wall_s": res["wall_s"],
            **{k: child[k] for k in child if k.startswith(("anomaly", "torch", "setup", "loss"))},
            "config": {k: cfg[k] for k in (*RECBOLE_MODEL, *RECBOLE_TRAIN)},
        }

    def negrec(self, data: dict[str, Any], loss: str) -> dict[str, Any]:
        """One epoch of ``negrec train`` with the paper's configuration and ``loss``."""
        run_dir = Path(data["workdir"]) / f"negrec_{loss}"
        info = Path(data["workdir"]) / f"negrec_{loss}.json"
        argv = negrec_train_args(data["prepared"], run_dir, loss)
        code = (
            "import json, sys, torch\n"
            "from negrec_lib.cli import main\n" + _VMHWM + f"rc = main({argv!r})\n"
            f"json.dump({{'rc': rc, 'peak_rss_mb': _vmhwm(), 'torch': torch.__version__, "
            f"'torch_threads': torch.get_num_threads()}}, open({str(info)!r}, 'w'))\n"
            "sys.exit(rc)\n"
        )
        res = run_child([sys.executable, "-c", code], cwd=ROOT)
        name = "full" if loss == "full" else "sampled"
        row: dict[str, Any] = {"system": "negrec", "version": None, "tracks": data["tracks"]}
        history = run_dir / "history.json"
        if res["rc"] != 0 or not history.exists():
            return {
                **row,
                "loss": name,
                "status": "failed",
                "rc": res["rc"],
                "error_tail": tail(res["output"]),
            }
        epoch = json.loads(history.read_text())[0]
        child = json.loads(info.read_text())
        secs = epoch["train_seconds"]
        if loss == "sampled":
            import yaml

            used = yaml.safe_load((run_dir / "config.yaml").read_text())
            name = f"sampled ({used['loss']['n_negatives']} negatives)"
        shutil.rmtree(run_dir, ignore_errors=True)  # checkpoints: not needed
        return {
            **row,
            "version": _negrec_version(),
            "loss": name,
            "status": "ok",
            "items": data["vocab_size"],
            "sessions": data["sessions"],
            "train_targets": data["train_targets"],
            "train_seconds": secs,
            "sessions_per_s": epoch["sessions_per_s"],
            "targets_per_s": data["train_targets"] / secs,
            "peak_rss_mb": child["peak_rss_mb"],
            "ru_maxrss_mb": res["ru_maxrss_mb"],
            "child_wall_s": res["wall_s"],
            "torch": child["torch"],
            "torch_threads": child["torch_threads"],
            "config": str(PAPER_CONFIG.relative_to(ROOT)),
            "sets": negrec_sets(loss),
        }


def _negrec_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("negrec")
    except Exception:  # a version string is not worth failing for
        return None


def recbole_child(spec_path: str) -> int:
    """In RecBole's venv: build the dataset, train one epoch, write the figures as JSON."""
    import torch

    spec = json.loads(Path(spec_path).read_text())
    before = torch.is_anomaly_enabled()
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    after_import = torch.is_anomaly_enabled()
    torch.autograd.set_detect_anomaly(False)  # RecBole's import switched it on (sine.py)
    t0 = time.perf_counter()
    cfg = spec["config"]
    config = Config(model="SASRec", dataset=cfg["dataset"], config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, _valid, _test = data_preparation(config, dataset)
    model = SASRec(config, train_data.dataset).to(config["device"])
    trainer = Trainer(config, model)
    train = train_data.dataset
    sessions = int(train.inter_feat[train.uid_field].unique().numel())
    setup = time.perf_counter() - t0
    during = torch.is_anomaly_enabled()
    t0 = time.perf_counter()
    trainer.fit(train_data, None, verbose=False, saved=False, show_progress=False)
    seconds = time.perf_counter() - t0
    hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")]
    result = {
        "train_seconds": seconds,
        "setup_seconds": setup,
        "train_prefixes": len(train),
        "train_sessions": sessions,
        "n_items": int(dataset.item_num),  # RecBole's count, padding included
        "peak_rss_mb": int(hwm[0].split()[1]) / 1024,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "anomaly_detection_before_import": before,
        "anomaly_detection_after_import": after_import,
        "anomaly_detection_during_training": during,
        "anomaly_detection_note": "recbole's import turned it on; set_detect_anomaly(False) "
        "after the import, before training",
        "device": str(config["device"]),
    }
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


# --------------------------------------------------------------------------- driver


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracks", default="10000,89000", help="catalogue sizes, comma-separated")
    ap.add_argument("--sessions", type=int, default=20_000, help="sessions simulated")
    ap.add_argument("--seed", type=int, default=0, help="the simulator's seed")
    ap.add_argument("--out", default="results/bench_peer_recbole.json")
    ap.add_argument("--venv", default="/tmp/recbole-venv", help="RecBole's virtual environment")
    ap.add_argument("--skip-install", action="store_true", help="use --venv as it is")
    ap.add_argument("--python", default=sys.executable, help="the Python the venv is made from")
    ap.add_argument("--torch", default="2.13.0", help="torch release pinned in RecBole's venv")
    ap.add_argument("--workdir", default=None, help="where the data goes (default: a tmp dir)")
    args = ap.parse_args(argv)
    args.tracks_list = [int(float(t)) for t in str(args.tracks).split(",") if t.strip()]
    return args


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(path)


def format_row(r: dict[str, Any]) -> str:
    if r.get("status") != "ok":
        return f"  {r['system']:7s} {r.get('tracks', ''):>7} {r.get('loss', '')}: {r['status']}"
    return (
        f"  {r['system']:7s} {r['tracks']:>7,} {r['loss']:24s} {r['sessions_per_s']:9,.1f} "
        f"sessions/s {r['targets_per_s']:10,.1f} targets/s {r['peak_rss_mb']:8,.0f} MB"
    )


def main(argv: list[str] | None = None, runner_factory: Any = Runner) -> int:
    args = parse_args(argv)
    started = time.time()
    out = Path(args.out)
    tmp_ctx = None
    if args.workdir:
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp_ctx = tempfile.TemporaryDirectory(prefix="negrec-peer-")
        work = Path(tmp_ctx.name)
    runner = runner_factory(args, work)
    report: dict[str, Any] = {
        "benchmark": "peer_recbole",
        "command": [sys.executable, *(sys.argv if argv is None else ["peer_recbole.py", *argv])],
        "args": {k: v for k, v in vars(args).items() if k != "tracks_list"},
        **git_commit(),
        "hardware": hardware(),
        "load_average_before": os.getloadavg(),
        "counting": (
            "RecBole trains one sample per prefix of a session (n - 3 per session of n tracks); "
            "negrec feeds each session once and scores the same n - 3 targets. targets_per_s: "
            "training targets (RecBole: prefixes) per second; sessions_per_s: sessions trained "
            "per second. Seconds: the epoch's training loop only. tracks: the simulated "
            "catalogue; items: the tracks the sessions hold, which each softmax covers (RecBole "
            "counts its padding item, negrec its 3 reserved ids)."
        ),
        "rows": [],
    }
    try:
        env = runner.environment()
        report["recbole_env"] = {k: v for k, v in env.items() if k != "error_tail"}
        if not env.get("ok"):
            report["rows"].append(unavailable_row(env))
            print(f"RecBole is not usable here: {env.get('reason')}\n{env.get('error_tail', '')}")
            return 0
        print(
            f"RecBole {env['recbole']} (torch {env['torch']}, numpy {env['numpy']}); anomaly "
            f"detection after its import: {env['anomaly_detection_after_import']} "
            "(switched off in the child before training)",
            flush=True,
        )
        for tracks in args.tracks_list:
            print(
                f"{args.sessions:,} sessions, {tracks:,} tracks: simulating and preparing",
                flush=True,
            )
            data = runner.data(tracks)
            keep = (
                "tracks",
                "sessions_simulated",
                "sessions",
                "train_targets",
                "vocab_size",
                "inter",
            )
            report.setdefault("data", []).append({k: data[k] for k in keep if k in data})
            for system, loss in (("recbole", "full"), ("negrec", "full"), ("negrec", "sampled")):
                row = runner.recbole(data) if system == "recbole" else runner.negrec(data, loss)
                report["rows"].append(row)
                print(format_row(row), flush=True)
                write_report(out, {**report, "seconds": time.time() - started})
        return 0
    finally:
        report["load_average_after"] = os.getloadavg()
        report["seconds"] = round(time.time() - started, 1)
        write_report(out, report)
        print(f"wrote {out} ({report['seconds']:.0f} s)")
        if tmp_ctx is not None:
            tmp_ctx.cleanup()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--recbole-child":
        raise SystemExit(recbole_child(sys.argv[2]))
    raise SystemExit(main())
