"""Turn MSSD logs into a prepared dataset folder: skip labels, filters, vocabulary, splits.

One streaming pass over the logs collects the sessions that pass the filters into fixed-size
arrays (track ids, skip strength, context type per position; length, date, offset per
session); everything after that works on those arrays in memory:

1. *skip label*: a track counts as skipped when its skip strength (skip_1 + skip_2 + skip_3,
   0..3) is at least ``DataConfig.skip_strength`` (2 = the paper's skip_2);
2. *filters*: ``length >= min_length`` (paper: > 5) and at least one skip (paper), both
   configurable; every dropped session is counted by reason in the manifest;
3. *split*: ``paper`` (leave-last-out inside every session: the last track is the test target,
   the second-last the validation target, the rest the training input) or ``by_day`` (whole
   sessions of earlier days train; later days validate and test);
4. *vocabulary*: ids in decreasing frequency, after the reserved ids of `tokens`; the counts
   come from every session for the ``paper`` split (as the paper: every track of the sample)
   and from the training days only for ``by_day`` (a track first heard on a test day is
   out-of-vocabulary, as it would be in production).

The folder is written under a temporary name and renamed at the end, so an interrupted run
never leaves a half-written dataset; an existing folder is only replaced with ``force=True``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import __version__
from ..atomic import replace_dir
from ..config import DataConfig, ExperimentConfig
from ..errors import ConfigError, MSSDFormatError, NegrecError, PreparedDataError, display_path
from . import schema
from .mssd import ReadReport, find_log_files, find_tf_files, iter_log_blocks, read_track_features
from .tokens import N_RESERVED, OOV_ID, PAD_ID

FORMAT_VERSION = 1
ARRAY_FILES = ("tracks", "skip", "context", "length", "day", "offset")
SPLIT_KEYS = ("train_rows", "train_end", "valid_rows", "valid_pos", "test_rows", "test_pos")


# ---------------------------------------------------------------------- pass 1: collect
class _Collector:
    """Accumulates kept sessions block by block into fixed-width arrays.

    Track ids are strings; a block's rows carry codes into the block's own dictionary. Those
    dictionaries are merged into one global, first-seen-ordered dictionary in batches, by
    Arrow's hash kernel (`dictionary_encode` of the global dictionary followed by the pending
    block dictionaries keeps every known id's index), and the pending blocks' codes are
    rewritten then: no per-row and no per-id Python work.
    """

    MERGE_EVERY = 1_000_000      # pending dictionary entries before a merge (bounds memory)

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self.names = pa.array([], pa.string())   # global track ids, first-seen order
        self.pending: list[tuple[int, pa.Array]] = []   # (part index, block dictionary)
        self.n_pending = 0
        self.parts: dict[str, list[np.ndarray]] = {k: [] for k in (*ARRAY_FILES, "sid")}
        self.n = 0

    def add_block(self, codes: np.ndarray, names: pa.Array, **kw: np.ndarray) -> None:
        """Add kept sessions whose tracks are ``codes`` into the block dictionary ``names``."""
        self.add(tracks=codes.astype(np.int32) + 1, **kw)     # +1: 0 stays padding
        self.pending.append((len(self.parts["tracks"]) - 1, names))
        self.n_pending += len(names)
        if self.n_pending >= self.MERGE_EVERY:
            self.merge()

    def merge(self) -> None:
        """Fold the pending block dictionaries into the global one; rewrite their codes."""
        if not self.pending:
            return
        merged = pc.dictionary_encode(pa.concat_arrays(
            [self.names] + [names.cast(pa.string()) for _, names in self.pending]))
        index = merged.indices.to_numpy()                      # [G + pending]
        at = len(self.names)
        for part, names in self.pending:
            to_global = index[at:at + len(names)] + 1         # block code + 1 -> global id + 1
            at += len(names)
            grid = self.parts["tracks"][part]
            real = grid > 0
            grid[real] = to_global[grid[real] - 1]
        self.names = merged.dictionary
        self.pending, self.n_pending = [], 0

    def add(self, tracks: np.ndarray, skip: np.ndarray, context: np.ndarray,
            starts: np.ndarray, lengths: np.ndarray, day: np.ndarray, sids: np.ndarray) -> None:
        """Add the rows of kept sessions (rows of one session contiguous, in order)."""
        n, L = len(starts), self.max_length
        offset = np.maximum(lengths - L, 0).astype(np.int16)          # [n] tracks cut at the front
        kept_len = np.minimum(lengths, L).astype(np.int16)             # [n]
        sess = np.repeat(np.arange(n), lengths)                        # [rows] session of each row
        pos = np.arange(len(tracks)) - np.repeat(starts, lengths)      # [rows] 0-based position
        col = pos - np.repeat(offset, lengths)                         # [rows] column in the array
        keep = col >= 0
        grid_t = np.zeros((n, L), np.int32)
        grid_s = np.zeros((n, L), np.int8)
        grid_c = np.zeros((n, L), np.int8)
        grid_t[sess[keep], col[keep]] = tracks[keep]
        grid_s[sess[keep], col[keep]] = skip[keep]
        grid_c[sess[keep], col[keep]] = context[keep]
        for key, value in (("tracks", grid_t), ("skip", grid_s), ("context", grid_c),
                           ("length", kept_len), ("day", day.astype(np.int32)),
                           ("offset", offset), ("sid", np.asarray(sids, dtype=object))):
            self.parts[key].append(value)
        self.n += n

    def arrays(self, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Concatenate what was collected so far under `keys` (default: all; track ids: global
        first-seen id + 1, so the tracks need `merge` first, which this does for them)."""
        keys = tuple(self.parts) if keys is None else keys
        if "tracks" in keys:
            self.merge()
        L = self.max_length
        empty = {"tracks": np.zeros((0, L), np.int32), "skip": np.zeros((0, L), np.int8),
                 "context": np.zeros((0, L), np.int8), "length": np.zeros(0, np.int16),
                 "day": np.zeros(0, np.int32), "offset": np.zeros(0, np.int16),
                 "sid": np.zeros(0, object)}
        out = {}
        for key in keys:
            parts = self.parts[key]
            out[key] = np.concatenate(parts) if parts else empty[key]
            parts.clear()
        return out


