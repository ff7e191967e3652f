"""Sphinx extension of the negrec book: no dead or duplicated scripts in the pages.

sphinx-thebe (which jupyter-book always loads) adds its configuration script
``const THEBE_JS_URL = ...`` once per reading of the sources, so a page can carry it twice and
the second copy throws "Identifier 'THEBE_JS_URL' has already been declared". The book does
not use thebe (``launch_buttons.thebe: false``), so its scripts are left out of every page; any
other script added twice is kept once.
"""

from __future__ import annotations

from typing import Any


def _thebe(script: Any) -> bool:
    name = str(getattr(script, "filename", script) or "")
    body = str(getattr(script, "attributes", {}).get("body", "") or "")
    return name.endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body or "thebe@" in name


def clean_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    use_thebe = bool(app.config.html_context.get("negrec_thebe", False))
    seen, kept = set(), []
    for script in scripts:
        if not use_thebe and _thebe(script):
            continue
        attrs = getattr(script, "attributes", {}) or {}
        key = (str(getattr(script, "filename", script)), str(attrs.get("body", "")))
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    scripts[:] = kept


def setup(app: Any) -> dict:
    app.connect("html-page-context", clean_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
