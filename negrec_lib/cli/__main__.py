"""``python -m negrec_lib.cli``: the ``negrec`` command."""

import sys

from .entry import main

sys.exit(main())
