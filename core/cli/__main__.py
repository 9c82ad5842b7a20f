"""`python -m core.cli …`: run one command and exit with its code (see core/cli/__init__.py)."""

import sys

from core.cli.run import main

sys.exit(main())
