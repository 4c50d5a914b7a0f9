"""What features share to talk to Slack: the Web API client, message lookup, mrkdwn, users,
channels, workspaces (and their OAuth install), and Events API de-duplication."""
