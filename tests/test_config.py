"""Configuration: YAML round trip, overrides, validation errors, profiles."""

from __future__ import annotations

import pytest

from negrec_lib.config import PROFILES, ExperimentConfig, detect_profile, profile_config
from negrec_lib.errors import ConfigError


@pytest.mark.parametrize("name", PROFILES)
def test_yaml_round_trip_of_every_profile(tmp_path, name):
    cfg = profile_config(name)
    path = tmp_path / "c.yaml"
    cfg.to_yaml(path)
    assert ExperimentConfig.from_yaml(path) == cfg


def test_missing_keys_keep_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("loss:\n  skip_weight: 1\n")
    cfg = ExperimentConfig.from_yaml(path)
    assert cfg.loss.skip_weight == 1.0 and isinstance(cfg.loss.skip_weight, float)
    assert cfg.model == ExperimentConfig().model


@pytest.mark.parametrize(
    "text, field",
    [
        ("loss:\n  skip_anchor: tracks\n", "skip_anchor"),
        ("model:\n  d_model: 12.5\n", "d_model"),
        ("model:\n  causal: yes please\n", "causal"),
        ("train:\n  epoch: 3\n", "epoch"),
        ("nonsense: 1\n", "nonsense"),
    ],
)
def test_bad_values_name_the_field(tmp_path, text, field):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=field) as err:
        ExperimentConfig.from_yaml(path)
    assert str(path) in str(err.value)


def test_override_parses_yaml_values_and_rejects_unknown_fields():
    cfg = ExperimentConfig().override(
        ["model.causal=false", "loss.skip_weight=0.5", "train.patience=null", "name=abc"]
    )
    assert cfg.model.causal is False and cfg.loss.skip_weight == 0.5
    assert cfg.train.patience is None and cfg.name == "abc"
    with pytest.raises(ConfigError, match="unknown field"):
        ExperimentConfig().override(["model.dmodel=3"])
    with pytest.raises(ConfigError, match="key=value"):
        ExperimentConfig().override(["model.d_model"])
    with pytest.raises(ConfigError, match="section"):
        ExperimentConfig().override(["modl.d_model=3"])


def test_profile_switch(monkeypatch):
    monkeypatch.setenv("NEGREC_PROFILE", "ci")
    assert detect_profile() == "ci"
    monkeypatch.setenv("NEGREC_PROFILE", "laptop")
    with pytest.raises(ConfigError, match="NEGREC_PROFILE"):
        detect_profile()
    monkeypatch.delenv("NEGREC_PROFILE")
    assert detect_profile() in ("cpu", "gpu")


def test_profiles_grow_from_ci_to_gpu():
    ci, cpu, gpu = (profile_config(p) for p in ("ci", "cpu", "gpu"))
    assert ci.sim.sessions < cpu.sim.sessions < gpu.sim.sessions
    assert gpu.model == ExperimentConfig().model  # the paper's configuration
    with pytest.raises(ConfigError):
        profile_config("tpu")
