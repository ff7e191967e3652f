"""Bring chapters in line with the book's conventions (CONTRIBUTING.md, "How to write a chapter").

    python book/apply_chapter_conventions.py notebooks/03_training.ipynb ...  # rewrite in place
    python book/apply_chapter_conventions.py --check notebooks/*.ipynb  # exit 1 if any would change

Idempotent, and it touches sources only (outputs and execution counts stay as they are), so a
chapter need not be re-executed for the markdown conventions. What it does:

1. **The install cell** (the first code cell) becomes the one text every chapter shares: it
   installs ``negrec[viz] @ git+<REPOSITORY_URL>@<RELEASE>`` (the tag `negrec_lib.RELEASE`), only
   when negrec is not importable, and is tagged ``hide-input``.
2. **Headings are numbered once**: the book numbers a chapter's sections (2.1, 2.2, ...), so a
   manual number (``## 1. From a session ...``) is removed.
3. **No bare file names**: ``PAPER.md`` becomes a link to the book's page ``book/paper.md``;
   ``CONTRIBUTING.md`` and ``README.md`` become links to the files in the repository (they are
   not pages of the book; a bare name would be turned into ``http://CONTRIBUTING.md``).
4. **The GPU note**: a chapter that trains (it calls ``run_cached``, ``run_grid_cached`` or
   ``Trainer``) must say *Runtime > Change runtime type > T4 GPU* before its setup cell; one is
   inserted if missing.
5. With ``--code``: the known code changes of issue 12 (live learning curves, tables as
   tables), applied only where a cell still has the exact old text (code changes need a
   re-execution of the chapter afterwards).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from negrec_lib import RELEASE, REPOSITORY_URL  # noqa: E402

INSTALL_TAG = "hide-input"


def install_cell_source(url: str = REPOSITORY_URL, release: str = RELEASE) -> str:
    """The first code cell of every chapter."""
    return (
        "# Installs negrec where it is missing (Colab, a fresh machine): the release this book\n"
        "# was executed with, so the text and the library agree. In the repository: nothing.\n"
        f'NEGREC_RELEASE = "{release}"\n'
        "import importlib.util, subprocess, sys\n"
        'if importlib.util.find_spec("negrec_lib") is None:\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
        f'                    f"negrec[viz] @ git+{url}@{{NEGREC_RELEASE}}"],\n'
        "                   check=True)"
    )


GPU_NOTE = (
    ":::{admonition} Running this chapter\n"
    ":class: tip\n"
    "This chapter trains models. On Colab, switch on a GPU first: *Runtime > Change runtime type >\n"
    "T4 GPU*. The chapter picks its size from `NEGREC_PROFILE` (`ci`, `cpu`, `gpu`); without it,\n"
    "`gpu` when a GPU is present, else `cpu`. See [Setting up](../book/setup.md).\n"
    ":::"
)

_NUMBERED = re.compile(r"^(#{2,6})[ \t]+\d+(?:\.\d+)*[.)]?[ \t]+(?=\S)", re.M)
_FENCE = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$", re.M | re.S)
_TRAINS = re.compile(r"\b(run_cached|run_grid_cached|Trainer)\(")


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _outside_code(text: str, fn) -> str:
    """Apply ``fn`` to the markdown outside fenced blocks and inline code spans."""
    parts = re.split(r"(^(`{3,}|~{3,}).*?^\2[ \t]*$|`[^`\n]*`)", text, flags=re.M | re.S)
    out, i = [], 0
    while i < len(parts):
        out.append(fn(parts[i]))
        if i + 1 < len(parts):
            out.append(parts[i + 1])  # the code, untouched
        i += 3
    return "".join(out)


def _sentence_start(text: str, pos: int) -> bool:
    before = text[:pos].rstrip(" \t(")
    if not before.strip() or before.endswith("\n\n"):  # a paragraph starts here
        return True
    return before.rstrip("\n").endswith((".", "!", "?", ":"))


def _link_file_names(text: str) -> str:
    def paper(m: re.Match) -> str:
        the = "The" if _sentence_start(m.string, m.start()) else "the"
        return f"[{the} paper's specification](../book/paper.md)"

    def repo_file(m: re.Match) -> str:
        return f"[{m.group(1)}]({REPOSITORY_URL}/blob/main/{m.group(1)})"

    def fix(chunk: str) -> str:
        # not inside a link already: [text](...PAPER.md) or [PAPER.md](...)
        chunk = re.sub(r"(?<!\]\()(?<![\w/\[.-])PAPER\.md(?![\w\]])", paper, chunk)
        chunk = re.sub(
            r"(?<!\]\()(?<![\w/\[.-])(CONTRIBUTING\.md|README\.md)(?![\w\]])", repo_file, chunk
        )
        return chunk

    return _outside_code(text, fix)


def _denumber(text: str) -> str:
    return _outside_code(text, lambda chunk: _NUMBERED.sub(r"\1 ", chunk))


# ------------------------------------------------------------------ known code changes (--code)
CODE_CHANGES: dict[str, list[tuple[str, str]]] = {
    "03_training": [
        (
            "from negrec_lib.viz import training as vt",
            "from negrec_lib.viz import training as vt\n"
            "from negrec_lib.viz.live import LiveCurve\n"
            "from negrec_lib.viz.tables import results_table",
        ),
        (
            "runs, run_dirs = {}, {}\nfor label, run_cfg in configs.items():\n"
            "    runs[label], run_dirs[label] = run_cached(run_cfg, ch.runs_root, ch.data_root)\n",
            "runs, run_dirs = {}, {}\ncurve = LiveCurve()            # redrawn after every epoch while a model trains\n"
            "for label, run_cfg in configs.items():\n"
            "    curve.label = label\n"
            "    runs[label], run_dirs[label] = run_cached(run_cfg, ch.runs_root, ch.data_root,\n"
            "                                              callbacks=[curve])\n",
        ),
        (
            'print(pd.DataFrame({"uni input": show(toy[0]), "uni target": show(uni_target[0]),\n'
            '                    "bi input": show(bi_input[0]), "bi target": show(bi_target[0])},\n'
            '                   index=pd.RangeIndex(1, 9, name="position")).T.to_string())',
            'results_table(pd.DataFrame({"uni input": show(toy[0]), "uni target": show(uni_target[0]),\n'
            '                            "bi input": show(bi_input[0]), "bi target": show(bi_target[0])},\n'
            '                           index=pd.RangeIndex(1, 9, name="position")).T)',
        ),
        (
            'print(full["uni"].by_context[["n", "hr@10", "ndcg@10", "mrr"]].round(4).to_string())',
            'results_table(full["uni"].by_context[["n", "hr@10", "ndcg@10", "mrr"]], digits=4)',
        ),
        (
            "print(pd.DataFrame(sizes).T.to_string())\n",
            "display(results_table(pd.DataFrame(sizes).T))\n",
        ),
        ('print("\\nprecision chosen on a CPU:"', 'print("precision chosen on a CPU:"'),
    ],
    "04_negative_feedback": [
        (
            "from negrec_lib.viz import training as vt",
            "from negrec_lib.viz import training as vt\n"
            "from negrec_lib.viz.live import LiveCurve\n"
            "from negrec_lib.viz.tables import results_table",
        ),
        (
            "grid = run_grid_cached(cfg, variants, seeds, baselines, ch.runs_root, ch.data_root)\n",
            "curve = LiveCurve()            # every run's curve, redrawn after each epoch\n"
            "grid = run_grid_cached(cfg, variants, seeds, baselines, ch.runs_root, ch.data_root,\n"
            "                       callbacks=[curve])\n",
        ),
        (
            'print(pd.DataFrame(rows, index=pd.RangeIndex(1, 9, name="position")).to_string())\n',
            'display(results_table(pd.DataFrame(rows, index=pd.RangeIndex(1, 9, name="position"))))\n',
        ),
        (
            'print(f"\\nmean over the {int(ok.sum())} valid anchors',
            'print(f"mean over the {int(ok.sum())} valid anchors',
        ),
    ],
    "05_attention": [
        (
            "from negrec_lib.viz import attention as va\n",
            "from negrec_lib.viz import attention as va\n"
            "from negrec_lib.viz.explorer import attention_explorer\n"
            "from negrec_lib.viz.live import LiveCurve\n",
        ),
        (
            "runs = {}\nfor label, (name, skip_weight) in variants.items():\n",
            "runs = {}\ncurve = LiveCurve()            # redrawn after every epoch if a model trains here\n"
            "for label, (name, skip_weight) in variants.items():\n"
            "    curve.label = label\n",
        ),
        (
            "    runs[label] = run_cached(cfg, ch.runs_root, ch.data_root)   # (metrics, run folder)\n",
            "    runs[label] = run_cached(cfg, ch.runs_root, ch.data_root,   # (metrics, run folder)\n"
            "                             callbacks=[curve])\n",
        ),
    ],
}


def apply(nb: dict, name: str, code: bool = False) -> list[str]:
    """Apply the conventions to a notebook (a dict, changed in place); returns what changed."""
    changes: list[str] = []
    cells = nb["cells"]
    code_cells = [c for c in cells if c["cell_type"] == "code"]
    if code_cells:
        first = code_cells[0]
        src = _source(first)
        if "negrec_lib" in src and "pip" in src and "install" in src:
            if src != install_cell_source():
                first["source"] = install_cell_source()
                changes.append("install cell: pinned to " + RELEASE)
            tags = first.setdefault("metadata", {}).setdefault("tags", [])
            if INSTALL_TAG not in tags:
                tags.append(INSTALL_TAG)
                changes.append("install cell: tagged hide-input")
        else:
            changes.append("WARNING: the first code cell is not an install cell; left alone")
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        src = _source(cell)
        new = _link_file_names(_denumber(src))
        if new != src:
            cell["source"] = new
            changes.append(f"cell {i}: headings numbered once / file names linked")
    trains = any(_TRAINS.search(_source(c)) for c in code_cells)
    setup = next(
        (
            i
            for i, c in enumerate(cells)
            if c["cell_type"] == "code" and "setup_chapter(" in _source(c)
        ),
        None,
    )
    intro = " ".join(_source(c) for c in cells[:setup] if c["cell_type"] == "markdown")
    if trains and setup is not None and not re.search(r"Change runtime type\s*>\s*T4", intro):
        install = cells.index(code_cells[0])
        import nbformat

        cells.insert(install, nbformat.v4.new_markdown_cell(GPU_NOTE))
        changes.append("GPU note with the T4 runtime inserted")
    if code:
        for old, new in CODE_CHANGES.get(name, []):
            if any(new in _source(c) for c in code_cells):
                continue  # applied already
            hits = [c for c in code_cells if old in _source(c)]
            if len(hits) == 1:
                hits[0]["source"] = _source(hits[0]).replace(old, new)
                changes.append(f"code: {old.strip().splitlines()[0][:60]}")
            else:
                changes.append(
                    f"WARNING: code change not applied (text found {len(hits)} "
                    f"times): {old.strip().splitlines()[0][:60]}"
                )
    return changes


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", type=Path, nargs="+")
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if a chapter does not follow them",
    )
    parser.add_argument(
        "--code",
        action="store_true",
        help="also apply the known code changes (re-execute afterwards)",
    )
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        changes = apply(nb, path.stem, code=args.code)
        real = [c for c in changes if not c.startswith("WARNING")]
        for c in changes:
            print(f"{path}: {c}")
        if real and args.check:
            status = 1
        elif real:
            nbformat.write(nb, path)
    return status


if __name__ == "__main__":
    sys.exit(main())
