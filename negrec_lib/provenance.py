"""Provenance: which code, hardware and versions produced a number.

Every result the library writes (a run's ``metrics.json``, a row of a results table, a
benchmark report) carries `provenance()`, so a number can be traced to the commit it came from.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

__all__ = ["provenance"]


def provenance(device: torch.device | None = None, precision: str | None = None) -> dict:
    """Where a number came from: commit, whether the library differs from it, hardware, versions.

    ``dirty`` is True when tracked files under ``negrec_lib/``, ``experiments/`` or
    ``benchmarks/`` (the code that produces the repository's numbers) differ from the commit;
    edits to prose, notebooks or results files do not change what a run computes.

    Parameters
    ----------
    device : torch.device, optional
        The device the number was computed on (a GPU is named by its model).
    precision : str, optional
        The run's precision (``fp32``, ``bf16``, ...), recorded as given.

    Returns
    -------
    dict
        ``commit``, ``dirty`` (None outside a git checkout), ``hardware``, ``cpu_count``,
        ``device``, ``precision``, ``torch`` and ``python`` versions.

    Examples
    --------
    >>> sorted(provenance())[:3]
    ['commit', 'cpu_count', 'device']
    """
    here = Path(__file__).resolve().parent
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=here
            ).stdout.strip()
            or None
        )
        dirty = bool(
            subprocess.run(
                [
                    "git",
                    "status",
                    "--porcelain",
                    "--untracked-files=no",
                    "--",
                    str(here),
                    str(here.parent / "experiments"),
                    str(here.parent / "benchmarks"),
                ],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=here,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    hw = _cpu_name()
    if device is not None and device.type == "cuda":
        hw = torch.cuda.get_device_name(device)
    return {
        "commit": commit,
        "dirty": dirty if commit else None,
        "hardware": hw,
        "cpu_count": os.cpu_count(),
        "device": str(device) if device is not None else None,
        "precision": precision,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def _cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what platform knows."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
