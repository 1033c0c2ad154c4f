"""``atoll ls --watch``: list again every INTERVAL seconds; a table redrawn in place, or
with ``--json`` one JSON object per change (atoll.core.watch). Ends on Ctrl-C (exit 0).

Each round is one full listing, as ``atoll ls`` does; the fleet view and this stream learn
of changes from the same listing code (events instead of polling are issue 19's)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import click

from atoll.core.models import Listing

#: Shortest and longest period between listings (seconds).
MIN_INTERVAL, MAX_INTERVAL = 0.5, 3600.0


def watch(get: Callable[[], Listing], *, as_json: bool, interval: float) -> None:
    """Run the loop (see module docstring); ``get`` makes one listing."""
    from atoll.core.timefmt import rfc3339

    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        from atoll.core.errors import UsageError

        raise UsageError(f"--interval must be between {MIN_INTERVAL:g} and "
                         f"{MAX_INTERVAL:g} seconds")
    before: Listing | None = None
    try:
        while True:
            started = time.monotonic()
            now = get()
            if as_json:
                import msgspec

                from atoll.core.watch import changes

                for obj in changes(before, now, rfc3339(time.time()) or ""):
                    sys.stdout.buffer.write(msgspec.json.encode(obj) + b"\n")
                sys.stdout.flush()
            else:
                _redraw(now, interval)
            before = now
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        return
    except BrokenPipeError:  # the reader went away (`| head`)
        return


def _redraw(listing: Listing, interval: float) -> None:
    from atoll.cli.render import host_problems, row_reasons, table

    tty = sys.stdout.isatty()
    lines = [f"every {interval:g}s, Ctrl-C ends   {time.strftime('%H:%M:%S')}", "",
             *host_problems(listing), *row_reasons(listing), table(listing, color=tty)]
    click.echo(("\x1b[H\x1b[2J" if tty else "") + "\n".join(lines))
