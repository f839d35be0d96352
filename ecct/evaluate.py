"""``python -m ecct.evaluate``: the former name of ``python -m ecct.score`` (same arguments), kept as an alias."""

from __future__ import annotations

import sys

from ecct.score import main

if __name__ == "__main__":
    sys.exit(main())
