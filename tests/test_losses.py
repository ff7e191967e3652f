"""Losses: skip InfoNCE against a plain loop, sampled vs full softmax, logQ, accidental hits."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from negrec_lib.config import LossConfig, ModelConfig
from negrec_lib.errors import ConfigError
from negrec_lib.losses import (
    PopularitySampler,
    UniformSampler,
    compute_losses,
    full_softmax_loss,
    make_sampler,
    next_track_loss,
    sampled_softmax_loss,
    skip_infonce_loss,
)
from negrec_lib.model import SessionEncoder, causal_targets, cloze_inputs
from negrec_lib.tokens import MASK_ID, N_RESERVED, OOV_ID, PAD_ID


# ---------------------------------------------------------------------- skip InfoNCE
def random_sessions(B: int, L: int, D: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    anchors = torch.randn(B, L, D, generator=g, dtype=torch.float64)
    keys = torch.randn(B, L, D, generator=g, dtype=torch.float64)
    lengths = torch.randint(0, L + 1, (B,), generator=g)
    valid = torch.arange(L) < lengths[:, None]
    skipped = (torch.rand(B, L, generator=g) < torch.rand(B, 1, generator=g)) & valid
    return anchors, keys, skipped, valid


def brute_force(anchors, keys, skipped, valid, tau: float, pairing: str):
    """Per-anchor losses and validity, straight from the formula in book/paper.md section 3."""
    B, L, _ = anchors.shape
    loss = torch.zeros(B, L, dtype=torch.float64)
    ok = torch.zeros(B, L, dtype=torch.bool)
    for b in range(B):
        nb = b if pairing == "session" else (b + 1) % B
        negatives = [j for j in range(L) if valid[nb, j] and skipped[nb, j]]
        for t in range(L):
            if not valid[b, t] or skipped[b, t]:
                continue
            later = [s for s in range(t + 1, L) if valid[b, s] and not skipped[b, s]]
            if not later or not negatives:
                continue
            q = anchors[b, t]
            s_pos = F.cosine_similarity(q, keys[b, later[0]], dim=0).item() / tau
            s_negs = [F.cosine_similarity(q, keys[nb, j], dim=0).item() / tau for j in negatives]
            denom = math.exp(s_pos) + sum(math.exp(s) for s in s_negs)
            loss[b, t] = -math.log(math.exp(s_pos) / denom)
            ok[b, t] = True
    return loss, ok


@pytest.mark.parametrize("pairing", ["session", "reference"])
@pytest.mark.parametrize("seed", range(6))
def test_skip_infonce_equals_brute_force(pairing: str, seed: int) -> None:
    anchors, keys, skipped, valid = random_sessions(7, 9, 5, seed)
    tau = 0.5 if seed % 2 else 0.1
    per, ok = skip_infonce_loss(anchors, keys, skipped, valid, tau, pairing, reduction="none")
    want, want_ok = brute_force(anchors, keys, skipped, valid, tau, pairing)
    assert torch.equal(ok, want_ok)
    torch.testing.assert_close(per.double(), want, atol=1e-5, rtol=1e-5)
    loss, n = skip_infonce_loss(anchors, keys, skipped, valid, tau, pairing)
    assert int(n) == int(want_ok.sum())
    expected = want.sum() / max(int(want_ok.sum()), 1)
    torch.testing.assert_close(loss.double(), expected, atol=1e-5, rtol=1e-5)


def test_skip_infonce_handcrafted_session() -> None:
    # session: played, skipped, played, skipped, played(last)  -> anchors at 0 and 2
    keys = torch.eye(5, 5)[None]  # orthogonal keys
    anchors = keys.clone()
    anchors[0, 0] = keys[0, 2] + 0.0  # anchor 0 points at its positive
    skipped = torch.tensor([[False, True, False, True, False]])
    valid = torch.ones(1, 5, dtype=torch.bool)
    per, ok = skip_infonce_loss(anchors, keys, skipped, valid, 1.0, reduction="none")
    assert ok.tolist() == [[True, False, True, False, False]]
    e = math.e
    torch.testing.assert_close(
        per[0, 0], torch.tensor(-math.log(e / (e + 2)))
    )  # cos(+)=1, cos(-)=0
    torch.testing.assert_close(per[0, 2], torch.tensor(-math.log(1 / 3)))  # all cosines 0


def test_skip_infonce_session_pairing_ignores_other_sessions() -> None:
    anchors, keys, skipped, valid = random_sessions(8, 10, 6, seed=11)
    valid[:, :5] = True  # every session: 5+ real tracks
    skipped[:, 3] = True  # ... and at least one skip
    per, ok = skip_infonce_loss(anchors, keys, skipped, valid, reduction="none")
    ref, ref_ok = skip_infonce_loss(
        anchors, keys, skipped, valid, pairing="reference", reduction="none"
    )
    perm = torch.tensor([0, 5, 2, 7, 1, 3, 6, 4])  # session 0 stays first
    args = [x[perm] for x in (anchors, keys, skipped, valid)]
    per_p, ok_p = skip_infonce_loss(*args, reduction="none")
    torch.testing.assert_close(per_p, per[perm])
    assert torch.equal(ok_p, ok[perm])
    ref_p, _ = skip_infonce_loss(*args, pairing="reference", reduction="none")
    assert (ref_p[0] - ref[0]).abs().max() > 1e-4  # session 0's neighbour changed
    # reference pairing: session b uses the skips of session b+1, never its own
    assert not torch.allclose(ref, per)


def test_skip_infonce_invalid_anchors_do_not_count() -> None:
    anchors, keys, skipped, valid = random_sessions(6, 8, 4, seed=5)
    valid[0] = True
    skipped[0] = False  # session 0: no negatives at all
    loss, n = skip_infonce_loss(anchors, keys, skipped, valid)
    per, ok = skip_infonce_loss(anchors, keys, skipped, valid, reduction="none")
    assert not ok[0].any() and (per[~ok] == 0).all()
    # anything written into invalid anchor slots leaves the loss unchanged
    noisy = anchors.clone()
    noisy[~ok] = torch.randn(int((~ok).sum()), 4, dtype=torch.float64) * 100
    loss2, n2 = skip_infonce_loss(noisy, keys, skipped, valid)
    torch.testing.assert_close(loss2, loss)
    assert int(n2) == int(n) == int(ok.sum())
    torch.testing.assert_close(loss, per.sum() / ok.sum())


def test_skip_infonce_no_valid_anchor_is_grad_safe_zero() -> None:
    anchors = torch.randn(3, 5, 4, requires_grad=True)
    keys = torch.randn(3, 5, 4, requires_grad=True)
    valid = torch.ones(3, 5, dtype=torch.bool)
    skipped = torch.zeros(3, 5, dtype=torch.bool)  # no skips: no negatives
    loss, n = skip_infonce_loss(anchors, keys, skipped, valid)
    assert loss.item() == 0 and int(n) == 0
    loss.backward()
    assert torch.isfinite(anchors.grad).all() and torch.isfinite(keys.grad).all()


@pytest.mark.parametrize("pairing", ["session", "reference"])
def test_skip_infonce_gradients_finite_with_padding_and_bf16(pairing: str) -> None:
    anchors, keys, skipped, valid = random_sessions(8, 10, 6, seed=2)
    anchors, keys = anchors.float(), keys.float()
    anchors[~valid] = 0.0  # zero vectors (PAD embedding)
    keys[~valid] = 0.0
    valid[-1], skipped[-1] = False, False  # a fully padded session
    for x in (anchors, keys):
        x.requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, n = skip_infonce_loss(
            anchors.bfloat16(), keys.bfloat16(), skipped, valid, pairing=pairing
        )
    assert int(n) > 0 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(anchors.grad).all() and torch.isfinite(keys.grad).all()
    assert anchors.grad[~valid].abs().max() == 0


# ---------------------------------------------------------------------- next-track losses
class FixedSampler:
    """Returns the same ids every call; uniform log Q over the non-reserved ids."""

    def __init__(self, ids: list[int], vocab_size: int) -> None:
        self.ids, self.vocab_size = torch.tensor(ids), vocab_size

    def sample(self, n, generator=None, device=None):
        return self.ids.to(device)

    def log_q(self, ids):
        return torch.full(ids.shape, -math.log(self.vocab_size - N_RESERVED))


def next_inputs(N: int = 12, V: int = 40, D: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(N, D, generator=g, dtype=torch.float64)
    table = torch.randn(V, D, generator=g, dtype=torch.float64)
    targets = torch.randint(N_RESERVED, V, (N,), generator=g)
    targets[:3] = torch.tensor([PAD_ID, MASK_ID, OOV_ID])  # ignored rows
    return hidden, targets, table


def test_full_softmax_matches_manual() -> None:
    hidden, targets, table = next_inputs()
    loss = full_softmax_loss(hidden, targets, table)
    logits = hidden[3:] @ table[N_RESERVED:].T  # reserved columns dropped
    torch.testing.assert_close(loss, F.cross_entropy(logits, targets[3:] - N_RESERVED))
    empty = full_softmax_loss(hidden[:3], targets[:3], table)
    assert empty.item() == 0


def test_sampled_with_all_tracks_equals_full() -> None:
    hidden, targets, table = next_inputs(V=50)
    full = full_softmax_loss(hidden, targets, table)
    every = sampled_softmax_loss(hidden, targets, table, UniformSampler(50), n_negatives=None)
    torch.testing.assert_close(every, full)
    # a sampler returning every track: the batch targets reappear and are masked as hits
    all_ids = FixedSampler(list(range(N_RESERVED, 50)), 50)
    torch.testing.assert_close(sampled_softmax_loss(hidden, targets, table, all_ids, 47), full)


def test_sampled_logq_matches_formula() -> None:
    hidden, targets, table = next_inputs(V=30)
    counts = torch.arange(30).float()
    sampler = PopularitySampler(counts, alpha=0.7)
    neg = [n for n in (4, 9, 9, 28) if n not in targets.tolist()]
    fixed = FixedSampler(neg, 30)
    fixed.log_q = sampler.log_q
    loss = sampled_softmax_loss(hidden, targets, table, fixed, len(neg), logq=True)
    t = targets[3:]
    cands = torch.cat([torch.unique(t), torch.tensor(neg)])
    logits = hidden[3:] @ table[cands].T - sampler.log_q(cands)  # logits - log q
    col = torch.tensor([torch.unique(t).tolist().index(x) for x in t.tolist()])
    torch.testing.assert_close(loss, F.cross_entropy(logits, col))
    probs = counts.clamp(min=1) ** 0.7
    probs[:N_RESERVED] = 0
    torch.testing.assert_close(sampler.log_q(cands), (probs / probs.sum()).log()[cands])


def test_sampled_masks_accidental_hits() -> None:
    hidden, targets, table = next_inputs(V=40)
    base_neg = [n for n in range(N_RESERVED, 40) if n not in targets.tolist()][:5]
    without = sampled_softmax_loss(hidden, targets, table, FixedSampler(base_neg, 40), 5)
    for hits in ([targets[5].item()] * 3, targets[3:].tolist()):  # the row's own / any batch target
        with_hits = sampled_softmax_loss(
            hidden, targets, table, FixedSampler(base_neg + hits, 40), len(base_neg + hits)
        )
        torch.testing.assert_close(with_hits, without)
    only_target = sampled_softmax_loss(
        hidden[5:6], targets[5:6], table, FixedSampler([targets[5].item()] * 4, 40), 4
    )
    assert only_target.abs().item() < 1e-12  # the target alone: log 1


class MaxOutput(TorchFunctionMode):
    """Records the largest tensor any torch call produces (the shared table excluded)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table_ptr, self.largest = table.untyped_storage().data_ptr(), 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for o in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(o, torch.Tensor) and o.untyped_storage().data_ptr() != self.table_ptr:
                self.largest = max(self.largest, o.numel())
        return out


