"""``python -m webchat_async.simulator [--host HOST] [--port PORT]``."""

from __future__ import annotations

import argparse

from ._serve import add_behaviour_arguments, behaviour_from_args, run


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m webchat_async.simulator",
        description="Serve a local Genesys Cloud Web Chat v2 simulator.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    add_behaviour_arguments(parser)
    args = parser.parse_args(argv)
    run(args.host, args.port, behaviour_from_args(args))


if __name__ == "__main__":
    main()
