"""The fake's REST v1 pages over real HTTP with ``requests``: create, read, update with
optimistic locking (409 on a stale version), titles, parents, spaces, permissions, trash."""

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


def create(
    fake: FakeConfluence, title: str = "INC-7 postmortem", body: str = "<p>Draft</p>", **extra: Any
) -> requests.Response:
    payload = {
        "type": "page",
        "title": title,
        "space": {"key": "OPS"},
        "status": "current",
        "body": {"storage": {"value": body, "representation": "storage"}},
        **extra,
    }
    return call(fake, "POST", f"{V1}/content", json=payload)


def update(
    fake: FakeConfluence, page_id: str, number: int, body: str, **extra: Any
) -> requests.Response:
    payload = {
        "version": {"number": number, "message": "by the bot"},
        "title": extra.pop("title", "INC-7 postmortem"),
        "type": "page",
        "body": {"storage": {"value": body, "representation": "storage"}},
        **extra,
    }
    return call(fake, "PUT", f"{V1}/content/{page_id}", json=payload)


def test_create_get_update_and_stale_version_conflict(fake: FakeConfluence) -> None:
    created = create(fake)
    assert created.status_code == 200, created.text
    page = created.json()
    assert page["version"]["number"] == 1
    assert page["space"]["key"] == "OPS"
    assert page["body"]["storage"]["value"] == "<p>Draft</p>"
    assert [a["id"] for a in page["ancestors"]] == [fake.homepage_id()]
    assert page["version"]["by"]["accountId"] == fake.bot.account_id
    page_id = page["id"]

    got = call(fake, "GET", f"{V1}/content/{page_id}", params={"expand": "body.storage,version"})
    assert got.status_code == 200
    assert set(got.json()) == {
        "id",
        "type",
        "status",
        "title",
        "version",
        "body",
        "_expandable",
        "_links",
    }
    assert got.json()["body"]["storage"]["value"] == "<p>Draft</p>"

    updated = update(fake, page_id, 2, "<p>Final</p>")
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"]["number"] == 2
    assert updated.json()["version"]["message"] == "by the bot"
    assert fake.page(page_id).body == "<p>Final</p>"

    stale = update(fake, page_id, 2, "<p>Lost update</p>")
    assert stale.status_code == 409
    assert stale.json() == {
        "statusCode": 409,
        "data": {"authorized": False, "valid": True, "errors": [], "successful": False},
        "message": "Version must be incremented on update. Current version is: 2",
    }
    skipped = update(fake, page_id, 4, "<p>Skips a version</p>")
    assert skipped.status_code == 409
    assert fake.page(page_id).version == 2
    assert fake.page(page_id).body == "<p>Final</p>"


def test_a_person_editing_in_between_makes_the_bots_update_conflict(fake: FakeConfluence) -> None:
    page_id = create(fake).json()["id"]
    edited = fake.edit_as_person(page_id, "<p>Human notes</p>")
    assert (edited.version, edited.last_updated_by) == (2, fake.person.account_id)
    conflict = update(fake, page_id, 2, "<p>Bot text</p>")
    assert conflict.status_code == 409
    assert "Current version is: 2" in conflict.json()["message"]
    history = call(fake, "GET", f"{V1}/content/{page_id}/history").json()
    assert history["lastUpdated"]["number"] == 2
    assert history["lastUpdated"]["by"]["accountId"] == fake.person.account_id
    assert history["createdBy"]["accountId"] == fake.bot.account_id
    assert update(fake, page_id, 3, "<p>Bot text</p>").status_code == 200


def test_update_without_version_is_a_400_and_wrong_type_is_refused(fake: FakeConfluence) -> None:
    page_id = create(fake).json()["id"]
    missing = call(
        fake, "PUT", f"{V1}/content/{page_id}", json={"title": "INC-7 postmortem", "type": "page"}
    )
    assert missing.status_code == 400
    assert missing.json()["message"] == (
        "Must supply an incremented version when updating Content. No version supplied."
    )
    wrong_type = update(fake, page_id, 2, "<p>x</p>", type="blogpost")
    assert wrong_type.status_code == 400
    assert "must match existing entity type of page" in wrong_type.json()["message"]
    assert fake.page(page_id).version == 1


def test_duplicate_titles_are_refused_on_create_and_rename(fake: FakeConfluence) -> None:
    first = create(fake, "INC-1 postmortem").json()["id"]
    create(fake, "INC-2 postmortem")
    again = create(fake, "inc-1 POSTMORTEM")
    assert again.status_code == 400
    assert again.json()["message"] == (
        "A page with this title already exists: A page already exists with the title "
        "inc-1 POSTMORTEM in the space with key OPS"
    )
    assert again.json()["reason"] == "Bad Request"
    renamed = update(fake, first, 2, "<p>x</p>", title="INC-2 postmortem")
    assert renamed.status_code == 400
    assert "already exists" in renamed.json()["message"]
    assert [p.title for p in fake.pages_in_space("OPS")] == [
        "Operations Home",
        "INC-1 postmortem",
        "INC-2 postmortem",
    ]


def test_title_taken_by_a_page_the_caller_cannot_see_still_conflicts(fake: FakeConfluence) -> None:
    hidden = fake.create_as_person("OPS", "Secret review")
    fake.restrict_as_person(hidden.id, read_users=[fake.person.account_id])
    assert call(fake, "GET", f"{V1}/content/{hidden.id}").status_code == 404
    assert create(fake, "Secret review").status_code == 400


