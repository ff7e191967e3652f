"""Ranking metrics against plain brute-force references, and `evaluate` on a fake model."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from negrec_lib.data.schema import CONTEXT_TYPES
from negrec_lib.metrics import (
    EvaluationError,
    RankAccumulator,
    bootstrap_ci,
    evaluate,
    example_values,
    metrics_from_ranks,
    sample_candidates,
    sampled_target_ranks,
    target_ranks,
)
from negrec_lib.tokens import N_RESERVED, OOV_ID, PAD_ID


# --------------------------------------------------------------------------- brute force
def brute_rank(row: list[float], target: int, allowed: list[int], miss: int) -> int:
    """Sort the allowed items by score, the target after every item it ties with; 1-based."""
    if target < N_RESERVED:
        return miss
    items = sorted(set(allowed) | {target}, key=lambda j: (-row[j], j == target))
    return items.index(target) + 1


def brute_full(scores, targets, exclude=None) -> list[int]:
    n, v = scores.shape
    out = []
    for i in range(n):
        allowed = [j for j in range(N_RESERVED, v) if exclude is None or not exclude[i, j]]
        out.append(brute_rank(scores[i].tolist(), int(targets[i]), allowed, v + 1))
    return out


def brute_sampled(scores, targets, n_random, seed, exclude=None) -> list[int]:
    n, v = scores.shape
    draws = torch.randint(N_RESERVED, v, (n_random,), generator=torch.Generator().manual_seed(seed))
    cands = sorted({int(t) for t in targets if t >= N_RESERVED} | set(draws.tolist()))
    out = []
    for i in range(n):
        allowed = [j for j in cands if exclude is None or not exclude[i, j]]
        out.append(brute_rank(scores[i].tolist(), int(targets[i]), allowed, v + 1))
    return out


def random_case(seed: int, n: int = 12, v: int = 15, levels: int = 4):
    """Integer scores with many ties, reserved and OOV targets, a random exclusion mask."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, levels, (n, v), generator=g).float()
    scores[:, :N_RESERVED] = 100.0  # reserved ids score highest: must not count
    targets = torch.randint(0, v, (n,), generator=g)
    targets[0] = OOV_ID
    exclude = torch.rand(n, v, generator=g) < 0.3
    exclude[1, targets[1]] = True  # the target itself is never excluded
    return scores, targets, exclude


# --------------------------------------------------------------------------- target_ranks
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("use_exclude", [False, True])
def test_target_ranks_match_brute_force(seed, use_exclude):
    scores, targets, exclude = random_case(seed)
    ex = exclude if use_exclude else None
    assert target_ranks(scores, targets, ex).tolist() == brute_full(scores, targets, ex)


def test_ties_are_pessimistic_and_reserved_ignored():
    scores = torch.tensor([[9.0, 9.0, 9.0, 1.0, 1.0, 1.0, 0.5]])  # V = 7, four real-id ties
    assert target_ranks(scores, torch.tensor([3])).item() == 3  # two others tie with it
    assert target_ranks(scores, torch.tensor([6])).item() == 4  # last of four real ids
    flat = torch.zeros(2, 7)
    assert target_ranks(flat, torch.tensor([3, 6])).tolist() == [4, 4]  # constant model ranks last


def test_oov_and_reserved_targets_are_misses():
    scores = torch.randn(3, 10)
    ranks = target_ranks(scores, torch.tensor([OOV_ID, PAD_ID, 5]))
    assert ranks[:2].tolist() == [11, 11]
    assert metrics_from_ranks(ranks[:2], ks=(1, 5, 10))["hr@10"] == 0.0


def test_nan_scores_never_help():
    scores = torch.tensor(
        [[0.0, 0.0, 0.0, 1.0, float("nan"), 2.0], [0.0, 0.0, 0.0, float("nan"), 1.0, 2.0]]
    )
    ranks = target_ranks(scores, torch.tensor([5, 3]))
    assert ranks.tolist() == [2, 7]  # a NaN competitor counts above; a NaN target misses


def test_bad_targets_raise():
    with pytest.raises(ValueError):
        target_ranks(torch.zeros(2, 5), torch.tensor([3, 5]))
    with pytest.raises(ValueError):
        target_ranks(torch.zeros(2, 5), torch.tensor([3]))


