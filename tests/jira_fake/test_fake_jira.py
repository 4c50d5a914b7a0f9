"""The fake Jira REST API, driven through the real `jira` client (and raw `requests` where the
client cannot express a request, e.g. missing credentials)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from jira import JIRA, JIRAError

from sandbox.jira.fake import FakeJira, FakeJiraTimeout
from tests.conftest import shared_file

ADA = "712020:0a1b2c3d-ada0-4000-8000-000000000001"
BOB = "712020:0a1b2c3d-b0b0-4000-8000-000000000002"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


class Clock:
    """A settable clock for the fake (timestamps, JQL relative dates)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeJira]:
    with FakeJira(clock=clock) as server:
        server.add_user(ADA, "ada@acme.test", "Ada Lovelace")
        server.add_user(BOB, "bob@acme.test", "Bob Builder")
        yield server


def connect(fake: FakeJira, **auth: Any) -> JIRA:
    if not auth:
        auth = {"basic_auth": (fake.email, fake.api_token)}
    return JIRA(fake.url, max_retries=0, timeout=5, options={"check_update": False}, **auth)


@pytest.fixture
def client(fake: FakeJira) -> JIRA:
    return connect(fake)


def fields(summary: str | None = "Rotate the DB credentials", **extra: Any) -> dict[str, Any]:
    return {
        "project": {"key": "OPS"},
        "issuetype": {"name": "Task"},
        "summary": summary,
        **extra,
    }


def create(client: JIRA, summary: str = "Rotate the DB credentials", **extra: Any) -> str:
    return str(client.create_issue(fields=fields(summary, **extra), prefetch=False).key)


def error_of(call: Any) -> JIRAError:
    with pytest.raises(JIRAError) as caught:
        call()
    return caught.value


def body_of(error: JIRAError) -> Any:
    assert error.response is not None
    return error.response.json()


def headers_of(error: JIRAError) -> Mapping[str, str]:
    assert error.response is not None
    return error.response.headers


