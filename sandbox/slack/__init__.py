"""A stateful, faithful fake of Slack's Web API over real HTTP, and correctly signed requests."""
