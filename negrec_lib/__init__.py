"""negrec_lib: sequential music recommendation that learns from skipped tracks.

Companion library of the negrec book (Seshadri & Knees, 2023, reimplemented and examined).
"""

from __future__ import annotations

__version__ = "0.1.0"

# The repository the book's Colab buttons and install cells point at. A fork changes this
# line and `repository.url` in _config.yml (see README, "Forking").
REPOSITORY_URL = "https://github.com/negrec/negrec"

# The release every chapter's first cell installs on Colab (``negrec[viz] @ git+<URL>@<RELEASE>``):
# a tag of REPOSITORY_URL, created when the book is published (``git tag v0.1.0 && git push
# --tags``). book/apply_chapter_conventions.py writes it into the chapters and tests/
# test_conventions.py keeps them in step.
RELEASE = f"v{__version__}"
