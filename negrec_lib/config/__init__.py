"""Dataclass configurations, their YAML round trip, and the three hardware profiles.

One `ExperimentConfig` holds everything a training run needs: where the data comes from
(`DataConfig`), the encoder (`ModelConfig`), the losses (`LossConfig`) and the loop
(`TrainConfig`). Profiles (`ci`, `cpu`, `gpu`) size all of them at once; the environment
variable ``NEGREC_PROFILE`` picks one, otherwise the hardware decides.

The package, one idea a module: the sections' dataclasses (`sections`), `ExperimentConfig` and its
YAML round trip (`experiment`), reading and typed building (`parse`), the settings' ranges
(`ranges`) and the profiles (`profiles`). Every public name is importable from here.
"""

from __future__ import annotations

from .experiment import ExperimentConfig, cache_key_view
from .parse import read_yaml
from .profiles import EXAMPLE_SETS, PROFILES, detect_profile, example_config, profile_config
from .sections import DataConfig, LossConfig, ModelConfig, SimConfig, TrainConfig

__all__ = [
    "EXAMPLE_SETS",
    "PROFILES",
    "DataConfig",
    "ExperimentConfig",
    "LossConfig",
    "ModelConfig",
    "SimConfig",
    "TrainConfig",
    "cache_key_view",
    "detect_profile",
    "example_config",
    "profile_config",
    "read_yaml",
]
