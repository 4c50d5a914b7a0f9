"""The fake driven by the real ``atlassian-python-api`` client (5.x: ``cloud=False`` gives the
``Server`` class that speaks ``/rest/api`` and has ``create_page`` / ``update_page``; it works
against Cloud v1 too). Skipped when the package is not installed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.confluence import FakeConfluence

atlassian = pytest.importorskip("atlassian")
errors = pytest.importorskip("atlassian.errors")


@pytest.fixture
def fake() -> Iterator[FakeConfluence]:
    with FakeConfluence() as server:
        yield server


def client_for(fake: FakeConfluence, **options: Any) -> Any:
    return atlassian.Confluence(
        fake.site_url,
        username=fake.bot.email,
        password=fake.bot.api_token,
        cloud=False,
        timeout=5,
        **options,
    )


@pytest.fixture
def client(fake: FakeConfluence) -> Any:
    return client_for(fake)


def test_create_get_update_label_and_cql(fake: FakeConfluence, client: Any) -> None:
    space = client.get_space("OPS")
    assert (space["key"], space["name"]) == ("OPS", "Operations")
    made = client.create_page(
        "OPS", "INC-11 postmortem", "<p>Draft</p>", parent_id=fake.homepage_id()
    )
    page_id = made["id"]
    assert made["version"]["number"] == 1
    got = client.get_page_by_id(page_id, expand="body.storage,version")
    assert got["body"]["storage"]["value"] == "<p>Draft</p>"

    updated = client.update_page(page_id, "INC-11 postmortem", "<p>Final</p>")
    assert updated["version"]["number"] == 2
    unchanged = client.update_page(page_id, "INC-11 postmortem", "<p>Final</p>")
    assert unchanged["version"]["number"] == 2  # the client skips the PUT when nothing changed
    assert [c.method for c in fake.calls_to("PUT", r"/content/\d+$")] == ["PUT"]
    assert fake.calls_to("PUT", r"/content/\d+$")[0].query == {"status": ["current"]}

    client.set_page_label(page_id, "postmortem")
    client.set_page_label(page_id, "sev-2")
    labels = client.get_page_labels(page_id)
    assert [x["name"] for x in labels["results"]] == ["postmortem", "sev-2"]
    found = client.cql('label = "postmortem" and space = "OPS"')
    assert [r["content"]["id"] for r in found["results"]] == [page_id]
    client.remove_page_label(page_id, "sev-2")
    assert fake.page(page_id).labels == ("postmortem",)
    by_title = client.get_page_by_title("OPS", "INC-11 postmortem")
    assert [r["id"] for r in by_title["results"]] == [page_id]


def test_update_or_create_finds_the_child_by_cql(fake: FakeConfluence, client: Any) -> None:
    home = fake.homepage_id()
    first = client.update_or_create(home, "INC-12 postmortem", "<p>v1</p>")
    second = client.update_or_create(home, "INC-12 postmortem", "<p>v2</p>")
    assert first["id"] == second["id"]
    assert fake.page(first["id"]).version == 2 and fake.page(first["id"]).body == "<p>v2</p>"
    assert fake.calls_to("GET", r"/content/search$")[0].query["cql"] == [
        f'parent={home} AND space="OPS"'
    ]


def test_stale_version_is_an_http_409_for_the_client(fake: FakeConfluence, client: Any) -> None:
    page_id = client.create_page("OPS", "INC-13 postmortem", "<p>x</p>")["id"]
    fake.edit_as_person(page_id, "<p>edited by a person</p>")
    data = {"version": {"number": 2}, "title": "INC-13 postmortem", "type": "page"}
    with pytest.raises(requests.HTTPError) as caught:
        client.update_content(page_id, data)
    response = caught.value.response
    assert response is not None and response.status_code == 409
    assert "Version must be incremented on update. Current version is: 2" in str(caught.value)


def test_malformed_storage_is_a_value_error_for_the_client(client: Any) -> None:
    page_id = client.create_page("OPS", "INC-14 postmortem", "<p>x</p>")["id"]
    with pytest.raises(errors.ApiValueError):
        client.update_page(page_id, "INC-14 postmortem", "<p>bad&nbsp;</p>")
    with pytest.raises(requests.HTTPError, match="Error parsing xhtml"):
        client.create_page("OPS", "INC-15", "<p>a<br>b</p>")


def test_missing_permission_and_restricted_pages(fake: FakeConfluence, client: Any) -> None:
    fake.set_space_permission("OPS", add_page=False)
    with pytest.raises(errors.ApiPermissionError):
        client.create_page("OPS", "Not allowed", "<p>x</p>")
    fake.set_space_permission("OPS", add_page=True)
    page_id = client.create_page("OPS", "INC-16 (private)", "<p>x</p>")["id"]
    client.set_restrictions_for_content(
        page_id,
        [
            {
                "operation": op,
                "restrictions": {"user": [{"type": "known", "accountId": fake.bot.account_id}]},
            }
            for op in ("read", "update")
        ],
    )
    restrictions = client.get_all_restrictions_for_content(page_id)
    assert restrictions["read"]["operationType"]["restrictions"]["user"]["size"] == 1
    other = atlassian.Confluence(
        fake.site_url,
        username=fake.person.email,
        password=fake.person.api_token,
        cloud=False,
        timeout=5,
    )
    with pytest.raises(errors.ApiError):
        other.get_page_by_id(page_id)
    assert other.cql("label = postmortem or type = page")["totalSize"] == 1  # only the homepage


def test_client_retries_once_on_429_with_retry_after(fake: FakeConfluence, client: Any) -> None:
    fake.fail_next(429, path="/space/OPS", retry_after=0)
    assert client.get_space("OPS")["key"] == "OPS"
    assert [c.status for c in fake.calls] == [429, 200]
    fake.reset_calls()
    fake.fail_next(429, times=2, path="/space/OPS", retry_after=0)
    with pytest.raises(requests.HTTPError):
        client.get_space("OPS")
    assert [c.status for c in fake.calls] == [429, 429]


def test_wrong_api_token_surfaces_the_text_plain_401(fake: FakeConfluence) -> None:
    bad = atlassian.Confluence(
        fake.site_url, username=fake.bot.email, password="my-password", cloud=False, timeout=5
    )
    with pytest.raises(
        requests.HTTPError, match="Basic authentication with passwords is deprecated"
    ):
        bad.get_space("OPS")


def test_data_center_with_a_personal_access_token() -> None:
    with FakeConfluence(deployment="datacenter") as fake:
        client = atlassian.Confluence(fake.url, token=fake.bot.personal_access_token, timeout=5)
        page_id = client.create_page("OPS", "DC page", "<p>x</p>")["id"]
        assert client.update_page(page_id, "DC page", "<p>y</p>")["version"]["number"] == 2
        assert {c.path.split("/content")[0] for c in fake.calls_to("*", "/content")} == {
            "/rest/api"
        }
        assert all(c.headers["Authorization"].startswith("Bearer ") for c in fake.calls)
