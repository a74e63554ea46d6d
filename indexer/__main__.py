"""`python -m indexer` runs the medsearch command."""

import sys

from .cli import main

sys.exit(main())