def _collect(files: list[Path], cfg: DataConfig, report: ReadReport, dropped: Counter,
             block_size: int, progress: bool, on_file_read: Callable[[Path], None] | None = None
             ) -> _Collector:
    """Stream every log block once; keep the sessions that pass the filters."""
    from ..progress import ProgressSlot

    col = _Collector(cfg.max_length)
    total = sum(f.stat().st_size for f in files)
    slot = ProgressSlot(progress)          # tqdm.auto: stderr in a terminal, a widget in Jupyter
    bar = slot.bar(total=total, unit="B", unit_scale=True, desc="prepare")
    done_bytes = 0
    for path in files:
        for block in iter_log_blocks(path, on_error=cfg.on_error, report=report,
                                     block_size=block_size, on_file_read=on_file_read,
                                     date_format=cfg.date_format,
                                     partial_sessions=cfg.partial_sessions):
            c = block.columns
            strength = (c["skip_1"].astype(np.int8) + c["skip_2"] + c["skip_3"])   # [rows] 0..3
            starts = np.asarray(block.session_starts, np.int64)                    # [S]
            lengths = np.diff(np.append(starts, block.n_rows))                     # [S]
            skipped = (strength >= cfg.skip_strength).astype(np.int32)
            n_skips = np.add.reduceat(skipped, starts) if len(starts) else skipped[:0]
            keep = np.ones(len(starts), bool)
            short = lengths < cfg.min_length
            dropped["too_short"] += int(short.sum())
            keep &= ~short
            if cfg.require_skip:
                no_skip = keep & (n_skips == 0)
                dropped["no_skip"] += int(no_skip.sum())
                keep &= ~no_skip
            if cfg.max_sessions is not None:
                room = cfg.max_sessions - col.n
                over = np.cumsum(keep) > room
                dropped["beyond_max_sessions"] += int((keep & over).sum())
                keep &= ~over
            # The kept rows, with track codes into the block's dictionary (the collector maps
            # them to global first-seen ids when it merges the dictionaries).
            row_keep = np.repeat(keep, lengths)
            ks = starts[keep]
            new_starts = np.cumsum(np.concatenate([[0], lengths[keep][:-1]])) if len(ks) else ks
            col.add_block(block.track_codes[row_keep], block.track_dict,
                          skip=strength[row_keep], context=c["context_type"][row_keep],
                          starts=new_starts.astype(np.int64), lengths=lengths[keep],
                          day=np.asarray(block.session_dates)[keep],
                          sids=np.asarray(block.session_ids, dtype=object)[keep])
            if cfg.max_sessions is not None and col.n >= cfg.max_sessions:
                break
        done_bytes += path.stat().st_size
        bar.update(done_bytes - bar.n)
        if cfg.max_sessions is not None and col.n >= cfg.max_sessions:
            break
    slot.done(bar)
    slot.close()
    return col


