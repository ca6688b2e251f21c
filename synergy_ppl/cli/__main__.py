"""``python -m synergy_ppl.cli``."""

import sys

from . import main

sys.exit(main())
