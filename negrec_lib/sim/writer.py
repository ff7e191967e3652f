"""The writer: MSSD-format log and track-feature files, and the ground truth beside them.

`write_simulation` fills a folder with ``training_set/log_*.csv``, ``track_features/tf_*.csv``
(the columns, order and spelling of `negrec_lib.data.schema`), ``ground_truth/`` (the latent
state `negrec_lib.sim.truth.SimulationTruth` reads) and ``SIMULATED.md``. Sessions are generated
and written a chunk at a time; the random layout (`streams.py`) makes the bytes independent of
the chunk size. `negrec_lib.sim.run.simulate` calls it on a temporary folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ..config import SimConfig
from ..data import schema
from . import behaviour
from .catalogue import Catalogue, build_catalogue, track_features
from .layout import START_DATE, file_plan, log_name, uuid_bytes, uuid_key
from .params import VERSION, ModelParams
from .streams import BLOCK, TAG_SESSIONS, randoms

_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")


def pa_strings(chars: np.ndarray) -> pa.Array:
    """[n, w] uint8 ASCII -> a pyarrow string array (fixed width, no copy through Python).

    Examples
    --------
    >>> pa_strings(np.frombuffer(b"abcd", np.uint8).reshape(2, 2)).to_pylist()
    ['ab', 'cd']
    """
    n, w = chars.shape
    offsets = np.arange(n + 1, dtype=np.int32) * w
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def _header(columns: Sequence[str]) -> bytes:
    return (",".join(columns) + "\n").encode()


def _dictionary(codes: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes), values)


def _log_table(
    cols: dict,
    valid: np.ndarray,
    sid: pa.Array,
    day: np.ndarray,
    track_ids: pa.Array,
    names: dict[str, pa.Array],
) -> pa.Table:
    """The log rows of a chunk, columns in schema.LOG_COLUMNS order."""
    rows = np.nonzero(valid)[0].astype(np.int32)
    out = {}
    for name in schema.LOG_COLUMNS:
        if name == "session_id":
            out[name] = _dictionary(rows, sid)
        elif name == "track_id_clean":
            out[name] = _dictionary(cols["track"][valid], track_ids)
        elif name == "date":
            out[name] = _dictionary(day[rows], names["date"])
        elif name in names:
            out[name] = _dictionary(cols[name][valid], names[name])
        else:
            out[name] = pa.array(cols[name][valid])
    return pa.table(out)


def write_tf(folder: Path, cat: Catalogue, feats: dict[str, np.ndarray]) -> list[Path]:
    """track_features/tf_00...0.csv (and ..1.csv: the catalogue in two halves), sorted by id."""
    M = len(cat.popularity)
    order = np.argsort(cat.id_chars.view(f"S{cat.id_chars.shape[1]}").ravel(), kind="stable")
    cols = {"track_id": pa_strings(cat.id_chars[order])}
    for name in schema.TF_COLUMNS[1:]:
        values = feats[name][order]
        cols[name] = (
            _dictionary(values, pa.array(schema.TF_MODES)) if name == "mode" else pa.array(values)
        )
    table = pa.table(cols)
    halves = [(0, (M + 1) // 2), ((M + 1) // 2, M)] if M > 1 else [(0, M)]
    paths = []
    for i, (a, b) in enumerate(halves):
        path = folder / f"tf_{i:012d}.csv"
        with pa.OSFile(str(path), "wb") as sink:
            sink.write(_header(schema.TF_COLUMNS))
            pacsv.write_csv(table.slice(a, b - a), sink, _CSV_OPTIONS)
        paths.append(path)
    return paths


def _note(config: dict, P: ModelParams, n_clusters: int, n_genres: int) -> str:
    lines = [
        "# Simulated data (not MSSD)",
        "",
        "These files were written by negrec's session simulator (`negrec_lib.sim`).",
        "They follow the layout and columns of the Music Streaming Sessions Dataset (Spotify, "
        "2019),",
        "but every row is synthetic: no real listener, track or session is in them. Only the",
        "marginal statistics (skip rates, lengths, context shares, reasons) are calibrated to "
        "small",
        "real samples. The generating process is known: `ground_truth/` holds its parameters, and",
        "`negrec_lib.sim.SimulationTruth.load(<this folder>)` gives the oracle.",
        "",
        "## Parameters",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in config.items()]
    lines += [
        f"- genres x sub-genres: {n_genres} x {n_clusters // n_genres}",
        f"- latent dimension: {P.dim}",
        f"- simulator version: {VERSION}",
        "",
    ]
    return "\n".join(lines)


def write_simulation(
    tmp: Path, cfg: SimConfig, P: ModelParams, chunk: int, progress: bool
) -> tuple[int, list[str]]:
    """Simulate ``cfg`` into the empty or missing folder ``tmp``; (rows, written file names).

    ``cfg`` must be checked (`negrec_lib.sim.run.check_config`); ``chunk`` is the number of
    sessions generated and written at a time, a multiple of `streams.BLOCK`.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     cfg = SimConfig(sessions=50, tracks=40, days=2)
    ...     rows, files = write_simulation(Path(d) / "sim", cfg, ModelParams(), chunk=1024,
    ...                                    progress=False)
    >>> files[:2]
    ['training_set/log_0_20180715_000000000000.csv', 'training_set/log_0_20180716_000000000000.csv']
    """
    from ..progress import ProgressSlot

    n, M, skip_signal, seed = cfg.sessions, cfg.tracks, cfg.skip_signal, cfg.seed
    days, L = cfg.days, cfg.max_length
    for sub in ("training_set", "track_features", "ground_truth"):
        (tmp / sub).mkdir(parents=True)
    cat = build_catalogue(seed, M, P)
    feats = track_features(seed, cat)
    tf_paths = write_tf(tmp / "track_features", cat, feats)
    quantiles = behaviour.pilot_quantiles(seed, cat, P, L)
    duration = feats["duration"].astype(np.float64)
    plan = file_plan(n, days)
    starts = np.array([p[2] for p in plan])
    plan_day = np.array([p[0] for p in plan])
    plan_k = np.array([p[1] for p in plan])
    names = {
        "date": pa.array([(START_DATE + dt.timedelta(days=d)).isoformat() for d in range(days)]),
        **{c: pa.array(v) for c, v in schema.LOG_CATEGORICAL_COLUMNS.items()},
    }
    track_ids = pa_strings(cat.id_chars)
    keep: dict[str, list] = {
        k: [] for k in ("taste", "context", "switch", "shuffle", "premium", "length", "keys")
    }
    log_paths: list[Path] = []
    open_file, sink, writer, rows = -1, None, None, 0
    slot = ProgressSlot(progress)  # tqdm.auto: stderr in a terminal, a widget in Jupyter
    bar = slot.bar(total=n, unit="session", desc="simulate")
    try:
        for c0 in range(0, n, chunk):
            c1 = min(n, c0 + chunk)
            R = randoms(seed, TAG_SESSIONS, c0 // BLOCK, -(-c1 // BLOCK), L, P.dim)
            R = {k: v[: c1 - c0] for k, v in R.items()}
            st, cols = behaviour.simulate_rows(R, cat, P, L, skip_signal, quantiles, duration)
            valid = np.arange(L) < st["length"][:, None]
            file_of = np.searchsorted(starts, np.arange(c0, c1), side="right") - 1
            prefix = np.stack([ord("0") + plan_k[file_of], np.full(c1 - c0, ord("_"))], 1).astype(
                np.uint8
            )
            sid = pa_strings(uuid_bytes(R["ids"], prefix))
            table = _log_table(
                cols, valid, sid, plan_day[file_of].astype(np.int16), track_ids, names
            )
            row_end = np.concatenate([[0], np.cumsum(st["length"])])
            for f in np.unique(file_of):
                a, b = np.searchsorted(file_of, f), np.searchsorted(file_of, f, side="right")
                if f != open_file:
                    if writer is not None:
                        writer.close()
                        sink.close()
                    path = tmp / "training_set" / log_name(plan[f][0], plan[f][1])
                    sink = pa.OSFile(str(path), "wb")
                    sink.write(_header(schema.LOG_COLUMNS))
                    writer = pacsv.CSVWriter(sink, table.schema, write_options=_CSV_OPTIONS)
                    open_file = f
                    log_paths.append(path)
                writer.write_table(table.slice(row_end[a], row_end[b] - row_end[a]))
            rows += int(row_end[-1])
            keep["taste"].append(st["taste"].astype(np.float16))
            keep["context"].append(np.stack([st["ctx_a"], st["ctx_b"]], 1))
            keep["switch"].append(np.packbits(st["switch"], axis=1))
            keep["shuffle"].append(st["shuffle"])
            keep["premium"].append(st["premium"])
            keep["length"].append(st["length"])
            keep["keys"].append(uuid_key(R["ids"]))
            bar.update(c1 - c0)
    finally:
        slot.done(bar)
        slot.close()
        if writer is not None:
            writer.close()
            sink.close()
    gt = tmp / "ground_truth"
    arrays = {f"session_{k}": np.concatenate(v) for k, v in keep.items()}
    if len(np.unique(arrays["session_keys"])) != n:  # pragma: no cover - about 1e-8 odds at 1 M
        raise RuntimeError("two session ids share their first 64 bits; use another seed")
    arrays.update(
        track_ids=cat.id_chars.view(f"S{cat.id_chars.shape[1]}").ravel(),
        track_vectors=cat.vectors,
        popularity=cat.popularity,
        track_cluster=cat.cluster,
        cluster_centres=cat.centres,
        cluster_genre=cat.genre,
        genre_centres=cat.genre_centres,
        fit_quantiles=quantiles,
    )
    for name, arr in arrays.items():
        np.save(gt / f"{name}.npy", arr, allow_pickle=False)
    config = dict(sessions=n, tracks=M, skip_signal=skip_signal, seed=seed, days=days, max_length=L)
    G = len(cat.genre_centres)
    meta = {
        "format": "negrec-simulation",
        "version": VERSION,
        "seed": seed,
        "config": config,
        "params": dataclasses.asdict(P),
        "n_genres": G,
        "n_clusters": len(cat.centres),
        "block": BLOCK,
        "rows": rows,
        "start_date": START_DATE.isoformat(),
        "files": [p.relative_to(tmp).as_posix() for p in log_paths + tf_paths],
    }
    (gt / "truth.json").write_text(json.dumps(meta, indent=1) + "\n")
    (tmp / "SIMULATED.md").write_text(_note(config, P, len(cat.centres), G))
    return rows, meta["files"]
