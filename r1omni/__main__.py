"""`python -m r1omni` == the `r1omni` console script."""

import sys

from r1omni.cli import main

sys.exit(main())
