"""A stateful, faithful fake of Jira's REST API over real HTTP (tests only)."""
