"""``python -m mlws.runtime``: the scoring server configured by environment variables only.

This is the entrypoint of every mlws image; it imports neither typer nor pulumi.
"""

import sys

from mlws.runtime.server import main

if __name__ == "__main__":
    sys.exit(main())
