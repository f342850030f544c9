"""One exception type for everything a user can fix: bad input, bad config, bad paths.

The CLI prints a `UserError` as a single readable message and exits non-zero, never with a
traceback. Library callers can catch it like any exception.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; `str(err)` is the whole message shown to them."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  hint: {hint}")
