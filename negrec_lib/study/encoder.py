"""The encoder chapter's measurements: token names, attention masks, output changes, parameters.

Pure functions over tensors and models, returning arrays and DataFrames; the figures of
`negrec_lib.viz.model` draw them. Token ids follow `negrec_lib.tokens`: 0 = PAD,
1 = MASK, 2 = OOV, tracks from 3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..model import SessionEncoder
from ..tokens import MASK_ID, N_RESERVED, OOV_ID, PAD_ID

__all__ = [
    "RESERVED_NAMES",
    "token_label",
    "mask_matrix",
    "output_change",
    "parameter_table",
    "count_parameters",
    "parameter_scaling",
]

RESERVED_NAMES = {PAD_ID: "PAD", MASK_ID: "MASK", OOV_ID: "OOV"}


def token_label(token: int) -> str:
    """``PAD``, ``MASK`` or ``OOV`` for reserved ids, the id itself for a track."""
    return RESERVED_NAMES.get(int(token), str(int(token)))


def mask_matrix(mask: Tensor) -> np.ndarray:
    """A [B, 1, L, L] (or [L, L]) boolean attention mask of one session as an [L, L] array."""
    m = mask.detach().cpu()
    while m.ndim > 2:
        m = m[0]
    return m.numpy().astype(bool)


@torch.no_grad()
def output_change(
    model: SessionEncoder, tracks: Tensor, position: int, new_track: int
) -> pd.DataFrame:
    """How much each position's output moves when the track at ``position`` is replaced.

    ``tracks`` [1, L] is encoded twice in eval mode (no dropout): as given, and with
    ``tracks[0, position] = new_track``. Returns one row per real position: ``abs`` =
    ||h'_t - h_t||, ``rel`` = that divided by ||h_t||.
    """
    was_training = model.training
    model.eval()
    try:
        edited = tracks.clone()
        edited[0, position] = new_track
        h = model(tracks).hidden[0]  # [L, D]
        h2 = model(edited).hidden[0]  # [L, D]
    finally:
        model.train(was_training)
    real = (tracks[0] != PAD_ID).nonzero().flatten().tolist()
    diff = (h2 - h).norm(dim=-1)  # [L]
    rel = diff / h.norm(dim=-1).clamp(min=1e-12)
    return pd.DataFrame({"position": real, "abs": diff[real].tolist(), "rel": rel[real].tolist()})


# ---------------------------------------------------------------------------- parameter counts
def _component(name: str) -> str:
    top = name.split(".")[0]
    return {
        "item_emb": "track table (item_emb)",
        "pos_emb": "positions (pos_emb)",
        "layers": "transformer layers",
        "head": "prediction head (Linear + GELU)",
        "final_norm": "final LayerNorm (pre-LN only)",
        "feature_proj": "feature projection",
    }.get(top, top)


def parameter_table(model: nn.Module) -> pd.DataFrame:
    """Parameters of ``model`` grouped by component, with each group's share of the total."""
    counts: dict[str, int] = {}
    for name, p in model.named_parameters():
        key = _component(name)
        counts[key] = counts.get(key, 0) + p.numel()
    frame = pd.DataFrame({"component": list(counts), "parameters": list(counts.values())})
    total = int(frame["parameters"].sum())
    frame = pd.concat(
        [frame, pd.DataFrame({"component": ["total"], "parameters": [total]})], ignore_index=True
    )
    frame["share"] = frame["parameters"] / max(total, 1)
    return frame


def count_parameters(cfg: ModelConfig, n_tracks: int) -> pd.DataFrame:
    """`parameter_table` of an encoder with ``n_tracks`` tracks, built on the meta device.

    Meta tensors have shapes but no storage, so a 1 M-track model is counted without
    allocating its 512 MB table.
    """
    with torch.device("meta"):
        model = SessionEncoder(cfg, n_tracks + N_RESERVED)
    return parameter_table(model)


def parameter_scaling(
    cfg: ModelConfig,
    n_tracks: Sequence[int],
    marks: Mapping[str, int] | None = None,
    points: int = 40,
) -> pd.DataFrame:
    """Parameters of the track table and in total, against the catalogue size.

    One row per catalogue size on a log grid of ``points`` sizes from ``min(n_tracks)`` to
    ``max(n_tracks)`` (mark ""), then one row per labelled size of ``marks`` (profiles, the
    paper; mark = its name). Columns: tracks, track_table, total, mark.
    """
    sizes = np.unique(np.geomspace(min(n_tracks), max(n_tracks), points).round()).astype(int)
    rows = []
    for mark, v in [("", int(v)) for v in sizes] + [(k, int(v)) for k, v in (marks or {}).items()]:
        counts = count_parameters(cfg, v).set_index("component")["parameters"]
        rows.append(
            {
                "tracks": v,
                "track_table": int(counts["track table (item_emb)"]),
                "total": int(counts["total"]),
                "mark": mark,
            }
        )
    return pd.DataFrame(rows)
