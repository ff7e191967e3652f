"""``negrec train`` and ``negrec evaluate``: one configuration trained, a checkpoint evaluated."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..config import ExperimentConfig, profile_config
from ..errors import ConfigError, NegrecError
from ..progress import add_quiet_argument


def load_config(config: str | None, profile: str | None, sets: list[str]) -> ExperimentConfig:
    """A configuration from a YAML file or a profile, with ``--set key=value`` overrides."""
    if config and profile:
        raise NegrecError("give --config or --profile, not both")
    if config:
        cfg = ExperimentConfig.from_yaml(config)
    else:
        cfg = profile_config(None if profile in (None, "auto") else profile)
    try:
        return cfg.override(sets or [])
    except ConfigError as exc:
        if exc.cli_message is None and str(exc).startswith("override"):
            exc.cli_message = "--set" + str(exc)[len("override") :]
        raise


def _train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file (write one with --dump-config)")
    p.add_argument(
        "--profile",
        choices=["ci", "cpu", "gpu", "auto"],
        help="start from a profile's configuration (default: auto)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field, e.g. --set loss.skip_weight=1 --set model.causal=false",
    )
    p.add_argument("--data", help="a prepared folder (overrides data_dir)")
    p.add_argument("--out", help="run folder (overrides out_dir)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out; without --config, --profile and --set it "
        "continues with the run's own configuration (from its last.pt)",
    )
    p.add_argument(
        "--allow-config-change",
        action="store_true",
        help="with --resume: accept a configuration that differs from the "
        "checkpoint's in keys that are safe to change mid-run (the epoch cap, "
        "patience, evaluation frequency, device, name); the changes are "
        "recorded in metrics.json. Other differences are always refused",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="N",
        help="also save last.pt every N batches (long epochs)",
    )
    p.add_argument(
        "--dump-config",
        action="store_true",
        help="print the resolved configuration as YAML and exit",
    )
    add_quiet_argument(p)


def _run_train(args: argparse.Namespace) -> int:
    from ..checkpoint import load_checkpoint
    from ..data.cache import ensure_dataset
    from ..data.sessions import SessionData
    from ..train import Trainer

    own = (
        args.resume
        and args.out
        and not (args.config or args.profile or args.set)
        and (Path(args.out) / "last.pt").is_file()
    )
    if own:  # resume with the run's own configuration
        from ..config import ExperimentConfig
        from ..errors import display_path

        last = Path(args.out) / "last.pt"
        cfg = ExperimentConfig.from_dict(load_checkpoint(last)["config"], source=display_path(last))
    else:
        cfg = load_config(args.config, args.profile, args.set)
    if args.data:
        cfg.data_dir = args.data
    if args.out:
        cfg.out_dir = args.out
    if args.quiet:
        cfg.train.progress = False
    if args.dump_config:
        print(cfg.to_yaml(), end="")
        return 0
    data_dir = cfg.data_dir or ensure_dataset(cfg.sim, cfg.data, progress=cfg.train.progress)
    data = SessionData.load(data_dir)
    result = Trainer(
        cfg,
        data,
        cfg.out_dir,
        resume=args.resume,
        checkpoint_every=args.checkpoint_every,
        allow_config_change=args.allow_config_change,
    ).fit()
    if result:
        _print_metrics(result["test"], f"test ({cfg.name}, best epoch {result['best_epoch']})")
        print(f"run folder: {cfg.out_dir}")
    return 0


def _print_metrics(metrics: dict, title: str) -> None:
    keys = [k for k in metrics if k.startswith(("hr@", "ndcg@")) or k in ("mrr", "skip_mrr")]
    print(title)
    print("  " + "  ".join(f"{k}={metrics[k]:.4f}" for k in keys))


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="best.pt or last.pt of a run")
    p.add_argument("--data", help="prepared folder (default: the run's data)")
    p.add_argument("--split", choices=["valid", "test"], default="test")
    p.add_argument(
        "--protocol",
        choices=["full", "sampled"],
        default="full",
        help="full catalogue (honest) or the paper's batch targets + 1000 random",
    )
    p.add_argument(
        "--exclude-seen", action="store_true", help="do not rank tracks already in the session"
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="also write the metrics to this JSON file")
    add_quiet_argument(p)


def _run_evaluate(args: argparse.Namespace) -> int:
    from ..checkpoint import load_checkpoint, model_from_checkpoint
    from ..data.cache import ensure_dataset
    from ..data.sessions import SessionData
    from ..metrics import evaluate
    from ..runtime import resolve_device

    device = resolve_device(args.device)
    from ..config import ExperimentConfig

    cfg = ExperimentConfig.from_dict(
        load_checkpoint(args.checkpoint)["config"], source=args.checkpoint
    )
    data_dir = (
        args.data or cfg.data_dir or ensure_dataset(cfg.sim, cfg.data, progress=not args.quiet)
    )
    data = SessionData.load(data_dir, device)
    model, cfg = model_from_checkpoint(args.checkpoint, data, device)
    res = evaluate(
        model,
        data,
        split=args.split,
        protocol=args.protocol,
        exclude_seen=args.exclude_seen,
        batch_size=cfg.train.eval_batch_size,
        seed=cfg.train.seed,
        progress=not args.quiet,
    )
    _print_metrics(res.metrics, f"{args.split} ({args.protocol} protocol), {args.checkpoint}")
    if args.json:
        from ..atomic import atomic_write_text

        try:
            atomic_write_text(args.json, json.dumps(res.to_dict(), indent=2, default=float))
        except OSError as exc:
            raise NegrecError(
                f"--json {args.json}: cannot write it ({exc.strerror or exc})"
            ) from None
    return 0