def test_parent_via_ancestors_and_expansions(fake: FakeConfluence) -> None:
    parent = create(fake, "Postmortems").json()["id"]
    child = create(fake, "INC-9 postmortem", ancestors=[{"id": parent}]).json()["id"]
    call(fake, "POST", f"{V1}/content/{child}/label", json={"name": "postmortem"})
    got = call(
        fake,
        "GET",
        f"{V1}/content/{child}",
        params={"expand": "ancestors,space,metadata.labels,history.lastUpdated"},
    ).json()
    assert [a["id"] for a in got["ancestors"]] == [fake.homepage_id(), parent]
    assert got["space"]["key"] == "OPS"
    assert [x["name"] for x in got["metadata"]["labels"]["results"]] == ["postmortem"]
    assert got["history"]["lastUpdated"]["number"] == 1
    assert "body" not in got and "body" in got["_expandable"]
    default = call(fake, "GET", f"{V1}/content/{child}").json()
    assert {"space", "history", "version"} <= set(default) and "body" not in default
    assert fake.page(child).parent_id == parent
    moved = update(
        fake, child, 2, "<p>x</p>", title="INC-9 postmortem", ancestors=[{"id": fake.homepage_id()}]
    )
    assert moved.status_code == 200
    assert fake.page(child).parent_id == fake.homepage_id()


def test_spaces_unknown_space_and_missing_add_page_permission(fake: FakeConfluence) -> None:
    space = call(fake, "GET", f"{V1}/space/OPS", params={"expand": "description.plain,homepage"})
    assert space.status_code == 200
    assert space.json()["homepage"]["id"] == fake.homepage_id()
    unknown = call(fake, "GET", f"{V1}/space/NOPE")
    assert unknown.status_code == 404
    assert unknown.json()["statusCode"] == 404 and "NOPE" in unknown.json()["message"]

    fake.set_space_permission("OPS", add_page=False)
    denied = create(fake)
    assert denied.status_code == 403
    assert denied.json()["message"].endswith("Could not create content with type page")
    assert len(fake.pages_in_space("OPS")) == 1
    fake.set_space_permission("OPS", add_page=True)
    assert create(fake).status_code == 200

    fake.set_space_permission("OPS", view=False)
    assert call(fake, "GET", f"{V1}/space/OPS").status_code == 404
    assert create(fake, "Another").status_code == 404


def test_second_space_and_missing_fields(fake: FakeConfluence) -> None:
    fake.add_space("SEC", "Security")
    payload: dict[str, Any] = {
        "type": "page",
        "title": "T",
        "space": {"key": "SEC"},
        "body": {"storage": {"value": "<p/>", "representation": "storage"}},
    }
    made = call(fake, "POST", f"{V1}/content", json=payload)
    assert made.status_code == 200 and made.json()["space"]["key"] == "SEC"
    assert [p.title for p in fake.pages_in_space("SEC")] == ["Security Home", "T"]
    no_space = call(fake, "POST", f"{V1}/content", json={"type": "page", "title": "T"})
    assert no_space.status_code == 400
    assert create(fake, title="  ").status_code == 400
    wiki = {**payload, "title": "W", "body": {"wiki": {"value": "h1. x", "representation": "wiki"}}}
    refused = call(fake, "POST", f"{V1}/content", json=wiki)
    assert refused.status_code == 400
    assert "storage" in refused.json()["message"]
    assert fake.find_page("SEC", "W") is None


def test_delete_trashes_then_purges(fake: FakeConfluence) -> None:
    parent = create(fake, "Parent").json()["id"]
    child = create(fake, "Child", ancestors=[{"id": parent}]).json()["id"]
    assert call(fake, "DELETE", f"{V1}/content/{parent}").status_code == 204
    assert call(fake, "GET", f"{V1}/content/{parent}").status_code == 404
    trashed = call(fake, "GET", f"{V1}/content/{parent}", params={"status": "trashed"})
    assert trashed.status_code == 200 and trashed.json()["status"] == "trashed"
    assert fake.page(child).parent_id == fake.homepage_id()
    assert create(fake, "Parent").status_code == 200  # a trashed title is free again
    purge = call(fake, "DELETE", f"{V1}/content/{parent}", params={"status": "trashed"})
    assert purge.status_code == 204
    with pytest.raises(KeyError):
        fake.page(parent)


def test_rest_api_paths_without_wiki_serve_the_same_pages(fake: FakeConfluence) -> None:
    page_id = create(fake).json()["id"]
    bare = call(fake, "GET", f"/rest/api/content/{page_id}")
    assert bare.status_code == 200
    assert bare.json()["_links"]["self"] == f"{fake.url}/rest/api/content/{page_id}"
    wiki = call(fake, "GET", f"{V1}/content/{page_id}")
    assert wiki.json()["_links"]["self"] == f"{fake.url}/wiki/rest/api/content/{page_id}"


def test_data_center_uses_bearer_tokens_and_bare_paths() -> None:
    with FakeConfluence(deployment="datacenter") as fake:
        assert fake.site_url == fake.url
        assert fake.auth_headers()["Authorization"] == f"Bearer {fake.bot.personal_access_token}"
        made = call(
            fake,
            "POST",
            "/rest/api/content",
            json={"type": "page", "title": "DC page", "space": {"key": "OPS"}},
        )
        assert made.status_code == 200, made.text
        assert made.json()["version"]["by"]["username"] == "postmortem-bot"
        basic = requests.get(
            f"{fake.url}/rest/api/content/{made.json()['id']}",
            auth=(fake.bot.email, fake.bot.api_token),
            timeout=5,
        )
        assert basic.status_code == 401
        assert call(fake, "GET", "/wiki/api/v2/pages").status_code == 404  # no v2 on DC