def raw(
    fake: FakeJira,
    method: str,
    path: str,
    *,
    auth: tuple[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    creds = auth if auth is not None else (fake.email, fake.api_token)
    return requests.request(method, f"{fake.url}{path}", auth=creds, timeout=5, **kwargs)


# --- auth & site ------------------------------------------------------------------------------


def test_cloud_construction_with_good_and_bad_credentials(fake: FakeJira) -> None:
    client = connect(fake)
    assert client._is_cloud is True and client._version == (1001, 0, 0)
    info = client.server_info()
    assert info["baseUrl"] == fake.url and info["deploymentType"] == "Cloud"
    me = client.myself()
    assert (me["accountId"], me["emailAddress"]) == (fake.bot_account_id, "bot@acme.test")

    bad = error_of(lambda: connect(fake, basic_auth=(fake.email, "wrong-token")))
    assert bad.status_code == 401
    assert body_of(bad) == {
        "errorMessages": ["Client must be authenticated to access this resource."],
        "errors": {},
    }
    stranger = error_of(lambda: connect(fake, basic_auth=("eve@acme.test", fake.api_token)))
    assert stranger.status_code == 401
    assert error_of(lambda: connect(fake, token_auth="not-configured")).status_code == 401
    anonymous = requests.get(f"{fake.url}/rest/api/2/issue/OPS-1", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
    statuses = [(c.path, c.status) for c in fake.calls_to("GET", r"/serverInfo$")]
    assert statuses == [("/rest/api/2/serverInfo", s) for s in (200, 200, 401, 401, 401)]


def test_auth_401_body_is_the_fixture(fake: FakeJira) -> None:
    expected = json.loads(shared_file("jira-fixtures/errors/auth_401.json").read_text())
    response = raw(fake, "GET", "/rest/api/2/myself", auth=("bot@acme.test", "nope"))
    assert (response.status_code, response.json()) == (401, expected)


def test_server_construction_with_personal_access_token() -> None:
    with FakeJira(deployment="Server", personal_access_token="pat-123") as fake:
        client = connect(fake, token_auth="pat-123")
        assert client._is_cloud is False and client._version == (9, 12, 15)
        assert client.server_info()["deploymentType"] == "Server"
        me = client.myself()
        assert (me["name"], me["key"], "accountId" in me) == (
            "postmortem-bot",
            "postmortem-bot",
            False,
        )
        assert fake.calls[0].headers["Authorization"] == "Bearer pat-123"
        assert error_of(lambda: connect(fake, token_auth="pat-999")).status_code == 401
        # Basic auth with username (or e-mail) and password works on Server too.
        assert connect(fake, basic_auth=("postmortem-bot", fake.api_token)).myself()["active"]
    with pytest.raises(ValueError):
        FakeJira(deployment="DataCentre")


# --- issues -----------------------------------------------------------------------------------


def test_create_and_get_round_trip(fake: FakeJira, client: JIRA, clock: Clock) -> None:
    created = client.create_issue(
        fields=fields(
            description="Found in INC-42.\nRotate them all.",
            labels=["postmortem", "inc-42"],
            duedate="2026-12-01",
            priority={"name": "High"},
            assignee={"accountId": ADA},
        ),
        prefetch=False,
    )
    assert (created.key, created.id) == ("OPS-1", "10001")
    assert created.raw == {
        "id": "10001",
        "key": "OPS-1",
        "self": f"{fake.url}/rest/api/2/issue/10001",
    }
    clock.advance(minutes=5)
    assert create(client, "Second") == "OPS-2"

    issue = client.issue("OPS-1")
    f = issue.fields
    assert f.summary == "Rotate the DB credentials"
    assert f.description == "Found in INC-42.\nRotate them all."
    assert f.labels == ["inc-42", "postmortem"]
    assert (f.duedate, f.priority.name, f.issuetype.name, f.project.key) == (
        "2026-12-01",
        "High",
        "Task",
        "OPS",
    )
    assignee = issue.raw["fields"]["assignee"]
    assert (assignee["accountId"], assignee["emailAddress"], assignee["displayName"]) == (
        ADA,
        "ada@acme.test",
        "Ada Lovelace",
    )
    assert assignee["active"] is True
    assert issue.raw["fields"]["reporter"]["accountId"] == fake.bot_account_id
    assert (f.status.name, f.status.statusCategory.key, f.status.statusCategory.id) == (
        "To Do",
        "new",
        2,
    )
    assert f.status.statusCategory.colorName == "blue-gray" and f.resolution is None
    assert f.created == f.updated == "2026-11-22T09:00:00.000+0000"
    assert TIMESTAMP.match(issue.raw["fields"]["statuscategorychangedate"])
    assert fake.issue("OPS-1") == issue.raw
    assert client.issue("10001").key == "OPS-1"  # by id too
    assert [i["key"] for i in fake.issues()] == ["OPS-1", "OPS-2"]
    assert fake.issue("OPS-2")["fields"]["priority"]["name"] == "Medium"  # Jira's default
    with pytest.raises(KeyError):
        fake.issue("OPS-3")


def test_issue_shape_matches_the_real_cloud_issue(fake: FakeJira, client: JIRA) -> None:
    real = json.loads(shared_file("jira-fixtures/real/issue_get_v2.cloud-derived.json").read_text())
    ours = fake.issue(create(client, assignee={"accountId": ADA}))
    assert set(real) <= set(ours)
    assert set(real["fields"]) <= set(ours["fields"])
    for name in ("status", "priority", "issuetype", "assignee", "reporter", "project"):
        assert set(real["fields"][name]) <= set(ours["fields"][name]), name
    real_category = real["fields"]["status"]["statusCategory"]
    assert set(real_category) == set(ours["fields"]["status"]["statusCategory"])


def test_get_only_requested_fields_and_404(fake: FakeJira, client: JIRA) -> None:
    key = create(client)
    issue = client.issue(key, fields="summary,status,duedate")
    assert set(issue.raw["fields"]) == {"summary", "status", "duedate"}
    assert set(client.issue(key, fields="*all,-comment").raw["fields"]) >= {"summary", "labels"}
    assert "comment" not in client.issue(key, fields="*all,-comment").raw["fields"]
    missing = error_of(lambda: client.issue("OPS-404"))
    assert missing.status_code == 404
    assert body_of(missing) == {
        "errorMessages": ["Issue does not exist or you do not have permission to see it."],
        "errors": {},
    }


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"summary": None}, "summary", "You must specify a summary of the issue."),
        ({"summary": "   "}, "summary", "You must specify a summary of the issue."),
        ({"summary": "a\nb"}, "summary",
         "The summary is invalid because it contains newline characters."),
        ({"project": {"key": "NOPE"}}, "project", "valid project is required"),
        ({"issuetype": {"name": "Saga"}}, "issuetype", "valid issue type is required"),
        ({"priority": {"name": "Urgent"}}, "priority", "The priority selected is invalid."),
        ({"labels": ["post mortem"]}, "labels",
         "The label 'post mortem' contains spaces which is invalid."),
        ({"duedate": "01/12/2026"}, "duedate", "Error parsing date string: 01/12/2026"),
        ({"duedate": "2026-02-30"}, "duedate", "Error parsing date string: 2026-02-30"),
        ({"assignee": {"accountId": "712020:nobody"}}, "assignee",
         "Specify a valid value for assignee"),
        ({"assignee": {"name": "ada"}}, "assignee", "Specify a valid value for assignee"),
        ({"description": {"type": "doc", "version": 1, "content": []}}, "description",
         "Operation value must be a string"),
        ({"customfield_10010": "x"}, "customfield_10010",
         "Field 'customfield_10010' cannot be set. It is not on the appropriate screen, "
         "or unknown."),
    ],
)  # fmt: skip
def test_create_validation_errors(
    fake: FakeJira, client: JIRA, extra: dict[str, Any], field: str, message: str
) -> None:
    failed = error_of(lambda: client.create_issue(fields=fields(**extra), prefetch=False))
    assert failed.status_code == 400
    assert body_of(failed) == {"errorMessages": [], "errors": {field: message}}
    assert fake.issues() == []


