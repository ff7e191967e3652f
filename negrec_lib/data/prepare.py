"""Turn MSSD logs into a prepared dataset folder: skip labels, filters, vocabulary, splits.

One streaming pass over the logs collects the sessions that pass the filters into fixed-size
arrays (`collect.py`); everything after that works on those arrays in memory:

1. *skip label*: a track counts as skipped when its skip strength (skip_1 + skip_2 + skip_3,
   0..3) is at least ``DataConfig.skip_strength`` (2 = the paper's skip_2);
2. *filters*: ``length >= min_length`` (paper: > 5) and at least one skip (paper), both
   configurable; every dropped session is counted by reason in the manifest (`collect.py`);
3. *split*: ``paper`` (leave-last-out inside every session) or ``by_day`` (whole sessions of
   earlier days train; later days validate and test) (`splits.py`);
4. *vocabulary*: ids in decreasing frequency, after the reserved ids of `tokens` (`vocab.py`);
5. *track features*, when the input has them (`track_features.py`).

The folder (its format: `prepared_format.py`) is written under a temporary name and renamed at
the end, so an interrupted run never leaves a half-written dataset; an existing folder is only
replaced with ``force=True``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from ..atomic import replace_dir
from ..config import DataConfig, ExperimentConfig
from ..errors import PreparedDataError, display_path
from ..tokens import N_RESERVED, OOV_ID
from .collect import collect
from .mssd import ReadReport, find_log_files
from .prepared_format import ARRAY_FILES, FORMAT_VERSION
from .skips import is_skipped
from .splits import split_sessions
from .track_features import track_features
from .vocab import Vocabulary, drop_oov_sessions, vocabulary


@dataclass
class _Job:
    """One preparation under way: what it reads, and where and how it writes."""

    input_path: Path
    tmp: Path  # the folder being written, renamed to out_dir at the end
    cfg: DataConfig
    side: ThreadPoolExecutor  # parquet writes (and the last merge of the track ids)
    writes: list[Future]  # writes under way: all land before the folder is moved
    t0: float  # when the job began (time.perf_counter)


@dataclass
class _Read:
    """What reading the logs saw: the reader's report, the sessions dropped after it (by
    reason), and each input file with its checksum under way."""

    report: ReadReport
    dropped: Counter
    digests: list[tuple[Path, Future]]


@dataclass
class _Kept:
    """The kept sessions: their arrays (`prepared_format.ARRAY_FILES`), ids and split."""

    a: dict[str, np.ndarray]
    session_ids: pa.Array  # string [N]
    split: dict[str, np.ndarray]
    split_info: dict


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def prepare(
    input_path: str | Path,
    out_dir: str | Path,
    cfg: DataConfig | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    block_size: int = 16 << 20,
) -> dict:
    """Prepare MSSD logs (file, .csv.gz or folder) into ``out_dir``; returns the manifest."""
    cfg = cfg or DataConfig()
    ExperimentConfig(data=cfg).validate("data")
    input_path, out_dir = Path(input_path), Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not force:
        raise PreparedDataError(
            "exists and is not empty; pass force=True to replace it, or choose another out_dir",
            out_dir,
        ).with_cli(
            f"{display_path(out_dir)}: exists and is not empty; pass --force to replace it, "
            "or choose another --out"
        )
    t0 = time.perf_counter()
    files = find_log_files(input_path)
    # A file's checksum starts once its last block is read (hasher): started earlier, it
    # competes with the parsing for the cores, started then it fills the core that the serial
    # end of the work leaves idle. That end, the last merge of the track dictionaries and the
    # parquet writes, overlaps with the work on the main thread (side).
    with ThreadPoolExecutor(1) as hasher, ThreadPoolExecutor(2) as side:
        digests: dict[Path, Future] = {}

        def checksum(path: Path) -> None:
            if path not in digests:
                digests[path] = hasher.submit(_sha256, path)

        report = ReadReport()
        col = collect(
            files, cfg, report, block_size=block_size, progress=progress, on_file_read=checksum
        )
        if col.n == 0:
            raise PreparedDataError(_nothing_kept(report, col.dropped), input_path)
        for f in files:  # those not read to the end (max_sessions)
            checksum(f)
        merged = side.submit(col.arrays, ("tracks",))
        a = col.arrays(tuple(k for k in col.parts if k != "tracks"))
        session_ids = pa.array(a.pop("sid").tolist(), pa.string())  # [N]
        tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        job = _Job(input_path, tmp, cfg, side, [], t0)
        read = _Read(report, col.dropped, [(f, digests[f]) for f in files])
        try:
            split, split_info = split_sessions(a, cfg)
            if _sessions_final(cfg):  # write all but the track ids while the merge runs
                job.writes.append(
                    side.submit(
                        _write_table, {"session_id": session_ids}, tmp / "session_ids.parquet"
                    )
                )
                _write_arrays(tmp, a, [k for k in ARRAY_FILES if k != "tracks"])
                np.savez(tmp / "splits.npz", **split)
            a.update(merged.result())
            names = col.names  # first-seen order; global id g -> names[g - 1]
            manifest = _finish(job, read, _Kept(a, session_ids, split, split_info), names)
        except BaseException:
            wait(job.writes)  # no write may land after the folder is gone
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    replace_dir(tmp, out_dir)
    return manifest


def _nothing_kept(report: ReadReport, dropped: Counter) -> str:
    """Why no session was kept: the drops by reason."""
    reasons = {
        **{f"malformed ({k})": v for k, v in report.sessions_dropped.items()},
        **{k: v for k, v in dropped.items() if v},
    }
    total = sum(reasons.values())
    detail = ", ".join(f"{k}: {v:,}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
    msg = f"no session was kept: {report.rows_read:,} rows read, {total:,} session(s) dropped" + (
        f" ({detail})" if detail else ""
    )
    examples = [e for ex in report.examples.values() for e in ex][:3]
    if examples:
        msg += f"; e.g. {', '.join(examples)}"
    return msg + "; nothing to prepare (check the files, or the filters min_length / require_skip)"


def _write_table(columns: dict[str, pa.Array], path: Path) -> None:
    """A parquet file of id columns: every value distinct, so no dictionary, and no
    compression (random ids barely compress; writing is then about twice as fast)."""
    pq.write_table(pa.table(columns), path, use_dictionary=False, compression="none")


def _write_arrays(tmp: Path, a: dict[str, np.ndarray], keys: list[str]) -> None:
    for key in keys:
        np.save(tmp / f"{key}.npy", a[key])


def _sessions_final(cfg: DataConfig) -> bool:
    """Are the kept sessions final before the vocabulary exists? Yes, unless sessions with an
    out-of-vocabulary track are to be dropped."""
    return cfg.oov != "drop_session"


def _finish(job: _Job, read: _Read, kept: _Kept, names: pa.Array) -> dict:
    """Vocabulary, out-of-vocabulary handling and features; write the rest of the prepared
    folder into `job.tmp`; return the manifest."""
    cfg = job.cfg
    vocab = vocabulary(kept.a, kept.split, cfg, names)
    kept.a["tracks"] = vocab.tracks
    if cfg.oov == "drop_session":
        kept.a, kept.session_ids, n_dropped = drop_oov_sessions(
            kept.a, kept.session_ids, kept.split
        )
        if n_dropped:
            read.dropped["oov_track"] += n_dropped
    if len(kept.a["length"]) == 0:
        raise PreparedDataError(
            "no session was kept: every session has a track outside the "
            f"vocabulary (oov=drop_session, min_count={cfg.min_count}); "
            "lower min_count or use oov=token",
            job.input_path,
        )
    feats, feat_info = track_features(job.input_path, vocab.names, vocab.size, cfg.on_error)
    _write_rest(job, kept, vocab, feats)
    manifest = _manifest(job, read, kept, vocab, feat_info)
    (job.tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _write_rest(job: _Job, kept: _Kept, vocab: Vocabulary, feats: np.ndarray | None) -> None:
    """Write what is not written yet (when the sessions were final before the vocabulary,
    all but the track ids are): the parquet files on `job.side`, the arrays here; wait for
    every write."""
    final, tmp, side = _sessions_final(job.cfg), job.tmp, job.side
    if not final:
        job.writes.append(
            side.submit(_write_table, {"session_id": kept.session_ids}, tmp / "session_ids.parquet")
        )
    job.writes.append(
        side.submit(
            _write_table,
            {
                "id": pa.array(np.arange(N_RESERVED, vocab.size), pa.int32()),
                "track_id": vocab.names,
                "count": pa.array(vocab.counts, pa.int64()),
            },
            tmp / "vocab.parquet",
        )
    )
    _write_arrays(tmp, kept.a, ["tracks"] if final else list(ARRAY_FILES))
    if not final:
        np.savez(tmp / "splits.npz", **kept.split)
    np.save(tmp / "popularity.npy", vocab.popularity)
    if feats is not None:
        np.save(tmp / "features.npy", feats)
    for w in job.writes:
        w.result()


def _manifest(job: _Job, read: _Read, kept: _Kept, vocab: Vocabulary, feat_info: dict) -> dict:
    """The prepared folder's manifest: where it came from, what was kept and dropped, and how."""
    a, split, report, cfg = kept.a, kept.split, read.report, job.cfg
    truth = job.input_path / "ground_truth"
    n_train_targets = int(np.clip(split["train_end"] - 1, 0, None).sum())
    return {
        "format_version": FORMAT_VERSION,
        "negrec_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "input": str(job.input_path.resolve()),
        # relative to the prepared folder (tmp is its sibling), so the pair can move together
        "ground_truth": (
            os.path.relpath(truth.resolve(), job.tmp.resolve()) if truth.is_dir() else None
        ),
        "inputs": [
            {"file": str(f), "bytes": f.stat().st_size, "sha256": d.result()}
            for f, d in read.digests
        ],
        "rows_read": report.rows_read,
        "sessions_read": report.sessions_kept + sum(report.sessions_dropped.values()),
        "sessions_kept": int(len(a["length"])),
        "sessions_dropped": {
            **{f"malformed:{k}": v for k, v in report.sessions_dropped.items()},
            **{k: v for k, v in read.dropped.items() if v},
        },
        "reader": report.to_dict(),
        "vocab_size": int(vocab.size),
        "n_tracks": int(len(vocab.counts)),
        "n_reserved": N_RESERVED,
        "oov_positions": int((a["tracks"] == OOV_ID).sum()),
        "max_length": cfg.max_length,
        "split": kept.split_info,
        "split_sizes": {
            "train_sessions": int(len(split["train_rows"])),
            "train_targets": n_train_targets,
            "valid": int(len(split["valid_rows"])),
            "test": int(len(split["test_rows"])),
        },
        "skip_rate": float(is_skipped(a["skip"][a["tracks"] > 0], cfg.skip_strength).mean())
        if len(a["length"])
        else 0.0,
        "features": feat_info,
        "config": asdict(cfg),
        "seconds": round(time.perf_counter() - job.t0, 2),
    }
