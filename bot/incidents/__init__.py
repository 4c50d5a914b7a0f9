"""Incidents: declare, severity and status changes, each on the timeline.

Service functions take a `Session`; the caller owns the transaction."""
