"""What a training step runs: the encoder built for the data, and encoder and losses as one module.

`negrec_lib.train.Trainer` builds both; `LossModule` is the module that
``DistributedDataParallel`` and ``torch.compile`` wrap, so the whole step (forward and losses) is
one call.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .config import ExperimentConfig
from .data.sessions import SessionData
from .errors import ConfigError
from .losses import compute_losses
from .model import SessionEncoder


class LossModule(nn.Module):
    """Encoder + losses in one forward pass, so DistributedDataParallel can wrap the whole step.

    Examples
    --------
    >>> from negrec_lib.config import ExperimentConfig
    >>> from negrec_lib.losses import UniformSampler
    >>> cfg = ExperimentConfig().override(["model.d_model=8", "model.n_heads=2", "model.d_ff=8",
    ...                                    "loss.n_negatives=5", "model.max_length=4"])
    >>> step = LossModule(SessionEncoder(cfg.model, 10), cfg, UniformSampler(10))
    >>> tracks, lengths = torch.tensor([[3, 4, 5, 6]]), torch.tensor([4])
    >>> out = step(tracks, lengths, torch.zeros(1, 4, dtype=torch.bool), None)
    >>> sorted(out)
    ['n_anchors', 'next', 'skip', 'total']
    """

    def __init__(self, encoder: SessionEncoder, cfg: ExperimentConfig, sampler: Any) -> None:
        super().__init__()
        self.encoder = encoder
        self.cfg = cfg
        self.sampler = sampler

    def forward(
        self,
        tracks: torch.Tensor,
        lengths: torch.Tensor,
        skipped: torch.Tensor,
        generator: torch.Generator | None,
    ) -> dict[str, torch.Tensor]:
        return compute_losses(
            self.encoder,
            tracks,
            lengths,
            skipped,
            self.cfg.model,
            self.cfg.loss,
            self.sampler,
            generator,
        )


def build_model(cfg: ExperimentConfig, data: SessionData) -> SessionEncoder:
    """The encoder for ``data``'s vocabulary (with its track features when configured).

    Examples
    --------
    >>> from negrec_lib.config import example_config
    >>> cfg = example_config()  # the ci profile at 100 sessions, d=8, one epoch
    >>> import tempfile
    >>> from negrec_lib.data.cache import ensure_dataset
    >>> tmp = tempfile.TemporaryDirectory()
    >>> data = SessionData.load(ensure_dataset(cfg.sim, cfg.data, tmp.name, progress=False))
    >>> build_model(cfg, data).item_emb.weight.shape == (data.vocab_size, 8)
    True
    >>> tmp.cleanup()
    """
    if cfg.model.max_length < data.max_length:
        raise ConfigError(
            f"model.max_length={cfg.model.max_length} is shorter than the "
            f"prepared sessions ({data.max_length}); raise it"
        )
    n_features = 0
    feats = None
    if cfg.model.use_features:
        if data.features is None:
            raise ConfigError(
                "model.use_features=true, but the prepared folder has no track "
                "features (no tf_*.csv files were found next to the logs)"
            )
        feats, n_features = data.features, int(data.features.shape[1])
    return SessionEncoder(cfg.model, data.vocab_size, n_features=n_features, features=feats)
