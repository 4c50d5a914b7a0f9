"""Jira: export follow-ups as Jira issues and keep their status in sync both ways.

`gateway` is the only module that talks to Jira (the `jira` package); `export`, `inbound`
(Jira → Slack: webhooks and polling) and `outbound` (Slack → Jira transitions) are the rules;
`flows.JiraSync` ties them to the database, Slack and the clock for handlers and jobs.
Rule functions take a `Session` or the `Database` they open short transactions on; see each.
"""
