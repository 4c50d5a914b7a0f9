"""Capturing incident channels live (message events) and backfilling what the bot missed.

Service functions take a `Session`; the caller owns the transaction."""
