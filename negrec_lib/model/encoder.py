"""The self-attentive session encoder, unidirectional (SASRec-like) or bidirectional (BERT4Rec).

Sessions arrive LEFT-aligned: ``tracks[b, 0]`` is the first track, ``PAD_ID`` fills the row after
the last real track. Padding is inferred from ``tracks == PAD_ID`` and masked as attention keys;
the reference code does not mask it (book/paper.md section 2), we do. The encoder returns the
prediction-head output at every position; scores are dot products with the track-embedding table
(tied input/output embeddings, no output bias).

The track table dominates memory and time at a realistic catalogue; one training step's lookups
into it go through a `negrec_lib.track_table.TrackTable` (one gradient node per step).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import ModelConfig
from ..errors import ConfigError
from ..tokens import MASK_ID, N_RESERVED, PAD_ID
from ..track_table import TrackTable
from .dropout import Dropout
from .layer import TransformerLayer


class EncoderOutput(NamedTuple):
    """What `SessionEncoder.forward` returns.

    Examples
    --------
    >>> import torch
    >>> from negrec_lib.config import ModelConfig
    >>> from negrec_lib.model import SessionEncoder
    >>> _ = torch.manual_seed(0)
    >>> model = SessionEncoder(ModelConfig(d_model=8, n_heads=2, d_ff=8, max_length=5), 10)
    >>> tracks = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 3]])  # [B=2, L=5], 0 = PAD
    >>> lengths = torch.tensor([3, 5])
    >>> out = model(tracks, return_attention=True)
    >>> out.hidden.shape, len(out.attention), out.attention[0].shape  # per layer [B, H, L, L]
    (torch.Size([2, 5, 8]), 2, torch.Size([2, 2, 5, 5]))
    """

    hidden: Tensor  # [B, L, D] prediction-head output; zeros at padded positions
    attention: list[Tensor] | None  # per layer [B, H, L, L], or None when not requested


class SessionEncoder(nn.Module):
    """Track embeddings + positions -> transformer layers -> prediction head (Linear + GELU).

    Parameters
    ----------
    cfg : ModelConfig
        Sizes, dropout, ``causal`` (unidirectional) or not (bidirectional cloze), ``pre_ln``.
    vocab_size : int
        Number of ids including the reserved ones (PAD, MASK, OOV).
    n_features : int
        Width F of the content features when ``cfg.use_features`` (inferred from ``features``).
    features : Tensor [V, F] or None
        Standardised track features (zeros on reserved ids). Kept as a non-persistent buffer:
        checkpoints hold learned weights only, and the features are passed again on rebuild.
    sparse_grad : bool
        Give the track table sparse gradients (for `negrec_lib.optim.LazyAdam`;
        `negrec_lib.optim.make_optimizer` sets it). Default False: dense gradients, for dense Adam
        (the paper's optimiser).

    Examples
    --------
    >>> import torch
    >>> from negrec_lib.config import ModelConfig
    >>> from negrec_lib.model import SessionEncoder
    >>> _ = torch.manual_seed(0)
    >>> model = SessionEncoder(ModelConfig(d_model=8, n_heads=2, d_ff=8, max_length=5), 10)
    >>> tracks = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 3]])  # [B=2, L=5], 0 = PAD
    >>> lengths = torch.tensor([3, 5])
    >>> hidden = model.next_track_hidden(tracks, lengths)  # [B, D], the state after each session
    >>> model.score(hidden).shape  # one score per id of the catalogue [B, V]
    torch.Size([2, 10])
    >>> scores, ids = model.recommend(tracks, lengths, k=3)
    >>> ids.shape, bool((ids >= N_RESERVED).all())  # never PAD, MASK or OOV
    (torch.Size([2, 3]), True)
    """

    features: Tensor  # [V, F] buffer, registered only when cfg.use_features

    def __init__(
        self,
        cfg: ModelConfig,
        vocab_size: int,
        n_features: int = 0,
        features: Tensor | None = None,
        sparse_grad: bool = False,
    ) -> None:
        super().__init__()
        if vocab_size <= N_RESERVED:
            raise ConfigError(
                f"vocab_size={vocab_size}: need at least one track besides the "
                f"{N_RESERVED} reserved ids"
            )
        self.cfg, self.vocab_size = cfg, vocab_size
        d = cfg.d_model
        self.item_emb = nn.Embedding(vocab_size, d, padding_idx=PAD_ID)  # [V, D]
        self.pos_emb = nn.Embedding(cfg.max_length + 1, d)  # +1: the appended [MASK]
        self.emb_drop = Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            TransformerLayer(d, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.pre_ln)
            for _ in range(cfg.n_layers)
        )
        self.final_norm = nn.LayerNorm(d) if cfg.pre_ln else nn.Identity()
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU())
        self.sparse_grad = sparse_grad
        self.feature_proj: nn.Linear | None = None
        if cfg.use_features:
            if features is not None:
                n_features = features.shape[1]
                if features.shape[0] != vocab_size:
                    raise ConfigError(
                        f"features has {features.shape[0]} rows; expected vocab_size="
                        f"{vocab_size} (one row per id, reserved ids included)"
                    )
            if n_features <= 0:
                raise ConfigError(
                    "model.use_features is true but no track features were given; "
                    "pass features=[V, F] or set model.use_features=false"
                )
            feats = torch.zeros(vocab_size, n_features) if features is None else features.float()
            self.register_buffer("features", feats, persistent=False)  # [V, F]
            # no bias: zero features -> zero
            self.feature_proj = nn.Linear(n_features, d, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise every weight as ``cfg.init`` says; biases 0, LayerNorms 1, the PAD row 0.

        - ``"scaled"`` (default): linear layers N(0, 0.02); track and position embeddings
          N(0, 1/D), so every embedding starts with a norm of about 1.
        - ``"gpt"``: every weight N(0, 0.02), embeddings included (GPT-2's rule; what negrec
          did before). Tied output scores then start near 0 and the first updates push every
          track embedding along one shared "popularity" direction, which swamps their small
          random parts: the encoder sees nearly identical inputs and stays at popularity-level
          accuracy for epochs (the training chapter measures it).
        - ``"torch"``: PyTorch's module defaults (embeddings N(0, 1), Kaiming-uniform linear
          layers, Xavier-uniform attention projections), as the reference code has them.
        """
        d, how = self.cfg.d_model, self.cfg.init
        for m in self.modules():
            if isinstance(m, nn.Linear):
                if how == "torch":
                    m.reset_parameters()
                else:
                    nn.init.normal_(m.weight, std=0.02)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                std = {"scaled": d**-0.5, "gpt": 0.02, "torch": 1.0}[how]
                nn.init.normal_(m.weight, std=std)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if how == "torch":  # nn.MultiheadAttention's own choice
            for layer in self.layers:
                assert isinstance(layer, TransformerLayer)
                nn.init.xavier_uniform_(layer.qkv.weight)
                nn.init.zeros_(layer.qkv.bias)
                nn.init.zeros_(layer.out.bias)
        with torch.no_grad():
            self.item_emb.weight[PAD_ID].zero_()

    # ------------------------------------------------------------------ track representations
    @property
    def sparse_grad(self) -> bool:
        """Whether the track table gets sparse gradients (every lookup path follows it)."""
        return bool(self.item_emb.sparse)

    @sparse_grad.setter
    def sparse_grad(self, value: bool) -> None:
        self.item_emb.sparse = bool(value)

    def track_table(self) -> TrackTable:
        """A `TrackTable` for one step: lookups that share one gradient node of the table."""
        return TrackTable(self)

    def embed(self, ids: Tensor) -> Tensor:
        """Representation of track ids [...] -> [..., D] (embedding + projected features)."""
        e = self.item_emb(ids)
        if self.feature_proj is not None:
            e = e + self.feature_proj(self.features[ids])
        return e

    @property
    def item_embeddings(self) -> Tensor:
        """The [V, D] table used both for inputs and for output scores."""
        if self.feature_proj is None:
            return self.item_emb.weight
        return self.item_emb.weight + self.feature_proj(self.features)

    # ------------------------------------------------------------------ encoder
    def attention_mask(self, tracks: Tensor) -> Tensor:
        """[B, 1, L, L] bool: True where query t may attend key s (real key; s <= t if causal)."""
        B, L = tracks.shape
        allowed = (tracks != PAD_ID)[:, None, :].expand(B, L, L)  # [B, L, L] real keys
        if self.cfg.causal:
            allowed = allowed & torch.ones(L, L, dtype=torch.bool, device=tracks.device).tril()
        # Guard: a row with no key at all (a fully padded session) would give a NaN softmax;
        # let it attend to itself. Such rows are padded queries, zeroed in the output.
        empty = ~allowed.any(-1, keepdim=True)  # [B, L, 1]
        eye = torch.eye(L, dtype=torch.bool, device=tracks.device)
        return (allowed | (empty & eye)).unsqueeze(1)  # [B, 1, L, L]

    def _inputs(self, tracks: Tensor, table: TrackTable | None) -> tuple[Tensor, Tensor]:
        """The first layer's input [B, L, D] (tracks + positions, dropout) and the mask."""
        L = tracks.shape[1]
        if L > self.cfg.max_length + 1:
            raise ValueError(
                f"sessions of {L} positions exceed model.max_length={self.cfg.max_length} "
                f"(+1 for [MASK]); truncate them or enlarge the model"
            )
        table = self.track_table() if table is None else table
        pos = torch.arange(L, device=tracks.device)
        x = self.emb_drop(table(tracks) + self.pos_emb(pos))  # [B, L, D]
        return x, self.attention_mask(tracks)

    def forward(
        self, tracks: Tensor, return_attention: bool = False, table: TrackTable | None = None
    ) -> EncoderOutput:
        """Encode sessions ``tracks`` [B, L] -> hidden [B, L, D] (and attention weights on request).

        ``table``: the step's `TrackTable` when the caller looks up more rows in the same step
        (candidates, skip keys), so that all lookups share one gradient node; a fresh one
        otherwise.
        """
        x, allowed = self._inputs(tracks, table)  # [B, L, D], [B, 1, L, L]
        real = tracks != PAD_ID  # [B, L]
        attention: list[Tensor] | None = [] if return_attention else None
        for layer in self.layers:
            x, w = layer(x, allowed, need_weights=return_attention)
            if attention is not None:
                attention.append(w * real[:, None, :, None])  # [B, H, L, L], padded queries 0
        hidden = self.head(self.final_norm(x)) * real.unsqueeze(-1)  # [B, L, D]
        return EncoderOutput(hidden, attention)

    # ------------------------------------------------------------------ scoring
    def dot_table(self) -> Tensor:
        """The [V, D] table whose dot products with a hidden state are its scores.

        ``score(h) == h @ dot_table().T``: `negrec_lib.metrics.evaluate` ranks with it chunk by
        chunk instead of asking `score` for the whole [N, V] matrix.
        """
        return self.item_embeddings

    def score(self, hidden: Tensor, candidates: Tensor | None = None) -> Tensor:
        """Dot products of ``hidden`` [N, D] with candidates [C] -> [N, C], or all -> [N, V]."""
        table = self.item_embeddings if candidates is None else self.embed(candidates)  # [C|V, D]
        return hidden @ table.transpose(0, 1).to(hidden.dtype)

    def next_track_hidden(self, tracks: Tensor, lengths: Tensor) -> Tensor:
        """The state [B, D] that scores the track following each prefix ``tracks[b, :lengths[b]]``.

        Causal: the hidden state at the last real position. Bidirectional: [MASK] is placed at
        position ``lengths`` (the tensor widens by one column when a prefix fills it) and its
        hidden state is returned, as in BERT4Rec evaluation.
        """
        B, L = tracks.shape
        rows = torch.arange(B, device=tracks.device)
        if self.cfg.causal:
            return self._hidden_at(tracks, (lengths - 1).clamp(min=0))  # [B, D]
        if int(lengths.max()) >= L:
            tracks = F.pad(tracks, (0, 1), value=PAD_ID)  # [B, L + 1]
        tracks = tracks.clone()
        tracks[rows, lengths] = MASK_ID
        return self._hidden_at(tracks, lengths)  # [B, D]

    def _hidden_at(self, tracks: Tensor, position: Tensor) -> Tensor:
        """``self(tracks).hidden[rows, position]`` [B, D], with the last layer and the head
        computed at that one position of each row only (the others score nothing)."""
        x, allowed = self._inputs(tracks, None)  # [B, L, D], [B, 1, L, L]
        *first, last = self.layers
        for layer in first:
            x, _ = layer(x, allowed)
        x, _ = last(x, allowed, query=position)  # [B, 1, D]
        rows = torch.arange(tracks.shape[0], device=tracks.device)
        real = (tracks[rows, position] != PAD_ID)[:, None]  # [B, 1]
        return self.head(self.final_norm(x[:, 0])) * real  # [B, D]

    @torch.no_grad()
    def recommend(
        self, tracks: Tensor, lengths: Tensor, k: int, exclude_seen: bool = True
    ) -> tuple[Tensor, Tensor]:
        """Top-``k`` (scores [B, k], ids [B, k]) over the catalogue; never a reserved id."""
        n_tracks = self.vocab_size - N_RESERVED
        if not 0 < k <= n_tracks:
            raise ValueError(f"k={k}: expected 1 <= k <= {n_tracks} (the number of tracks)")
        was_training = self.training
        self.eval()
        try:
            scores = self.score(self.next_track_hidden(tracks, lengths)).float()  # [B, V]
            scores[:, :N_RESERVED] = float("-inf")
            if exclude_seen:  # reserved ids in `tracks` are -inf already
                scores.scatter_(1, tracks, float("-inf"))
            top = scores.topk(k, dim=1)
        finally:
            self.train(was_training)
        return top.values, top.indices