def test_several_field_errors_come_together_and_inactive_users_are_refused(
    fake: FakeJira, client: JIRA
) -> None:
    fake.add_user("712020:gone", "gone@acme.test", "Gone Person", active=False)
    failed = error_of(
        lambda: client.create_issue(
            fields=fields(None, labels=["a b"], assignee={"accountId": "712020:gone"}),
            prefetch=False,
        )
    )
    assert body_of(failed)["errors"] == {
        "summary": "You must specify a summary of the issue.",
        "labels": "The label 'a b' contains spaces which is invalid.",
        "assignee": "User 'Gone Person' cannot be assigned issues.",
    }


def test_create_error_bodies_match_the_fixtures(fake: FakeJira, client: JIRA) -> None:
    for fixture, extra in (
        ("create_400_missing_summary.json", {"summary": None}),
        ("create_400_unknown_project.json", {"project": {"key": "XYZ"}}),
    ):
        expected = json.loads(shared_file(f"jira-fixtures/errors/{fixture}").read_text())
        failed = error_of(lambda e=extra: client.create_issue(fields=fields(**e), prefetch=False))
        assert body_of(failed) == expected


def test_server_assignee_by_name(fake: FakeJira) -> None:
    with FakeJira(deployment="Server", personal_access_token="pat") as server:
        server.add_user("ada", "ada@acme.test", "Ada Lovelace")
        client = connect(server, token_auth="pat")
        key = create(client, assignee={"name": "ada"})
        assignee = client.issue(key).raw["fields"]["assignee"]
        assert (assignee["name"], assignee["key"], "accountId" in assignee) == ("ada", "ada", False)
        failed = error_of(lambda: create(client, assignee={"name": "zed"}))
        assert body_of(failed)["errors"] == {"assignee": "User 'zed' does not exist."}


def test_edit_issue_updates_fields_and_changelog(
    fake: FakeJira, client: JIRA, clock: Clock
) -> None:
    key = create(client, labels=["pm"], duedate="2026-12-01")
    issue = client.issue(key)
    clock.advance(hours=1)
    issue.update(
        fields={
            "duedate": "2026-12-24",
            "assignee": {"accountId": BOB},
            "summary": "Rotate every credential",
            "priority": {"name": "Highest"},
        }
    )
    assert issue.fields.duedate == "2026-12-24"
    assert issue.raw["fields"]["assignee"]["accountId"] == BOB
    assert issue.fields.updated == "2026-11-22T10:00:00.000+0000"
    put = fake.calls_to("PUT", r"/issue/")[0]
    assert put.path == "/rest/api/2/issue/10001" and put.status == 204
    assert put.json["fields"]["duedate"] == "2026-12-24"

    raw(fake, "PUT", f"/rest/api/2/issue/{key}", json={"update": {"labels": [{"add": "x"}]}})
    assert fake.issue(key)["fields"]["labels"] == ["pm", "x"]
    histories = client.issue(key, expand="changelog").raw["changelog"]["histories"]
    items = {i["field"]: i for h in histories for i in h["items"]}
    assert items["duedate"] == {
        "field": "duedate",
        "fieldtype": "jira",
        "fieldId": "duedate",
        "from": "2026-12-01",
        "fromString": "2026-12-01 00:00:00.0",
        "to": "2026-12-24",
        "toString": "2026-12-24 00:00:00.0",
    }
    assert (items["assignee"]["to"], items["assignee"]["toString"]) == (BOB, "Bob Builder")
    assert (items["labels"]["fromString"], items["labels"]["toString"]) == ("pm", "pm x")

    issue.update(fields={"assignee": None})
    assert fake.issue(key)["fields"]["assignee"] is None
    bad = error_of(lambda: issue.update(fields={"duedate": "soon"}))
    assert (bad.status_code, body_of(bad)["errors"]) == (
        400,
        {"duedate": "Error parsing date string: soon"},
    )


def test_assign_issue_uses_user_search_and_the_latest_path(fake: FakeJira, client: JIRA) -> None:
    key = create(client)
    assert client.assign_issue(key, "ada@acme.test") is True
    assert fake.issue(key)["fields"]["assignee"]["accountId"] == ADA
    put = fake.calls_to("PUT", r"/assignee$")[0]
    assert (put.path, put.json, put.status) == (
        f"/rest/api/latest/issue/{key}/assignee",
        {"accountId": ADA},
        204,
    )


# --- workflow ---------------------------------------------------------------------------------


