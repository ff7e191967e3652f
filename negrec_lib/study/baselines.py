"""Classical next-track recommenders, scored by the same full-catalogue `evaluate` as the models.

Each baseline implements the `negrec_lib.metrics.Scorer` protocol: ``next_track_hidden`` returns
its score for every id ([B, V]; reserved ids -inf) and ``score`` passes them through, so
`evaluate(baseline, data, split)` ranks exactly as it ranks the encoder, ties counted
pessimistically. All of them read only the training part of each session (the tracks a model
trains on: ``tracks[r, :train_end]`` of the training rows), never a validation or test target.

- `PopularityScorer`: the most played training tracks, the same list for every session.
- `TransitionScorer`: first-order Markov chain (transition counts from the previous track),
  backed off to popularity.
- `SessionKNNScorer`: session-based k nearest neighbours, SKNN and V-SKNN as in Ludewig &
  Jannach, "Evaluation of session-based recommendation algorithms" (2018): the k training
  sessions most similar (cosine over their sets of tracks) to the prefix vote for their tracks,
  each with its similarity; V-SKNN weighs the prefix's tracks by recency (linear decay).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ..tokens import N_RESERVED, PAD_ID


def _training_parts(data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dataset rows of the training sessions, their training tracks [S, L] and lengths [S]."""
    rows = data.splits["train_rows"].cpu().numpy().astype(np.int64)
    ends = data.splits["train_end"].cpu().numpy().astype(np.int64)
    tracks = data.tracks[torch.as_tensor(rows)].cpu().numpy().astype(np.int64)  # [S, L]
    inside = np.arange(tracks.shape[1])[None, :] < ends[:, None]
    return rows, np.where(inside, tracks, PAD_ID), ends


def _popularity_tiebreak(data: Any) -> np.ndarray:
    """Training counts scaled to [0, 0.5]: added to integer-like scores, they order ties."""
    pop = data.popularity.cpu().numpy().astype(np.float64)
    pop[:N_RESERVED] = 0.0
    return 0.5 * pop / max(pop.max(), 1.0)


class _BaselineScorer:
    """What `evaluate` needs besides the scores: a mode to set and no parameters."""

    training = False
    needs_rows = False

    def eval(self) -> _BaselineScorer:
        """No-op (a baseline has no training mode); returns self."""
        return self

    def train(self, mode: bool = True) -> _BaselineScorer:
        """No-op; returns self."""
        return self

    def score(self, hidden: Tensor, candidates: Tensor | None = None) -> Tensor:
        """The scores of ``next_track_hidden`` [B, V], or their columns ``candidates`` [B, C]."""
        return hidden if candidates is None else hidden[:, candidates]

    def _finish(self, scores: np.ndarray) -> Tensor:
        scores[:, :N_RESERVED] = -np.inf
        return torch.from_numpy(scores.astype(np.float32))


class PopularityScorer(_BaselineScorer):
    """Recommend the most played training tracks, whatever the session: a model for `evaluate`.

    Scores are a strict order (play count, ties broken by the lower id), so pessimistic tie
    handling in `negrec_lib.metrics` never penalises it for ties. Reserved ids score lowest.
    It implements the `negrec_lib.metrics.Scorer` protocol: the hidden state is a dummy column.
    """

    def __init__(self, popularity: Tensor) -> None:
        counts = torch.as_tensor(popularity, dtype=torch.float64).reshape(-1)  # [V]
        v = counts.numel()
        if v <= N_RESERVED:
            raise ValueError(f"popularity must have more than {N_RESERVED} entries, got {v}")
        order = np.lexsort((np.arange(v), -counts.numpy()))  # most played first, then lower id
        order = order[order >= N_RESERVED]
        rank = torch.full((v,), float(v), dtype=torch.float32)
        rank[torch.from_numpy(order)] = torch.arange(len(order), dtype=torch.float32)
        self.scores = -rank  # [V]; higher is better
        self.vocab_size = v

    def next_track_hidden(self, tracks: Tensor, lengths: Tensor) -> Tensor:
        """A dummy state [B, 1]: the ranking does not depend on the session."""
        return torch.ones(tracks.shape[0], 1, device=tracks.device)

    def score(self, hidden: Tensor, candidates: Tensor | None = None) -> Tensor:
        """[N, V] (or [N, C] for ``candidates``) popularity scores, the same for every row."""
        s = self.scores.to(hidden.device)
        if candidates is not None:
            s = s[candidates.to(hidden.device)]
        return hidden[:, :1].float() * s[None, :]

    def top(self, k: int) -> Tensor:
        """The ``k`` most played track ids, most played first."""
        return torch.argsort(self.scores, descending=True, stable=True)[:k]


