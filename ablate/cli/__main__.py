"""``python -m ablate.cli``: the ``ablate`` command."""

import sys

from ablate.cli import main

sys.exit(main())
