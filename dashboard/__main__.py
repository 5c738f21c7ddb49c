"""`python -m dashboard`: the same as the `customer-dashboard` command."""

import sys

from .cli import main

if __name__ == "__main__":  # importing this module (pkgutil walks, docs) runs nothing
    sys.exit(main())