def test_transitions_change_status_category(fake: FakeJira, client: JIRA) -> None:
    key = create(client)
    listed = client.transitions(key)
    assert [(t["id"], t["name"], t["to"]["name"]) for t in listed] == [
        ("21", "Start progress", "In Progress"),
        ("31", "Done", "Done"),
        ("41", "Won't do", "Won't Do"),
    ]
    assert listed[0]["to"]["statusCategory"]["key"] == "indeterminate"
    client.transition_issue(key, "21")
    status = client.issue(key).fields.status
    assert (status.name, status.statusCategory.key, status.statusCategory.colorName) == (
        "In Progress",
        "indeterminate",
        "yellow",
    )
    client.transition_issue(key, "Done")  # by name: the client looks the id up
    done = client.issue(key).raw["fields"]
    assert (done["status"]["statusCategory"]["key"], done["resolution"]["name"]) == ("done", "Done")
    assert TIMESTAMP.match(done["resolutiondate"])
    assert [t["name"] for t in client.transitions(key)] == ["Reopen", "Start progress", "Won't do"]
    client.transition_issue(key, "11")
    f = client.issue(key).fields
    assert (f.status.name, f.resolution, f.resolutiondate) == ("To Do", None, None)

    wrong = error_of(lambda: client.transition_issue(key, "99"))
    assert wrong.status_code == 400
    assert body_of(wrong)["errorMessages"] == ["Transition id '99' is not valid for this issue."]
    assert error_of(lambda: client.transition_issue(key, "11")).status_code == 400  # already To Do


def test_transition_takes_a_comment_but_no_fields(fake: FakeJira, client: JIRA) -> None:
    key = create(client, duedate="2026-12-01")
    refused = error_of(lambda: client.transition_issue(key, "31", fields={"duedate": "2027-01-05"}))
    assert body_of(refused) == {
        "errorMessages": [],
        "errors": {
            "duedate": "Field 'duedate' cannot be set. It is not on the appropriate screen, "
            "or unknown."
        },
    }
    assert fake.issue(key)["fields"]["status"]["name"] == "To Do"  # nothing happened
    client.transition_issue(key, "31", comment="Closed by the bot")
    f = fake.issue(key)["fields"]
    assert (f["status"]["name"], f["duedate"]) == ("Done", "2026-12-01")
    assert [c["body"] for c in f["comment"]["comments"]] == ["Closed by the bot"]
    posted = fake.calls_to("POST", r"/transitions$")[-1].json
    assert posted == {
        "transition": {"id": 31},
        "update": {"comment": [{"add": {"body": "Closed by the bot"}}]},
        "fields": {},
    }


def test_workflow_without_a_way_back(fake: FakeJira, client: JIRA) -> None:
    key = create(client)
    fake.remove_transitions_to("To Do")
    fake.remove_transitions_to("In Progress")
    client.transition_issue(key, "31")
    assert [t["to"]["name"] for t in client.transitions(key)] == ["Won't Do"]
    assert error_of(lambda: client.transition_issue(key, "11")).status_code == 400
    assert error_of(lambda: client.transition_issue(key, "Reopen")).status_code is None
    fake.restore_transitions()
    client.transition_issue(key, "11")
    assert fake.issue(key)["fields"]["status"]["name"] == "To Do"


def test_set_status_in_jira_is_seen_by_the_client(
    fake: FakeJira, client: JIRA, clock: Clock
) -> None:
    key = create(client)
    clock.advance(minutes=30)
    before = len(fake.calls)
    fake.set_status_in_jira(key, "Won't Do", by=ADA)
    assert len(fake.calls) == before  # no request, no webhook: only state changed
    f = client.issue(key).raw["fields"]
    assert (f["status"]["name"], f["status"]["statusCategory"]["key"]) == ("Won't Do", "done")
    assert f["resolution"]["name"] == "Won't Do"
    assert f["updated"] == f["statuscategorychangedate"] == "2026-11-22T09:30:00.000+0000"
    history = client.issue(key, expand="changelog").raw["changelog"]["histories"][-1]
    assert history["author"]["accountId"] == ADA
    assert [i["field"] for i in history["items"]] == ["resolution", "status"]
    with pytest.raises(ValueError):
        fake.set_status_in_jira(key, "Won't Do")
    with pytest.raises(ValueError):
        fake.set_status_in_jira(key, "Closed")
    with pytest.raises(KeyError):
        fake.set_status_in_jira("OPS-9", "Done")


def test_status_fixture_shape(fake: FakeJira, client: JIRA) -> None:
    spec = json.loads(
        shared_file("jira-fixtures/atlassian-openapi/transitions.GET.200.json").read_text()
    )
    ours = client.transitions(create(client))[0]
    assert set(spec["transitions"][0]) - {"fields"} <= set(ours)
    assert set(spec["transitions"][0]["to"]) <= set(ours["to"])


# --- users ------------------------------------------------------------------------------------


