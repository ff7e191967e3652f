"""Read MSSD session logs and track features: validated, streamed in blocks of whole sessions.

The layout is book/paper.md section 6; column names and value sets come from
`negrec_lib.data.schema`, the one module the reader and the simulator share. A log is a file
(`.csv` or `.csv.gz`) or a folder of `log_*.csv[.gz]` files (or the dataset root, with a
`training_set/` folder). Every violation of the format raises `MSSDFormatError` naming the
file, the 1-based line of the decompressed file (the header is line 1) and the column; with
``on_error="drop"`` every session that contains a violation is dropped instead and counted, by
reason, in a `ReadReport`.

The package, one idea a module, on top of the format-free block reader (`csv_blocks`,
`csv_parse`, `csv_columns` in `negrec_lib.data`):

- `files`: finding the files; opening one with its header checked against the schema
- `report`: `ReadReport`, the drop reasons and which violation a line reports first
- `dates`: the spellings of the `date` column
- `decode`: one block of log rows decoded to numpy (worker threads)
- `runs`: rows in flight, a session possibly split across two blocks
- `structure`: the session structure, checked in file order
- `logs`: `iter_log_blocks` and `read_log`
- `features`: `read_track_features`
"""

from negrec_lib.errors import MSSDFormatError

from .decode import VALUE_COLUMNS
from .features import read_track_features
from .files import find_log_files, find_tf_files
from .logs import LogBlock, iter_log_blocks, read_log
from .report import ReadReport

__all__ = [
    "MSSDFormatError",
    "ReadReport",
    "LogBlock",
    "iter_log_blocks",
    "read_log",
    "read_track_features",
    "find_log_files",
    "find_tf_files",
    "VALUE_COLUMNS",
]
