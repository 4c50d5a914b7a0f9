"""Labels (v1 add / list / remove) and search: ``/content`` by title, ``/content/search`` with
cursor paging and ``/search`` with start/limit, over the CQL subset a bot uses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.confluence import Account, FakeConfluence

V1 = "/wiki/rest/api"


@pytest.fixture
def fake() -> Iterator[FakeConfluence]:
    with FakeConfluence() as server:
        yield server


def call(
    fake: FakeConfluence, method: str, path: str, *, account: Account | None = None, **kw: Any
) -> requests.Response:
    return requests.request(
        method, fake.url + path, headers=fake.auth_headers(account), timeout=5, **kw
    )


def make(fake: FakeConfluence, title: str, *labels: str, parent: str | None = None) -> str:
    payload: dict[str, Any] = {"type": "page", "title": title, "space": {"key": "OPS"}}
    if parent:
        payload["ancestors"] = [{"id": parent}]
    created = call(fake, "POST", f"{V1}/content", json=payload)
    assert created.status_code == 200, created.text
    page_id = str(created.json()["id"])
    if labels:
        items = [{"prefix": "global", "name": name} for name in labels]
        assert call(fake, "POST", f"{V1}/content/{page_id}/label", json=items).status_code == 200
    return page_id


def search_ids(fake: FakeConfluence, cql: str, **params: Any) -> list[str]:
    answer = call(fake, "GET", f"{V1}/search", params={"cql": cql, **params})
    assert answer.status_code == 200, answer.text
    return [r["content"]["id"] for r in answer.json()["results"]]


def test_labels_add_list_and_remove(fake: FakeConfluence) -> None:
    page_id = make(fake, "INC-1 postmortem")
    single = call(
        fake, "POST", f"{V1}/content/{page_id}/label", json={"prefix": "global", "name": "SEV-2"}
    )
    assert single.status_code == 200
    assert [x["name"] for x in single.json()["results"]] == ["sev-2"]  # lower-cased
    many = [{"prefix": "global", "name": "postmortem"}, {"name": "sev-2"}]
    both = call(fake, "POST", f"{V1}/content/{page_id}/label", json=many)
    assert [(x["prefix"], x["name"]) for x in both.json()["results"]] == [
        ("global", "sev-2"),
        ("global", "postmortem"),
    ]
    listed = call(fake, "GET", f"{V1}/content/{page_id}/label").json()
    assert listed["size"] == 2 and listed["results"][0]["label"] == "sev-2"
    assert call(fake, "DELETE", f"{V1}/content/{page_id}/label/sev-2").status_code == 204
    by_query = call(fake, "DELETE", f"{V1}/content/{page_id}/label", params={"name": "postmortem"})
    assert by_query.status_code == 204
    assert fake.page(page_id).labels == ()
    assert call(fake, "DELETE", f"{V1}/content/{page_id}/label/sev-2").status_code == 404


def test_label_ids_are_shared_across_pages_and_bad_labels_refused(fake: FakeConfluence) -> None:
    first, second = make(fake, "A", "postmortem"), make(fake, "B", "postmortem")
    ids = {
        call(fake, "GET", f"{V1}/content/{p}/label").json()["results"][0]["id"]
        for p in (first, second)
    }
    assert len(ids) == 1
    for bad in ({"name": "has space"}, {"name": "a:b"}, {"prefix": "bogus", "name": "x"}, {}):
        refused = call(fake, "POST", f"{V1}/content/{first}/label", json=bad)
        assert refused.status_code == 400, bad
    assert fake.page(first).labels == ("postmortem",)


def test_content_by_space_and_title(fake: FakeConfluence) -> None:
    page_id = make(fake, "INC-3 postmortem")
    hit = call(
        fake,
        "GET",
        f"{V1}/content",
        params={"spaceKey": "OPS", "title": "INC-3 postmortem", "expand": "body.storage,version"},
    ).json()
    assert [r["id"] for r in hit["results"]] == [page_id]
    assert hit["results"][0]["version"]["number"] == 1
    miss = call(fake, "GET", f"{V1}/content", params={"spaceKey": "OPS", "title": "Nope"}).json()
    assert (miss["results"], miss["size"]) == ([], 0)
    assert "next" not in miss["_links"]


def test_cql_by_label_pages_through_content_search_with_cursors(fake: FakeConfluence) -> None:
    wanted = [make(fake, f"INC-{n} postmortem", "postmortem") for n in range(7)]
    make(fake, "Unrelated", "runbook")
    seen: list[str] = []
    path = f"{V1}/content/search"
    params: dict[str, Any] | None = {"cql": 'label = "postmortem" and type = page', "limit": 3}
    pages = 0
    while True:
        answer = call(fake, "GET", path, params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["limit"] == 3 and body["size"] == len(body["results"])
        seen += [r["id"] for r in body["results"]]
        pages += 1
        nxt = body["_links"].get("next")
        if nxt is None:
            break
        assert nxt.startswith("/rest/api/content/search?") and "cursor=" in nxt
        path, params = "/wiki" + nxt, None
    assert seen == wanted and pages == 3


def test_search_endpoint_start_limit_and_total_size(fake: FakeConfluence) -> None:
    wanted = [make(fake, f"INC-{n}", "postmortem") for n in range(5)]
    first = call(fake, "GET", f"{V1}/search", params={"cql": "label = postmortem", "limit": 2})
    body = first.json()
    assert body["totalSize"] == 5 and body["size"] == 2
    assert body["cqlQuery"] == "label = postmortem"
    assert "next" in body["_links"]
    rest = search_ids(fake, "label = postmortem", start=2, limit=10)
    assert [r["content"]["id"] for r in body["results"]] + rest == wanted
    assert body["results"][0]["resultGlobalContainer"]["title"] == "Operations"


def test_cql_subset(fake: FakeConfluence) -> None:
    parent = make(fake, "Postmortems", "index")
    a = make(fake, "INC-1 db outage", "postmortem", "sev-1", parent=parent)
    b = make(fake, "INC-2 dns", "postmortem", "sev-2", parent=parent)
    c = make(fake, "INC-3 db failover", "sev-2")
    fake.add_space("SEC", "Security")
    other = fake.create_as_person("SEC", "INC-4", labels=["postmortem"]).id
    assert search_ids(fake, 'label in ("sev-1", "sev-2")') == [a, b, c]
    assert search_ids(fake, 'label = "postmortem" AND space = "OPS"') == [a, b]
    assert search_ids(fake, "label = postmortem and space.key = SEC") == [other]
    assert search_ids(fake, f"parent = {parent}") == [a, b]
    assert search_ids(fake, f"ancestor = {parent} and label = sev-2") == [b]
    assert search_ids(fake, 'title = "INC-2 dns"') == [b]
    assert search_ids(fake, 'title ~ "db" order by title desc') == [c, a]
    assert search_ids(fake, "type = blogpost") == []
    assert search_ids(fake, "label = sev-2 and not parent = " + parent) == [c]
    assert search_ids(fake, "(label = sev-1 or label = sev-2) and space != SEC") == [a, b, c]


@pytest.mark.parametrize(
    "cql",
    [
        "label = ",
        "labels = postmortem",
        "creator = currentUser()",
        'label = "x" and',
        "text ~ outage",
        'space in ("OPS"',
        "",
    ],
)
def test_unsupported_or_malformed_cql_is_a_400(fake: FakeConfluence, cql: str) -> None:
    for path in (f"{V1}/search", f"{V1}/content/search"):
        refused = call(fake, "GET", path, params={"cql": cql})
        assert refused.status_code == 400, (path, cql)
        if cql:
            assert refused.json()["message"] == f"Could not parse cql : {cql}"


def test_search_hides_pages_the_caller_cannot_read(fake: FakeConfluence) -> None:
    public = make(fake, "Public", "postmortem")
    private = make(fake, "Private", "postmortem")
    fake.restrict_as_person(private, read_users=[fake.bot.account_id])
    assert search_ids(fake, "label = postmortem") == [public, private]
    as_person = call(
        fake, "GET", f"{V1}/search", params={"cql": "label = postmortem"}, account=fake.person
    )
    assert [r["content"]["id"] for r in as_person.json()["results"]] == [public]
    assert as_person.json()["totalSize"] == 1