def test_user_search_on_cloud(fake: FakeJira, client: JIRA) -> None:
    fake.add_user("712020:old", "ada.old@acme.test", "Ada Former", active=False)
    found = client.search_users(query="ada@acme.test")
    assert [(u.accountId, u.emailAddress, u.displayName) for u in found] == [
        (ADA, "ada@acme.test", "Ada Lovelace")
    ]
    assert [u.accountId for u in client.search_users(query="love")] == [ADA]  # word prefix
    assert [u.accountId for u in client.search_users(query="ada")] == [ADA]  # inactive left out
    assert {u.accountId for u in client.search_users(query="ada", includeInactive=True)} == {
        ADA,
        "712020:old",
    }
    assert list(client.search_users(query="zed@acme.test")) == []
    by_username = raw(fake, "GET", "/rest/api/2/user/search", params={"username": "ada"})
    assert by_username.status_code == 400
    assert client.user(ADA).displayName == "Ada Lovelace"


def test_user_search_on_server() -> None:
    with FakeJira(deployment="Server", personal_access_token="pat") as fake:
        fake.add_user("ada", "ada@acme.test", "Ada Lovelace")
        client = connect(fake, token_auth="pat")
        found = client.search_users(user="ada@acme.test")
        assert [(u.name, u.emailAddress) for u in found] == [("ada", "ada@acme.test")]
        assert fake.calls_to("GET", r"/user/search$")[-1].query["username"] == ["ada@acme.test"]
        no_username = raw(fake, "GET", "/rest/api/2/user/search", params={"query": "ada"})
        assert no_username.status_code == 400


# --- search -----------------------------------------------------------------------------------


def test_search_jql_pages_with_next_page_token(fake: FakeJira, client: JIRA) -> None:
    keys = [create(client, f"Follow-up {n}", labels=["inc-7"]) for n in range(1, 8)]
    create(client, "Unrelated")
    fake.search_page_size = 3
    fake.reset_calls()

    found = client.enhanced_search_issues('labels = "inc-7" ORDER BY key ASC', maxResults=0)
    assert [i.key for i in found] == keys
    pages = fake.calls_to("GET", r"/search/jql$")
    assert len(pages) == 3 and "nextPageToken" not in pages[0].query
    assert pages[1].query["nextPageToken"] and pages[0].query["maxResults"] == ["100"]

    seen, token, shapes = [], None, []
    while True:
        page = client.enhanced_search_issues(
            "project = OPS AND labels in (inc-7, other) ORDER BY key DESC",
            nextPageToken=token,
            maxResults=50,
            fields="summary,status",
            json_result=True,
        )
        assert isinstance(page, dict)
        shapes.append((len(page["issues"]), page["isLast"], "nextPageToken" in page))
        seen += [i["key"] for i in page["issues"]]
        assert set(page["issues"][0]["fields"]) == {"summary", "status"}
        token = page.get("nextPageToken")
        if page["isLast"]:
            break
    assert seen == keys[::-1]
    assert shapes == [(3, False, True), (3, False, True), (1, True, False)]


def test_search_jql_filters(fake: FakeJira, client: JIRA, clock: Clock) -> None:
    one = create(client, labels=["a"], assignee={"accountId": ADA})
    clock.advance(hours=2)
    two = create(client, labels=["b"])
    three = create(client)

    def keys(jql: str) -> list[str]:
        page = client.enhanced_search_issues(jql, fields="summary", json_result=True)
        assert isinstance(page, dict)
        return [i["key"] for i in page["issues"]]

    assert keys(f"key in ({one}, {three}) ORDER BY key ASC") == [one, three]
    assert keys("project = OPS") == [three, two, one]  # newest first without ORDER BY
    assert keys('updated >= "2026-11-22 10:00" ORDER BY key ASC') == [two, three]
    assert keys("updated < -1h") == [one]
    assert keys("labels is EMPTY") == [three]
    assert keys("labels != a") == [two]  # like Jira, an empty field never matches !=
    assert keys(f"assignee = {ADA} OR labels = b ORDER BY key ASC") == [one, two]
    assert keys("project = OPS AND NOT (labels in (a, b)) ") == [three]
    fake.set_status_in_jira(two, "In Progress")
    assert keys('statusCategory = "In Progress"') == [two]
    assert keys("status = 'To Do' ORDER BY updated DESC, key ASC") == [three, one]
    assert keys("summary ~ credentials AND key = OPS-1") == [one]


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("key in (OPS-1, OPS-99)", "An issue with key 'OPS-99' does not exist for field 'key'."),
        ("key = banana", "The issue key 'banana' for field 'key' is invalid."),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("status = Closed", "The value 'Closed' does not exist for the field 'status'."),
        ("colour = red", "Field 'colour' does not exist or you do not have permission to view it."),
        ("labels ~ x", "The operator '~' is not supported by the 'labels' field."),
        ('updated >= "22/11/2026"', "Date value '22/11/2026' for field 'updated' is invalid."),
        ("project = OPS ORDER BY labels", "Not able to sort using field 'labels'."),
        ("ORDER BY key ASC", "Unbounded JQL queries are not allowed here."),
        ("", "Unbounded JQL queries are not allowed here."),
        ("project = OPS AND", "Error in the JQL Query: Expecting a field name but got the end"),
        ("key in (OPS-1", "Error in the JQL Query: Expecting ')' but got the end of the query."),
        ('labels = "x', "Error in the JQL Query: The quoted string 'x' has not been completed."),
        (
            "updated >= 2026-11-22 10:00",
            "Error in the JQL Query: Expecting either 'OR' or 'AND' but got '10:00'.",
        ),
        ("project OPS", "Error in the JQL Query: Expecting operator"),
    ],
)
def test_search_jql_errors(fake: FakeJira, client: JIRA, jql: str, message: str) -> None:
    create(client)
    failed = error_of(
        lambda: client.enhanced_search_issues(jql, fields="summary", json_result=True)
    )
    assert failed.status_code == 400
    assert body_of(failed)["errorMessages"][0].startswith(message)