class TransitionScorer(_BaselineScorer):
    """First-order Markov chain over tracks, with back-off to popularity.

    The score of track v after a prefix ending in track u is the number of times v followed u
    in the training sessions; tracks that never followed u (and ties) are ordered by their
    training popularity. This is the order of the add-alpha estimate
    ``(count(u, v) + alpha * p(v)) / (count(u) + alpha)`` with ``alpha * max p < 1``.

    >>> from types import SimpleNamespace
    >>> import torch
    >>> tracks = torch.tensor([[3, 4, 5, 0], [3, 4, 6, 6]])            # two sessions, PAD = 0
    >>> data = SimpleNamespace(vocab_size=7, tracks=tracks,
    ...     splits={"train_rows": torch.tensor([0, 1]), "train_end": torch.tensor([3, 4])},
    ...     popularity=torch.tensor([0, 0, 0, 2, 2, 1, 2]))
    >>> m = TransitionScorer(data)
    >>> s = m.next_track_hidden(torch.tensor([[3, 4]]), torch.tensor([2]))
    >>> int(s.argmax())             # after 4: 5 followed once, 6 once; 6 is more popular
    6
    """

    def __init__(self, data: Any) -> None:
        _, tracks, _ = _training_parts(data)
        a, b = tracks[:, :-1].ravel(), tracks[:, 1:].ravel()  # consecutive pairs
        keep = (a != PAD_ID) & (b != PAD_ID)
        v = int(data.vocab_size)
        self.counts = sp.csr_matrix(
            (np.ones(int(keep.sum()), np.float64), (a[keep], b[keep])), shape=(v, v)
        )  # [V, V], sums repeats
        self.tiebreak = _popularity_tiebreak(data)  # [V]

    def next_track_hidden(self, tracks: Tensor, lengths: Tensor) -> Tensor:
        """Scores [B, V] for the track after each prefix (only its last track matters)."""
        last = tracks[torch.arange(len(tracks)), lengths - 1].cpu().numpy()
        scores = self.counts[last].toarray() + self.tiebreak[None, :]  # [B, V]
        return self._finish(scores)


