"""Confluence: postmortems published as pages, the way Atlassian's own process keeps them.

`gateway` is the only module that talks to Confluence (plain REST); `storage` turns the
rendered Markdown into storage format and checks it locally; `page` builds a page body and
splices a new rendering into the one people edited; `publish` finds, creates or updates the
one page of an incident (labels, restrictions, 409s).
"""