# --------------------------------------------------------------------------- metrics
def test_known_values():
    m = metrics_from_ranks(torch.tensor([1]))
    assert m["hr@1"] == m["ndcg@1"] == m["mrr"] == m["mrr@1"] == 1.0 and m["n"] == 1
    m = metrics_from_ranks(np.array([3]), ks=(1, 5))
    assert m["hr@1"] == 0.0 and m["hr@5"] == 1.0
    assert m["ndcg@5"] == pytest.approx(0.5) and m["mrr"] == pytest.approx(1 / 3)
    m = metrics_from_ranks(np.array([1, 3, 30]), ks=(10,))
    assert m["hr@10"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3) / 3)
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 30) / 3)
    assert m["ndcg@10"] == pytest.approx((1 + 0.5) / 3)


def test_metrics_against_plain_loops():
    ranks = np.random.default_rng(0).integers(1, 40, 200)
    m = metrics_from_ranks(ranks, ks=(1, 5, 10, 20))
    for k in (1, 5, 10, 20):
        assert m[f"hr@{k}"] == pytest.approx(sum(r <= k for r in ranks) / len(ranks))
        assert m[f"ndcg@{k}"] == pytest.approx(
            sum(1 / math.log2(r + 1) for r in ranks if r <= k) / len(ranks)
        )
    assert m["mrr"] == pytest.approx(sum(1 / r for r in ranks) / len(ranks))


def test_empty_and_bad_input():
    m = metrics_from_ranks(np.array([], dtype=np.int64))
    assert m["n"] == 0 and math.isnan(m["hr@10"])
    with pytest.raises(ValueError):
        metrics_from_ranks(np.array([1]), ks=(0,))
    with pytest.raises(ValueError):
        example_values(np.array([1]), "map@10")


def test_bootstrap_ci():
    v = example_values(np.random.default_rng(1).integers(1, 30, 500), "hr@10")
    lo, hi = bootstrap_ci(v, n_boot=300, seed=3)
    assert lo < v.mean() < hi and hi - lo < 0.2
    assert bootstrap_ci(v, n_boot=300, seed=3) == (lo, hi)
    assert bootstrap_ci(np.ones(10), n_boot=50) == (1.0, 1.0)


# --------------------------------------------------------------------------- sampled protocol
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("use_exclude", [False, True])
def test_sampled_matches_brute_force(seed, use_exclude):
    scores, targets, exclude = random_case(seed, n=10, v=40)
    ex = exclude if use_exclude else None
    got = sampled_target_ranks(
        scores, targets, n_random=7, generator=torch.Generator().manual_seed(seed), exclude=ex
    )
    assert got.tolist() == brute_sampled(scores, targets, 7, seed, ex)
    via_fn = sampled_target_ranks(
        lambda c: scores[:, c],
        targets,
        vocab_size=40,
        n_random=7,
        generator=torch.Generator().manual_seed(seed),
        exclude=ex,
    )
    assert via_fn.tolist() == got.tolist()


def test_sample_candidates():
    targets = torch.tensor([OOV_ID, 5, 5, 9])
    c = sample_candidates(targets, 50, n_random=20, generator=torch.Generator().manual_seed(0))
    assert c.tolist() == sorted(set(c.tolist())) and int(c.min()) >= N_RESERVED
    assert {5, 9} <= set(c.tolist()) and len(c) <= 22
    with pytest.raises(ValueError):
        sampled_target_ranks(torch.zeros(1, 50), torch.tensor([7]), candidates=torch.tensor([5, 9]))


def test_sampled_edge_no_candidates():
    ranks = sampled_target_ranks(torch.zeros(2, 8), torch.tensor([OOV_ID, OOV_ID]), n_random=0)
    assert ranks.tolist() == [9, 9]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 8),
    v=st.integers(N_RESERVED + 1, 30),
    levels=st.integers(1, 5),
    n_random=st.integers(0, 40),
    seed=st.integers(0, 10_000),
    use_exclude=st.booleans(),
)
def test_sampled_never_worse_than_full(n, v, levels, n_random, seed, use_exclude):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, levels, (n, v), generator=g).float()
    targets = torch.randint(0, v, (n,), generator=g)
    exclude = (torch.rand(n, v, generator=g) < 0.3) if use_exclude else None
    full = target_ranks(scores, targets, exclude)
    sampled = sampled_target_ranks(scores, targets, n_random=n_random, generator=g, exclude=exclude)
    assert bool((sampled <= full).all())
    assert bool((sampled >= 1).all())