def test_sampled_never_forms_full_logits() -> None:
    V, N, D = 5_000_000, 256, 8
    table = torch.empty(V, D).normal_()
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(N, D)
    targets = torch.randint(N_RESERVED, V, (N,), generator=g)
    sampler = UniformSampler(V)
    with MaxOutput(table) as spy:
        loss = sampled_softmax_loss(hidden, targets, table, sampler, 1000, logq=True, generator=g)
    assert torch.isfinite(loss)
    assert spy.largest <= N * (N + 1000)  # [N, C], never [N, V] (speed: benchmarks/)


def test_samplers() -> None:
    g = torch.Generator().manual_seed(0)
    uni = UniformSampler(20)
    ids = uni.sample(5000, g)
    assert ids.min() >= N_RESERVED and ids.max() < 20 and len(ids.unique()) == 17
    torch.testing.assert_close(uni.log_q(ids[:3]), torch.full((3,), -math.log(17)))
    counts = torch.zeros(20)
    counts[N_RESERVED:] = torch.tensor([0.0] * 5 + [100.0] * 12)
    counts[:N_RESERVED] = 1e6  # reserved ids: never drawn
    pop = PopularitySampler(counts, alpha=1.0, floor=1.0)
    ids = pop.sample(200_000, g)
    assert ids.min() >= N_RESERVED
    freq = torch.bincount(ids, minlength=20).double() / len(ids)
    torch.testing.assert_close(freq, pop.log_q(torch.arange(20)).exp().double(), atol=2e-3, rtol=0)
    assert (freq[N_RESERVED : N_RESERVED + 5] > 0).all()  # floor: unseen tracks appear
    flat = PopularitySampler(counts, alpha=0.0)
    torch.testing.assert_close(flat.log_q(torch.tensor([3, 19])), torch.full((2,), -math.log(17)))
    assert make_sampler(LossConfig(next_loss="full"), 20) is None
    assert isinstance(make_sampler(LossConfig(), 20), UniformSampler)
    with pytest.raises(ConfigError):
        make_sampler(LossConfig(sampler="popularity"), 20)


