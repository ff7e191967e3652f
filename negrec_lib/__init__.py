"""negrec_lib: sequential music recommendation that learns from skipped tracks.

Companion library of the negrec book (Seshadri & Knees, 2023, reimplemented and examined).
"""
from __future__ import annotations

__version__ = "0.1.0"

# The repository the book's Colab buttons and install cells point at. A fork changes this
# line and `repository.url` in _config.yml (see README, "Forking").
REPOSITORY_URL = "https://github.com/negrec/negrec"
