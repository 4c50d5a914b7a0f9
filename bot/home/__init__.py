"""App Home: a person's open follow-ups and the postmortems they own."""
