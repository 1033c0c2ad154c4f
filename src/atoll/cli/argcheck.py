"""Refusing command-line arguments that are not valid UTF-8, before any command runs.

Python decodes ``argv`` with ``surrogateescape`` (PEP 383), so an argument such as
``$'\\xff'`` arrives as a string holding a lone surrogate (U+DC80-U+DCFF) that every later
``.encode()`` (tmux argv, JSON, the ledger) would reject with a traceback. atoll's names,
typed text and options are all text, so such an argument is a usage error (exit 2).
"""

from __future__ import annotations

from collections.abc import Sequence

from atoll.core.errors import UsageError


def check_utf8_args(args: Sequence[str]) -> None:
    """Raise UsageError naming the first argument (1-based) that is not valid UTF-8."""
    for number, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"argument {number} is not valid UTF-8") from None
