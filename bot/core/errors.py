"""Errors that users can read."""

from __future__ import annotations

# What a person is told when the database does not answer (said at the HTTP boundary, by the
# error boundary of listeners, and by nothing else).
DATABASE_UNAVAILABLE = (
    "Sorry, the bot's database isn't answering right now; what you sent was not saved. "
    "Please try again in a minute."
)
# The database stopped answering while saving: the truth is that nobody knows yet.
SAVE_UNKNOWN = (
    "Sorry, the bot's database stopped answering while saving that, so I can't tell whether it "
    "was saved. In a minute, check (`/timeline list`, `/followup list`) before sending it again."
)


class UserError(Exception):
    """Something the user asked for cannot be done; the message says why and how to do it right.

    Raised by parsers and domain code, turned into an ephemeral reply in one place
    (`handlers.errors`).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
