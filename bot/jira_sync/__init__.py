"""Jira: export follow-ups as Jira issues and keep their status in sync both ways.

`gateway` is the only module that talks to Jira (the `jira` package); `export`, `inbound`
(Jira → Slack: webhooks and polling) and `outbound` (Slack → Jira transitions) are the rules;
`service.JiraSync` ties them to the database, Slack and the clock for handlers and jobs.
(Not named `jira`: that would shadow the library.)
"""
