"""Page restrictions (v1): setting them (array form, per-subject helpers), reading them back,
and enforcing them: a read-restricted page does not exist for a non-member (v1 and v2 404,
absent from listings and search), and the bot cannot lock itself out."""

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


def make(fake: FakeConfluence, title: str = "INC-5 postmortem (private)", **extra: Any) -> str:
    payload = {"type": "page", "title": title, "space": {"key": "OPS"}, **extra}
    created = call(fake, "POST", f"{V1}/content", json=payload)
    assert created.status_code == 200, created.text
    return str(created.json()["id"])


def only(*account_ids: str) -> list[dict[str, Any]]:
    users = [{"type": "known", "accountId": a} for a in account_ids]
    return [
        {"operation": "read", "restrictions": {"user": users}},
        {"operation": "update", "restrictions": {"user": users}},
    ]


def visible_to_person(fake: FakeConfluence, page_id: str) -> dict[str, int]:
    person = fake.person
    return {
        "v1": call(fake, "GET", f"{V1}/content/{page_id}", account=person).status_code,
        "v2": call(fake, "GET", f"{V2}/pages/{page_id}", account=person).status_code,
        "labels": call(fake, "GET", f"{V1}/content/{page_id}/label", account=person).status_code,
    }


def test_read_restriction_hides_the_page_from_another_account(fake: FakeConfluence) -> None:
    page_id = make(fake)
    assert visible_to_person(fake, page_id) == {"v1": 200, "v2": 200, "labels": 200}
    put = call(fake, "PUT", f"{V1}/content/{page_id}/restriction", json=only(fake.bot.account_id))
    assert put.status_code == 200, put.text
    read = put.json()["results"][0]
    assert read["operation"] == "read"
    assert [u["accountId"] for u in read["restrictions"]["user"]["results"]] == [
        fake.bot.account_id
    ]
    assert visible_to_person(fake, page_id) == {"v1": 404, "v2": 404, "labels": 404}
    v2_error = call(fake, "GET", f"{V2}/pages/{page_id}", account=fake.person).json()
    assert v2_error == {
        "errors": [{"status": 404, "code": "NOT_FOUND", "title": "Not Found", "detail": None}]
    }
    listed = call(fake, "GET", f"{V1}/content", params={"spaceKey": "OPS"}, account=fake.person)
    assert page_id not in [r["id"] for r in listed.json()["results"]]
    assert call(fake, "GET", f"{V1}/content/{page_id}").status_code == 200  # the bot still can
    assert fake.page(page_id).restrictions.read_users == (fake.bot.account_id,)


def test_a_restriction_that_locks_the_caller_out_is_refused(fake: FakeConfluence) -> None:
    page_id = make(fake)
    refused = call(
        fake, "PUT", f"{V1}/content/{page_id}/restriction", json=only(fake.person.account_id)
    )
    assert refused.status_code == 400
    assert "would lose read access" in refused.json()["message"]
    assert not fake.page(page_id).restrictions.read_restricted
    update_only = [
        {"operation": "update", "restrictions": {"user": [{"accountId": fake.person.account_id}]}}
    ]
    refused_update = call(fake, "PUT", f"{V1}/content/{page_id}/restriction", json=update_only)
    assert refused_update.status_code == 400
    assert "would lose update access" in refused_update.json()["message"]
    both = only(fake.bot.account_id, fake.person.account_id)
    assert call(fake, "PUT", f"{V1}/content/{page_id}/restriction", json=both).status_code == 200
    assert visible_to_person(fake, page_id)["v1"] == 200


def test_group_restrictions_and_group_membership(fake: FakeConfluence) -> None:
    responders = fake.add_group("incident-responders", [fake.bot.account_id])
    page_id = make(fake)
    body = [
        {"operation": "read", "restrictions": {"group": [{"type": "group", "id": responders}]}},
        {"operation": "update", "restrictions": {"group": {"results": [{"id": responders}]}}},
    ]
    assert call(fake, "PUT", f"{V1}/content/{page_id}/restriction", json=body).status_code == 200
    assert visible_to_person(fake, page_id)["v1"] == 404
    group_json = call(fake, "GET", f"{V1}/content/{page_id}/restriction").json()["results"][0]
    assert group_json["restrictions"]["group"]["results"][0]["name"] == "incident-responders"
    sam = fake.add_account(
        "712020:0000-sam", "sam@acme.test", "Sam Lee", api_token="sam-token", groups=[responders]
    )
    assert call(fake, "GET", f"{V1}/content/{page_id}", account=sam).status_code == 200
    payload = {"version": {"number": 2}, "title": "Renamed by Sam", "type": "page"}
    assert call(fake, "PUT", f"{V1}/content/{page_id}", json=payload, account=sam).ok
    assert fake.page(page_id).last_updated_by == sam.account_id


