"""``python -m difftraffic ...`` is the ``difftraffic`` command."""

import sys

from difftraffic.cli.commands import main

sys.exit(main())