# ---------------------------------------------------------------------- pass 2: split
def _split(a: dict[str, np.ndarray], cfg: DataConfig) -> tuple[dict[str, np.ndarray], dict]:
    """Row indices of the train / valid / test parts, and a description of the split."""
    n = len(a["length"])
    length = a["length"].astype(np.int64)
    rows = np.arange(n, dtype=np.int64)
    if cfg.split == "paper":
        split = {"train_rows": rows, "train_end": length - 2,
                 "valid_rows": rows, "valid_pos": length - 2,
                 "test_rows": rows, "test_pos": length - 1}
        info = {"kind": "paper"}
    elif cfg.split == "by_day":
        days = np.unique(a["day"])
        need = cfg.valid_days + cfg.test_days + 1
        if len(days) < need:
            raise ConfigError(f"data.split=by_day needs at least {need} distinct days "
                              f"(valid_days={cfg.valid_days}, test_days={cfg.test_days}, and one "
                              f"to train on); the data has {len(days)}")
        test_from = days[-cfg.test_days]
        valid_from = days[-cfg.test_days - cfg.valid_days]
        train = rows[a["day"] < valid_from]
        valid = rows[(a["day"] >= valid_from) & (a["day"] < test_from)]
        test = rows[a["day"] >= test_from]

        def targets(part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            if cfg.eval_targets == "last":
                return part, length[part] - 1
            reps = length[part] - 1                                  # targets at 1..len-1
            r = np.repeat(part, reps)
            first = np.cumsum(np.concatenate([[0], reps[:-1]]))
            t = np.arange(reps.sum()) - np.repeat(first, reps) + 1
            return r, t

        vr, vp = targets(valid)
        tr, tp = targets(test)
        split = {"train_rows": train, "train_end": length[train],
                 "valid_rows": vr, "valid_pos": vp, "test_rows": tr, "test_pos": tp}
        info = {"kind": "by_day", "train_days": [_day(d) for d in days if d < valid_from],
                "valid_days": [_day(d) for d in days if valid_from <= d < test_from],
                "test_days": [_day(d) for d in days if d >= test_from]}
    else:  # pragma: no cover - DataConfig validation rejects other values
        raise ConfigError(f"data.split: unknown split {cfg.split!r}")
    return {k: np.asarray(v, np.int64) for k, v in split.items()}, info


def _day(d: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(d))).isoformat()


def _train_mask(a: dict[str, np.ndarray], split: dict[str, np.ndarray]) -> np.ndarray:
    """[N, L] True at the positions the model sees during training."""
    L = a["tracks"].shape[1]
    end = np.zeros(len(a["length"]), np.int64)
    end[split["train_rows"]] = split["train_end"]
    return np.arange(L)[None, :] < end[:, None]