def test_read_restrictions_are_inherited_by_children(fake: FakeConfluence) -> None:
    parent = make(fake, "Private postmortems")
    child = make(fake, "INC-6", ancestors=[{"id": parent}])
    assert (
        call(
            fake, "PUT", f"{V1}/content/{parent}/restriction", json=only(fake.bot.account_id)
        ).status_code
        == 200
    )
    assert visible_to_person(fake, child)["v1"] == 404
    assert fake.page(child).restrictions.read_restricted is False  # inherited, not copied
    search = call(
        fake, "GET", f"{V1}/search", params={"cql": f"ancestor = {parent}"}, account=fake.person
    )
    assert search.json()["results"] == []


def test_per_subject_helpers_answer_200_with_an_empty_body(fake: FakeConfluence) -> None:
    page_id = make(fake)
    base = f"{V1}/content/{page_id}/restriction/byOperation"
    bot = {"accountId": fake.bot.account_id}
    added = call(fake, "PUT", f"{base}/update/user", params=bot)
    assert (added.status_code, added.content) == (200, b"")
    assert call(fake, "GET", f"{base}/update/user", params=bot).status_code == 200
    person = {"accountId": fake.person.account_id}
    assert call(fake, "GET", f"{base}/update/user", params=person).status_code == 404
    users_group = call(fake, "GET", f"{V1}/content/{page_id}/restriction").json()
    assert users_group["results"][1]["restrictions"]["user"]["size"] == 1
    group_id = "a1b2c3d4-0000-4000-8000-000000000001"  # confluence-users
    assert call(fake, "PUT", f"{base}/read/byGroupId/{group_id}").status_code == 200
    assert visible_to_person(fake, page_id)["v1"] == 200  # the person is in confluence-users
    assert call(fake, "DELETE", f"{base}/read/byGroupId/{group_id}").status_code == 200
    assert call(fake, "DELETE", f"{base}/update/user", params=bot).status_code == 200
    after = fake.page(page_id).restrictions
    assert not after.read_restricted and not after.update_restricted
    # adding only the person to "read" would lock the bot out
    assert call(fake, "PUT", f"{base}/read/user", params=person).status_code == 400
    assert call(fake, "PUT", f"{base}/delete/user", params=bot).status_code == 400


def test_by_operation_shape_follows_the_fixture(fake: FakeConfluence) -> None:
    page_id = make(fake)
    call(fake, "PUT", f"{V1}/content/{page_id}/restriction", json=only(fake.bot.account_id))
    by_op = call(fake, "GET", f"{V1}/content/{page_id}/restriction/byOperation").json()
    assert set(by_op) == {"read", "update"}
    read = by_op["read"]["operationType"]
    assert read["operation"] == "read"
    assert read["restrictions"]["user"]["results"][0]["accountId"] == fake.bot.account_id
    one = call(fake, "GET", f"{V1}/content/{page_id}/restriction/byOperation/update").json()
    assert one["operation"] == "update"


def test_invalid_restriction_bodies_use_confluences_messages(fake: FakeConfluence) -> None:
    page_id = make(fake)
    path = f"{V1}/content/{page_id}/restriction"
    cases = {
        "No ContentRestrictions provided": [],
        "unsupported operation type: <delete>": [
            {"operation": "delete", "restrictions": {"user": []}}
        ],
        "duplicate operation: <read>": only(fake.bot.account_id)[:1] * 2,
        "must have valid non empty map": [{"operation": "read", "restrictions": {}}],
        "is not a valid existing user": [
            {"operation": "read", "restrictions": {"user": [{"accountId": "nobody"}]}}
        ],
    }
    for message, body in cases.items():
        refused = call(fake, "PUT", path, json=body)
        assert refused.status_code == 400 and message in refused.json()["message"], message


def test_edit_restriction_without_read_restriction(fake: FakeConfluence) -> None:
    page = fake.create_as_person("OPS", "Locked by a person")
    fake.restrict_as_person(page.id, update_users=[fake.person.account_id])
    assert call(fake, "GET", f"{V1}/content/{page.id}").status_code == 200
    payload = {"version": {"number": 2}, "title": page.title, "type": "page"}
    refused = call(fake, "PUT", f"{V1}/content/{page.id}", json=payload)
    assert refused.status_code == 404  # what Cloud answers (not 403)
    assert fake.page(page.id).version == 1
    assert (
        call(fake, "POST", f"{V1}/content/{page.id}/label", json={"name": "x"}).status_code == 404
    )


def test_data_center_answers_403_for_edit_restricted_pages() -> None:
    with FakeConfluence(deployment="datacenter") as fake:
        page = fake.create_as_person("OPS", "Locked")
        fake.restrict_as_person(page.id, update_users=[fake.person.account_id])
        payload = {"version": {"number": 2}, "title": page.title, "type": "page"}
        refused = call(fake, "PUT", f"/rest/api/content/{page.id}", json=payload)
        assert refused.status_code == 403
        assert "PermissionException" in refused.json()["message"]
