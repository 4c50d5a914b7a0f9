"""REST v1 user endpoints the bot needs: who it is, and who has an e-mail address.

``GET /user/current`` answers the caller as v1 ``User`` (Cloud: ``accountId``; Data Center:
``username`` and ``userKey``), on both deployments. ``GET /search/user?cql=...`` is Cloud's
user search (Data Center has no such endpoint: 404 there, as sooperset/mcp-atlassian#756
reports); the fake understands the one clause the bot sends, ``user.email = "<address>"``
(matched case-insensitively), and answers other CQL with Confluence's "Could not parse cql" 400.
Results are ``SearchPageResponseSearchResult`` items whose ``user`` is the v1 ``User`` (its
``email`` stays empty, as Cloud's privacy settings usually leave it).
"""

from __future__ import annotations

import re

from sandbox.confluence.model import ConfluenceError
from sandbox.confluence.render_v1 import user_json
from sandbox.confluence.request import Reply, Request
from sandbox.confluence.state import ConfluenceState

EMAIL_CLAUSE = re.compile(r"""\s*user\.email\s*=\s*(?P<q>["'])(?P<email>[^"']+)(?P=q)\s*""")


def current_user(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    return Reply(200, user_json(req.view, req.caller))


def search_users(st: ConfluenceState, req: Request, m: re.Match[str]) -> Reply:
    if not st.cfg.cloud:
        raise ConfluenceError(404, "null for uri: /rest/api/search/user")
    text = req.arg("cql") or ""
    match = EMAIL_CLAUSE.fullmatch(text)
    if match is None:
        raise ConfluenceError(400, f"Could not parse cql : {text}")
    wanted = match["email"].strip().lower()
    found = [a for a in st.accounts.values() if a.email.lower() == wanted]
    results = [
        {"user": user_json(req.view, a.account_id), "title": a.display_name, "entityType": "user"}
        for a in found
    ]
    return Reply(
        200,
        {
            "results": results,
            "start": 0,
            "limit": 25,
            "size": len(results),
            "totalSize": len(results),
            "cqlQuery": text,
            "searchDuration": 1,
            "_links": {"base": req.view.base, "context": req.view.context},
        },
    )