class SessionKNNScorer(_BaselineScorer):
    """Session-based kNN (SKNN), or V-SKNN with ``recency=True``.

    Similarity of the prefix q to a training session n: cosine between q's track vector (1 per
    distinct track; with ``recency``, the weight of the track at position j of an n_q-track
    prefix is j / n_q, the latest counting most) and n's set of tracks. The ``k`` most similar
    training sessions vote: a track scores the summed similarity of the neighbours that contain
    it, ties and tracks without votes ordered by popularity. ``pool`` keeps only the most recent
    training sessions (by day, then row) as candidates, as the original samples m sessions; by
    default every training session is one. Under the leave-last-out split the training part of
    the test session itself is excluded from its neighbours (`evaluate` passes the rows).

    >>> from types import SimpleNamespace
    >>> import torch
    >>> tracks = torch.tensor([[3, 4, 5], [3, 4, 6], [7, 8, 6]])
    >>> data = SimpleNamespace(vocab_size=9, tracks=tracks, day=torch.tensor([0, 0, 0]),
    ...     splits={"train_rows": torch.tensor([0, 1, 2]), "train_end": torch.tensor([3, 3, 3])},
    ...     popularity=torch.tensor([0, 0, 0, 2, 2, 1, 2, 1, 1]))
    >>> knn = SessionKNNScorer(data, k=2)
    >>> s = knn.next_track_hidden(torch.tensor([[3, 4]]), torch.tensor([2]))
    >>> sorted(int(i) for i in s[0].topk(4).indices)    # the two neighbours' tracks
    [3, 4, 5, 6]
    """

    needs_rows = True

    def __init__(
        self, data: Any, k: int = 100, recency: bool = False, pool: int | None = None
    ) -> None:
        if k < 1:
            raise ValueError(f"k={k}: need at least one neighbour")
        rows, tracks, _ = _training_parts(data)
        if pool is not None and pool < len(rows):
            day = data.day[torch.as_tensor(rows)].cpu().numpy()
            recent = np.lexsort((rows, day))[-pool:]
            rows, tracks = rows[recent], tracks[recent]
        s, v = tracks.shape[0], int(data.vocab_size)
        r = np.repeat(np.arange(s), tracks.shape[1])
        c = tracks.ravel()
        keep = c != PAD_ID
        m = sp.csr_matrix((np.ones(int(keep.sum())), (r[keep], c[keep])), shape=(s, v))
        m.data[:] = 1.0  # a set: repeats count once
        self.sessions = m  # [S, V] binary
        self.norms = np.sqrt(np.asarray(m.sum(1)).ravel())  # [S]
        self.index = {int(row): i for i, row in enumerate(rows)}  # dataset row -> S index
        self.k, self.recency = min(int(k), s), recency
        self.tiebreak = 1e-3 * _popularity_tiebreak(data)  # below any real vote
        self.vocab_size = v

    def _query(self, tracks: np.ndarray, lengths: np.ndarray) -> sp.csr_matrix:
        b, L = tracks.shape
        pos = np.arange(L)[None, :]
        inside = pos < lengths[:, None]
        w = ((pos + 1) / lengths[:, None]) if self.recency else np.ones((b, L))
        r = np.repeat(np.arange(b), L)[inside.ravel()]
        q = sp.csr_matrix((w[inside], (r, tracks[inside])), shape=(b, self.vocab_size))
        q.sum_duplicates()  # a repeated track: summed weight
        return q

    def neighbours(
        self, tracks: Tensor, lengths: Tensor, rows: Tensor | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest training sessions of each prefix: indices [B, k] and similarities [B, k].

        ``rows`` (the dataset rows of the examples) excludes each one's own session. Ties at the
        k-th similarity are broken arbitrarily.
        """
        t, n = tracks.cpu().numpy().astype(np.int64), lengths.cpu().numpy().astype(np.int64)
        q = self._query(t, n)  # [B, V]
        qn = np.sqrt(np.asarray(q.multiply(q).sum(1)).ravel())  # [B]
        sims = (q @ self.sessions.T).toarray()  # [B, S]
        sims /= np.maximum(qn[:, None] * self.norms[None, :], 1e-12)
        if rows is not None:
            for i, row in enumerate(rows.cpu().numpy()):
                j = self.index.get(int(row))
                if j is not None:
                    sims[i, j] = 0.0
        top = np.argpartition(-sims, self.k - 1, axis=1)[:, : self.k]  # [B, k]
        return top, np.take_along_axis(sims, top, axis=1)

    def next_track_hidden(
        self, tracks: Tensor, lengths: Tensor, rows: Tensor | None = None
    ) -> Tensor:
        """Scores [B, V]; ``rows`` (the examples' dataset rows) excludes each one's own session."""
        top, w = self.neighbours(tracks, lengths, rows)  # [B, k] each
        b, k = top.shape
        votes = sp.csr_matrix(
            (w.ravel(), (np.repeat(np.arange(b), k), top.ravel())),
            shape=(b, self.sessions.shape[0]),
        )  # [B, S], k per row
        scores = (votes @ self.sessions).toarray() + self.tiebreak[None, :]  # [B, V]
        return self._finish(scores)


METHODS = ("popularity", "markov", "sknn", "vsknn", "oracle")


def make_baseline(method: str, data: Any) -> Any:
    """The scorer of ``method`` (one of `METHODS` except ``oracle``, which is not a scorer)."""
    makers = {
        "popularity": lambda: PopularityScorer(data.popularity),
        "markov": lambda: TransitionScorer(data),
        "sknn": lambda: SessionKNNScorer(data),
        "vsknn": lambda: SessionKNNScorer(data, recency=True),
    }
    if method not in makers:
        raise ValueError(f"unknown baseline {method!r}; expected one of {list(makers)}")
    return makers[method]()


def baselines_table(
    spec_path: str,
    out: str = "results",
    split: str = "test",
    methods: tuple[str, ...] = METHODS,
    progress: bool = True,
) -> Any:
    """Every baseline on every distinct dataset of an experiment file -> ``<out>/baselines.csv``.

    One row per (experiment, dataset, method), with ``data_seed`` (the simulator's seed), the
    full-catalogue metrics of ``split`` (``test_<metric>``), HR@10 by context, and provenance.
    Rows already in the table are kept and not recomputed (delete a row to redo it).
    """
    import json
    import shlex
    import time
    from pathlib import Path

    import pandas as pd

    from ..data.cache import ensure_dataset
    from ..data.sessions import SessionData
    from ..metrics import evaluate
    from ..oracle import oracle_evaluate
    from ..provenance import provenance
    from .grids import load_spec, read_results_table

    spec = load_spec(spec_path)
    table = Path(out) / "baselines.csv"
    done = read_results_table(table, key_columns=("experiment", "data", "method"))
    have = set(zip(done["experiment"], done["data"].astype(str), done["method"]))
    prov = {k: v for k, v in provenance().items() if k in ("commit", "dirty", "hardware")}
    rows, seen = [], set()
    for variant, _seed, cfg in spec.datasets():
        prepared = str(cfg.data_dir or ensure_dataset(cfg.sim, cfg.data, progress=progress))
        if prepared in seen:
            continue
        seen.add(prepared)
        data = None
        for method in methods:
            if (spec.name, prepared, method) in have:
                continue
            data = data or SessionData.load(prepared)
            t0 = time.perf_counter()
            if method == "oracle":
                res = oracle_evaluate(data, split)
            else:
                res = evaluate(make_baseline(method, data), data, split, batch_size=256)
            rows.append(
                {
                    "experiment": spec.name,
                    "method": method,
                    "data_seed": cfg.sim.seed,
                    "data": prepared,
                    "variant": variant.name,
                    **{f"test_{k}": v for k, v in res.metrics.items()},
                    **{
                        f"ctx_{r['context']}_hr@10": r["hr@10"] for r in res.to_dict()["by_context"]
                    },
                    "sim": json.dumps(cfg.to_dict()["sim"]),
                    "data_config": json.dumps(cfg.to_dict()["data"]),
                    "wall_seconds": round(time.perf_counter() - t0, 1),
                    "command": shlex.join(["negrec", "baselines", str(spec_path)]),
                    **prov,
                }
            )
            if progress:
                print(
                    f"{spec.name}: {method} on {Path(prepared).name}: HR@10 "
                    f"{res.metrics['hr@10']:.4f}",
                    flush=True,
                )
    if rows:
        done = pd.concat([done, pd.DataFrame(rows)], ignore_index=True)
        table.parent.mkdir(parents=True, exist_ok=True)
        tmp = table.with_suffix(".csv.tmp")
        done.to_csv(tmp, index=False)
        tmp.replace(table)
    return done
