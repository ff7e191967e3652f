"""What every chapter does first: find its folders, pick the profile, report the hardware.

A chapter calls ``setup_chapter()`` in its second cell (the first installs negrec on Colab).
It works the same in the repository (``make book``, nbval), on a laptop and on Colab.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from .config import ExperimentConfig, detect_profile, profile_config


@dataclass
class Chapter:
    """The chapter's configuration and folders."""

    profile: str
    cfg: ExperimentConfig
    root: Path  # repository root (or the working folder on Colab)
    data_root: Path  # simulated and prepared datasets: pass it to ensure_dataset & co.
    runs_root: Path  # trained models (shared between chapters)
    results_root: Path  # committed experiment results
    device: str


def project_root(start: Path | None = None) -> Path:
    """The repository root when run inside it (notebooks/ or the root), else the cwd."""
    here = (start or Path.cwd()).resolve()
    for cand in (here, *here.parents):
        if (cand / "pyproject.toml").is_file() and (cand / "negrec_lib").is_dir():
            return cand
    return here


def apply_plot_style() -> None:
    """The book's plotting style (seaborn theme, size, resolution), for chapters and scripts."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    # 96 dpi: a point in the figure is a point on the page (CSS), and the default 7 in (672 px)
    # fits the book's output area (676 px at a 1280 px window) without being scaled down, so
    # text keeps the size it is set in (tests/figure_checks.py checks every viz figure).
    mpl.rcParams.update(
        {
            "figure.dpi": 96,
            "savefig.dpi": 96,
            "figure.figsize": (7, 3.8),
            "savefig.pad_inches": 0.03,
            "axes.titleweight": "bold",
        }
    )


# What Colab's default runtime ships (its own pin, unchanged for years when this was written);
# the viz extra needs ipywidgets 8 (the chapter 5 explorer is built from widgets.Stack, new in
# 8), so installing negrec on Colab upgrades it, and Colab draws ipywidgets 8 widgets (tqdm's
# bars, the explorer) only through its custom widget manager, which setup_chapter switches on.
COLAB_IPYWIDGETS = "7.7.1"
IPYWIDGETS_REQUIRED = "8"


def on_colab() -> bool:
    """True inside a Google Colab runtime."""
    import sys

    return "google.colab" in sys.modules


def prepare_colab_widgets(quiet: bool = False) -> str | None:
    """On Colab, let ipywidgets 8 draw: switch on Colab's custom widget manager.

    Returns what was done (None outside Colab). When the runtime still has an ipywidgets older
    than 8 imported (pip upgraded it under a running kernel), says to restart the session.
    """
    if not on_colab():
        return None
    import importlib

    try:
        output = importlib.import_module("google.colab.output")
        output.enable_custom_widget_manager()
        done = "custom widget manager on"
    except (ImportError, AttributeError) as exc:  # an older or a local Colab runtime
        done = f"custom widget manager unavailable ({type(exc).__name__})"
    try:
        import ipywidgets

        major = int(str(ipywidgets.__version__).split(".")[0])
    except (ImportError, ValueError):
        major = None
    if major is not None and major < int(IPYWIDGETS_REQUIRED) and not quiet:
        print(
            f"note: this session still runs ipywidgets {ipywidgets.__version__} (Colab ships "
            f"{COLAB_IPYWIDGETS}); negrec installed ipywidgets {IPYWIDGETS_REQUIRED}. Restart "
            "the session (Runtime > Restart session) and run the notebook again so that the "
            "progress bars and the explorer draw."
        )
        done += "; restart needed"
    return done


def setup_chapter(seed: int = 0, quiet: bool = False) -> Chapter:
    """Pick the profile (``NEGREC_PROFILE`` or the hardware), set plotting defaults, seed.

    The chapter's folders come back in the `Chapter`: datasets in ``data_root``
    (``$NEGREC_DATA`` when set, else ``<repository>/data``), trained runs in ``runs_root``.
    Nothing is written to the environment: pass ``ch.data_root`` to
    `negrec_lib.data.cache.ensure_dataset` and ``ch.runs_root, ch.data_root`` to
    `negrec_lib.runs.run_cached`.
    """
    import torch

    from .runtime import seed_everything

    root = project_root()
    # NEGREC_DATA is the reader's setting (book/setup.md); the chapter passes ch.data_root on
    # explicitly (ensure_dataset, run_cached, run_grid_cached) rather than through the env.
    data_root = Path(os.environ.get("NEGREC_DATA", root / "data"))
    profile = detect_profile()
    cfg = profile_config(profile)
    # Progress stays on: each epoch shows a tqdm bar (a widget, emptied when the run ends, so
    # the saved notebook keeps no bar) and leaves one summary line on stdout.
    cfg.train.progress = True
    seed_everything(seed)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:  # figures render inline, whoever draws them
            shell.run_line_magic("matplotlib", "inline")
    except ImportError:  # pragma: no cover - outside IPython
        pass
    try:
        apply_plot_style()
    except ImportError:  # pragma: no cover - the viz extra is not installed
        pass
    prepare_colab_widgets(quiet)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if not quiet:
        hw = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
        print(f"profile: {profile}  (set NEGREC_PROFILE=ci|cpu|gpu to change)")
        print(f"device:  {device} ({hw}), torch {torch.__version__}")

        def show(p: Path) -> str:
            return str(p.relative_to(root)) + "/" if p.is_relative_to(root) else str(p)

        print(f"data:    {show(data_root)}, trained models: {show(root / 'runs')}")
        if device == "cpu" and profile == "gpu":
            print("note: the gpu profile on a CPU is slow; use cpu or switch on a GPU runtime")
    return Chapter(profile, cfg, root, data_root, root / "runs", root / "results", device)
