"""Setting up without surprises: the README says how to run negrec, and the install installs
numpy with torch (without it, `import torch` warns "Failed to initialize NumPy")."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_says_how_to_run_negrec():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    cli = text.split("## The command line", 1)[1].split("\n## ", 1)[0]
    assert "source .venv/bin/activate" in cli and ".venv/bin/negrec" in cli
    assert "--quiet" in cli


def test_torch_is_installed_with_numpy():
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    torch_line = next(
        line for line in make.splitlines() if '"$(TORCH)"' in line and "install" in line
    )
    assert re.search(r'"numpy[^"]*"', torch_line), (
        "install numpy in the same pip call as torch: `import torch` without numpy warns"
    )