def test_search_jql_defaults_to_ids_and_rejects_bad_tokens(fake: FakeJira, client: JIRA) -> None:
    key = create(client)
    page = raw(fake, "GET", "/rest/api/2/search/jql", params={"jql": "project = OPS"}).json()
    assert page == {"issues": [{"id": "10001"}], "isLast": True}
    posted = raw(
        fake, "POST", "/rest/api/2/search/jql", json={"jql": f"key = {key}", "fields": ["summary"]}
    ).json()
    assert posted["issues"][0]["fields"] == {"summary": "Rotate the DB credentials"}
    bad = raw(
        fake,
        "GET",
        "/rest/api/2/search/jql",
        params={"jql": "project = OPS", "nextPageToken": "garbage"},
    )
    assert bad.status_code == 400 and "token" in bad.json()["errorMessages"][0]
    gone = raw(fake, "GET", "/rest/api/2/search", params={"jql": "project = OPS"})
    assert gone.status_code == 410 and "removed" in gone.json()["errorMessages"][0]


def test_legacy_search_on_server_pages_by_start_at() -> None:
    with FakeJira(deployment="Server", personal_access_token="pat") as fake:
        client = connect(fake, token_auth="pat")
        keys = [create(client, f"Follow-up {n}", labels=["inc-9"]) for n in range(1, 6)]
        fake.search_page_size = 2
        jql = "labels = inc-9 ORDER BY key ASC"
        first = client.search_issues(
            jql, startAt=0, maxResults=50, fields="summary", json_result=True
        )
        assert (first["startAt"], first["maxResults"], first["total"]) == (0, 2, 5)
        assert [i["key"] for i in first["issues"]] == keys[:2]
        last = client.search_issues(jql, startAt=4, maxResults=50, json_result=True)
        assert [i["key"] for i in last["issues"]] == keys[4:]
        every = client.search_issues(jql, maxResults=0)  # the client pages by itself
        assert [i.key for i in every] == keys
        assert client.enhanced_search_issues(jql) is None  # Cloud-only in the client
        assert (
            raw(
                fake,
                "GET",
                "/rest/api/2/search/jql",
                auth=("postmortem-bot", fake.api_token),
                params={"jql": jql},
            ).status_code
            == 404
        )

        strict = error_of(lambda: client.search_issues("key in (OPS-1, OPS-77)", json_result=True))
        assert body_of(strict)["errorMessages"] == [
            "An issue with key 'OPS-77' does not exist for field 'key'."
        ]
        lenient = client.search_issues(
            "key in (OPS-1, OPS-77)", validate_query=False, json_result=True
        )
        assert [i["key"] for i in lenient["issues"]] == ["OPS-1"]
        assert lenient["warningMessages"] == [
            "An issue with key 'OPS-77' does not exist for field 'key'."
        ]


# --- comments ---------------------------------------------------------------------------------


def test_comments(fake: FakeJira, client: JIRA, clock: Clock) -> None:
    key = create(client)
    clock.advance(minutes=1)
    comment = client.add_comment(key, "Linked from Slack: <https://acme.slack.com/x|thread>")
    assert comment.body.startswith("Linked from Slack")
    assert comment.author.accountId == fake.bot_account_id and comment.id == "10000"
    call = fake.calls_to("POST", r"/comment$")[0]
    assert (call.status, call.json) == (201, {"body": comment.body})
    assert {"id", "self", "author", "body", "updateAuthor", "created", "updated"} <= set(
        call.response
    )
    f = client.issue(key).fields
    assert [c.body for c in f.comment.comments] == [comment.body]
    assert f.updated == "2026-11-22T09:01:00.000+0000"
    assert [c.body for c in client.comments(key)] == [comment.body]
    empty = error_of(lambda: client.add_comment(key, "  "))
    assert body_of(empty)["errors"] == {"comment": "Comment body can not be empty!"}


