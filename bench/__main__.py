"""`python -m bench`: run the benchmark suite and write bench/RESULTS.md (see bench/run.py)."""

import sys

from bench.run import main

sys.exit(main())