# ---------------------------------------------------------------------- compute_losses
def tiny_model(causal: bool, V: int = 50) -> SessionEncoder:
    torch.manual_seed(0)
    cfg = ModelConfig(
        d_model=16, n_heads=2, n_layers=1, d_ff=16, dropout=0.0, max_length=10, causal=causal
    )
    return SessionEncoder(cfg, V)


def tiny_batch(V: int = 50):
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([10, 7, 4, 1, 0])
    tracks = torch.randint(N_RESERVED, V, (5, 10), generator=g)
    valid = torch.arange(10) < lengths[:, None]
    tracks[~valid] = PAD_ID
    skipped = (torch.rand(5, 10, generator=g) < 0.4) & valid
    return tracks, lengths, skipped


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("anchor", ["track", "hidden"])
@pytest.mark.parametrize("next_loss", ["full", "sampled"])
def test_both_losses_reach_the_embedding_table(causal: bool, anchor: str, next_loss: str) -> None:
    model = tiny_model(causal)
    tracks, lengths, skipped = tiny_batch()
    cfg = LossConfig(next_loss=next_loss, n_negatives=20, skip_weight=1.0, skip_anchor=anchor)
    out = compute_losses(
        model,
        tracks,
        lengths,
        skipped,
        None,
        cfg,
        make_sampler(cfg, 50),
        torch.Generator().manual_seed(0),
    )
    assert int(out["n_anchors"]) > 0
    table = model.item_emb.weight
    for part in ("next", "skip"):
        (grad,) = torch.autograd.grad(out[part], table, retain_graph=True)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, part
    torch.testing.assert_close(out["total"], out["next"] + out["skip"])