def _vocabulary(a: dict[str, np.ndarray], split: dict, cfg: DataConfig,
                n_names: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Frequency-ordered vocabulary.

    Returns (the tracks in vocabulary ids [N, L], first-seen index of each vocabulary track in
    id order [n_tracks], count of each vocabulary track [n_tracks], training popularity [V]).
    """
    tracks = a["tracks"]                                          # [N, L] first-seen ids + 1
    counted = tracks if cfg.split == "paper" else tracks[split["train_rows"]]
    # padding (0) is counted too, and cut off: cheaper than selecting the real positions
    counts = np.bincount(counted.ravel(), minlength=n_names + 1)[1:]   # [n_names] by first seen
    order = np.argsort(-counts, kind="stable")      # most frequent first, ties by first seen
    in_vocab = counts[order] >= max(cfg.min_count, 1)
    order = order[in_vocab]
    old_to_new = np.full(n_names + 1, OOV_ID, np.int32)
    old_to_new[PAD_ID] = PAD_ID
    old_to_new[order + 1] = np.arange(len(order), dtype=np.int32) + N_RESERVED
    vocab_counts = counts[order]
    new_tracks = old_to_new[tracks]
    train = _train_mask(a, split)
    popularity = np.bincount(new_tracks[train], minlength=len(order) + N_RESERVED)
    popularity[:N_RESERVED] = 0
    return new_tracks, order, vocab_counts, popularity.astype(np.int64)


# ---------------------------------------------------------------------- the whole job
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _features(input_path: Path, vocab_names: pa.Array, vocab_size: int,
              on_error: str = "raise") -> tuple[np.ndarray | None, dict]:
    """Standardised track features aligned with the vocabulary, when tf files exist.

    Looked for in a folder input (and its ``track_features/``), or, for a single log file in an
    MSSD layout (``.../training_set/log_*.csv``), in the dataset root next to it. With
    ``on_error="drop"`` malformed feature rows are dropped and counted (``rows_dropped``), and
    a feature file that cannot be read at all disables the features with a warning.
    """
    where = input_path if input_path.is_dir() else (
        input_path.parent.parent if input_path.parent.name == "training_set" else None)
    if where is None:
        return None, {"available": False}
    try:
        tf_files = find_tf_files(where)
    except MSSDFormatError:
        return None, {"available": False}
    import pandas as pd
    tf_report = ReadReport()
    try:
        frames = [read_track_features(f, on_error=on_error, report=tf_report) for f in tf_files]
        tf = pd.concat(frames, ignore_index=True)
        dup = tf["track_id"].duplicated(keep="first")     # across files
        if dup.any():
            if on_error == "raise":
                raise MSSDFormatError(f"track_id {tf['track_id'][dup].iloc[0]!r} appears in "
                                      "more than one track-feature file", tf_files[-1],
                                      column="track_id")
            tf_report.sessions_dropped["duplicate_track_id"] += int(dup.sum())
            tf = tf[~dup]
    except NegrecError as exc:
        if on_error == "raise":
            raise
        # features are optional: under on_error="drop" an unreadable file disables them
        warnings.warn(f"track features disabled: {exc}", stacklevel=3)
        return None, {"available": False, "error": str(exc)}
    tf = tf.set_index("track_id")
    if len(tf) == 0:
        warnings.warn(f"track features disabled: no valid row in {len(tf_files)} feature "
                      "file(s)", stacklevel=3)
        return None, {"available": False, "error": "no valid feature row",
                      "rows_dropped": {k: int(v) for k, v in tf_report.sessions_dropped.items()}}
    cols = [c for c in schema.TF_NUMERIC_COLUMNS]
    x = tf[cols].to_numpy(np.float64)
    x = np.column_stack([x, (tf["mode"].astype(str) == "major").to_numpy(np.float64)])
    mu, sd = x.mean(0), x.std(0)
    x = (x - mu) / np.where(sd > 0, sd, 1.0)
    feats = np.zeros((vocab_size, x.shape[1]), np.float32)
    pos = tf.index.get_indexer(pd.Index(vocab_names.to_pylist()))  # tf row of each vocab track
    have = pos >= 0
    feats[N_RESERVED:][have] = x[pos[have]]
    return feats, {"available": True, "files": [str(f) for f in tf_files],
                   "columns": cols + ["mode_major"], "missing": int((~have).sum()),
                   "rows_dropped": {k: int(v) for k, v in tf_report.sessions_dropped.items()}}


def prepare(input_path: str | Path, out_dir: str | Path, cfg: DataConfig | None = None, *,
            force: bool = False, progress: bool = True, block_size: int = 16 << 20) -> dict:
    """Prepare MSSD logs (file, .csv.gz or folder) into ``out_dir``; returns the manifest."""
    cfg = cfg or DataConfig()
    ExperimentConfig(data=cfg).validate("data")
    input_path, out_dir = Path(input_path), Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not force:
        raise PreparedDataError("exists and is not empty; pass force=True to replace it, or "
                                "choose another out_dir", out_dir).with_cli(
            f"{display_path(out_dir)}: exists and is not empty; pass --force to replace it, "
            "or choose another --out")
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

        report, dropped = ReadReport(), Counter()
        col = _collect(files, cfg, report, dropped, block_size, progress, checksum)
        if col.n == 0:
            raise PreparedDataError(_nothing_kept(report, dropped), input_path)
        for f in files:                      # those not read to the end (max_sessions)
            checksum(f)
        merged = side.submit(col.arrays, ("tracks",))
        a = col.arrays(tuple(k for k in col.parts if k != "tracks"))
        session_ids = pa.array(a.pop("sid").tolist(), pa.string())           # [N]
        tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        writes: list[Future] = []
        try:
            split, split_info = _split(a, cfg)
            if _sessions_final(cfg):         # write all but the track ids while the merge runs
                writes.append(side.submit(_write_table, {"session_id": session_ids},
                                          tmp / "session_ids.parquet"))
                _write_arrays(tmp, a, [k for k in ARRAY_FILES if k != "tracks"])
                np.savez(tmp / "splits.npz", **split)
            a.update(merged.result())
            names = col.names              # first-seen order; global id g -> names[g - 1]
            manifest = _finish(input_path, tmp, cfg, a, names, session_ids, split, split_info,
                               report, dropped, [(f, digests[f]) for f in files], t0, side,
                               writes)
        except BaseException:
            wait(writes)                     # no write may land after the folder is gone
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    replace_dir(tmp, out_dir)
    return manifest


def _nothing_kept(report: ReadReport, dropped: Counter) -> str:
    """Why no session was kept: the drops by reason."""
    reasons = {**{f"malformed ({k})": v for k, v in report.sessions_dropped.items()},
               **{k: v for k, v in dropped.items() if v}}
    total = sum(reasons.values())
    detail = ", ".join(f"{k}: {v:,}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
    msg = (f"no session was kept: {report.rows_read:,} rows read, {total:,} session(s) "
           f"dropped" + (f" ({detail})" if detail else ""))
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


def _finish(input_path: Path, tmp: Path, cfg: DataConfig, a: dict[str, np.ndarray],
            names: pa.Array, session_ids: pa.Array, split: dict[str, np.ndarray],
            split_info: dict, report: ReadReport, dropped: Counter,
            digests: list[tuple[Path, Future]], t0: float, side: ThreadPoolExecutor,
            writes: list[Future]) -> dict:
    """Vocabulary, out-of-vocabulary handling and features; write the prepared folder into
    `tmp` (the parquet files on `side`, joining the `writes` already under way, the arrays
    here; when the sessions were final before the vocabulary, all but the track ids are
    written already); return the manifest."""
    final = _sessions_final(cfg)
    a["tracks"], vocab_index, vocab_counts, popularity = _vocabulary(a, split, cfg, len(names))
    vocab_size = len(vocab_counts) + N_RESERVED
    if cfg.oov == "drop_session":
        has_oov = (a["tracks"] == OOV_ID).any(1)
        if has_oov.any():
            dropped["oov_track"] += int(has_oov.sum())
            keep_rows = np.flatnonzero(~has_oov)
            remap = np.full(len(has_oov), -1, np.int64)
            remap[keep_rows] = np.arange(len(keep_rows))
            a = {k: v[keep_rows] for k, v in a.items()}
            session_ids = session_ids.take(pa.array(keep_rows, pa.int64()))
            for part, pos in (("train", "train_end"), ("valid", "valid_pos"), ("test", "test_pos")):
                r = remap[split[f"{part}_rows"]]
                split[f"{part}_rows"], split[pos] = r[r >= 0], split[pos][r >= 0]
    if len(a["length"]) == 0:
        raise PreparedDataError("no session was kept: every session has a track outside the "
                                f"vocabulary (oov=drop_session, min_count={cfg.min_count}); "
                                "lower min_count or use oov=token", input_path)
    vocab_names = names.take(pa.array(vocab_index, pa.int64()))     # [n_tracks] in id order
    feats, feat_info = _features(input_path, vocab_names, vocab_size, cfg.on_error)

    if not final:
        writes.append(side.submit(_write_table, {"session_id": session_ids},
                                  tmp / "session_ids.parquet"))
    writes.append(side.submit(_write_table,
                              {"id": pa.array(np.arange(N_RESERVED, vocab_size), pa.int32()),
                               "track_id": vocab_names,
                               "count": pa.array(vocab_counts, pa.int64())},
                              tmp / "vocab.parquet"))
    _write_arrays(tmp, a, ["tracks"] if final else list(ARRAY_FILES))
    if not final:
        np.savez(tmp / "splits.npz", **split)
    np.save(tmp / "popularity.npy", popularity)
    if feats is not None:
        np.save(tmp / "features.npy", feats)
    for w in writes:
        w.result()
    truth = input_path / "ground_truth"
    n_train_targets = int(np.clip(split["train_end"] - 1, 0, None).sum())
    manifest = {
        "format_version": FORMAT_VERSION,
        "negrec_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "input": str(input_path.resolve()),
        # relative to the prepared folder (tmp is its sibling), so the pair can move together
        "ground_truth": (os.path.relpath(truth.resolve(), tmp.resolve()) if truth.is_dir()
                         else None),
        "inputs": [{"file": str(f), "bytes": f.stat().st_size, "sha256": d.result()}
                   for f, d in digests],
        "rows_read": report.rows_read,
        "sessions_read": report.sessions_kept + sum(report.sessions_dropped.values()),
        "sessions_kept": int(len(a["length"])),
        "sessions_dropped": {**{f"malformed:{k}": v for k, v in report.sessions_dropped.items()},
                             **{k: v for k, v in dropped.items() if v}},
        "reader": report.to_dict(),
        "vocab_size": int(vocab_size),
        "n_tracks": int(len(vocab_counts)),
        "n_reserved": N_RESERVED,
        "oov_positions": int((a["tracks"] == OOV_ID).sum()),
        "max_length": cfg.max_length,
        "split": split_info,
        "split_sizes": {"train_sessions": int(len(split["train_rows"])),
                        "train_targets": n_train_targets,
                        "valid": int(len(split["valid_rows"])),
                        "test": int(len(split["test_rows"]))},
        "skip_rate": float((a["skip"][a["tracks"] > 0] >= cfg.skip_strength).mean())
        if len(a["length"]) else 0.0,
        "features": feat_info,
        "config": asdict(cfg),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
