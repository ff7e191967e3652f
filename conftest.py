"""Repository-wide pytest settings (tests/conftest.py holds the test fixtures).

nbval, which executes every chapter in `make test`, waits at most 5 seconds between two messages
of a running cell's output (a constant in nbval, not an option). A chapter cell that trains while
drawing its live learning curve sends many display updates, and on a loaded two-core machine one
gap can exceed 5 s: the cell then fails although it ran correctly. The chapters' cells get 60 s.
"""

from __future__ import annotations

NBVAL_OUTPUT_TIMEOUT = 60


def pytest_collection_modifyitems(items):
    for item in items:
        if hasattr(item, "output_timeout"):  # an nbval notebook cell
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT
