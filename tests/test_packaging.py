"""Static checks of the project's set-up files: they must agree with each other."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower()


def _spec(req: str) -> str:
    return re.sub(r"\s+", "", req[len(_name(req)) :]).split(";")[0]


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in ("viz", "book", "dev"):
        wanted += [r for r in project["optional-dependencies"][extra] if not r.startswith("negrec")]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for r in dep["pip"]:
                if not r.startswith("-e"):
                    pip[_name(r)] = _spec(r)
        else:
            conda[_name(dep)] = _spec(dep)
    both = {**conda, **pip}
    for req in wanted:
        name = _name(req)
        assert name in both, f"environment.yml lacks {name} (pyproject.toml: {req})"
        assert both[name] == _spec(req), f"{name}: environment.yml {both[name]!r} != {_spec(req)!r}"
    assert "-e ." in [r for d in env["dependencies"] if isinstance(d, dict) for r in d["pip"]]
    py = conda["python"]
    assert py == project["requires-python"]


def test_jupyter_book_is_pinned_below_2():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    book = [r for r in project["optional-dependencies"]["book"] if _name(r) == "jupyter-book"]
    assert book and "<2" in book[0]


def test_makefile_installs_the_cpu_torch_wheel_first():
    text = (ROOT / "Makefile").read_text()
    assert re.search(r"^TORCH \?= torch==2\.13\.0$", text, re.M)
    venv = text[text.index("$(VENV)/.installed:") :]
    assert venv.index('"$(TORCH)"') < venv.index('-e ".[book,dev]"')


def test_readme_gives_exactly_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", section, re.S)
    commands = [
        ln.strip()
        for b in blocks
        for ln in b.splitlines()
        if ln.strip() and not ln.strip().startswith("#")
    ]
    assert commands == ["make book", "make test"]


def test_ci_runs_the_readme_test_command():
    text = (ROOT / ".ci" / "run").read_text()
    assert "make test" in text
    assert (ROOT / ".ci" / "run").stat().st_mode & 0o111


def test_the_public_face_is_small_lazy_and_complete():
    """``import negrec_lib`` loads no torch; every name of __all__ resolves to its module's."""
    code = (
        "import sys, negrec_lib as n\n"
        "assert 'torch' not in sys.modules and 'pandas' not in sys.modules, 'eager import'\n"
        "assert sorted(n._PUBLIC) == sorted(set(n.__all__) - "
        "{'REPOSITORY_URL', 'RELEASE', '__version__'})\n"
        "import importlib\n"
        "for name, mod in n._PUBLIC.items():\n"
        "    module = importlib.import_module('negrec_lib.' + mod)\n"
        "    assert getattr(n, name) is getattr(module, name)\n"
        "assert len(n.__all__) <= 20\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
