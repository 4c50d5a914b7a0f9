"""Block Kit builders: pure functions from domain values to Slack message/view dicts.

Handlers never assemble Block Kit JSON inline; they call these.
"""
