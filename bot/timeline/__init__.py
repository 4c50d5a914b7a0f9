"""The incident timeline: `/timeline`, the shortcut and reactions, list, edit and delete.

Service functions take a `Session`; the caller owns the transaction."""