def test_compute_losses_matches_manual_computation() -> None:
    tracks, lengths, skipped = tiny_batch()
    cfg = LossConfig(next_loss="full", skip_weight=0.5, skip_anchor="hidden")
    # bidirectional: next-track loss on the masked positions only, hidden from the cloze pass
    model = tiny_model(False)
    out = compute_losses(
        model, tracks, lengths, skipped, None, cfg, None, torch.Generator().manual_seed(7)
    )
    inputs, targets = cloze_inputs(tracks, lengths, 0.15, torch.Generator().manual_seed(7))
    hidden = model(inputs).hidden
    m = targets != PAD_ID
    torch.testing.assert_close(
        out["next"], full_softmax_loss(hidden[m], targets[m], model.item_emb.weight)
    )
    keys = model.item_emb(tracks)  # unmasked embeddings
    valid = tracks != PAD_ID
    skip, _ = skip_infonce_loss(hidden, keys, skipped, valid)
    torch.testing.assert_close(out["skip"], skip)
    # causal: next track at every position
    model = tiny_model(True)
    out = compute_losses(model, tracks, lengths, skipped, None, LossConfig(next_loss="full"), None)
    hidden = model(tracks).hidden
    rows = [(b, t) for b in range(5) for t in range(int(lengths[b]) - 1)]
    h = torch.stack([hidden[b, t] for b, t in rows])
    y = torch.tensor([tracks[b, t + 1].item() for b, t in rows])
    torch.testing.assert_close(out["next"], full_softmax_loss(h, y, model.item_emb.weight))
    assert out["skip"].item() == 0 and int(out["n_anchors"]) == 0


