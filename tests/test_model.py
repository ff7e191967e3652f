"""The session encoder: masks (causal, padding), attention, numerics, cloze inputs, top-k."""

from __future__ import annotations

import copy

import pytest
import torch

from negrec_lib.config import ModelConfig, TrainConfig
from negrec_lib.errors import ConfigError
from negrec_lib.model import SessionEncoder, TrackTable, causal_targets, cloze_inputs
from negrec_lib.optim import LazyAdam, _fused_adam_supported, clip_grad_norm_, make_optimizer
from negrec_lib.tokens import MASK_ID, N_RESERVED, OOV_ID, PAD_ID

V = 60


def make_model(causal: bool = True, pre_ln: bool = False, seed: int = 0, **kw) -> SessionEncoder:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        d_model=16,
        n_heads=4,
        n_layers=2,
        d_ff=24,
        dropout=0.1,
        max_length=12,
        causal=causal,
        pre_ln=pre_ln,
        **kw,
    )
    return SessionEncoder(cfg, V).eval()


def make_batch(lengths: list[int], L: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths_t = torch.tensor(lengths)
    tracks = torch.randint(N_RESERVED, V, (len(lengths), L), generator=g)
    tracks[torch.arange(L) >= lengths_t[:, None]] = PAD_ID
    return tracks, lengths_t


ARCH = [(c, p) for c in (True, False) for p in (False, True)]


@pytest.mark.parametrize("causal,pre_ln", ARCH)
def test_attention_weights_shape_and_masks(causal: bool, pre_ln: bool) -> None:
    model = make_model(causal, pre_ln)
    tracks, lengths = make_batch([12, 7, 1, 0])
    out = model(tracks, return_attention=True)
    assert out.hidden.shape == (4, 12, 16)
    assert len(out.attention) == 2
    real = tracks != PAD_ID
    for w in out.attention:
        assert w.shape == (4, 4, 12, 12)
        # real queries: rows sum to 1, all mass on real keys
        sums = w.sum(-1)  # [B, H, L]
        torch.testing.assert_close(
            sums[real[:, None, :].expand_as(sums)], torch.ones(int(real.sum()) * 4)
        )
        assert (w * (~real)[:, None, None, :]).abs().max() == 0  # padded keys get 0
        assert (w * (~real)[:, None, :, None]).abs().max() == 0  # padded queries output 0
        if causal:
            assert w.triu(diagonal=1).abs().max() == 0
        else:  # bidirectional: a real query sees every real key
            assert (w[0] > 0).all()


@pytest.mark.parametrize("causal,pre_ln", ARCH)
def test_fast_and_explicit_attention_paths_agree(causal: bool, pre_ln: bool) -> None:
    model = make_model(causal, pre_ln)
    tracks, _ = make_batch([12, 5, 3, 0])
    torch.testing.assert_close(
        model(tracks).hidden, model(tracks, return_attention=True).hidden, atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("pre_ln", [False, True])
def test_causal_no_future_leakage(pre_ln: bool) -> None:
    model = make_model(True, pre_ln)
    tracks, _ = make_batch([12, 12])
    base = model(tracks).hidden
    for t in range(11):
        later = tracks.clone()
        later[:, t + 1 :] = torch.randint(N_RESERVED, V, later[:, t + 1 :].shape)
        torch.testing.assert_close(model(later).hidden[:, : t + 1], base[:, : t + 1])
        earlier = tracks.clone()
        earlier[:, t] = N_RESERVED + (earlier[:, t] - N_RESERVED + 1) % (V - N_RESERVED)
        changed = (model(earlier).hidden[:, t:] - base[:, t:]).abs().amax(-1)  # [B, L - t]
        assert (changed > 1e-6).all(), f"positions >= {t} must depend on position {t}"


def test_bidirectional_sees_later_tracks() -> None:
    model = make_model(False)
    tracks, _ = make_batch([12])
    later = tracks.clone()
    later[0, -1] = N_RESERVED + (later[0, -1] - N_RESERVED + 1) % (V - N_RESERVED)
    assert (model(later).hidden[0, 0] - model(tracks).hidden[0, 0]).abs().max() > 1e-6


@pytest.mark.parametrize("causal,pre_ln", ARCH)
def test_padding_does_not_change_real_positions(causal: bool, pre_ln: bool) -> None:
    model = make_model(causal, pre_ln)
    tracks, _ = make_batch([6, 3], L=6)
    tracks[1, 3:] = PAD_ID
    wide = torch.nn.functional.pad(tracks, (0, 5), value=PAD_ID)
    a, b = model(tracks).hidden, model(wide).hidden
    torch.testing.assert_close(b[:, :6], a)
    assert b[:, 6:].abs().max() == 0 and a[1, 3:].abs().max() == 0


@pytest.mark.parametrize("causal,pre_ln", ARCH)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("attention", [False, True])
def test_no_nan_with_padding_and_empty_rows(
    causal: bool, pre_ln: bool, dtype: torch.dtype, attention: bool
) -> None:
    model = make_model(causal, pre_ln).train()  # dropout on
    tracks, _ = make_batch([12, 4, 1, 0, 0])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        out = model(tracks, return_attention=attention)
        loss = model.score(out.hidden.reshape(-1, 16)).float().logsumexp(-1).sum()
    assert torch.isfinite(out.hidden.float()).all()
    if attention:
        assert all(torch.isfinite(w).all() for w in out.attention)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert out.hidden[3:].abs().max() == 0  # fully padded sessions -> zeros


def test_cloze_inputs_hide_every_target() -> None:
    tracks, lengths = make_batch([12, 7, 2, 1, 0] * 40, seed=3)
    g = torch.Generator().manual_seed(0)
    inputs, targets = cloze_inputs(tracks, lengths, 0.15, g)
    real = tracks != PAD_ID
    masked = targets != PAD_ID
    assert (inputs[masked] == MASK_ID).all()  # never visible at its position
    assert torch.equal(targets[masked], tracks[masked])
    assert torch.equal(inputs[~masked], tracks[~masked])  # the rest untouched
    assert not (masked & ~real).any()  # padding never masked
    rows = torch.arange(len(lengths))[lengths > 0]
    assert masked[rows, lengths[rows] - 1].all()  # the last real track always
    others = real.clone()
    others[rows, lengths[rows] - 1] = False
    rate = masked[others].float().mean().item()
    assert 0.10 < rate < 0.20
    again = cloze_inputs(tracks, lengths, 0.15, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], inputs) and torch.equal(again[1], targets)


def test_causal_targets_brute_force() -> None:
    tracks, lengths = make_batch([12, 7, 1, 0])
    targets = causal_targets(tracks, lengths)
    for b in range(4):
        for t in range(12):
            want = tracks[b, t + 1].item() if t + 1 < lengths[b] else PAD_ID
            assert targets[b, t].item() == want


@pytest.mark.parametrize("causal", [True, False])
def test_next_track_hidden(causal: bool) -> None:
    model = make_model(causal)
    for L, lens in [(12, [12, 5, 1]), (8, [5, 3, 1])]:  # lengths == L widens the input
        tracks, lengths = make_batch(lens, L=L)
        seen: list[torch.Tensor] = []
        hidden_at = model._hidden_at  # what next_track_hidden encodes: record its input

        def record(inp, position, seen=seen, hidden_at=hidden_at):
            seen.append(inp.clone())
            return hidden_at(inp, position)

        model._hidden_at = record  # type: ignore[method-assign]
        state = model.next_track_hidden(tracks, lengths)
        del model._hidden_at
        (inp,) = seen
        rows = torch.arange(3)
        if causal:
            assert torch.equal(inp, tracks)
            torch.testing.assert_close(state, model(tracks).hidden[rows, lengths - 1])
        else:
            assert inp.shape[1] == (L + 1 if max(lens) == L else L)
            assert (inp[rows, lengths] == MASK_ID).all()
            for b in range(3):
                assert torch.equal(inp[b, : lengths[b]], tracks[b, : lengths[b]])
                assert (inp[b, lengths[b] + 1 :] == PAD_ID).all()
            torch.testing.assert_close(state, model(inp).hidden[rows, lengths])


@pytest.mark.parametrize("causal", [True, False])
def test_recommend_excludes_reserved_and_seen(causal: bool) -> None:
    model = make_model(causal).train()
    with torch.no_grad():  # make reserved ids attractive
        model.item_emb.weight[:N_RESERVED] = model.item_emb.weight[N_RESERVED:].abs().max() * 50
    tracks, lengths = make_batch([10, 4, 1], L=11)
    tracks[1, 2] = OOV_ID
    k = V - N_RESERVED - 10
    scores, ids = model.recommend(tracks, lengths, k)
    assert model.training  # mode restored
    assert ids.shape == scores.shape == (3, k)
    assert (ids >= N_RESERVED).all()
    for b in range(3):
        assert not set(ids[b].tolist()) & set(tracks[b, : lengths[b]].tolist())
        assert len(set(ids[b].tolist())) == k
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    _, ids_all = model.recommend(tracks, lengths, 5, exclude_seen=False)
    assert (ids_all >= N_RESERVED).all()
    with pytest.raises(ValueError):
        model.recommend(tracks, lengths, V)


def test_features_enter_the_representation() -> None:
    torch.manual_seed(0)
    feats = torch.randn(V, 5)
    feats[:N_RESERVED] = 0
    cfg = ModelConfig(d_model=16, n_heads=4, d_ff=16, max_length=12, use_features=True)
    model = SessionEncoder(cfg, V, features=feats).eval()
    table = model.item_embeddings
    torch.testing.assert_close(table, model.item_emb.weight + feats @ model.feature_proj.weight.T)
    ids = torch.tensor([[3, 7, 0], [9, 9, 1]])
    torch.testing.assert_close(model.embed(ids), table[ids])
    assert model.embed(torch.tensor([PAD_ID])).abs().max() == 0
    h = torch.randn(4, 16)
    cands = torch.tensor([5, 17, 3])
    torch.testing.assert_close(model.score(h, cands), model.score(h)[:, cands])
    assert "features" not in model.state_dict()
    with pytest.raises(ConfigError):
        SessionEncoder(cfg, V)


def test_config_and_input_errors() -> None:
    with pytest.raises(ConfigError):
        SessionEncoder(ModelConfig(d_model=10, n_heads=4), V)
    model = make_model()
    with pytest.raises(ValueError, match="max_length"):
        model(torch.full((1, 14), N_RESERVED))
    assert model.item_emb.weight[PAD_ID].abs().max() == 0


# ---------------------------------------------------------------------- track table and optimisers


@pytest.mark.parametrize("features", [False, True])
def test_track_table_values_equal_embed(features: bool) -> None:
    torch.manual_seed(0)
    feats = torch.randn(V, 5) if features else None
    cfg = ModelConfig(d_model=16, n_heads=4, d_ff=16, max_length=12, use_features=features)
    model = SessionEncoder(cfg, V, features=feats)
    table = model.track_table()
    assert isinstance(table, TrackTable)
    ids = torch.tensor([[3, 7, 0], [9, 9, 1]])
    torch.testing.assert_close(table(ids), model.embed(ids))
    torch.testing.assert_close(table.full(), model.item_embeddings)
    tracks, _ = make_batch([12, 5, 0])
    model.eval()
    torch.testing.assert_close(model(tracks, table=table).hidden, model(tracks).hidden)
    with torch.no_grad():  # no autograd: plain lookups
        assert model.track_table().weight is model.item_emb.weight


def test_sparse_grad_flag_gives_the_dense_gradient_in_sparse_form() -> None:
    tracks, _ = make_batch([12, 7, 3, 0])
    cands = torch.tensor([5, 17, 5, 40])

    def grad(sparse: bool) -> torch.Tensor:
        model = make_model().train()
        model.sparse_grad = sparse
        assert model.item_emb.sparse is sparse
        torch.manual_seed(1)
        table = model.track_table()
        h = model(tracks, table=table).hidden.reshape(-1, 16)
        (h @ table(cands).T).square().mean().backward()
        return model.item_emb.weight.grad

    dense, sparse = grad(False), grad(True)
    assert not dense.is_sparse and sparse.is_sparse
    torch.testing.assert_close(sparse.to_dense(), dense)
    assert dense[PAD_ID].abs().max() == 0  # padding row never learns
    assert PAD_ID not in sparse.coalesce().indices()[0].tolist()


def _adam_pair(n_steps: int, grads, lr: float = 0.01):
    """Run LazyAdam and torch Adam on identical copies; grads(step, param) -> gradient."""
    torch.manual_seed(0)
    init = [torch.randn(30, 4), torch.randn(7)]
    lazy_p = [torch.nn.Parameter(t.clone()) for t in init]
    ref_p = [torch.nn.Parameter(t.clone()) for t in init]
    lazy, ref = LazyAdam(lazy_p, lr=lr), torch.optim.Adam(ref_p, lr=lr)
    for step in range(n_steps):
        for i, (a, b) in enumerate(zip(lazy_p, ref_p)):
            g = grads(step, i)
            a.grad = g
            b.grad = g.to_dense() if g.is_sparse else g
        lazy.step()
        ref.step()
    return lazy_p, ref_p, lazy


def test_lazy_adam_equals_adam_on_dense_gradients() -> None:
    gen = torch.Generator().manual_seed(3)
    shapes = [(30, 4), (7,)]
    lazy_p, ref_p, _ = _adam_pair(6, lambda s, i: torch.randn(shapes[i], generator=gen))
    for a, b in zip(lazy_p, ref_p):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_lazy_adam_equals_adam_when_every_row_is_touched() -> None:
    gen = torch.Generator().manual_seed(4)

    def grads(step: int, i: int) -> torch.Tensor:
        if i == 1:
            return torch.randn(7, generator=gen)
        rows = torch.cat([torch.randperm(30, generator=gen), torch.tensor([2, 2, 9])])  # dups
        return torch.sparse_coo_tensor(
            rows[None], torch.randn(33, 4, generator=gen), (30, 4), check_invariants=True
        )

    lazy_p, ref_p, _ = _adam_pair(6, grads)
    for a, b in zip(lazy_p, ref_p):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_lazy_adam_moves_only_touched_rows_and_is_not_adam() -> None:
    gen = torch.Generator().manual_seed(5)
    touched = [torch.tensor([1, 4, 4, 8]), torch.tensor([2, 4])]  # step 0, step 1

    def grads(step: int, i: int) -> torch.Tensor:
        if i == 1:
            return torch.randn(7, generator=gen)
        rows = touched[step]
        return torch.sparse_coo_tensor(
            rows[None], torch.randn(len(rows), 4, generator=gen), (30, 4), check_invariants=True
        )

    torch.manual_seed(0)
    before = torch.randn(30, 4)
    lazy_p, ref_p, lazy = _adam_pair(2, grads)
    table = lazy_p[0].detach()
    state = lazy.state[lazy_p[0]]
    untouched = torch.ones(30, dtype=torch.bool)
    untouched[torch.tensor([1, 2, 4, 8])] = False
    torch.testing.assert_close(table[untouched], before[untouched])  # weights kept
    assert state["exp_avg"][untouched].abs().max() == 0  # moments kept (zero)
    assert float(state["step"]) == 2
    # dense Adam keeps moving rows 1 and 8 at step 1 (momentum), lazy Adam does not
    assert (ref_p[0][1] - table[1]).abs().max() > 1e-6
    torch.testing.assert_close(table[untouched], ref_p[0].detach()[untouched])


def test_lazy_adam_state_dict_resume_and_scheduler() -> None:
    def make():
        torch.manual_seed(0)
        p = torch.nn.Parameter(torch.randn(10, 3))
        opt = LazyAdam([p], lr=0.1)
        return p, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 / (1 + s))

    def grad(step: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(step)
        rows = torch.randint(0, 10, (4,), generator=g)
        return torch.sparse_coo_tensor(
            rows[None], torch.randn(4, 3, generator=g), (10, 3), check_invariants=True
        )

    p, opt, sched = make()
    for s in range(4):
        p.grad = grad(s)
        opt.step()
        sched.step()
        if s == 1:  # a checkpoint after 2 steps
            saved = copy.deepcopy((p.detach(), opt.state_dict(), sched.state_dict()))
    q, opt2, sched2 = make()
    with torch.no_grad():
        q.copy_(saved[0])
    opt2.load_state_dict(saved[1])
    sched2.load_state_dict(saved[2])
    for s in range(2, 4):
        q.grad = grad(s)
        opt2.step()
        sched2.step()
    torch.testing.assert_close(q, p)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(0.1 / 5)


@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch_and_accepts_sparse(max_norm: float) -> None:
    gen = torch.Generator().manual_seed(0)
    dense = [torch.randn(6, 3, generator=gen), torch.randn(4, generator=gen)]
    a = [torch.nn.Parameter(torch.zeros_like(g)) for g in dense]
    b = [torch.nn.Parameter(torch.zeros_like(g)) for g in dense]
    for p, q, g in zip(a, b, dense):
        p.grad, q.grad = g.clone(), g.clone()
    torch.testing.assert_close(
        clip_grad_norm_(a, max_norm), torch.nn.utils.clip_grad_norm_(b, max_norm)
    )
    for p, q in zip(a, b):
        torch.testing.assert_close(p.grad, q.grad)
    # a sparse gradient with a duplicate row: clipped like its dense equivalent
    rows = torch.tensor([1, 3, 1])
    sp = torch.sparse_coo_tensor(
        rows[None], torch.randn(3, 3, generator=gen), (6, 3), check_invariants=True
    )
    s_param = torch.nn.Parameter(torch.zeros(6, 3))
    d_param = torch.nn.Parameter(torch.zeros(6, 3))
    s_param.grad, d_param.grad = sp, sp.to_dense()
    extra = [torch.nn.Parameter(torch.zeros(4)) for _ in range(2)]
    extra[0].grad, extra[1].grad = dense[1].clone(), dense[1].clone()
    n_s = clip_grad_norm_([s_param, extra[0]], max_norm)
    n_d = torch.nn.utils.clip_grad_norm_([d_param, extra[1]], max_norm)
    torch.testing.assert_close(n_s, n_d)
    assert s_param.grad.is_sparse
    torch.testing.assert_close(s_param.grad.to_dense(), d_param.grad)
    torch.testing.assert_close(extra[0].grad, extra[1].grad)


def test_make_optimizer_dense_default_and_sparse_option() -> None:
    model = make_model().train()
    model.sparse_grad = True
    opt = make_optimizer(model, TrainConfig(lr=0.01))
    assert type(opt) is torch.optim.Adam and not model.sparse_grad  # the paper's dense Adam
    assert bool(opt.defaults.get("fused")) == _fused_adam_supported(list(model.parameters()))
    assert opt.defaults["lr"] == 0.01 and opt.defaults["weight_decay"] == 0
    opt = make_optimizer(model, TrainConfig(lr=0.01, sparse_embeddings=True))
    assert isinstance(opt, LazyAdam) and model.sparse_grad
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))
    with pytest.raises(ConfigError, match="weight_decay"):
        make_optimizer(model, TrainConfig(sparse_embeddings=True, weight_decay=1e-4))


def test_make_optimizer_dense_steps_equal_plain_adam() -> None:
    """fused=True (where available) is the same Adam as torch's default implementation."""
    tracks, _ = make_batch([12, 9, 4])
    models = [make_model(seed=0).train(), make_model(seed=0).train()]
    opts = [
        make_optimizer(models[0], TrainConfig(lr=0.005)),
        torch.optim.Adam(models[1].parameters(), lr=0.005),
    ]
    for _ in range(3):
        for model, opt in zip(models, opts):
            torch.manual_seed(9)
            loss = model.score(model(tracks).hidden.reshape(-1, 16)).logsumexp(-1).mean()
            opt.zero_grad(set_to_none=False)
            loss.backward()
            clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
    for (name, p), q in zip(models[0].named_parameters(), models[1].parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
