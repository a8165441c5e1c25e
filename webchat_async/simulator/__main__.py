"""``python -m webchat_async.simulator [--host HOST] [--port PORT] ...``.

The same options as ``webchat-async simulator``: both use one argument list
(:func:`webchat_async.cli._simulator.add_simulator_arguments`).
"""

from __future__ import annotations

import sys

from ..cli._simulator import main

if __name__ == "__main__":
    sys.exit(main())
