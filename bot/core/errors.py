"""Errors that users can read."""

from __future__ import annotations


class UserError(Exception):
    """Something the user asked for cannot be done; the message says why and how to do it right.

    Raised by parsers and domain code, turned into an ephemeral reply in one place
    (`handlers.errors`).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
