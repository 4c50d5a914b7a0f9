"""The fake's answers have the shapes of the shared Confluence fixtures (same keys, same JSON
types, recursively), and it accepts the fixtures' request bodies. The fixtures live in
``../shared/confluence-fixtures`` (outside the repo): every test here skips when it is absent.

The fake's bot plays the fixtures' user ("Jane Doe") in a space ``TST``, so that the fixture
requests (restrictions naming Jane's account) are ones the caller may send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.confluence import FakeConfluence

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FIXTURES = SHARED / "confluence-fixtures"
JANE = "384093:32b4d9w0-f6a5-3535-11a3-9c8c88d10192"
V1 = "/wiki/rest/api"
V2 = "/wiki/api/v2"


def fixture(relative: str) -> Any:
    path = FIXTURES / relative
    if not path.exists():
        pytest.skip(f"{relative} is not available here (it lives in ../shared, outside the repo)")
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else text


def shape_problems(
    expected: Any, actual: Any, where: str = "$", extra: frozenset[str] = frozenset()
) -> list[str]:
    """Differences of keys and JSON types; ``_expandable`` maps are only checked for being
    maps of strings (they list whatever was not expanded, which depends on the request)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: object expected, got {type(actual).__name__}"]
        if where.endswith("._expandable"):
            bad = [k for k, v in actual.items() if not isinstance(v, str)]
            return [f"{where}.{k}: string expected" for k in bad]
        problems = [f"{where}.{k}: missing" for k in expected.keys() - actual.keys()]
        problems += [
            f"{where}.{k}: unexpected"
            for k in actual.keys() - expected.keys()
            if f"{where}.{k}" not in extra
        ]
        for key in expected.keys() & actual.keys():
            problems += shape_problems(expected[key], actual[key], f"{where}.{key}", extra)
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: array expected, got {type(actual).__name__}"]
        problems = []
        if expected:
            for n, item in enumerate(actual):
                problems += shape_problems(expected[0], item, f"{where}[{n}]", extra)
        return problems
    if expected is None:
        return [] if actual is None else [f"{where}: null expected, got {actual!r}"]
    if isinstance(expected, bool) or isinstance(actual, bool):
        same = isinstance(expected, bool) and isinstance(actual, bool)
        return [] if same else [f"{where}: {type(expected).__name__} expected, got {actual!r}"]
    if type(expected) is not type(actual):
        return [f"{where}: {type(expected).__name__} expected, got {type(actual).__name__}"]
    return []


def assert_shape(relative: str, actual: Any, *extra: str) -> None:
    problems = shape_problems(fixture(relative), actual, extra=frozenset(extra))
    assert problems == [], f"{relative}: {problems}"


def test_the_shape_check_itself_catches_differences() -> None:
    expected = {"a": 1, "b": [{"c": "x"}], "d": None, "_expandable": {"e": ""}}
    good = {"a": 2, "b": [{"c": "y"}, {"c": "z"}], "d": None, "_expandable": {"f": "/x"}}
    assert shape_problems(expected, good) == []
    bad = {"a": "2", "b": [{"c": 1}], "d": "x", "_expandable": {}, "z": 0}
    assert sorted(shape_problems(expected, bad)) == [
        "$.a: int expected, got str",
        "$.b[0].c: str expected, got int",
        "$.d: null expected, got 'x'",
        "$.z: unexpected",
    ]
    assert shape_problems({"a": True}, {"a": 1}) == ["$.a: bool expected, got 1"]


@pytest.fixture
def fake() -> Iterator[FakeConfluence]:
    fixture("README.md")
    with FakeConfluence(
        space_key="TST", space_name="Test Space", bot_account_id=JANE, bot_display_name="Jane Doe"
    ) as server:
        yield server


def call(fake: FakeConfluence, method: str, path: str, **kw: Any) -> requests.Response:
    answer = requests.request(method, fake.url + path, headers=fake.auth_headers(), timeout=5, **kw)
    assert answer.status_code < 300, (path, answer.status_code, answer.text)
    return answer


