"""Hardware decisions in one place: device, mixed precision, seeds, distributed set-up."""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import torch

from .errors import ConfigError


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` -> the local CUDA device when available, else CPU; otherwise as given."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(
            f"device {spec!r} is not a device; use auto, cpu, cuda or cuda:<index>"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"train.device={spec!r}, but CUDA is not available on this machine; use 'auto' or 'cpu'"
        )
    return device


@dataclass(frozen=True)
class Precision:
    """How a step runs: autocast dtype (None = fp32) and whether a gradient scaler is needed."""

    name: str
    dtype: torch.dtype | None
    scaler: bool

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """The autocast context for ``device`` (a no-op in fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)


def resolve_precision(spec: str, device: torch.device) -> Precision:
    """``auto``: bf16 on GPUs that have it, fp16 with a scaler on older ones (T4), fp32 on CPU."""
    if spec == "auto":
        if device.type == "cuda":
            spec = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            spec = "fp32"
    if spec == "fp32":
        return Precision("fp32", None, False)
    if spec == "bf16":
        return Precision("bf16", torch.bfloat16, False)
    if spec == "fp16":
        if device.type != "cuda":
            raise ConfigError("train.precision=fp16 needs a CUDA device; use bf16 on CPU")
        return Precision("fp16", torch.float16, True)
    raise ConfigError(f"train.precision={spec!r}: expected auto, fp32, bf16 or fp16")


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch; optionally ask torch for deterministic kernels."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


@dataclass(frozen=True)
class Distributed:
    """Rank and world size under torchrun (rank 0 of 1 otherwise)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """True on the process that evaluates, logs and writes checkpoints."""
        return self.rank == 0


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group when launched by torchrun (nccl on GPUs, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size())