def test_comment_shape_matches_the_spec(fake: FakeJira, client: JIRA) -> None:
    fixture = "jira-fixtures/atlassian-openapi/comment.POST.201.json"
    spec = json.loads(shared_file(fixture).read_text())
    ours = client.add_comment(create(client), "Done in INC-42").raw
    assert set(spec) - {"visibility"} <= set(ours)  # v2: body is a plain string, not ADF
    assert set(spec["author"]) <= set(ours["author"])
    assert isinstance(ours["body"], str) and TIMESTAMP.match(ours["created"])


# --- faults -----------------------------------------------------------------------------------


def test_fail_429_with_retry_after_then_recovers(fake: FakeJira, client: JIRA) -> None:
    fake.fail("POST", r"/rest/api/2/issue$", 429, retry_after=7)
    limited = error_of(lambda: create(client))
    assert limited.status_code == 429 and headers_of(limited)["Retry-After"] == "7"
    assert body_of(limited)["errorMessages"] == ["Rate limit exceeded."]
    assert create(client) == "OPS-1"
    assert [c.status for c in fake.calls_to("POST", r"/issue$")] == [429, 201]


def test_fail_503_500_and_custom_bodies(fake: FakeJira, client: JIRA) -> None:
    key = create(client)
    fake.fail("get", r"/issue/OPS-1$", 503, times=2)
    for _ in range(2):
        unavailable = error_of(lambda: client.issue(key))
        assert unavailable.status_code == 503 and "Retry-After" not in headers_of(unavailable)
    assert client.issue(key).key == key
    fake.fail("*", r"/transitions$", 500, body={"errorMessages": ["boom"], "errors": {}})
    broken = error_of(lambda: client.transitions(key))
    assert (broken.status_code, broken.text) == (500, "boom")
    # Faults are served before credentials are checked (the edge answers first).
    fake.fail("GET", r"/myself$", 503, retry_after=2)
    edge = raw(fake, "GET", "/rest/api/2/myself", auth=("x", "y"))
    assert (edge.status_code, edge.headers["Retry-After"]) == (503, "2")
    with pytest.raises(ValueError):
        fake.fail("GET", r"/x", 500, times=0)


def test_client_retries_a_503_with_retry_after(fake: FakeJira) -> None:
    retrying = JIRA(fake.url, basic_auth=(fake.email, fake.api_token), max_retries=1, timeout=5)
    fake.fail("POST", r"/issue$", 503, retry_after=1)
    started = time.monotonic()
    key = retrying.create_issue(fields=fields(), prefetch=False).key
    assert time.monotonic() - started >= 0.9
    assert key == "OPS-1"
    assert [c.status for c in fake.calls_to("POST", r"/issue$")] == [503, 201]


def test_go_down_and_come_back_keep_port_and_state(fake: FakeJira, client: JIRA) -> None:
    key = create(client)
    url = fake.url
    fake.go_down()
    assert not fake.is_up
    with pytest.raises(requests.ConnectionError):
        client.issue(key)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/rest/api/2/serverInfo", timeout=2)
    fake.come_back()
    assert fake.url == url and fake.is_up
    assert client.issue(key).fields.summary == "Rotate the DB credentials"
    assert create(client) == "OPS-2"


# --- webhooks ---------------------------------------------------------------------------------


def test_webhook_delivery_for_a_status_change(fake: FakeJira, client: JIRA, clock: Clock) -> None:
    key = create(client, duedate="2026-12-01", assignee={"accountId": ADA})
    clock.advance(minutes=10)
    fake.set_status_in_jira(key, "In Progress", by=BOB)
    body = fake.webhook_delivery(key)
    payload = json.loads(body)
    assert payload["webhookEvent"] == "jira:issue_updated"
    assert payload["issue_event_type_name"] == "issue_generic"
    assert payload["timestamp"] == int(clock.now.timestamp() * 1000)
    assert payload["user"]["accountId"] == BOB
    issue = payload["issue"]
    assert (issue["key"], issue["id"], issue["self"]) == (
        key,
        "10001",
        f"{fake.url}/rest/api/2/issue/10001",
    )
    f = issue["fields"]
    assert (f["status"]["name"], f["status"]["statusCategory"]["key"]) == (
        "In Progress",
        "indeterminate",
    )
    assert (f["duedate"], f["assignee"]["accountId"], f["summary"], f["labels"]) == (
        "2026-12-01",
        ADA,
        "Rotate the DB credentials",
        [],
    )
    assert payload["changelog"]["items"] == [
        {
            "field": "status",
            "fieldtype": "jira",
            "fieldId": "status",
            "from": "10000",
            "fromString": "To Do",
            "to": "3",
            "toString": "In Progress",
        }
    ]

    secret = "s3cr3t"
    signature = FakeJira.sign(body, secret)
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    assert FakeJira.sign(body + b" ", secret) != signature
    headers = FakeJira.webhook_headers(body, secret=secret, identifier="42", retry=1)
    assert headers["X-Hub-Signature"] == signature
    assert (headers["X-Atlassian-Webhook-Identifier"], headers["X-Atlassian-Webhook-Retry"]) == (
        "42",
        "1",
    )