def create_from_fixture(fake: FakeConfluence) -> str:
    request = fixture("v1/content.POST.request.json")
    assert request["ancestors"] == [{"id": fake.homepage_id()}]  # fixture's 65540 is our home
    created = call(fake, "POST", f"{V1}/content", json=request).json()
    assert_shape("v1/content.POST.200.json", created)
    return str(created["id"])


def test_v1_content_create_get_update_history(fake: FakeConfluence) -> None:
    page_id = create_from_fixture(fake)
    got = call(fake, "GET", f"{V1}/content/{page_id}", params={"expand": "body.storage,version"})
    assert_shape("v1/content.id.GET.200.json", got.json())
    request = fixture("v1/content.id.PUT.request.json")
    request["version"]["number"] = 2
    updated = call(fake, "PUT", f"{V1}/content/{page_id}", json=request).json()
    # Confluence's update expansions include ancestors; the fixture picked fewer fields
    assert_shape("v1/content.id.PUT.200.json", updated, "$.ancestors")
    assert updated["version"]["message"] == "Updated by the bot"
    history = call(fake, "GET", f"{V1}/content/{page_id}/history").json()
    assert_shape("v1/content.id.history.GET.200.json", history)


def test_v1_lists_and_searches(fake: FakeConfluence) -> None:
    create_from_fixture(fake)
    params = {"spaceKey": "TST", "title": "Release notes", "expand": "body.storage,version"}
    assert_shape(
        "v1/content.GET.200.json", call(fake, "GET", f"{V1}/content", params=params).json()
    )
    params["title"] = "No such page"
    assert_shape(
        "v1/content.GET.200.empty.json", call(fake, "GET", f"{V1}/content", params=params).json()
    )
    searched = call(
        fake,
        "GET",
        f"{V1}/content/search",
        params={"cql": "space = TST", "limit": 1, "expand": "version"},
    ).json()
    assert_shape("v1/content.search.GET.200.json", searched)
    found = call(
        fake,
        "GET",
        f"{V1}/search",
        params={"cql": 'space = TST and title = "Release notes"', "expand": "content.version"},
    ).json()
    assert_shape("v1/search.GET.200.json", found)
    space = call(
        fake, "GET", f"{V1}/space/TST", params={"expand": "description.plain,homepage"}
    ).json()
    assert_shape("v1/space.key.GET.200.json", space)


def test_v1_labels_and_restrictions(fake: FakeConfluence) -> None:
    page_id = create_from_fixture(fake)
    labels = fixture("v1/content.id.label.POST.request.json")
    added = call(fake, "POST", f"{V1}/content/{page_id}/label", json=labels).json()
    assert_shape("v1/content.id.label.POST.200.json", added)
    single = fixture("v1/content.id.label.POST.request.single.json")
    call(fake, "POST", f"{V1}/content/{page_id}/label", json=single)
    listed = call(fake, "GET", f"{V1}/content/{page_id}/label").json()
    assert_shape("v1/content.id.label.GET.200.json", listed)
    assert [x["name"] for x in listed["results"]] == ["release", "bot-managed"]

    body = fixture("v1/content.id.restriction.PUT.request.json")
    put = call(fake, "PUT", f"{V1}/content/{page_id}/restriction", json=body).json()
    assert_shape("v1/content.id.restriction.PUT.200.json", put)
    got = call(fake, "GET", f"{V1}/content/{page_id}/restriction").json()
    assert_shape("v1/content.id.restriction.GET.200.json", got)
    by_op = call(fake, "GET", f"{V1}/content/{page_id}/restriction/byOperation").json()
    assert_shape("v1/content.id.restriction.byOperation.GET.200.json", by_op)
    restrictions = fake.page(page_id).restrictions
    assert restrictions.read_users == (JANE,) and restrictions.update_users == (JANE,)
    assert restrictions.read_groups == ("a1b2c3d4-0000-4000-8000-000000000001",)


