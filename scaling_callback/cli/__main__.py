"""`python3 -m scaling_callback.cli ...`: the same as the `scaling-callback` command."""
import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