# --------------------------------------------------------------------------- accumulator
def labelled_ranks(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "rank": rng.integers(1, 60, n),
            "context": rng.integers(0, 6, n),
            "position": rng.integers(2, 21, n),
            "target_skipped": rng.random(n) < 0.4,
        }
    )


def fill(df: pd.DataFrame, chunk: int = 37) -> RankAccumulator:
    acc = RankAccumulator(ks=(1, 10))
    for s in range(0, len(df), chunk):
        part = df.iloc[s : s + chunk]
        acc.add(
            torch.as_tensor(part["rank"].to_numpy().copy()),
            context=part["context"].to_numpy(),
            position=torch.as_tensor(part["position"].to_numpy().copy()),
            target_skipped=torch.as_tensor(part["target_skipped"].to_numpy().copy()),
        )
    return acc


def test_skip_mrr_and_groups_against_pandas():
    df = labelled_ranks()
    acc = fill(df)
    m = acc.metrics()
    df["rr"] = 1.0 / df["rank"]
    df["hit10"] = (df["rank"] <= 10).astype(float)
    assert m["skip_mrr"] == pytest.approx(df.loc[df.target_skipped, "rr"].mean())
    assert m["unskipped_mrr"] == pytest.approx(df.loc[~df.target_skipped, "rr"].mean())
    assert m["n_skipped"] == int(df.target_skipped.sum()) and m["n"] == len(df)
    for key in ("context", "position"):
        want = df.groupby(key).agg(n=("rr", "size"), mrr=("rr", "mean"), hr10=("hit10", "mean"))
        got = acc.by_group(key)
        if key == "context":
            want.index = [CONTEXT_TYPES[c] for c in want.index]
        assert list(got.index) == list(want.index)
        assert got["n"].tolist() == want["n"].tolist()
        np.testing.assert_allclose(got["mrr"], want["mrr"])
        np.testing.assert_allclose(got["hr@10"], want["hr10"])
    skip_by_ctx = df[df.target_skipped].groupby("context")["rr"].mean()
    got_ctx = acc.by_group("context")
    for code, value in skip_by_ctx.items():
        assert got_ctx.loc[CONTEXT_TYPES[code], "skip_mrr"] == pytest.approx(value)


def test_accumulator_without_labels():
    acc = RankAccumulator()
    acc.add(np.array([1, 2, 3]))
    assert acc.metrics()["n"] == 3 and math.isnan(acc.metrics()["skip_mrr"])
    assert acc.by_group("context").empty
    with pytest.raises(ValueError):
        acc.by_group("hour")