def test_v2_pages_spaces_and_labels(fake: FakeConfluence) -> None:
    request = fixture("v2/pages.POST.request.json")
    assert request["spaceId"] == str(fake.space_id("TST"))
    created = call(fake, "POST", f"{V2}/pages", json=request).json()
    assert_shape("v2/pages.POST.200.json", created)
    page_id = created["id"]
    got = call(fake, "GET", f"{V2}/pages/{page_id}", params={"body-format": "storage"}).json()
    assert_shape("v2/pages.id.GET.200.json", got)
    update = fixture("v2/pages.id.PUT.request.json")
    update.update(id=page_id, version={**update["version"], "number": 2})
    assert_shape(
        "v2/pages.id.PUT.200.json", call(fake, "PUT", f"{V2}/pages/{page_id}", json=update).json()
    )
    params = {"space-id": request["spaceId"], "title": "Release notes", "body-format": "storage"}
    assert_shape("v2/pages.GET.200.json", call(fake, "GET", f"{V2}/pages", params=params).json())
    params["title"] = "No such page"
    assert_shape(
        "v2/pages.GET.200.empty.json", call(fake, "GET", f"{V2}/pages", params=params).json()
    )
    spaces = call(fake, "GET", f"{V2}/spaces", params={"keys": "TST"}).json()
    assert_shape("v2/spaces.GET.200.json", spaces)
    none = call(fake, "GET", f"{V2}/spaces", params={"keys": "NOPE"}).json()
    assert_shape("v2/spaces.GET.200.empty.json", none)
    call(fake, "POST", f"{V1}/content/{page_id}/label", json=[{"name": "release"}])
    labels = call(fake, "GET", f"{V2}/pages/{page_id}/labels").json()
    assert_shape("v2/pages.id.labels.GET.200.json", labels)


def test_error_bodies_match_the_recorded_ones(fake: FakeConfluence) -> None:
    page_id = create_from_fixture(fake)
    stale: dict[str, Any] = {"version": {"number": 1}, "title": "Release notes", "type": "page"}
    conflict = requests.put(
        f"{fake.url}{V1}/content/{page_id}", json=stale, headers=fake.auth_headers(), timeout=5
    )
    expected = fixture("errors/v1.409.version-stale.composed.json")
    expected["message"] = expected["message"].replace("is: 5", "is: 1")
    assert (conflict.status_code, conflict.json()) == (409, expected)

    broken = {**fixture("v1/content.POST.request.json"), "title": "Broken"}
    broken["body"] = {"storage": {"value": "<p>one<br>two</p>", "representation": "storage"}}
    refused = requests.post(
        f"{fake.url}{V1}/content", json=broken, headers=fake.auth_headers(), timeout=5
    )
    for recorded in ("mark-issue-54", "mark-issue-111"):
        assert_shape(f"errors/v1.400.invalid-storage.{recorded}.json", refused.json())
    pattern = r"Error parsing xhtml: .+\n at \[row,col \{unknown-source\}\]: \[\d+,\d+\]"
    assert re.fullmatch(pattern, refused.json()["message"])
    assert re.fullmatch(
        pattern, fixture("errors/v1.400.invalid-storage.mark-issue-54.json")["message"]
    )

    fake.restrict_as_person(page_id, read_users=[JANE])
    hidden = requests.get(
        f"{fake.url}{V2}/pages/{page_id}",
        params={"body-format": "storage"},
        headers=fake.auth_headers(fake.person),
        timeout=5,
    )
    assert (hidden.status_code, hidden.json()) == (
        404,
        fixture("errors/v2.404.md2conf-issue-113.json"),
    )

    rejected = requests.get(f"{fake.url}{V1}/space/TST", auth=(JANE, "password"), timeout=5)
    assert rejected.status_code == 401
    assert rejected.text == fixture("errors/v1.401.basic-auth-rejected.mark-issue-102.txt").strip()
    headers = fixture("errors/v1.401.basic-auth-rejected.mark-issue-102.headers.txt")
    for line in headers.splitlines()[1:]:
        name, _, value = line.partition(": ")
        if name in ("Content-Type", "X-Content-Type-Options"):
            assert rejected.headers[name] == value
        elif name == "Server":
            assert rejected.headers[name].split("/")[0] == value.split("/")[0]
        else:
            assert name in rejected.headers
