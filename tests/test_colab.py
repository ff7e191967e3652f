"""Colab, as far as it can be tested offline: the widget versions the book needs against what
Colab ships, and setup_chapter() switching on Colab's widget manager (a stand-in google.colab)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from negrec_lib import notebook

ROOT = Path(__file__).resolve().parents[1]


def _viz_requirement() -> str:
    toml = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    viz = toml.split("viz = [", 1)[1].split("]", 1)[0]
    return re.search(r'"ipywidgets([^"]*)"', viz).group(1)


def test_the_stated_versions_match_the_requirement():
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(_viz_requirement())
    assert f"{notebook.IPYWIDGETS_REQUIRED}.0" in spec
    # Colab's own ipywidgets does not satisfy it: installing negrec upgrades it, which is why
    # setup_chapter() must switch on the widget manager that draws ipywidgets 8
    assert notebook.COLAB_IPYWIDGETS not in spec
    setup = (ROOT / "book" / "setup.md").read_text(encoding="utf-8")
    assert notebook.COLAB_IPYWIDGETS in setup and "custom widget manager" in setup


def test_the_explorer_needs_ipywidgets_8():
    import ipywidgets

    assert int(ipywidgets.__version__.split(".")[0]) >= 8
    assert hasattr(ipywidgets, "Stack")  # new in 8; the explorer is built from it


@pytest.fixture()
def fake_colab(monkeypatch):
    calls = []
    colab = types.ModuleType("google.colab")
    output = types.ModuleType("google.colab.output")
    output.enable_custom_widget_manager = lambda: calls.append("enabled")
    colab.output = output
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    return calls


def test_setup_chapter_switches_on_colabs_widget_manager(fake_colab, monkeypatch, tmp_path):
    monkeypatch.setenv("NEGREC_DATA", str(tmp_path))
    notebook.setup_chapter(quiet=True)
    assert fake_colab == ["enabled"]


def test_an_old_ipywidgets_in_the_session_asks_for_a_restart(fake_colab, monkeypatch, capsys):
    import ipywidgets

    monkeypatch.setattr(ipywidgets, "__version__", notebook.COLAB_IPYWIDGETS)
    assert "restart" in notebook.prepare_colab_widgets()
    assert "Restart session" in capsys.readouterr().out


def test_nothing_happens_outside_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert notebook.prepare_colab_widgets() is None