# --------------------------------------------------------------------------- evaluate
class TableModel(torch.nn.Module):
    """Scores depend only on the last track: row `last` of a fixed [V, V] table."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.modes_seen: list[bool] = []

    def next_track_hidden(self, tracks: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.modes_seen.append(self.training)
        last = tracks.gather(1, (lengths - 1)[:, None]).squeeze(1)  # [B]
        onehot = torch.nn.functional.one_hot(last, self.table.shape[0]).float()  # [B, V]
        return onehot @ torch.eye(self.table.shape[0])  # bf16 under autocast

    def score(self, hidden: torch.Tensor, candidates: torch.Tensor | None = None) -> torch.Tensor:
        scores = hidden @ self.table  # [N, V]
        return scores if candidates is None else scores[:, candidates]


class FakeData:
    """Yields the same examples in batches of any size."""

    def __init__(self, n: int = 57, v: int = 25, max_len: int = 6, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.vocab_size = v
        self.lengths = torch.randint(1, max_len + 1, (n,), generator=g)
        tracks = torch.randint(N_RESERVED, v, (n, max_len), generator=g)
        inside = torch.arange(max_len)[None] < self.lengths[:, None]
        self.tracks = torch.where(inside, tracks, PAD_ID)
        self.targets = torch.randint(N_RESERVED, v, (n,), generator=g)
        self.targets[::9] = OOV_ID
        first = self.tracks[:, 0]
        self.targets[1::7] = first[1::7]  # some targets repeat a seen track
        self.skipped = torch.rand(n, generator=g) < 0.4
        self.context = torch.randint(0, len(CONTEXT_TYPES), (n,), generator=g)
        self.position = self.lengths + 1

    def eval_batches(self, split: str, batch_size: int):
        assert split == "test"
        for s in range(0, len(self.targets), batch_size):
            sl = slice(s, s + batch_size)
            yield SimpleNamespace(
                tracks=self.tracks[sl],
                lengths=self.lengths[sl],
                targets=self.targets[sl],
                target_skipped=self.skipped[sl],
                context=self.context[sl],
                position=self.position[sl],
                rows=torch.arange(len(self.targets))[sl],
            )


def make_model(v: int = 25, seed: int = 0) -> TableModel:
    g = torch.Generator().manual_seed(seed)
    # values 1 + k/1000 are distinct in float32 but collapse into ties in bfloat16
    return TableModel(1.0 + torch.randint(0, 12, (v, v), generator=g).float() / 1000)


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_evaluate_matches_brute_force_and_is_batch_invariant(exclude_seen):
    data, model = FakeData(), make_model()
    small = evaluate(model, data, batch_size=1, exclude_seen=exclude_seen)
    large = evaluate(model, data, batch_size=1024, exclude_seen=exclude_seen)
    assert small.metrics == large.metrics
    np.testing.assert_array_equal(small.ranks, large.ranks)
    pd.testing.assert_frame_equal(small.by_position, large.by_position)
    last = data.tracks.gather(1, (data.lengths - 1)[:, None]).squeeze(1)
    scores = model.table[last]
    exclude = None
    if exclude_seen:
        exclude = torch.zeros(len(last), data.vocab_size, dtype=torch.bool)
        for i in range(len(last)):
            exclude[i, data.tracks[i, : data.lengths[i]]] = True
    assert small.ranks.tolist() == brute_full(scores, data.targets, exclude)
    assert small.by_context["n"].sum() == len(last)
    assert small.metrics["skip_mrr"] == pytest.approx(
        float((1.0 / torch.as_tensor(small.ranks))[data.skipped].mean())
    )


@pytest.mark.parametrize("initially_training", [True, False])
def test_evaluate_restores_mode_and_uses_eval(initially_training):
    data, model = FakeData(), make_model()
    model.train(initially_training)
    evaluate(model, data, batch_size=16)
    assert model.training is initially_training
    assert model.modes_seen and not any(model.modes_seen)


def test_evaluate_scores_in_float32_under_autocast():
    data, model = FakeData(), make_model()
    plain = evaluate(model, data)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = evaluate(model, data)
    np.testing.assert_array_equal(plain.ranks, mixed.ranks)


def test_evaluate_sampled_protocol():
    data, model = FakeData(v=400), make_model(v=400)
    full = evaluate(model, data, batch_size=8)
    sampled = evaluate(model, data, protocol="sampled", batch_size=8, n_random=30, seed=1)
    again = evaluate(model, data, protocol="sampled", batch_size=8, n_random=30, seed=1)
    assert (sampled.ranks <= full.ranks).all()
    assert sampled.metrics["mrr"] > full.metrics["mrr"]  # the inflation of pitfall 5
    np.testing.assert_array_equal(sampled.ranks, again.ranks)
    assert (sampled.ranks[data.targets.numpy() == OOV_ID] == 401).all()


def test_evaluate_result_serialises_and_rejects_mismatches():
    data, model = FakeData(), make_model()
    result = evaluate(model, data, ks=(1, 5))
    blob = json.loads(json.dumps(result.to_dict()))
    assert blob["protocol"] == "full" and "hr@5" in blob["metrics"]
    assert {r["context"] for r in blob["by_context"]} <= set(CONTEXT_TYPES)
    lo, hi = result.ci("mrr", n_boot=100)
    assert lo <= result.metrics["mrr"] <= hi
    with pytest.raises(EvaluationError):
        evaluate(model, data, protocol="leave-one-out")
    for protocol in ("full", "sampled"):
        with pytest.raises(EvaluationError):
            evaluate(make_model(v=30), data, protocol=protocol)


def test_evaluate_progress_bar_and_no_labels():
    class Bare(FakeData):
        def eval_batches(self, split, batch_size):
            for b in super().eval_batches(split, batch_size):
                yield SimpleNamespace(tracks=b.tracks, lengths=b.lengths, targets=b.targets)

    data, model = Bare(), make_model()
    result = evaluate(model, data, batch_size=10, progress=True)
    assert result.metrics["n"] == len(data.targets) and result.by_context.empty
    assert math.isnan(result.metrics["skip_mrr"])
