"""Stateful fakes of the services the bot talks to (Slack, Jira, Confluence), for the demo,
tests and benchmarks. The bot never imports this package, except its `demo` command."""
