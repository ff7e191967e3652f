"""The ground truth of a simulated folder, and the oracle: the true next-track distribution.

`SimulationTruth.load` reads ``ground_truth/`` (written by `writer.write_simulation`), maps the
ids in the files back to latent sessions and tracks, and evaluates the session process exactly:
`SimulationTruth.next_track_probs` is what the best possible recommender would predict, and
`SimulationTruth.skip_fit` the listener-track fit that drives skips.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import NegrecError, NegrecFileError, file_error
from .behaviour import fit, gaussianize
from .catalogue import Catalogue
from .layout import file_plan
from .params import VERSION, ModelParams
from .process import mix_table, taste_logits


def _ascii(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(the ids as an array, the same as ASCII bytes; non-ASCII characters become '?')."""
    ids = np.asarray(values)
    if ids.dtype.kind not in "US" and len(ids):
        ids = ids.astype(str)
    try:
        return ids, ids.astype("S")
    except UnicodeEncodeError:
        return ids, np.array([str(v).encode("ascii", "replace") for v in ids], dtype="S")


class SimulationTruth:
    """The generating process of a simulated folder: latent vectors, session states, the oracle.

    Sessions and tracks are addressed by latent index (`session_index`, `track_index` map the
    ids in the files to it). ``position`` arguments are the 1-based ``session_position`` of the
    track being predicted (2 for the second track).

    Examples
    --------
    >>> import tempfile
    >>> from negrec_lib.config import SimConfig
    >>> from negrec_lib.sim import simulate
    >>> with tempfile.TemporaryDirectory() as d:
    ...     cfg = SimConfig(sessions=100, tracks=50, days=2)
    ...     _ = simulate(Path(d) / "sim", cfg, progress=False)
    ...     truth = SimulationTruth.load(Path(d) / "sim")
    >>> p = truth.next_track_probs(np.array([0, 1]), np.array([-1, 3]), position=np.array([1, 2]))
    >>> p.shape, bool(np.allclose(p.sum(1), 1))
    ((2, 50), True)
    """

    def __init__(self, folder: Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        self.folder = folder
        self.meta = meta
        self.config: dict = meta["config"]
        self.params = ModelParams(**meta["params"])
        self.max_length = int(self.config["max_length"])
        ids = arrays["track_ids"]
        self._track_sorted = np.argsort(ids)
        self._track_ids_s = ids
        self.track_ids = ids.astype(str).astype(object)  # [M]
        self.track_vectors = arrays["track_vectors"]  # [M, d]
        self.popularity = arrays["popularity"]  # [M]
        self.track_cluster = arrays["track_cluster"]  # [M]
        self.cluster_genre = arrays["cluster_genre"]  # [C]
        self.fit_quantiles = arrays["fit_quantiles"]
        self.session_taste = arrays["session_taste"]  # [n, d] float16
        self.session_context = arrays["session_context"]  # [n, 2] int8 (first, second)
        self.session_switch = arrays["session_switch"]  # [n, ceil(L/8)] packed bits
        self.session_shuffle = arrays["session_shuffle"]  # [n]
        self.session_premium = arrays["session_premium"]  # [n]
        self.session_length = arrays["session_length"]  # [n]
        self._keys = arrays["session_keys"]
        self._key_order = np.argsort(self._keys)
        self._cat = Catalogue(
            self.track_vectors,
            self.popularity,
            self.track_cluster,
            arrays["cluster_centres"],
            self.cluster_genre,
            arrays["genre_centres"],
            np.zeros((0, 38), np.uint8),
        )
        self._mix = mix_table(self.params)
        self._within = self.popularity / self._cat.mass[self.track_cluster]  # p(j | c(j))
        G = len(self._cat.genre_centres)
        in_genre = self.cluster_genre[None, :] == np.arange(G)[:, None]
        mass = np.where(in_genre, self._cat.mass[None], 0.0)  # [G, C]
        self._genre_dist = mass / self._cat.genre_mass[:, None]  # [G, C]

    @classmethod
    def load(cls, out_dir: str | Path) -> SimulationTruth:
        """Read ``out_dir/ground_truth`` written by `simulate`."""
        folder = Path(out_dir) / "ground_truth"
        path = folder / "truth.json"
        if not path.is_file():
            raise NegrecError(
                f"{path}: not found; is {out_dir} a folder written by negrec simulate?"
            )
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise file_error(
                NegrecFileError, path, exc, "simulation record", "simulate again"
            ) from None
        if not isinstance(meta, dict):
            raise NegrecFileError("expected a JSON object; simulate again", path)
        if meta.get("format") != "negrec-simulation" or meta.get("version") != VERSION:
            raise NegrecError(
                f"{path}: simulator format {meta.get('format')!r} version "
                f"{meta.get('version')!r}; this negrec reads version {VERSION}: simulate again"
            )
        arrays = {}
        for p in sorted(folder.glob("*.npy")):
            try:
                arrays[p.stem] = np.load(p, allow_pickle=False)
            except Exception as exc:  # truncated or damaged
                raise file_error(
                    NegrecFileError, p, exc, "ground-truth array", "simulate again"
                ) from None
        try:
            return cls(Path(out_dir), meta, arrays)
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            raise NegrecFileError(
                f"the ground truth is incomplete or inconsistent "
                f"({type(exc).__name__}: {exc}); simulate again",
                folder,
            ) from None

    @property
    def n_sessions(self) -> int:
        return len(self.session_length)

    @property
    def n_clusters(self) -> int:
        return len(self._cat.centres)

    def session_index(self, session_ids: Sequence[str]) -> np.ndarray:
        """[n] latent session index of session ids (KeyError naming the unknown ones)."""
        ids, full = _ascii(session_ids)
        if not len(ids):
            return np.zeros(0, np.int64)
        arr = full.astype("S40")
        chars = arr.view(np.uint8).reshape(len(arr), 40)
        lookup = np.full(256, 255, np.uint8)
        lookup[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16)
        lookup[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
        hexpos = np.r_[2:10, 11:15, 16:20]
        digits = lookup[chars[:, hexpos]].astype(np.uint64)  # [n, 16]
        ok = (np.char.str_len(full) == 38) & (digits < 16).all(1) & (chars[:, 1] == ord("_"))
        key = (
            np.where(digits < 16, digits, 0) << (4 * np.arange(15, -1, -1, dtype=np.uint64))
        ).sum(1, dtype=np.uint64)
        sorted_keys = self._keys[self._key_order]
        where = np.minimum(np.searchsorted(sorted_keys, key), len(sorted_keys) - 1)
        index = self._key_order[where].astype(np.int64)
        plan = file_plan(self.n_sessions, int(self.config["days"]))
        plan_k = np.array([p[1] for p in plan])
        k = plan_k[np.searchsorted(np.array([p[2] for p in plan]), index, side="right") - 1]
        ok &= (sorted_keys[where] == key) & (chars[:, 0].astype(np.int64) - ord("0") == k)
        if not ok.all():
            bad = [str(ids[i]) for i in np.nonzero(~ok)[0][:5]]
            raise KeyError(
                f"{int((~ok).sum())} session id(s) are not in the simulation at "
                f"{self.folder}, e.g. {bad}"
            )
        return index

    def track_index(self, track_ids: Sequence[str]) -> np.ndarray:
        """[n] latent track index of track ids (KeyError naming the unknown ones)."""
        ids, full = _ascii(track_ids)
        if not len(ids):
            return np.zeros(0, np.int64)
        arr = full.astype(self._track_ids_s.dtype)
        sorted_ids = self._track_ids_s[self._track_sorted]
        where = np.minimum(np.searchsorted(sorted_ids, arr), len(sorted_ids) - 1)
        ok = (sorted_ids[where] == arr) & (
            np.char.str_len(full) == self._track_ids_s.dtype.itemsize
        )
        if not ok.all():
            bad = [str(ids[i]) for i in np.nonzero(~ok)[0][:5]]
            raise KeyError(
                f"{int((~ok).sum())} track id(s) are not in the simulation at {self.folder}, "
                f"e.g. {bad}"
            )
        return self._track_sorted[where].astype(np.int64)

    def context_at(
        self, sessions: np.ndarray, position: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(context code [n], context switched here [n]) of sessions at 1-based positions."""
        sessions = np.asarray(sessions, np.int64)
        n = len(sessions)
        if position is None:
            return self.session_context[sessions, 0].astype(np.int64), np.zeros(n, bool)
        position = np.broadcast_to(np.asarray(position, np.int64), (n,))
        if n and (position.min() < 1 or position.max() > self.max_length):
            raise ValueError(f"position must lie in 1..{self.max_length}")
        bits = np.unpackbits(self.session_switch[sessions], axis=1, count=self.max_length)  # [n, L]
        rows = np.arange(n)
        parity = np.cumsum(bits, 1)[rows, position - 1] % 2
        ctx = self.session_context[sessions, parity].astype(np.int64)
        return ctx, bits[rows, position - 1].astype(bool)

    def next_cluster_probs(
        self, sessions: np.ndarray, prev_tracks: np.ndarray, position: np.ndarray | None = None
    ) -> np.ndarray:
        """[n, C] the true distribution of the next track's cluster; see `next_track_probs`."""
        sessions = np.asarray(sessions, np.int64)
        prev = np.broadcast_to(np.asarray(prev_tracks, np.int64), sessions.shape)
        ctx, switched = self.context_at(sessions, position)
        newstart = switched | (prev < 0)
        if position is not None:
            newstart |= np.broadcast_to(np.asarray(position) == 1, sessions.shape)
        w = self._mix[ctx, self.session_shuffle[sessions].astype(np.int64)]  # [n, 3]
        w[:, 0] = np.where(newstart, 0.0, w[:, 0])
        w /= w.sum(1, keepdims=True)
        taste = self.session_taste[sessions].astype(np.float32)
        logits = taste_logits(taste, self._cat, self.params).astype(np.float64)  # [n, C]
        q = np.exp(logits - logits.max(1, keepdims=True))
        q /= q.sum(1, keepdims=True)
        probs = w[:, 1:2] * q + w[:, 2:3] * self._cat.mass[None]
        prev_c = self.track_cluster[np.maximum(prev, 0)]
        kappa = self.params.stay
        probs += (w[:, 0] * (1 - kappa))[:, None] * self._genre_dist[self.cluster_genre[prev_c]]
        probs[np.arange(len(sessions)), prev_c] += w[:, 0] * kappa
        return probs / probs.sum(1, keepdims=True)

    def next_track_probs(
        self,
        sessions: np.ndarray,
        prev_tracks: np.ndarray,
        position: np.ndarray | None = None,
        dtype: type = np.float32,
    ) -> np.ndarray:
        """[n, M] the true distribution of the next track; rows sum to 1.

        Parameters
        ----------
        sessions : [n] latent session indices (`session_index`).
        prev_tracks : [n] latent index of the previous track (-1: none, the session's first track).
        position : [n] 1-based position of the track to predict. The context can switch inside a
            session, so the oracle is exact only with it; None assumes the session's first
            context and no switch (exact for rows before the session's first context switch).
        dtype : of the result (float32 keeps a large [n, M] batch affordable).
        """
        pc = self.next_cluster_probs(sessions, prev_tracks, position)  # [n, C]
        out = pc[:, self.track_cluster].astype(dtype)  # [n, M]
        out *= self._within.astype(dtype)[None]
        return out

    def skip_fit(
        self, sessions: np.ndarray, tracks: np.ndarray, standardized: bool = False
    ) -> np.ndarray:
        """[n] listener-track fit cos(u, v) of the skip model (standardized: the N(0,1) score g)."""
        sessions = np.asarray(sessions, np.int64)
        tracks = np.asarray(tracks, np.int64)
        fit_ = fit(self.session_taste[sessions].astype(np.float32), tracks, self._cat)
        return gaussianize(fit_, self.fit_quantiles) if standardized else fit_.astype(np.float64)
