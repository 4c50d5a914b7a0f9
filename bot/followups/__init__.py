"""Follow-ups: capture, own, track; the channel announcement and its controls.

Service functions take a `Session`; the caller owns the transaction."""
