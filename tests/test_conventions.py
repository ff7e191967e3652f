"""Every chapter follows the conventions book/apply_chapter_conventions.py applies: the same
pinned install cell (kept in step with negrec_lib.RELEASE), headings numbered once (by the book),
no bare file names that turn into dead links, and a T4 note where a chapter trains."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

from negrec_lib import RELEASE, REPOSITORY_URL, __version__

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
_spec = importlib.util.spec_from_file_location(
    "conventions", ROOT / "book" / "apply_chapter_conventions.py"
)
conventions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conventions)


def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _src(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_release_is_the_package_version():
    toml = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(rf'^version = "{re.escape(__version__)}"$', toml, re.M)
    assert RELEASE == f"v{__version__}"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_chapter_follows_the_conventions(path):
    nb = _nb(path)
    changes = conventions.apply(copy.deepcopy(nb), path.stem)
    assert not [c for c in changes if not c.startswith("WARNING")], (
        f"{path.name} does not follow the chapter conventions: {changes}; run "
        f"`python book/apply_chapter_conventions.py {path.relative_to(ROOT)}`"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_first_cell_installs_the_pinned_release(path):
    """The same pinned install, shown the same way, in every chapter (issue 12)."""
    code = [c for c in _nb(path)["cells"] if c["cell_type"] == "code"]
    src = _src(code[0])
    assert f'NEGREC_RELEASE = "{RELEASE}"' in src
    assert f"negrec[viz] @ git+{REPOSITORY_URL}@{{NEGREC_RELEASE}}" in src
    assert "hide-input" in code[0]["metadata"].get("tags", [])


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_headings_are_numbered_by_the_book_only(path):
    heads = [
        line
        for c in _nb(path)["cells"]
        if c["cell_type"] == "markdown"
        for line in re.sub(r"^```.*?^```", "", _src(c), flags=re.M | re.S).splitlines()
        if re.match(r"^#{2,6}\s+\d+(\.\d+)*[.)]?\s", line)
    ]
    assert not heads, f"{path.name}: the book numbers sections; remove the manual numbers: {heads}"


def test_the_conventions_do_what_they_say():
    """The checks above can fail: a chapter in the old form is changed in every respect."""
    old = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# T\n\nSee PAPER.md, section 2."},
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": 1,
                "source": "import importlib.util\n"
                'if importlib.util.find_spec("negrec_lib") is None:\n'
                '    pip install "negrec[viz] @ git+https://github.com/negrec/negrec"',
            },
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": 2,
                "source": "ch = setup_chapter()",
            },
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": "## 1. A section\n\n(CONTRIBUTING.md)\n\n```\n## 2. code\n```",
            },
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": 3,
                "source": "run_cached(cfg)",
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    nb = copy.deepcopy(old)
    changes = conventions.apply(nb, "99_test")
    assert len(changes) >= 4
    texts = [_src(c) for c in nb["cells"]]
    assert "[the paper's specification](../book/paper.md)" in texts[0]
    assert "T4 GPU" in texts[1]  # the note, before the install
    assert "@{NEGREC_RELEASE}" in texts[2] and "hide-input" in nb["cells"][2]["metadata"]["tags"]
    assert texts[4].startswith("## A section")
    assert f"({REPOSITORY_URL}/blob/main/CONTRIBUTING.md)" in texts[4]
    assert "## 2. code" in texts[4]  # code blocks are left alone
    assert conventions.apply(nb, "99_test") == []  # idempotent


def test_linkify_makes_no_links_of_file_names():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert cfg["sphinx"]["config"].get("myst_linkify_fuzzy_links") is False, (
        "with fuzzy linkify, CONTRIBUTING.md in prose becomes http://CONTRIBUTING.md"
    )