def test_webhook_delivery_for_field_changes_and_custom_items(fake: FakeJira, client: JIRA) -> None:
    key = create(client, duedate="2026-12-01")
    with pytest.raises(ValueError):
        fake.webhook_delivery(key)  # nothing changed yet
    created = json.loads(fake.webhook_delivery(key, event="jira:issue_created"))
    assert created["issue_event_type_name"] == "issue_created" and "changelog" not in created
    assert created["user"]["accountId"] == fake.bot_account_id

    fake.set_fields_in_jira(key, duedate="2026-12-15", assignee=ADA)
    items = json.loads(fake.webhook_delivery(key))["changelog"]["items"]
    assert [(i["field"], i["from"], i["to"]) for i in items] == [
        ("duedate", "2026-12-01", "2026-12-15"),
        ("assignee", None, ADA),
    ]
    fake.set_fields_in_jira(key, assignee=None)
    assigned = json.loads(fake.webhook_delivery(key))
    assert assigned["issue_event_type_name"] == "issue_assigned"
    assert assigned["issue"]["fields"]["assignee"] is None
    assert assigned["issue"]["fields"]["duedate"] == "2026-12-15"  # `...` left it alone

    custom = [
        {
            "field": "labels",
            "fieldtype": "jira",
            "from": None,
            "fromString": "",
            "to": None,
            "toString": "x",
        }
    ]
    assert (
        json.loads(fake.webhook_delivery(key, changelog_items=custom))["changelog"]["items"]
        == custom
    )
    with pytest.raises(ValueError):
        fake.set_fields_in_jira(key, duedate="15/12/2026")
    with pytest.raises(ValueError):
        fake.set_fields_in_jira(key, assignee="712020:nobody")


def test_webhook_shape_matches_the_real_delivery(fake: FakeJira, client: JIRA) -> None:
    real = json.loads(
        shared_file(
            "jira-fixtures/webhooks/jira_issue_updated_status.bytebase-cloud-2024.trimmed.json"
        ).read_text()
    )
    key = create(client, assignee={"accountId": ADA})
    fake.set_status_in_jira(key, "In Progress")
    ours = json.loads(fake.webhook_delivery(key))
    assert set(real) == set(ours)
    assert set(real["issue"]) == set(ours["issue"])
    assert set(real["issue"]["fields"]) <= set(ours["issue"]["fields"])
    assert set(real["changelog"]) == set(ours["changelog"])
    assert set(real["changelog"]["items"][0]) == set(ours["changelog"]["items"][0])
    assert set(real["user"]) <= set(ours["user"])


# --- HTTP details & call recording ---------------------------------------------------------------


def test_unknown_routes_methods_and_bodies(fake: FakeJira) -> None:
    missing = raw(fake, "GET", "/rest/api/2/nothing-here")
    assert missing.status_code == 404 and "null for uri" in missing.json()["message"]
    assert raw(fake, "GET", "/rest/api/3/issue/OPS-1").status_code == 404
    not_allowed = raw(fake, "DELETE", "/rest/api/2/issue/OPS-1")
    assert (not_allowed.status_code, not_allowed.headers["Allow"]) == (405, "GET, PUT")
    not_json = raw(
        fake,
        "POST",
        "/rest/api/2/issue",
        data=b"summary=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert not_json.status_code == 415
    broken = raw(
        fake,
        "POST",
        "/rest/api/2/issue",
        data=b"{oops",
        headers={"Content-Type": "application/json"},
    )
    assert broken.status_code == 400 and broken.json()["errorMessages"]
    assert fake.calls[-1].json is None and fake.calls[-1].status == 400
    assert raw(fake, "GET", "/rest/api/2/project/OPS").json()["key"] == "OPS"
    assert raw(fake, "GET", "/rest/api/2/project/XYZ").json()["errorMessages"] == [
        "No project could be found with key 'XYZ'."
    ]


def test_calls_record_requests_and_wait_for(fake: FakeJira, client: JIRA) -> None:
    fake.reset_calls()
    key = create(client, labels=["x"])
    call = fake.calls[-1]
    assert (call.method, call.path, call.status) == ("POST", "/rest/api/2/issue", 201)
    assert call.json["fields"]["labels"] == ["x"] and call.response["key"] == key
    assert call.headers["Authorization"].startswith("Basic ")
    client.issue(key, fields="summary")
    assert fake.calls[-1].query == {"fields": ["summary"]}

    def later() -> None:
        time.sleep(0.2)
        client.add_comment(key, "late")

    worker = threading.Thread(target=later)
    worker.start()
    arrived = fake.wait_for("POST", r"/comment$", timeout=5)
    worker.join()
    assert [c.json for c in arrived] == [{"body": "late"}]
    with pytest.raises(FakeJiraTimeout):
        fake.wait_for("DELETE", r"/issue", timeout=0.2)
    fake.reset_calls()
    assert fake.calls == []
