"""Every file negrec reads fails as a NegrecError naming it; settings are range-checked; resume
is honest; the command prints one line and exits 2."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from negrec_lib.checkpoint import load_checkpoint, model_from_checkpoint
from negrec_lib.cli import main as cli_main
from negrec_lib.config import ExperimentConfig
from negrec_lib.data.sessions import SessionData
from negrec_lib.errors import (
    CheckpointError,
    ConfigError,
    NegrecError,
    NegrecFileError,
    PreparedDataError,
)
from negrec_lib.train import Trainer

EPOCHS = "train.epochs=2"  # the tiny configuration trained two epochs: resume raises it to 3


@pytest.fixture(scope="module")
def make_cfg(tiny_config) -> Callable[..., ExperimentConfig]:
    """``make_cfg(*sets)``: this module's configuration (conftest's tiny one, two epochs)."""
    return lambda *sets: tiny_config(EPOCHS, *sets)


@pytest.fixture(scope="module")
def prepared(tiny_prepared) -> Path:
    return tiny_prepared


@pytest.fixture(scope="module")
def run(make_cfg, tmp_path_factory, prepared) -> Path:
    out = tmp_path_factory.mktemp("run") / "r"
    Trainer(make_cfg(), SessionData.load(prepared), out).fit()
    return out


# ----------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    "setting, key",
    [
        ("train.batch_size=0", "train.batch_size"),
        ("train.epochs=-1", "train.epochs"),
        ("train.lr=-0.1", "train.lr"),
        ("train.lr=.nan", "train.lr"),
        ("model.dropout=1.5", "model.dropout"),
        ("model.n_heads=3", "model.n_heads"),  # does not divide d_model=8
        ("loss.n_negatives=0", "loss.n_negatives"),
        ("train.patience=0", "train.patience"),
        ("data.min_length=2", "data.min_length"),  # the paper split needs 3
        ("data.max_length=0", "data.max_length"),
        ("model.max_length=1", "model.max_length"),
        ("train.select_metric=hr@7", "train.select_metric"),
        ("loss.skip_temperature=0", "loss.skip_temperature"),
        ("loss.skip_weight=-1", "loss.skip_weight"),
        ("data.skip_strength=4", "data.skip_strength"),
        ("train.device=gpu", "train.device"),
        ("sim.skip_signal=2", "sim.skip_signal"),
    ],
)
def test_out_of_range_settings_are_refused_naming_the_key(make_cfg, setting, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        make_cfg(setting)


def test_settings_built_in_python_are_checked_by_the_trainer(make_cfg, prepared, tmp_path):
    cfg = make_cfg()
    cfg.train.batch_size = 0
    with pytest.raises(ConfigError, match="train.batch_size"):
        Trainer(cfg, SessionData.load(prepared), tmp_path / "r")


def test_cli_bad_setting_is_one_line_and_status_2(capsys, prepared, tmp_path):
    code = cli_main(
        [
            "train",
            "--profile",
            "ci",
            "--data",
            str(prepared),
            "--out",
            str(tmp_path / "r"),
            "--set",
            "train.batch_size=0",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "train.batch_size" in err
    assert "Traceback" not in err


def test_config_file_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("train:\n  lr: [1\n")
    with pytest.raises(ConfigError) as err:
        ExperimentConfig.from_yaml(bad)
    assert err.value.path == bad and err.value.line is not None
    for path in (tmp_path / "missing.yaml", tmp_path):
        with pytest.raises(ConfigError, match="config file"):
            ExperimentConfig.from_yaml(path)
    bad.write_bytes(b"\xff\xfe\x00 not utf-8")
    with pytest.raises(ConfigError, match="UTF-8"):
        ExperimentConfig.from_yaml(bad)


# ----------------------------------------------------------------------------- checkpoints
def _damaged(src: Path, dst: Path, how: str) -> Path:
    data = src.read_bytes()
    if how == "truncated":
        dst.write_bytes(data[: len(data) // 3])
    elif how == "empty":
        dst.write_bytes(b"")
    elif how == "text":
        dst.write_text("not a checkpoint\n")
    elif how == "flipped":
        b = bytearray(data)
        for i in range(100, len(b), max(1, len(b) // 50)):
            b[i] ^= 0xFF
        dst.write_bytes(bytes(b))
    return dst


@pytest.mark.parametrize("how", ["truncated", "empty", "text", "flipped"])
def test_damaged_checkpoints_raise_checkpoint_error(run, tmp_path, how, prepared):
    path = _damaged(run / "best.pt", tmp_path / "x.pt", how)
    with pytest.raises(CheckpointError) as err:
        model_from_checkpoint(path, SessionData.load(prepared))
    assert err.value.path == path


@pytest.mark.parametrize("name", ["bst.pt", "."])
def test_cli_evaluate_missing_checkpoint_is_one_line(run, capsys, name):
    code = cli_main(["evaluate", "--checkpoint", str(run / name)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "checkpoint" in err


# ----------------------------------------------------------------------------- prepared folders
def _copy(prepared: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "p"
    shutil.copytree(prepared, dst)
    return dst


@pytest.mark.parametrize(
    "damage, file",
    [
        (
            lambda p: (p / "tracks.npy").write_bytes((p / "tracks.npy").read_bytes()[:200]),
            "tracks.npy",
        ),
        (lambda p: (p / "manifest.json").write_text('{"format_version": 1,'), "manifest.json"),
        (
            lambda p: (p / "splits.npz").write_bytes((p / "splits.npz").read_bytes()[:300]),
            "splits.npz",
        ),
        (
            lambda p: (p / "manifest.json").write_text(
                json.dumps(
                    {
                        k: v
                        for k, v in json.loads((p / "manifest.json").read_text()).items()
                        if k != "vocab_size"
                    }
                )
            ),
            "manifest.json",
        ),
        (lambda p: (p / "popularity.npy").unlink(), "popularity.npy"),
        (lambda p: np.save(p / "length.npy", np.zeros(3, np.int16)), "length.npy"),
        (lambda p: np.save(p / "tracks.npy", np.load(p / "tracks.npy") + 10_000), "tracks.npy"),
    ],
)
def test_damaged_prepared_folders_name_the_file(prepared, tmp_path, damage, file):
    p = _copy(prepared, tmp_path)
    damage(p)
    with pytest.raises(PreparedDataError) as err:
        SessionData.load(p)
    assert err.value.path is not None and file in str(err.value)


def test_cli_damaged_prepared_folder_is_one_line(tiny_sets, prepared, tmp_path, capsys):
    p = _copy(prepared, tmp_path)
    (p / "splits.npz").write_bytes(b"PK\x03\x04 broken")
    code = cli_main(
        ["train", "--profile", "ci", "--data", str(p), "--out", str(tmp_path / "r")]
        + sum((["--set", s] for s in [*tiny_sets, EPOCHS]), [])
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "splits.npz" in err


# ----------------------------------------------------------------------------- resume
def test_resume_with_a_changed_setting_is_refused_listing_the_keys(
    make_cfg, run, prepared, tmp_path
):
    out = tmp_path / "r"
    shutil.copytree(run, out)
    data = SessionData.load(prepared)
    before = (out / "config.yaml").read_text()
    with pytest.raises(ConfigError) as err:
        Trainer(make_cfg("train.lr=0.5"), data, out, resume=True)
    assert "train.lr" in str(err.value) and "0.005" in str(err.value)
    with pytest.raises(ConfigError, match="train.lr"):  # not a safe key, even when asked
        Trainer(make_cfg("train.lr=0.5"), data, out, resume=True, allow_config_change=True)
    with pytest.raises(ConfigError, match="allow_config_change=True"):
        Trainer(make_cfg("train.epochs=3"), data, out, resume=True)
    assert (out / "config.yaml").read_text() == before  # the record is untouched


def test_resume_with_a_raised_epoch_cap_is_recorded(make_cfg, run, prepared, tmp_path):
    out = tmp_path / "r"
    shutil.copytree(run, out)
    data = SessionData.load(prepared)
    result = Trainer(
        make_cfg("train.epochs=3"), data, out, resume=True, allow_config_change=True
    ).fit()
    assert result["epochs_run"] == 3
    assert result["config_changes"] == [
        {"key": "train.epochs", "from": 2, "to": 3, "after_epoch": 2}
    ]
    assert ExperimentConfig.from_yaml(out / "config.yaml").train.epochs == 3
    assert load_checkpoint(out / "last.pt")["config"]["train"]["epochs"] == 3
    assert json.loads((out / "metrics.json").read_text())["config_changes"][0]["to"] == 3


def test_cli_resume_uses_the_runs_own_configuration(tiny_sets, run, prepared, tmp_path, capsys):
    out = tmp_path / "r"
    shutil.copytree(run, out)
    assert cli_main(["train", "--out", str(out), "--resume", "--data", str(prepared)]) == 0
    code = cli_main(
        ["train", "--profile", "ci", "--out", str(out), "--resume", "--data", str(prepared)]
        + sum((["--set", s] for s in [*tiny_sets, "train.epochs=3"]), [])
    )
    err = capsys.readouterr().err
    assert code == 2 and "train.epochs" in err and "--allow-config-change" in err


def test_python_errors_name_arguments_not_flags(make_cfg, run, prepared):
    with pytest.raises(ConfigError) as err:
        Trainer(make_cfg(), SessionData.load(prepared), run)
    assert "resume=True" in str(err.value) and "--resume" not in str(err.value)
    assert "--resume" in err.value.for_cli()


def test_every_file_error_is_a_negrec_error():
    for cls in (ConfigError, PreparedDataError, CheckpointError):
        assert issubclass(cls, NegrecFileError) and issubclass(cls, NegrecError)


def test_cli_messages_name_flags(prepared, tmp_path, capsys):
    raw = prepared.parent / prepared.name.split("-prep-")[0]
    code = cli_main(
        [
            "prepare",
            "--input",
            str(raw),
            "--out",
            str(tmp_path / "p"),
            "--quiet",
            "--min-length",
            "2",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "--min-length" in err and "data.min_length" not in err
    code = cli_main(["train", "--profile", "ci", "--set", "train.batch_size=0"])
    err = capsys.readouterr().err
    assert code == 2 and "--set" in err and "override" not in err


@pytest.mark.parametrize(
    "text, line",
    [
        ("name: x\ntrain:\n  epochs: 3\n  batch_size: 0\n", 4),
        ("model:\n  d_model: 12.5\n", 2),
        ("train:\n  lr: 0.1\n  epoch: 3\n", 3),
    ],
)
def test_config_value_errors_name_the_line(tmp_path, text, line):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        ExperimentConfig.from_yaml(path)
    assert err.value.path == path and err.value.line == line


def test_resume_of_a_checkpoint_older_than_a_setting(make_cfg, run, prepared, tmp_path):
    """A checkpoint written before data.date_format existed resumes under its default; one
    written before model.init existed trained with the old 'gpt' initialisation."""
    import torch

    out = tmp_path / "r"
    shutil.copytree(run, out)
    ckpt = torch.load(out / "last.pt", weights_only=True)
    del ckpt["config"]["data"]["date_format"], ckpt["config"]["data"]["partial_sessions"]
    torch.save(ckpt, out / "last.pt")
    data = SessionData.load(prepared)
    Trainer(make_cfg(), data, out, resume=True)  # no difference
    del ckpt["config"]["model"]["init"]
    torch.save(ckpt, out / "last.pt")
    with pytest.raises(ConfigError, match="model.init: 'gpt' -> 'scaled'"):
        Trainer(make_cfg(), data, out, resume=True)
    Trainer(make_cfg("model.init=gpt"), data, out, resume=True)
