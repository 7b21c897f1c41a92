"""``python -m difftraffic ...`` is the ``difftraffic`` command."""

import sys

from .cli import main

sys.exit(main())
