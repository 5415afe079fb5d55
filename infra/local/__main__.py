"""`python -m infra.local` (what `make run` runs): serve Ventanilla on this machine."""

import sys

from infra.local.stack import main

sys.exit(main())
