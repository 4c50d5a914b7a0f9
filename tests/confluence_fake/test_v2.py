"""REST v2 (``/wiki/api/v2``): spaces by key, pages (create / read / update / list / labels),
sharing one state with v1, in v2's envelopes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.confluence import Account, FakeConfluence

V1 = "/wiki/rest/api"
V2 = "/wiki/api/v2"


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


def v2_create(fake: FakeConfluence, title: str, storage: str = "<p>v2</p>", **extra: Any) -> Any:
    payload = {
        "spaceId": str(fake.space_id("OPS")),
        "status": "current",
        "title": title,
        "body": {"representation": "storage", "value": storage},
        **extra,
    }
    return call(fake, "POST", f"{V2}/pages", json=payload)


def test_v2_reads_a_page_created_through_v1(fake: FakeConfluence) -> None:
    payload = {
        "type": "page",
        "title": "INC-8 postmortem",
        "space": {"key": "OPS"},
        "body": {"storage": {"value": "<p>From v1</p>", "representation": "storage"}},
    }
    page_id = call(fake, "POST", f"{V1}/content", json=payload).json()["id"]
    call(fake, "POST", f"{V1}/content/{page_id}/label", json={"name": "postmortem"})
    got = call(fake, "GET", f"{V2}/pages/{page_id}", params={"body-format": "storage"})
    assert got.status_code == 200
    page = got.json()
    assert page["body"] == {"storage": {"representation": "storage", "value": "<p>From v1</p>"}}
    assert page["spaceId"] == str(fake.space_id("OPS"))
    assert page["parentId"] == fake.homepage_id() and page["parentType"] == "page"
    assert page["version"]["number"] == 1 and page["authorId"] == fake.bot.account_id
    assert page["_links"]["base"] == f"{fake.url}/wiki"
    assert call(fake, "GET", f"{V2}/pages/{page_id}").json()["body"] == {}
    labels = call(fake, "GET", f"{V2}/pages/{page_id}/labels").json()
    assert [(x["name"], x["prefix"]) for x in labels["results"]] == [("postmortem", "global")]


def test_v2_create_is_readable_through_v1_and_updates_with_versions(fake: FakeConfluence) -> None:
    created = v2_create(fake, "V2 page")
    assert created.status_code == 200, created.text
    page_id = created.json()["id"]
    v1 = call(fake, "GET", f"{V1}/content/{page_id}", params={"expand": "body.storage"}).json()
    assert v1["body"]["storage"]["value"] == "<p>v2</p>"
    update = {
        "id": page_id,
        "status": "current",
        "title": "V2 page",
        "body": {"representation": "storage", "value": "<p>edited</p>"},
        "version": {"number": 2, "message": "Updated by the bot"},
    }
    done = call(fake, "PUT", f"{V2}/pages/{page_id}", json=update)
    assert done.status_code == 200, done.text
    assert done.json()["version"]["number"] == 2
    assert done.json()["version"]["message"] == "Updated by the bot"
    stale = call(fake, "PUT", f"{V2}/pages/{page_id}", json=update)
    assert stale.status_code == 409
    [error] = stale.json()["errors"]
    assert (error["status"], error["code"]) == (409, "CONFLICT")
    assert "Current version is: 2" in error["title"]
    no_status = {k: v for k, v in update.items() if k != "status"}
    no_status["version"] = {"number": 3}
    missing = call(fake, "PUT", f"{V2}/pages/{page_id}", json=no_status)
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["title"] == "status is required"
    assert fake.page(page_id).version == 2


def test_v2_nested_body_form_and_parent(fake: FakeConfluence) -> None:
    parent = v2_create(fake, "Parent").json()["id"]
    nested = v2_create(fake, "Child", parentId=parent, body={"storage": {"value": "<p>nested</p>"}})
    assert nested.status_code == 200, nested.text
    assert fake.page(nested.json()["id"]).parent_id == parent
    assert fake.page(nested.json()["id"]).body == "<p>nested</p>"
    root = call(
        fake,
        "POST",
        f"{V2}/pages",
        params={"root-level": "true"},
        json={"spaceId": fake.space_id("OPS"), "title": "Root", "status": "current"},
    )
    assert root.status_code == 200 and root.json()["parentId"] is None


def test_spaces_by_key_never_404(fake: FakeConfluence) -> None:
    found = call(fake, "GET", f"{V2}/spaces", params={"keys": "OPS"}).json()
    assert [s["key"] for s in found["results"]] == ["OPS"]
    assert found["results"][0]["homepageId"] == fake.homepage_id()
    missing = call(fake, "GET", f"{V2}/spaces", params={"keys": "NOPE"})
    assert missing.status_code == 200
    assert missing.json() == {"results": [], "_links": {"base": f"{fake.url}/wiki"}}


def test_list_pages_by_space_and_title_with_cursor_paging(fake: FakeConfluence) -> None:
    made = [v2_create(fake, f"INC-{n}").json()["id"] for n in range(5)]
    space_id = str(fake.space_id("OPS"))
    by_title = call(fake, "GET", f"{V2}/pages", params={"space-id": space_id, "title": "INC-3"})
    assert [p["id"] for p in by_title.json()["results"]] == [made[3]]
    assert "base" not in by_title.json()["results"][0]["_links"]
    seen: list[str] = []
    params: dict[str, Any] | None = {"space-id": space_id, "limit": 2, "body-format": "storage"}
    path = f"{V2}/pages"
    while True:
        answer = call(fake, "GET", path, params=params)
        body = answer.json()
        seen += [p["id"] for p in body["results"]]
        assert all(p["body"]["storage"]["value"] for p in body["results"])
        nxt = body["_links"].get("next")
        if nxt is None:
            assert "Link" not in answer.headers
            break
        assert answer.headers["Link"].startswith(f"<{nxt}>")
        path, params = nxt, None
    assert seen == [fake.homepage_id(), *made]


def test_private_pages_and_unsupported_body_formats(fake: FakeConfluence) -> None:
    private = call(
        fake,
        "POST",
        f"{V2}/pages",
        params={"private": "true"},
        json={"spaceId": fake.space_id("OPS"), "title": "Private", "status": "current"},
    )
    assert private.status_code == 200
    page_id = private.json()["id"]
    assert call(fake, "GET", f"{V2}/pages/{page_id}", account=fake.person).status_code == 404
    assert fake.page(page_id).restrictions.read_users == (fake.bot.account_id,)
    adf = call(fake, "GET", f"{V2}/pages/{page_id}", params={"body-format": "atlas_doc_format"})
    assert adf.status_code == 400
    bad_space = call(fake, "POST", f"{V2}/pages", json={"spaceId": "OPS", "title": "x"})
    assert bad_space.status_code == 400


def test_newer_cloud_sites_retire_v1_content_but_keep_search_and_labels(
    fake: FakeConfluence,
) -> None:
    page_id = v2_create(fake, "After the v1 sunset").json()["id"]
    fake.v1_content_gone = True
    gone = call(fake, "GET", f"{V1}/content/{page_id}")
    assert gone.status_code == 410 and gone.json()["statusCode"] == 410
    made = call(fake, "POST", f"{V1}/content", json={"type": "page", "title": "x"})
    assert made.status_code == 410
    assert call(fake, "GET", f"{V1}/content", params={"spaceKey": "OPS"}).status_code == 410
    assert call(fake, "POST", f"{V1}/content/{page_id}/label", json={"name": "pm"}).ok
    found = call(fake, "GET", f"{V1}/search", params={"cql": "label = pm"}).json()
    assert [r["content"]["id"] for r in found["results"]] == [page_id]
    assert call(fake, "GET", f"{V2}/pages/{page_id}").ok
    fake.v1_content_gone = False
    assert call(fake, "GET", f"{V1}/content/{page_id}").ok
