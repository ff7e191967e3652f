"""The skip label, defined once: what counts as a skipped track.

MSSD records how early a track was skipped as three flags (``skip_1`` very early ... ``skip_3``
before the end); negrec stores their sum, the skip strength 0-3 (`negrec_lib.data.schema`). The
paper labels a track skipped when ``skip_2`` is set, i.e. strength >= 2; ``data.skip_strength``
moves that threshold. Every reader of the label (the prepared folder's statistics, the training
batches, the evaluation's skipped targets, the attention analysis) calls `is_skipped`.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def is_skipped(strength: T, skip_strength: int) -> T:
    """The skip label of tracks with this skip ``strength`` (a number, numpy array or tensor).

    Examples
    --------
    >>> import numpy as np
    >>> is_skipped(np.array([0, 1, 2, 3]), 2).tolist()
    [False, False, True, True]
    """
    return strength >= skip_strength  # type: ignore[operator,return-value]