def test_compute_losses_bf16_autocast_finite() -> None:
    model = tiny_model(True)
    tracks, lengths, skipped = tiny_batch()
    cfg = LossConfig(n_negatives=20, skip_weight=1.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = compute_losses(model, tracks, lengths, skipped, None, cfg, make_sampler(cfg, 50))
    assert all(torch.isfinite(out[k].float()) for k in ("total", "next", "skip"))
    out["total"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# ---------------------------------------------------------------------- one table node per step


def per_lookup_losses(model, tracks, lengths, skipped, cfg, sampler, generator):
    """compute_losses as first written: every lookup is its own autograd use of the table."""
    L = tracks.shape[1]
    valid = torch.arange(L) < lengths[:, None]
    if model.cfg.causal:
        inputs, targets = tracks, causal_targets(tracks, lengths)
    else:
        inputs, targets = cloze_inputs(tracks, lengths, model.cfg.mask_prob, generator)
    hidden = model(inputs, table=model.embed).hidden  # plain nn.Embedding lookup
    rows = targets != PAD_ID
    if cfg.next_loss == "full":
        emb = model.item_embeddings
    else:
        emb = model.embed if model.feature_proj is not None else model.item_emb.weight
    nxt = next_track_loss(hidden[rows], targets[rows], emb, cfg, sampler, generator)
    skip = torch.zeros((), dtype=hidden.dtype)
    if cfg.skip_weight > 0:
        keys = model.embed(tracks)
        anchors = keys if cfg.skip_anchor == "track" else hidden
        skip, _ = skip_infonce_loss(
            anchors, keys, skipped & valid, valid, cfg.skip_temperature, cfg.skip_pairing
        )
    return nxt + cfg.skip_weight * skip, nxt, skip


def grads_of(model) -> dict[str, torch.Tensor]:
    return {
        n: (p.grad.to_dense() if p.grad.is_sparse else p.grad).clone()
        for n, p in model.named_parameters()
        if p.grad is not None
    }


def double_model(causal: bool, features: bool, V: int = 50) -> SessionEncoder:
    torch.manual_seed(0)
    cfg = ModelConfig(
        d_model=16,
        n_heads=2,
        n_layers=1,
        d_ff=16,
        dropout=0.1,
        max_length=10,
        causal=causal,
        use_features=features,
    )
    feats = None
    if features:
        feats = torch.randn(V, 3)
        feats[:N_RESERVED] = 0
    return SessionEncoder(cfg, V, features=feats).double().train()


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("next_loss", ["full", "sampled"])
@pytest.mark.parametrize("anchor", ["track", "hidden"])
@pytest.mark.parametrize("features", [False, True])
def test_shared_table_matches_per_lookup_path(
    causal: bool, next_loss: str, anchor: str, features: bool
) -> None:
    """One TrackTable per step: the same losses and gradients as one autograd lookup per use,
    whether .grad starts as None (one dense gradient), as a dense tensor (added in place), or
    the table is on sparse gradients (same values, sparse layout)."""
    tracks, lengths, skipped = tiny_batch()
    cfg = LossConfig(next_loss=next_loss, n_negatives=20, skip_weight=0.7, skip_anchor=anchor)
    sampler = make_sampler(cfg, 50)

    def run(new: bool, model):
        torch.manual_seed(123)  # same dropout masks
        gen = torch.Generator().manual_seed(5)  # same cloze masks, negatives
        if new:
            out = compute_losses(model, tracks, lengths, skipped, None, cfg, sampler, gen)
            return out["total"], out["next"], out["skip"]
        return per_lookup_losses(model, tracks, lengths, skipped, cfg, sampler, gen)

    old_model, new_model = double_model(causal, features), double_model(causal, features)
    for _step in range(2):  # step 1: .grad exists (dense)
        old, new = run(False, old_model), run(True, new_model)
        for a, b in zip(old, new):
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
        old[0].backward()
        new[0].backward()
        want, got = grads_of(old_model), grads_of(new_model)
        assert set(got) == set(want)
        assert not new_model.item_emb.weight.grad.is_sparse
        for name in want:
            torch.testing.assert_close(got[name], want[name], rtol=1e-10, atol=1e-12, msg=name)
    sparse_model = double_model(causal, features)
    sparse_model.sparse_grad = True
    run(True, sparse_model)[0].backward()
    old_model.zero_grad(set_to_none=True)
    run(False, old_model)[0].backward()
    if next_loss == "sampled":  # full softmax: a dense product
        assert sparse_model.item_emb.weight.grad.is_sparse
    want, got = grads_of(old_model), grads_of(sparse_model)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-10, atol=1e-12, msg=name)


class NewTableSizedTensors(TorchDispatchMode):
    """Counts distinct new storages of at least ``n`` elements that any aten op produces."""

    def __init__(self, n: int, known: list[torch.Tensor]) -> None:
        super().__init__()
        self.n, self.new = n, set()
        self.known = {t.untyped_storage().data_ptr() for t in known}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for o in out if isinstance(out, (tuple, list)) else (out,):
            if (
                isinstance(o, torch.Tensor)
                and o.layout == torch.strided
                and o.numel() >= self.n
                and o.untyped_storage().data_ptr() not in self.known
            ):
                self.new.add(o.untyped_storage().data_ptr())
        return out


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_one_table_sized_buffer_per_step_and_none_in_forward(precision: str) -> None:
    V, D = 20_000, 8
    torch.manual_seed(0)
    model = SessionEncoder(ModelConfig(d_model=D, n_heads=2, d_ff=8, max_length=10), V).train()
    g = torch.Generator().manual_seed(0)
    tracks = torch.randint(N_RESERVED, V, (6, 10), generator=g)
    lengths = torch.tensor([10, 10, 9, 7, 5, 2])
    tracks[torch.arange(10) >= lengths[:, None]] = PAD_ID
    skipped = (torch.rand(6, 10, generator=g) < 0.4) & (tracks != PAD_ID)
    cfg = LossConfig(n_negatives=50, skip_weight=1.0)
    w = model.item_emb.weight

    def forward():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            return compute_losses(model, tracks, lengths, skipped, None, cfg, UniformSampler(V), g)

    with NewTableSizedTensors(V * D, [w]) as spy:  # no [V, D] copy or cast
        out = forward()
    assert not spy.new
    with NewTableSizedTensors(V * D, [w]) as spy:  # .grad None: ONE dense buffer
        out["total"].backward()
    assert len(spy.new) == 1 and not w.grad.is_sparse
    out = forward()
    with NewTableSizedTensors(V * D, [w, w.grad]) as spy:  # dense .grad: added in place
        out["total"].backward()
    assert not spy.new
    model.zero_grad(set_to_none=True)
    model.sparse_grad = True
    out = forward()
    with NewTableSizedTensors(V * D, [w]) as spy:  # sparse: none at all
        out["total"].backward()
    assert not spy.new and w.grad.is_sparse


def test_sampled_dropped_hits_equal_masked_columns_with_gradients() -> None:
    """Leaving the hit columns out equals masking them to -inf: loss and gradients."""
    hidden, targets, table = next_inputs(N=14, V=40)
    hidden.requires_grad_(True)
    table.requires_grad_(True)
    neg = [targets[4].item(), 20, targets[7].item(), 21, 21, targets[4].item()]
    loss = sampled_softmax_loss(hidden, targets, table, FixedSampler(neg, 40), len(neg))
    g_h, g_t = torch.autograd.grad(loss, (hidden, table))
    t = targets[3:]
    uniq = torch.unique(t)
    cands = torch.cat([uniq, torch.tensor(neg)])
    logits = hidden[3:] @ table[cands].T
    hit = torch.cat([torch.zeros(len(uniq), dtype=torch.bool), torch.isin(torch.tensor(neg), uniq)])
    assert hit.sum() == 3
    col = torch.searchsorted(uniq, t)
    want = F.cross_entropy(logits.masked_fill(hit, float("-inf")), col)
    w_h, w_t = torch.autograd.grad(want, (hidden, table))
    torch.testing.assert_close(loss, want)
    torch.testing.assert_close(g_h, w_h)
    torch.testing.assert_close(g_t, w_t)


class MatmulShapes(TorchFunctionMode):
    """Records the operand shapes of every ``@`` / ``torch.matmul`` call."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("__matmul__", "matmul", "mm"):
            self.shapes.append((tuple(args[0].shape), tuple(args[1].shape)))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("n", [1, 63, 64, 65, 300])
def test_reduced_precision_candidate_product_is_bucketed_and_unchanged(n: int, monkeypatch) -> None:
    """Under bf16 autocast the [N, C] product runs on operands padded to multiples of 64 (the
    CPU's bf16 kernels are built per shape), with the same values and gradients as the exact
    shapes; in fp32 the exact shapes are kept (the committed runs' rounding)."""
    import negrec_lib.losses.next_track as nt

    _GEMM_BUCKET = nt._GEMM_BUCKET
    g = torch.Generator().manual_seed(n)
    V, D = 3000, 16
    table = torch.randn(V, D, generator=g)
    hidden = torch.randn(n, D, generator=g)
    targets = torch.randint(N_RESERVED, V, (n,), generator=g)

    def run(bucketed: bool, autocast: bool) -> tuple[torch.Tensor, ...]:
        # not bucketed: the same loss with the exact shapes (bf16 operands, fp32 softmax)
        monkeypatch.setattr(nt, "_GEMM_BUCKET", _GEMM_BUCKET if bucketed else 1)
        h, e = hidden.clone().requires_grad_(True), table.clone().requires_grad_(True)
        gen = torch.Generator().manual_seed(7)
        with MatmulShapes() as spy, torch.autocast("cpu", torch.bfloat16, enabled=autocast):
            loss = sampled_softmax_loss(h, targets, e, UniformSampler(V), 200, generator=gen)
        loss.backward()
        return loss.detach(), h.grad, e.grad, spy.shapes

    *padded, shapes = run(True, True)
    *exact, _ = run(False, True)
    for a, b in zip(padded, exact):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert shapes and all(
        a[0] % _GEMM_BUCKET == 0 and b[1] % _GEMM_BUCKET == 0 for a, b in shapes
    ), shapes
    *_, fp32_shapes = run(True, False)
    assert [a[0] for a, _ in fp32_shapes] == [n]  # fp32: the exact [N, D] operand, unpadded
