"""The route table: which handler serves which (API, method, path).

v1 is served under ``/wiki/rest/api`` (Cloud) and ``/rest/api`` (Data Center, and what
atlassian-python-api builds from ``_links.next`` on Cloud); v2 under ``/wiki/api/v2``, on Cloud
only (Data Center has no v2 API). Paths are matched after the API prefix is stripped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sandbox.confluence import routes_content as content
from sandbox.confluence import routes_restrictions as restrictions
from sandbox.confluence import routes_search as search
from sandbox.confluence import routes_users as users
from sandbox.confluence import routes_v2 as v2
from sandbox.confluence.request import V1, V2, Handler

ID = r"(?P<id>\d+)"
OP = r"(?P<op>[^/]+)"
BY_OP = rf"/content/{ID}/restriction/byOperation/{OP}"

ROUTES: list[tuple[str, str, str, Handler]] = [
    (V1, "GET", r"/space/(?P<key>[^/]+)", content.get_space),
    (V1, "GET", r"/content", search.list_content),
    (V1, "POST", r"/content", content.create_content),
    (V1, "GET", r"/content/search", search.content_search),
    (V1, "GET", r"/search", search.search),
    (V1, "GET", r"/search/user", users.search_users),
    (V1, "GET", r"/user/current", users.current_user),
    (V1, "GET", rf"/content/{ID}", content.get_content),
    (V1, "PUT", rf"/content/{ID}", content.update_content),
    (V1, "DELETE", rf"/content/{ID}", content.delete_content),
    (V1, "GET", rf"/content/{ID}/history", content.get_history),
    (V1, "GET", rf"/content/{ID}/label", content.get_labels),
    (V1, "POST", rf"/content/{ID}/label", content.add_labels),
    (V1, "DELETE", rf"/content/{ID}/label", content.delete_label),
    (V1, "DELETE", rf"/content/{ID}/label/(?P<label>[^/]+)", content.delete_label),
    (V1, "GET", rf"/content/{ID}/restriction", restrictions.get_restrictions),
    (V1, "PUT", rf"/content/{ID}/restriction", restrictions.put_restrictions),
    (V1, "POST", rf"/content/{ID}/restriction", restrictions.post_restrictions),
    (V1, "DELETE", rf"/content/{ID}/restriction", restrictions.delete_restrictions),
    (V1, "GET", rf"/content/{ID}/restriction/byOperation", restrictions.by_operation),
    (V1, "GET", BY_OP, restrictions.one_operation),
]
for _method in ("GET", "PUT", "DELETE"):
    ROUTES += [
        (V1, _method, rf"{BY_OP}/user", restrictions.subject),
        (V1, _method, rf"{BY_OP}/byGroupId/(?P<group>[^/]+)", restrictions.subject),
        (V1, _method, rf"{BY_OP}/group/(?P<group>[^/]+)", restrictions.subject),
    ]
ROUTES += [
    (V2, "GET", r"/spaces", v2.list_spaces),
    (V2, "GET", r"/spaces/(?P<id>\d+)", v2.get_space),
    (V2, "GET", r"/spaces/(?P<space>\d+)/pages", v2.list_pages),
    (V2, "GET", r"/pages", v2.list_pages),
    (V2, "POST", r"/pages", v2.create_page),
    (V2, "GET", rf"/pages/{ID}", v2.get_page),
    (V2, "PUT", rf"/pages/{ID}", v2.update_page),
    (V2, "DELETE", rf"/pages/{ID}", v2.delete_page),
    (V2, "GET", rf"/pages/{ID}/labels", v2.page_labels),
]
COMPILED = [(api, method, re.compile(pattern + r"/?"), h) for api, method, pattern, h in ROUTES]


@dataclass(frozen=True)
class Target:
    """Where a raw path points: the API, the path inside it, and the site base it implies."""

    api: str
    path: str
    prefix: str  # "/wiki" or ""


def locate(raw_path: str, *, cloud: bool) -> Target | None:
    for api, prefix, site in ((V1, "/wiki/rest/api", "/wiki"), (V1, "/rest/api", "")):
        if raw_path == prefix or raw_path.startswith(prefix + "/"):
            return Target(api, raw_path[len(prefix) :] or "/", site)
    if cloud and (raw_path == "/wiki/api/v2" or raw_path.startswith("/wiki/api/v2/")):
        return Target(V2, raw_path[len("/wiki/api/v2") :] or "/", "/wiki")
    return None


def route(api: str, method: str, path: str) -> tuple[Handler, re.Match[str]] | list[str]:
    """The handler and match, or the methods the path allows (empty: no such path)."""
    allowed: list[str] = []
    for route_api, route_method, pattern, handler in COMPILED:
        if route_api != api:
            continue
        match = pattern.fullmatch(path)
        if match is None:
            continue
        if route_method == method:
            return handler, match
        allowed.append(route_method)
    return sorted(set(allowed))
