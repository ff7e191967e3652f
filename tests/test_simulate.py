"""Tests of the session simulator (`negrec_lib.sim`).

The output is read back with plain pandas, not with negrec's reader, so these tests check the
files themselves. Calibration tolerance: book/paper.md section 6 ranges widened by 0.02 on each side
(0.03 for the share of full-length sessions; context shares within 0.02 of the stated values).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from negrec_lib import cli
from negrec_lib.config import SimConfig
from negrec_lib.data import schema
from negrec_lib.errors import ConfigError
from negrec_lib.sim import VERSION, OutputExistsError, SimulationTruth, behaviour, simulate
from negrec_lib.sim.layout import file_plan

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
WIDEN = 0.02


def read_logs(folder: Path) -> pd.DataFrame:
    """Every log file of a simulated folder as strings, plus a 'file' column."""
    parts = []
    for path in sorted((folder / "training_set").glob("*.csv")):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        df["file"] = path.name
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def typed(raw: pd.DataFrame) -> pd.DataFrame:
    df = raw.copy()
    for c in schema.LOG_BOOL_COLUMNS:
        df[c] = df[c].eq("true")
    for c in (*schema.LOG_FLAG_COLUMNS, *schema.LOG_INT_COLUMNS):
        df[c] = df[c].astype(int)
    return df


def files_bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def run20k(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "out"
    summary = simulate(out, sessions=20_000, tracks=4_000, skip_signal=0.8, seed=11, progress=False)
    raw = read_logs(out)
    return out, summary, raw, typed(raw)


@pytest.fixture(scope="module")
def transitions(run20k):
    """Latent (session, previous track, track, position) of every transition of the 20 K run."""
    out, _, _, df = run20k
    truth = SimulationTruth.load(out)
    s = truth.session_index(df.session_id.to_numpy())
    t = truth.track_index(df.track_id_clean.to_numpy())
    pos = df.session_position.to_numpy()
    idx = np.nonzero(pos > 1)[0]
    return truth, s[idx], t[idx - 1], t[idx], pos[idx]


# ------------------------------------------------------------------------------- layout
def test_layout_and_file_names(run20k):
    out, summary, raw, _ = run20k
    names = sorted(p.name for p in (out / "training_set").iterdir())
    assert len(names) == 8 and all(
        re.fullmatch(r"log_[0-9]_2018\d{4}_000000000000\.csv", n) for n in names
    )
    assert [n[6:14] for n in sorted(names, key=lambda n: n[6:14])] == [
        f"201807{d}" for d in range(15, 23)
    ]
    assert sorted(p.name for p in (out / "track_features").iterdir()) == [
        "tf_000000000000.csv",
        "tf_000000000001.csv",
    ]
    assert (out / "SIMULATED.md").read_text().startswith("# Simulated data")
    assert (out / "ground_truth" / "truth.json").is_file()
    assert not list(out.parent.glob(".*partial*"))
    assert summary.sessions == 20_000 and summary.rows == len(raw) and len(summary.files) == 10
    for path in (out / "training_set").iterdir():
        with open(path) as f:
            assert f.readline().rstrip("\n") == ",".join(
                schema.LOG_COLUMNS
            )  # exact order, unquoted
            assert '"' not in f.readline()


def test_log_values(run20k):
    _, _, raw, df = run20k
    for c in schema.LOG_BOOL_COLUMNS:
        assert set(raw[c]) == {"true", "false"}, c
    for c in schema.LOG_FLAG_COLUMNS:
        assert set(raw[c]) <= {"0", "1"}, c
    for c, values in schema.LOG_CATEGORICAL_COLUMNS.items():
        assert set(raw[c]) <= set(values), c
    assert raw.date.str.fullmatch(r"2018-07-(1[5-9]|2[0-2])").all()
    assert df.hour_of_day.between(0, 23).all() and df.hist_user_behavior_n_seekfwd.ge(0).all()
    assert raw.session_id.str.fullmatch(r"[0-9]_" + UUID).all()
    assert (raw.session_id.str[0] == raw.file.str[4]).all()  # prefix digit = file index
    assert raw.track_id_clean.str.fullmatch(r"t_" + UUID).all()
    # grouped by session, ordered by position, lengths 10-20
    first = np.r_[True, raw.session_id.to_numpy()[1:] != raw.session_id.to_numpy()[:-1]]
    assert first.sum() == df.session_id.nunique() == 20_000
    starts = np.nonzero(first)[0]
    expected_pos = np.arange(len(df)) - np.repeat(starts, np.diff(np.r_[starts, len(df)])) + 1
    assert (df.session_position.to_numpy() == expected_pos).all()
    assert (
        df.groupby("session_id").session_position.max()
        == df.groupby("session_id").session_length.first()
    ).all()
    assert df.session_length.between(10, 20).all()
    # cumulative skip flags, one pause flag, not_skipped consistent with reason_end
    assert (df.skip_2 | ~df.skip_1).all() and (df.skip_3 | ~df.skip_2).all()
    assert not (df.not_skipped & df.skip_3).any()
    odd = ~df.not_skipped & ~df.skip_3
    assert df.hist_user_behavior_reason_end[odd].isin(["endplay", "logout"]).all()
    assert df.hist_user_behavior_reason_end[df.not_skipped].eq("trackdone").all()
    assert 0.95 <= 1 - odd.mean() <= 0.99
    pauses = df[["no_pause_before_play", "short_pause_before_play", "long_pause_before_play"]].sum(
        axis=1
    )
    assert (pauses == 1).all()
    # reason_start repeats the previous reason_end, except at a resume or a context switch
    prev_end = df.hist_user_behavior_reason_end.shift()
    plain = (
        (df.session_position > 1) & (df.context_switch == 0) & ~prev_end.isin(["endplay", "logout"])
    )
    assert (df.hist_user_behavior_reason_start[plain] == prev_end[plain]).all()
    assert (df.context_switch[df.session_position == 1] == 0).all()


def test_track_features(run20k):
    out, _, raw, _ = run20k
    tf = [pd.read_csv(p) for p in sorted((out / "track_features").glob("*.csv"))]
    assert abs(len(tf[0]) - len(tf[1])) <= 1
    tf = pd.concat(tf, ignore_index=True)
    assert list(tf.columns) == list(schema.TF_COLUMNS)
    assert len(tf) == 4_000 and tf.track_id.is_unique
    assert set(raw.track_id_clean) <= set(tf.track_id)
    assert tf.duration.between(60, 600).all() and tf.release_year.between(1950, 2018).all()
    assert tf.us_popularity_estimate.between(90, 100).all()
    for c in (
        "acousticness",
        "beat_strength",
        "bounciness",
        "danceability",
        "energy",
        "flatness",
        "instrumentalness",
        "liveness",
        "mechanism",
        "organism",
        "speechiness",
        "valence",
    ):
        assert tf[c].between(0, 1).all() and tf[c].std() > 0.01, c
    assert (
        tf.key.between(0, 11).all() and (tf.loudness < 0).all() and tf.tempo.between(50, 220).all()
    )
    assert set(tf["mode"]) == {"major", "minor"} and set(tf.time_signature) <= {3, 4, 5}
    vec = tf[[f"acoustic_vector_{i}" for i in range(8)]].to_numpy()
    assert np.allclose(vec.mean(0), 0, atol=0.15) and np.allclose(vec.std(0), 1, atol=0.25)
    # content carries information: the popularity estimate follows popularity, acoustic vectors
    # the genre
    truth = SimulationTruth.load(out)
    tf = tf.set_index("track_id").loc[truth.track_ids]
    assert stats.spearmanr(tf.us_popularity_estimate, truth.popularity).statistic > 0.8
    genre = truth.cluster_genre[truth.track_cluster]
    vec = tf[[f"acoustic_vector_{i}" for i in range(8)]].to_numpy()
    means = np.stack([vec[genre == g].mean(0) for g in range(genre.max() + 1)])
    nearest = np.argmin(((vec[:, None] - means[None]) ** 2).sum(-1), 1)
    assert (nearest == genre).mean() > 3 / (genre.max() + 1)  # well above chance


# ------------------------------------------------------------------------------- calibration
def within(value: float, low: float, high: float, widen: float = WIDEN) -> bool:
    return low - widen <= value <= high + widen


def test_marginals_match_paper(run20k):
    _, _, _, df = run20k
    checks = {
        "skip_1": (df.skip_1.mean(), 0.34, 0.36),
        "skip_2": (df.skip_2.mean(), 0.41, 0.49),
        "skip_3": (df.skip_3.mean(), 0.51, 0.65),
        "not_skipped": (df.not_skipped.mean(), 0.34, 0.45),
        "shuffle": (df.hist_user_behavior_is_shuffle.mean(), 0.28, 0.32),
        "premium": (df.premium.mean(), 0.82, 0.90),
        "context_switch": (df.context_switch.mean(), 0.035, 0.046),
    }
    start = df.hist_user_behavior_reason_start.value_counts(normalize=True)
    end = df.hist_user_behavior_reason_end.value_counts(normalize=True)
    for name, low, high in (
        ("fwdbtn", 0.40, 0.47),
        ("trackdone", 0.35, 0.43),
        ("clickrow", 0.08, 0.10),
        ("backbtn", 0.07, 0.07),
    ):
        checks[f"start {name}"] = (start[name], low, high)
    for name, low, high in (
        ("fwdbtn", 0.39, 0.49),
        ("trackdone", 0.34, 0.45),
        ("endplay", 0.08, 0.09),
        ("backbtn", 0.07, 0.08),
    ):
        checks[f"end {name}"] = (end[name], low, high)
    bad = {k: round(v, 4) for k, (v, lo, hi) in checks.items() if not within(v, lo, hi)}
    assert not bad, f"outside book/paper.md ranges (+-{WIDEN}): {bad}"
    first = df[df.session_position == 1]
    assert within((first.session_length == 20).mean(), 0.45, 0.45, 0.03)
    shares = first.context_type.value_counts(normalize=True)
    paper = {
        "user_collection": 0.36,
        "editorial_playlist": 0.24,
        "catalog": 0.20,
        "radio": 0.14,
        "personalized_playlist": 0.05,
        "charts": 0.02,
    }
    assert all(abs(shares[k] - v) <= 0.02 for k, v in paper.items()), shares.to_dict()
    by_pos = df.groupby("session_position").skip_2.mean()
    assert within(by_pos[1], 0.30, 0.40) and within(by_pos.loc[15:].mean(), 0.50, 0.60)
    assert by_pos.loc[15:].mean() - by_pos[1] > 0.1
    assert (np.diff(by_pos.loc[1:8].to_numpy()) > 0).all()


def test_longer_sessions(tmp_path):
    simulate(tmp_path / "long", sessions=3_000, tracks=500, max_length=40, seed=2, progress=False)
    df = typed(read_logs(tmp_path / "long"))
    lengths = df.groupby("session_id").session_length.first()
    assert lengths.between(20, 40).all() and abs((lengths == 40).mean() - 0.45) < 0.04
    assert within(df.context_switch.mean(), 0.035, 0.046, 0.01)


# ------------------------------------------------------------------------------- skip signal
def _fit_and_skip(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    df = typed(read_logs(folder))
    truth = SimulationTruth.load(folder)
    fit = truth.skip_fit(truth.session_index(df.session_id), truth.track_index(df.track_id_clean))
    skip = df.skip_2.to_numpy().astype(float)
    # residuals within strata of everything else the skip model uses (context, position, shuffle,
    # premium): the fit also differs between contexts, so the raw correlation is confounded
    strata = (
        df.context_type
        + df.session_position.astype(str)
        + df.hist_user_behavior_is_shuffle.astype(str)
        + df.premium.astype(str)
    ).to_numpy()
    fit_r = fit - pd.Series(fit).groupby(strata).transform("mean").to_numpy()
    skip_r = skip - pd.Series(skip).groupby(strata).transform("mean").to_numpy()
    return fit, skip, fit_r, skip_r


def test_skip_signal_controls_dependence_on_fit(tmp_path):
    results = {}
    for s in (0.0, 1.0):
        simulate(
            tmp_path / f"s{s}", sessions=6_000, tracks=1_500, skip_signal=s, seed=5, progress=False
        )
        results[s] = _fit_and_skip(tmp_path / f"s{s}")
    _, skip0, fit0_r, skip0_r = results[0.0]
    r0, p0 = stats.pearsonr(fit0_r, skip0_r)
    assert p0 > 0.01, (r0, p0)  # independent given the covariates
    fit1, skip1, fit1_r, skip1_r = results[1.0]
    r1, p1 = stats.pearsonr(fit1_r, skip1_r)
    assert r1 < -0.4 and p1 < 1e-10
    assert stats.mannwhitneyu(fit1[skip1 == 1], fit1[skip1 == 0], alternative="less").pvalue < 1e-10
    assert abs(skip0.mean() - skip1.mean()) < 0.02  # the marginal rate barely moves


# ------------------------------------------------------------------------------- oracle
def test_oracle_rows_and_likelihood(transitions):
    truth, s, prev, nxt, pos = transitions
    rng = np.random.default_rng(0)
    pick = rng.choice(len(s), 3_000, replace=False)
    probs = truth.next_track_probs(s[pick], prev[pick], pos[pick], dtype=np.float64)  # [n, M]
    assert probs.shape == (3_000, 4_000) and (probs >= 0).all()
    assert np.allclose(probs.sum(1), 1, atol=1e-9)
    p_obs = probs[np.arange(len(pick)), nxt[pick]]
    assert (p_obs > 0).all()
    pop = truth.popularity / truth.popularity.sum()
    assert np.log(p_obs).mean() > np.log(pop[nxt[pick]]).mean() + 1.0
    # calibration at the track level: the chance that the true next track is in the oracle's
    # top K equals the mass of that top K (exact for a correct oracle)
    order = np.argsort(-probs, 1)
    for k in (1, 10):
        top = order[:, :k]
        hit = (top == nxt[pick, None]).any(1)
        mass = np.take_along_axis(probs, top, 1).sum(1)
        se = np.sqrt((mass * (1 - mass)).sum()) / len(pick)
        assert abs(hit.mean() - mass.mean()) < 4 * se, (k, hit.mean(), mass.mean())
        if k == 10:
            pop_hit = np.isin(nxt[pick], np.argsort(-pop)[:10]).mean()
            assert hit.mean() > pop_hit + 0.1, (hit.mean(), pop_hit)


def test_oracle_cluster_frequencies(transitions):
    truth, s, prev, nxt, pos = transitions
    pc = truth.next_cluster_probs(s, prev, pos)  # [n, C]
    assert np.allclose(pc.sum(1), 1)
    genre = truth.cluster_genre
    G = genre.max() + 1
    expected = np.stack([pc[:, genre == g].sum(1) for g in range(G)], 1).sum(0)
    observed = np.bincount(genre[truth.track_cluster[nxt]], minlength=G)
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    stay_p = pc[np.arange(len(s)), truth.track_cluster[prev]]
    stay = (truth.track_cluster[nxt] == truth.track_cluster[prev]).sum()
    assert abs(stay - stay_p.sum()) < 4 * np.sqrt((stay_p * (1 - stay_p)).sum())
    # without a position, the oracle assumes no context switch: the same where none happened
    ctx, _ = truth.context_at(s[:2000], pos[:2000])
    same = ctx == truth.session_context[s[:2000], 0]
    bits = np.unpackbits(truth.session_switch[s[:2000]], axis=1)
    no_switch = ~np.array([bits[i, : pos[i]].any() for i in range(2000)])
    a = truth.next_cluster_probs(s[:2000][no_switch], prev[:2000][no_switch])
    b = truth.next_cluster_probs(s[:2000][no_switch], prev[:2000][no_switch], pos[:2000][no_switch])
    assert same[no_switch].all() and np.allclose(a, b)


def test_truth_lookups(run20k, transitions):
    out, _, raw, _ = run20k
    truth = transitions[0]
    assert truth.track_vectors.shape[0] == len(truth.track_ids) == len(truth.popularity) == 4_000
    assert truth.n_sessions == 20_000
    assert truth.session_taste.nbytes / truth.n_sessions <= 64  # compact: 1 M sessions << 100 MB
    ids = raw.session_id.drop_duplicates().to_numpy()
    assert sorted(truth.session_index(ids[:50])) == sorted(set(truth.session_index(ids[:50])))
    with pytest.raises(KeyError, match="not-a-session"):
        truth.session_index([ids[0], "not-a-session"])
    wrong_prefix = ("1" if ids[0][0] != "1" else "2") + ids[0][1:]
    with pytest.raises(KeyError):
        truth.session_index([wrong_prefix])
    with pytest.raises(KeyError, match="t_nope"):
        truth.track_index(["t_nope"])
    meta = json.loads((out / "ground_truth" / "truth.json").read_text())
    assert (
        meta["seed"] == 11 and meta["config"]["sessions"] == 20_000 and meta["version"] == VERSION
    )


# ------------------------------------------------------------------------ determinism and I/O
def test_deterministic_and_chunk_invariant(tmp_path):
    kw = dict(sessions=3_000, tracks=300, skip_signal=0.5, days=3, progress=False)
    simulate(tmp_path / "a", seed=7, **kw)
    simulate(tmp_path / "b", seed=7, chunk_sessions=1_024, **kw)  # chunks cross file boundaries
    simulate(tmp_path / "c", seed=8, **kw)
    a, b, c = (files_bytes(tmp_path / x) for x in "abc")
    assert a == b
    assert a.keys() == c.keys()
    assert (
        a["training_set/log_0_20180715_000000000000.csv"]
        != c["training_set/log_0_20180715_000000000000.csv"]
    )


def test_force_and_atomic_output(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    simulate(out, sessions=200, tracks=100, progress=False)  # an empty folder is fine
    with pytest.raises(OutputExistsError, match="force"):
        simulate(out, sessions=200, tracks=100, progress=False)
    (out / "stale.txt").write_text("old")
    simulate(out, sessions=300, tracks=100, force=True, progress=False)
    assert not (out / "stale.txt").exists()
    assert (
        json.loads((out / "ground_truth" / "truth.json").read_text())["config"]["sessions"] == 300
    )

    def boom(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(behaviour, "simulate_rows", boom)
    with pytest.raises(RuntimeError):
        simulate(tmp_path / "never", sessions=200, tracks=100, progress=False)
    with pytest.raises(RuntimeError):
        simulate(out, sessions=200, tracks=100, force=True, progress=False)
    assert not (tmp_path / "never").exists()
    assert (out / "SIMULATED.md").exists()  # the old output is kept
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(ConfigError, match="skip_signal"):
        simulate(tmp_path / "bad", sessions=10, tracks=10, skip_signal=1.5)
    with pytest.raises(ConfigError, match="sessions"):
        simulate(tmp_path / "bad", sessions=0, tracks=10)


def test_file_plan_splits_large_days():
    plan = file_plan(2 * 450_000, days=2)
    assert [(d, k) for d, k, _, _ in plan] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert plan[0][2] == 0 and plan[-1][3] == 900_000
    assert all(p[3] == q[2] for p, q in zip(plan, plan[1:]))
    assert len(file_plan(30_000_000, days=1)) == 10


def test_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEGREC_PROFILE", "ci")
    argv = [
        "simulate",
        "--sessions",
        "400",
        "--seed",
        "3",
        "--out",
        str(tmp_path / "cli"),
        "--quiet",
    ]
    assert cli.main(argv) == 0
    assert "400 sessions" in capsys.readouterr().out
    config = json.loads((tmp_path / "cli" / "ground_truth" / "truth.json").read_text())["config"]
    assert config == dict(sessions=400, tracks=800, skip_signal=0.8, seed=3, days=4, max_length=20)
    assert cli.main(argv) == 2  # exists, no --force
    assert "--force" in capsys.readouterr().err


def test_config_and_keyword_forms_agree(tmp_path):
    cfg = SimConfig(sessions=300, tracks=100, skip_signal=0.3, seed=2, days=2, max_length=12)
    simulate(tmp_path / "a", cfg, progress=False)
    simulate(
        tmp_path / "b",
        sessions=300,
        tracks=100,
        skip_signal=0.3,
        seed=2,
        days=2,
        max_length=12,
        progress=False,
    )
    simulate(
        tmp_path / "c",
        SimConfig(sessions=300, tracks=100, seed=2, days=2, max_length=12),
        skip_signal=0.3,
        progress=False,
    )  # keywords replace fields
    a = files_bytes(tmp_path / "a")
    assert a == files_bytes(tmp_path / "b") == files_bytes(tmp_path / "c")
    with pytest.raises(TypeError, match="sesions"):
        simulate(tmp_path / "d", sesions=10)


def test_the_simulator_has_no_command_line():
    """``negrec simulate`` lives in negrec_lib.cli; the sim package does not parse arguments."""
    folder = Path(behaviour.__file__).parent
    assert not [p.name for p in folder.glob("*.py") if "argparse" in p.read_text()]
