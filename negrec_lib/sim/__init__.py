"""The session simulator: synthetic listening sessions in the exact MSSD format, with a known truth.

MSSD can no longer be downloaded or redistributed, so this simulator is every reader's data. It
writes the same files as MSSD (book/paper.md section 6) and, beside them, the ground truth of the
process that generated them, so the book can compute an oracle (the best any model could do).
Everything is synthetic; only the marginal statistics are calibrated to real samples.

One idea per module, in the order the data is made:

=============  ===========================================================================
`params`       `ModelParams`, the knobs of the generative model (the sizes are a `SimConfig`)
`streams`      where every random number comes from: seeded streams in a fixed layout
`catalogue`    genres, sub-genres, track vectors, popularity, track features
`process`      the session process: context, shuffle, taste, length, the next track
`behaviour`    skips (the listener-track fit) and the other behaviour columns
`layout`       days, file names, session and track ids
`writer`       the MSSD-format files and the ground truth beside them
`run`          `simulate`, the entry point: check, write to a temporary folder, rename
`truth`        `SimulationTruth`: ids back to latent state, the exact next-track distribution
=============  ===========================================================================

Determinism: all randomness of session ``i`` comes from the block ``i // BLOCK`` (a numpy
``SeedSequence(seed, spawn_key=(tag, block))``) in a fixed layout, so files are byte-identical
for a `SimConfig`, whatever the chunk size used to write them.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from negrec_lib.config import SimConfig
>>> with tempfile.TemporaryDirectory() as d:
...     summary = simulate(Path(d) / "sim", SimConfig(sessions=200, tracks=100, seed=1),
...                        progress=False)
>>> summary.sessions, summary.tracks, len(summary.files)
(200, 100, 10)
"""

from .params import VERSION, ModelParams
from .run import OutputExistsError, SimulationSummary, simulate
from .truth import SimulationTruth

__all__ = [
    "VERSION",
    "ModelParams",
    "OutputExistsError",
    "SimulationSummary",
    "SimulationTruth",
    "simulate",
]
