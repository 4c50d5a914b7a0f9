"""Sandboxed stand-ins for external services (a faithful fake of Slack's Web API)."""
