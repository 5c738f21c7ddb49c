"""`python -m dashboard`: the same as the `customer-dashboard` command."""

import sys

from .cli import main

sys.exit(main())
