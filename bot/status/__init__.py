"""Stakeholder updates, affected components and the public status page.

Service functions take a `Session`; the caller owns the transaction."""
