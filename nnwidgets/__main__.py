"""``python -m nnwidgets export ...``: the same as the ``nnwidgets`` command."""

import sys

from nnwidgets.cli import main

sys.exit(main())
