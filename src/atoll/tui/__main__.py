"""``python -m atoll.tui [--read-only]``: the fleet view without the ``atoll`` command."""

from __future__ import annotations

import argparse
import sys

from atoll.core.errors import AtollError
from atoll.tui import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m atoll.tui",
                                     description="atoll's fleet view")
    parser.add_argument("--read-only", action="store_true",
                        help="hide and refuse every action that changes something")
    args = parser.parse_args(argv)
    try:
        create_app(read_only=args.read_only).run()
    except AtollError as exc:
        print(f"atoll: error: {exc}", file=sys.stderr)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        print("atoll: error: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
