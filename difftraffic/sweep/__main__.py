"""``python -m difftraffic.sweep ...`` is ``difftraffic sweep ...``."""

import sys

from difftraffic.sweep.command import main

sys.exit(main())
