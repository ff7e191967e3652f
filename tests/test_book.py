"""The book: its configuration, the structure and hygiene of every chapter, the build, and the
rendered pages in a headless browser with the network cut off.

The table of contents is the contract: a chapter listed in ``_toc.yml`` that is missing fails
these tests (it is not skipped). The rules for chapters are in CONTRIBUTING.md.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml

from negrec_lib import REPOSITORY_URL

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
VENDOR = ROOT / "book" / "_vendor"
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_CHAPTERS = {"notebooks/05_attention"}  # chapters whose interactive explorer must render
TOGGLE_TAGS = {"hide-input", "hide-cell"}  # code-cell tags that fold a solution away
TRAILING_SECTIONS = re.compile(r"^(further reading|what'?s next|next steps?|references)\b", re.I)


# ---------------------------------------------------------------------------- the contract
def _toc_files(node: dict | list) -> list[str]:
    """Every ``file:`` entry of the table of contents, in reading order."""
    found: list[str] = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                found.append(node[key])
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key) or []:
                found += _toc_files(child)
    return found


PAGES = _toc_files(TOC)
CHAPTERS = [p for p in PAGES if p.startswith("notebooks/")]


def _source(page: str) -> Path | None:
    for suffix in (".ipynb", ".md"):
        if (ROOT / f"{page}{suffix}").is_file():
            return ROOT / f"{page}{suffix}"
    return None


@functools.cache
def _notebook(page: str) -> dict:
    path = ROOT / f"{page}.ipynb"
    if not path.is_file():
        pytest.fail(
            f"{page}.ipynb is listed in _toc.yml but missing: add the chapter or its toc entry"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def _text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _out_text(output: dict) -> str:
    """All text an output shows: a stream, an error, or the text-like parts of rich data."""
    if output.get("output_type") == "stream":
        return _join(output.get("text", ""))
    if output.get("output_type") == "error":
        return "\n".join(output.get("traceback", []))
    data = output.get("data", {})
    return "\n".join(
        _join(data[m]) for m in ("text/plain", "text/html", "text/markdown") if m in data
    )


def _join(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def _colab_url(page: str) -> str:
    slug = CONFIG["repository"]["url"].removeprefix("https://github.com/").rstrip("/")
    return (
        f"https://colab.research.google.com/github/{slug}/blob/"
        f"{CONFIG['repository']['branch']}/{page}.ipynb"
    )


def test_every_toc_entry_exists():
    missing = [p for p in PAGES if _source(p) is None]
    assert not missing, f"_toc.yml lists pages that do not exist: {missing}"


def test_every_numbered_chapter_is_in_the_toc():
    on_disk = {f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert not on_disk - set(CHAPTERS), (
        f"chapters missing from _toc.yml: {sorted(on_disk - set(CHAPTERS))}"
    )
    assert len(CHAPTERS) >= 5 and CHAPTERS == sorted(CHAPTERS), "chapters in _toc.yml out of order"


def test_config_points_at_this_repository():
    """The Colab buttons, the install cells and the library must name the same repository."""
    repo = CONFIG["repository"]
    assert repo["url"].rstrip("/") == REPOSITORY_URL.rstrip("/"), (
        f"_config.yml repository.url ({repo['url']}) != "
        f"negrec_lib.REPOSITORY_URL ({REPOSITORY_URL}); "
        "a fork changes both (README, 'Forking')"
    )
    assert repo["branch"] == "main" and repo.get("path_to_book", "") == ""
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["html"]["use_repository_button"] and CONFIG["html"]["use_issues_button"]
    assert CONFIG["only_build_toc_files"] is True
    assert CONFIG["execute"]["execute_notebooks"] == "off", "CI renders the committed outputs"
    assert CONFIG["sphinx"]["config"]["nb_execution_raise_on_error"] is True


def test_javascript_is_vendored():
    """Widgets and math load from book/_vendor, not from a folder named _static (DESIGN.md 7)."""
    sphinx_cfg = CONFIG["sphinx"]["config"]
    assert sphinx_cfg["html_static_path"] == ["book/_vendor"]
    assert not (ROOT / "_static").exists(), (
        "a root _static/ folder would load its .js on every page"
    )
    assets = [*sphinx_cfg["nb_ipywidgets_js"], sphinx_cfg["mathjax_path"]]
    for asset in assets:
        assert "://" not in asset, f"{asset}: must be a file of book/_vendor, not a URL"
        assert (VENDOR / asset).is_file(), f"{asset} is not in book/_vendor"
    assert list(sphinx_cfg["nb_ipywidgets_js"])[0] == "requirejs/require.js"
    assert (VENDOR / "mathjax/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff").is_file()
    size = sum(f.stat().st_size for f in VENDOR.rglob("*") if f.is_file())
    assert size < 10 * 2**20, (
        f"book/_vendor holds {size / 2**20:.1f} MiB; keep only what pages load"
    )
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    for package in ("requirejs@", "@jupyter-widgets/html-manager@", "mathjax@"):
        assert package in readme, f"book/_vendor/README.md does not record {package}<version>"


def test_readme_explains_forking_and_links_the_book():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "https://negrec.github.io/negrec" in text
    forking = text.split("## Forking", 1)[1].split("\n## ", 1)[0]
    assert "repository.url" in forking and "REPOSITORY_URL" in forking


def test_make_book_executes_through_a_derived_config(tmp_path):
    """`make book` = _config.yml with every chapter executed, long cells allowed, errors fatal."""
    spec = importlib.util.spec_from_file_location("build_tools", ROOT / "book" / "build_tools.py")
    tools = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tools)
    derived = yaml.safe_load(tools.derived_config(1800, tmp_path / "cfg.yml").read_text())
    assert derived["execute"]["execute_notebooks"] == "force"
    assert derived["execute"]["timeout"] == 1800 and derived["execute"]["allow_errors"] is False
    assert derived["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    same = {k: v for k, v in derived.items() if k != "execute"}
    assert same == {k: v for k, v in CONFIG.items() if k != "execute"}, "only execute: may differ"


def test_makefile_book_test_and_notebooks_targets():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    book = text.split("\nbook:", 1)[1].split("\n\n", 1)[0]
    assert "build_tools.py config" in book and "--config" in book and "-W -n --keep-going" in text
    notebooks = text.split("\nnotebooks:", 1)[1].split("\n\n", 1)[0]
    assert "NEGREC_PROFILE=cpu" in notebooks and "build_tools.py execute" in notebooks
    test = text.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    for flag in (
        "NEGREC_PROFILE=ci",
        "--nbval-lax",
        "--ignore=_build",
        "--dist loadfile",
        "tests",
        "notebooks",
    ):
        assert flag in test, f"the test target lacks {flag}"


# ---------------------------------------------------------------------------- chapter structure
def _strip_fences(text: str) -> str:
    """Markdown without its fenced code blocks (a '# comment' there is not a heading)."""
    return re.sub(r"^(`{3,}|~{3,}).*?^\1[ \t]*$", "", text, flags=re.M | re.S)


def _h2(cell: dict) -> list[str]:
    if cell["cell_type"] != "markdown":
        return []
    return re.findall(r"^##\s+(.+?)\s*$", _strip_fences(_text(cell)), re.M)


def _is_toggle(cell: dict) -> bool:
    if cell["cell_type"] == "code":
        return bool(_tags(cell) & TOGGLE_TAGS)
    text = _text(cell)
    return bool(re.search(r"^:class:.*\bdropdown\b", text, re.M) or re.search(r"\{toggle\}", text))


@pytest.mark.parametrize("page", CHAPTERS, ids=[p.split("/")[-1] for p in CHAPTERS])
def test_chapter_structure(page):
    """Title, objectives, GPU note, install cell, setup_chapter(), then quick check, exercises."""
    cells = _notebook(page)["cells"]
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    assert cells and cells[0]["cell_type"] == "markdown" and re.match(r"#\s+\S", _text(cells[0])), (
        "the first cell must be a markdown cell that starts with the H1 title ('# Title')"
    )
    prose = "\n".join(_strip_fences(_text(c)) for c in cells if c["cell_type"] == "markdown")
    assert len(re.findall(r"^#\s", prose, re.M)) == 1, (
        "exactly one H1 per chapter (sections are ##)"
    )
    assert len(code) >= 2, "a chapter has at least the install cell and the setup cell"
    install, setup = cells[code[0]], cells[code[1]]
    intro = " ".join(_text(c) for c in cells[: code[1]] if c["cell_type"] == "markdown")
    assert re.search(r"learning objectives", intro, re.I), (
        "state the learning objectives before the code"
    )
    assert re.search(r"\bGPU\b", intro) and re.search(r"runtime type", intro, re.I), (
        "add the GPU note before the setup cell (Colab: Runtime > Change runtime type > T4 GPU)"
    )
    src = _text(install)
    assert f"negrec[viz] @ git+{REPOSITORY_URL}" in src, (
        f"the first code cell installs 'negrec[viz] @ git+{REPOSITORY_URL}' (CONTRIBUTING.md)"
    )
    assert "negrec_lib" in src and re.search(r"find_spec|ImportError", src), (
        "the install cell installs only when negrec_lib is not importable"
    )
    assert "setup_chapter(" in _text(setup), "the second code cell calls setup_chapter()"

    headings = [(i, h) for i, c in enumerate(cells) for h in _h2(c)]
    quick = [i for i, h in headings if re.match(r"quick[- ]?check", h, re.I)]
    exercises = [i for i, h in headings if re.match(r"exercises?\b", h, re.I)]
    assert quick and exercises and quick[-1] < exercises[-1], (
        "end with '## Quick check' followed by '## Exercises'"
    )
    later = [h for i, h in headings if i > quick[-1] and i != exercises[-1]]
    assert all(TRAILING_SECTIONS.match(h) for h in later), (
        "only 'Further reading', 'What's next' or 'References' may follow the quick check; "
        f"found {later}"
    )
    end = min([i for i, h in headings if i > exercises[-1]] + [len(cells)])
    assert any(_is_toggle(c) for c in cells[quick[-1] : exercises[-1]]), (
        "quick-check answers go in toggles (':::{admonition} Answer' with ':class: dropdown')"
    )
    assert any(_is_toggle(c) for c in cells[exercises[-1] : end]), (
        "exercise solutions go in toggles (dropdown admonition, or a code cell tagged hide-cell)"
    )


# ---------------------------------------------------------------------------- output hygiene
_PROGRESS = re.compile(r"\r|\d+%\|[^\n]*\||\bit/s\]")
# How Python warnings and logging print: "file.py:12: UserWarning: ...", "  warnings.warn(",
# "WARNING:root:...". A chapter may still print the text of a warning it caught on purpose.
_WARNING = re.compile(r"^\S*:\d+: [A-Z]\w*Warning: |^\s*warnings\.warn\(|^WARNING:[\w.]+:", re.M)


@pytest.mark.parametrize("page", CHAPTERS, ids=[p.split("/")[-1] for p in CHAPTERS])
def test_committed_outputs_are_clean(page):
    """One top-to-bottom run; no stderr, no errors, no progress-bar debris, no warnings."""
    problems = []
    counts = []
    for n, cell in enumerate(_notebook(page)["cells"]):
        if cell["cell_type"] != "code":
            continue
        if _text(cell).strip():  # Jupyter does not run an empty cell
            counts.append(cell.get("execution_count"))
        for out in cell.get("outputs", []):
            kind, text = out.get("output_type"), _out_text(out)
            if kind == "error":
                problems.append(f"cell {n}: an error output ({out.get('ename')})")
            if kind == "stream" and out.get("name") == "stderr":
                problems.append(f"cell {n}: stderr output {text[:80]!r}")
            if _PROGRESS.search(text):
                problems.append(f"cell {n}: progress-bar debris {text[:80]!r}")
            if _WARNING.search(text):
                problems.append(f"cell {n}: a warning in the output {text[:120]!r}")
    if None in counts or counts != sorted(set(counts)):
        problems.append("the outputs do not come from one top-to-bottom run: use `make notebooks`")
    assert not problems, f"{page}: " + "; ".join(problems)


@pytest.mark.parametrize("page", CHAPTERS, ids=[p.split("/")[-1] for p in CHAPTERS])
def test_widget_state_is_saved(page):
    """A widget output without saved state renders as nothing in the book, silently."""
    nb = _notebook(page)
    views = {
        o["data"][WIDGET_VIEW]["model_id"]
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if WIDGET_VIEW in o.get("data", {})
    }
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    if page in WIDGET_CHAPTERS:
        assert views, (
            f"{page} must show its interactive explorer (ipywidgets) in the committed outputs"
        )
    missing = views - set(state)
    assert not missing, (
        f"{page}: {len(missing)} widget outputs have no saved state; re-run with "
        "`make notebooks` (it stores widget state)"
    )
    progress = [
        m
        for m, s in state.items()
        if s.get("model_name") in ("FloatProgressModel", "IntProgressModel")
    ]
    assert not progress, (
        f"{page}: saved state holds progress-bar widgets (tqdm); switch progress off"
    )


def _figures(page: str) -> int:
    """Image outputs the rendered page must show (cells tagged remove-* are not rendered)."""
    return sum(
        1
        for c in _notebook(page)["cells"]
        if c["cell_type"] == "code" and not _tags(c) & {"remove-output", "remove-cell"}
        for o in c.get("outputs", [])
        if any(m in o.get("data", {}) for m in IMAGE_MIMES)
    )


@pytest.mark.parametrize("page", CHAPTERS, ids=[p.split("/")[-1] for p in CHAPTERS])
def test_chapter_has_figures(page):
    assert _figures(page) >= 1, f"{page}: a chapter shows at least one figure"


# ---------------------------------------------------------------------------- the build
@dataclass
class Build:
    returncode: int
    log: str
    html: Path
    seconds: float


def _jupyter_book() -> str:
    exe = Path(sys.executable).with_name("jupyter-book")
    return str(exe) if exe.exists() else (shutil.which("jupyter-book") or "jupyter-book")


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Build:
    """The book built from the committed outputs into a temporary folder (_build is untouched)."""
    out = tmp_path_factory.mktemp("book")
    start = time.perf_counter()
    proc = subprocess.run(
        [
            _jupyter_book(),
            "build",
            str(ROOT),
            "-W",
            "-n",
            "--keep-going",
            "--path-output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
    )
    build = Build(
        proc.returncode,
        proc.stdout + proc.stderr,
        out / "_build" / "html",
        time.perf_counter() - start,
    )
    print(f"book built in {build.seconds:.0f} s -> {build.html}")
    return build


def _need_html(book: Build) -> None:
    if not (book.html / "index.html").is_file():
        pytest.fail("the book did not build (see test_book_builds_clean)")


def _page_html(book: Build, page: str) -> str:
    path = book.html / f"{page}.html"
    if not path.is_file():
        pytest.fail(
            f"{page}.html is not in the built book: is {page} missing? "
            "(see test_every_toc_entry_exists)"
        )
    return path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_book_builds_clean(book):
    """`jupyter-book build . -W -n --keep-going` succeeds: no warning, no missing reference."""
    lines = [
        ln for ln in book.log.splitlines() if re.search(r"WARNING|ERROR|CRITICAL|Traceback", ln)
    ]
    assert book.returncode == 0 and not lines, (
        f"the book build failed (exit {book.returncode}):\n"
        + "\n".join((lines or book.log.splitlines())[-40:])
    )


class _Assets(HTMLParser):
    """Scripts, stylesheets, images, links and the text of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.classes: list[str] = []
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.classes += a.get("class", "").split()
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        elif tag == "link" and "stylesheet" in a.get("rel", "").split():
            self.styles.append(a.get("href", ""))
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])

    @classmethod
    def of(cls, html: str) -> _Assets:
        parser = cls()
        parser.feed(html)
        return parser


def _external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme and parts.scheme not in ("data", "blob")) or url.startswith("//")


@pytest.mark.slow
def test_pages_load_nothing_from_outside_the_book(book):
    """Every built HTML file loads scripts and stylesheets by relative URLs only."""
    _need_html(book)
    bad = []
    for path in sorted(book.html.rglob("*.html")):
        assets = _Assets.of(path.read_text(encoding="utf-8", errors="replace"))
        bad += [
            f"{path.relative_to(book.html)}: {u}"
            for u in assets.scripts + assets.styles
            if _external(u)
        ]
    assert not bad, "pages load from outside the book:\n" + "\n".join(bad)


@pytest.mark.slow
def test_colab_buttons_open_this_repository(book):
    _need_html(book)
    for page in CHAPTERS:
        html = _page_html(book, page)
        colab = [u for u in _Assets.of(html).links if "colab.research.google.com" in u]
        assert colab == [_colab_url(page)], (
            f"{page}: Colab links {colab}, expected {_colab_url(page)}"
        )
        assert REPOSITORY_URL.removeprefix("https://github.com/") in colab[0]


class _Anchors(HTMLParser):
    """The ids an HTML document defines (link targets) and the hrefs of its links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.ids.update(v for k, v in a.items() if k in ("id", "name") and v)
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])


# A file name that linkify turned into a web address: http://CONTRIBUTING.md (.md is a TLD).
_BARE_FILE_LINK = re.compile(r"^https?://[\w.-]+\.(md|py|ipynb|ya?ml|toml|txt|cfg|csv)/?$", re.I)


@pytest.mark.slow
def test_internal_links_resolve(book):
    """Every link of the built book to one of its pages or anchors resolves; no bare file names."""
    from urllib.parse import unquote

    _need_html(book)
    docs: dict[Path, _Anchors] = {}

    def doc(path: Path) -> _Anchors:
        if path not in docs:
            parser = _Anchors()
            parser.feed(path.read_text(encoding="utf-8", errors="replace"))
            docs[path] = parser
        return docs[path]

    bad = []
    pages = [p for p in sorted(book.html.rglob("*.html")) if "_static" not in p.parts]
    for page in pages:
        where = page.relative_to(book.html)
        for href in doc(page).hrefs:
            if _BARE_FILE_LINK.match(href):
                bad.append(f"{where}: {href} (a file name turned into a web address)")
                continue
            parts = urlsplit(href)
            if parts.scheme or href.startswith("//"):
                continue  # the outside world, mailto:, javascript:
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                bad.append(f"{where}: {href} (no such file in the book)")
            elif (
                parts.fragment
                and target.suffix == ".html"
                and unquote(parts.fragment) not in doc(target).ids
            ):
                bad.append(f"{where}: {href} (no anchor #{parts.fragment} in {target.name})")
    assert pages and not bad, f"{len(bad)} broken links:\n" + "\n".join(bad[:40])


# ---------------------------------------------------------------------------- the browser
def _chromium() -> str | None:
    for name in (
        os.environ.get("NEGREC_CHROMIUM"),
        "chromium",
        "google-chrome",
        "google-chrome-stable",
        "chromium-browser",
    ):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = _chromium()
    if exe is None:
        if os.environ.get("NEGREC_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "NEGREC_REQUIRE_BROWSER=1 but no chromium/google-chrome on PATH "
                "(set NEGREC_CHROMIUM to the binary)"
            )
        pytest.skip(
            "no Chromium on PATH: the rendered pages are not checked "
            "(apt-get install chromium; CI sets NEGREC_REQUIRE_BROWSER=1)"
        )
    return exe


# Report-only: the page behaves exactly as for a reader, and Chromium reports to us every load
# that would leave the book's origin (the proxy below refuses the load itself).
_CSP = "default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:; report-uri /__csp_report"


@dataclass
class _Server:
    """The built book on 127.0.0.1, doubling as the browser's proxy, which refuses the world."""

    root: Path
    requests: list[tuple[str, int]] = field(default_factory=list)  # (path, status) from the book
    outside: list[str] = field(default_factory=list)  # proxy attempts (any process)
    csp: list[dict] = field(default_factory=list)  # page loads from outside
    port: int = 0

    def start(self) -> _Server:
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(server.root), **kwargs)

            def log_message(self, *args):  # quiet
                pass

            def log_request(self, code="-", size="-"):
                if self.path.startswith("/"):  # the book's own files, not proxy requests
                    server.requests.append((self.path, int(code) if str(code).isdigit() else 0))

            def end_headers(self):
                if self.path.split("?")[0].endswith((".html", "/")):
                    self.send_header("Content-Security-Policy-Report-Only", _CSP)
                super().end_headers()

            def do_GET(self):
                if self.path.startswith(("http://", "https://")):
                    server.outside.append(self.path)
                    self.send_error(403, "negrec test: no network")
                    return
                super().do_GET()

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                if self.path.startswith("/__csp_report"):
                    try:
                        server.csp.append(json.loads(body or b"{}").get("csp-report", {}))
                    except ValueError:
                        server.csp.append({"raw": body[:200].decode("latin-1")})
                    self.send_response(204)
                    self.end_headers()
                    return
                server.outside.append(f"POST {self.path}")
                self.send_error(403, "negrec test: no network")

            def do_CONNECT(self):
                server.outside.append(f"CONNECT {self.path}")
                self.send_error(403, "negrec test: no network")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def served(book) -> _Server:
    _need_html(book)
    server = _Server(book.html).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    target = os.environ.get("NEGREC_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


# What Chromium's log (--enable-logging=stderr) shows for a JavaScript error on the page: an
# uncaught exception or promise rejection, or console.error with an Error.
_CONSOLE = re.compile(r':CONSOLE[:(]\d+\)?\] "(.*)", source: (\S*)')
_JS_ERROR = re.compile(r"Uncaught|\b(Type|Syntax|Reference|Range)Error\b|^Error\b")


def _console_errors(log: str) -> list[str]:
    """JavaScript errors in Chromium's log of one page load."""
    return [
        f"{m.group(1)} ({m.group(2).rsplit('/', 1)[-1]})"
        for m in _CONSOLE.finditer(log)
        if _JS_ERROR.search(m.group(1))
    ]


def test_console_errors_are_recognised():
    log = (
        '[1:1:1206/052310.127801:INFO:CONSOLE:63] "Uncaught SyntaxError: Identifier '
        "'THEBE_JS_URL' has already been declared\", source: http://x/p.html (63)\n"
        '[1:1:1206/052311.396602:INFO:CONSOLE:6] "Uncaught (in promise) TypeError: Cannot read '
        "properties of undefined (reading 'Queue')\", source: http://x/embed-amd.js (6)\n"
        '[1:1:1206/052308.086044:INFO:CONSOLE:1] "Got invalid theme mode: . Resetting to '
        'auto.", source: http://x/theme.js (1)\n'
    )
    errors = _console_errors(log)
    assert len(errors) == 2 and "THEBE_JS_URL" in errors[0] and "Queue" in errors[1]


def _render(
    chromium: str,
    server: _Server,
    page: str,
    shot: Path,
    tmp: Path,
    console: list[str] | None = None,
) -> str:
    """The page's DOM after its JavaScript ran (virtual time), and a screenshot; JavaScript
    errors the page logged are appended to ``console``."""
    url = f"http://127.0.0.1:{server.port}/{page}.html"
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        "--mute-audio",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={tmp}",
        f"--proxy-server=http://127.0.0.1:{server.port}",
        "--virtual-time-budget=15000",
        "--window-size=1280,1800",
        f"--screenshot={shot}",
        "--dump-dom",
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "<html" in proc.stdout, (
        f"chromium failed on {page} (exit {proc.returncode}): {proc.stderr[-800:]}"
    )
    if console is not None:
        console += _console_errors(proc.stderr)
    return proc.stdout


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("page", PAGES, ids=[p.split("/")[-1] for p in PAGES])
def test_page_renders_offline(page, chromium, book, served, screenshots, tmp_path):
    """Open the page with every outside host refused; figures, widgets and math must render."""
    static = _page_html(book, page)
    before_req, before_csp = len(served.requests), len(served.csp)
    errors: list[str] = []
    dom_html = _render(
        chromium,
        served,
        page,
        screenshots / f"{page.replace('/', '_')}.png",
        tmp_path / "profile",
        errors,
    )
    time.sleep(0.2)  # let the last reports arrive
    dom = _Assets.of(dom_html)
    origin = f"http://127.0.0.1:{served.port}"
    page_url = f"{origin}/{page}.html"

    # nothing from outside: not in the DOM after scripts ran, not attempted at all (CSP reports)
    outside = [
        u for u in dom.scripts + dom.styles if not urljoin(page_url, u).startswith(origin + "/")
    ]
    assert not outside, f"{page}: the rendered page loads {outside}"
    reports = [r.get("blocked-uri", r) for r in served.csp[before_csp:]]
    assert not reports, f"{page}: the page tried to load from outside the book: {reports}"
    failed = [(p, s) for p, s in served.requests[before_req:] if s >= 400 and p != "/favicon.ico"]
    assert not failed, f"{page}: requests that failed inside the book: {failed}"
    assert (screenshots / f"{page.replace('/', '_')}.png").stat().st_size > 10_000
    assert not errors, f"{page}: JavaScript errors in the console: {errors}"

    # math: every formula of the page typeset by the vendored MathJax, with its fonts
    n_math = _Assets.of(static).classes.count("math")
    if n_math:
        assert dom.tags.get("mjx-container", 0) >= n_math, (
            f"{page}: {n_math} formulas but {dom.tags.get('mjx-container', 0)} typeset by MathJax"
        )
        assert not dom.tags.get("mjx-merror"), f"{page}: MathJax reports a TeX error"
        fonts = [
            p for p, s in served.requests[before_req:] if "/mathjax/" in p and p.endswith(".woff")
        ]
        assert fonts, f"{page}: MathJax loaded no font from _static/mathjax"

    if page not in CHAPTERS:
        return
    # figures: at least as many images as the notebook has image outputs
    n_fig = _figures(page)
    shown = [u for u in dom.images if "_images/" in u or u.startswith("data:image")]
    assert len(shown) >= n_fig, f"{page}: {n_fig} figures in the notebook, {len(shown)} on the page"
    for u in shown:
        if "_images/" in u:
            assert (book.html / urlsplit(urljoin(page_url, u)).path.lstrip("/")).is_file(), u
    # widgets: drawn by the vendored html-manager from the saved state
    n_views = static.count(f'type="{WIDGET_VIEW}"')
    if n_views or page in WIDGET_CHAPTERS:
        assert n_views, f"{page}: no widget output in the built page (is the widget state saved?)"
        assert dom.classes.count("jupyter-widgets") >= n_views, (
            f"{page}: {n_views} widget outputs, {dom.classes.count('jupyter-widgets')} drawn"
        )
        assert "Error displaying widget" not in dom_html, (
            f"{page}: html-manager could not draw a widget"
        )
    # the Colab button opens this chapter of this repository
    assert _colab_url(page) in dom.links, f"{page}: no Colab link to {_colab_url(page)}"
