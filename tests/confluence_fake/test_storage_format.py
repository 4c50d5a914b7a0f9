"""Storage-format validation: malformed bodies get Confluence's 400 "Error parsing xhtml"
envelope (on create, update and v2), well-formed bodies with macros are stored verbatim."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.confluence import FakeConfluence, StorageError, validate_storage

V1 = "/wiki/rest/api"
POSITION = re.compile(r"\n at \[row,col \{unknown-source\}\]: \[(\d+),(\d+)\]$")

PAGE_PROPERTIES = (
    '<ac:structured-macro ac:name="details" ac:schema-version="1" ac:macro-id="a1b2">'
    '<ac:parameter ac:name="id">incident</ac:parameter>'
    "<ac:rich-text-body><table><tbody>"
    "<tr><th>Severity</th><td>SEV-2</td></tr>"
    '<tr><th>Owner</th><td><ac:link><ri:user ri:account-id="712020:abc" /></ac:link></td></tr>'
    "</tbody></table></ac:rich-text-body></ac:structured-macro>"
)
JIRA_MACRO = (
    '<ac:structured-macro ac:name="jira" ac:schema-version="1">'
    '<ac:parameter ac:name="server">JIRA (acme.atlassian.net)</ac:parameter>'
    '<ac:parameter ac:name="key">OPS-12</ac:parameter></ac:structured-macro>'
)
CODE_MACRO = (
    '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter>'
    "<ac:plain-text-body><![CDATA[if [[ $a < 3 && $b > 1 ]]; then echo '&nbsp;'; fi"
    "]]]]><![CDATA[>]]></ac:plain-text-body></ac:structured-macro>"
)
VALID = [
    pytest.param(PAGE_PROPERTIES, id="page-properties-details-macro"),
    pytest.param(JIRA_MACRO, id="jira-macro"),
    pytest.param(CODE_MACRO, id="code-macro-with-cdata-and-split-end-marker"),
    pytest.param('<p><ac:link><ri:page ri:content-title="Runbook" /></ac:link></p>', id="link"),
    pytest.param("<p>a&#160;b &amp; c &lt;d&gt; &quot;e&quot; &apos;f&apos;</p>", id="entities"),
    pytest.param("<p>line<br />break</p><hr/>", id="self-closed-void-tags"),
    pytest.param('<ac:structured-macro ac:name="no-such-macro" ac:bogus="1"/>', id="odd-macro"),
    pytest.param("", id="empty"),
]
MALFORMED = [
    pytest.param("<p>one<br>two</p>", "Unexpected close tag </p>; expected </br>.", id="br"),
    pytest.param("<p>a&nbsp;b</p>", 'Undeclared general entity "nbsp"', id="nbsp"),
    pytest.param(
        "<p>R&D</p>",
        "Unexpected character '<' (code 60); expected a semi-colon after the reference for "
        "entity 'D'",
        id="unescaped-ampersand-name",
    ),
    pytest.param("<p>this & that</p>", "Unexpected character ' ' (code 32)", id="stray-ampersand"),
    pytest.param(
        "<p>x ]]> y</p>", "String ']]>' not allowed in textual content", id="cdata-end-outside"
    ),
    pytest.param(
        "<ac:plain-text-body><![CDATA[a ]]> b]]></ac:plain-text-body>",
        "String ']]>' not allowed in textual content",
        id="cdata-end-inside-code",
    ),
    pytest.param("<p>unclosed", "Unexpected close tag </xml>; expected </p>.", id="unclosed"),
    pytest.param(
        "<p>1 < 2</p>", "Unexpected character ' ' (code 32) in content after '<'", id="lt"
    ),
    pytest.param('<x:y a="1"/>', 'Undeclared namespace prefix "x"', id="unknown-prefix"),
]


@pytest.fixture
def fake() -> Iterator[FakeConfluence]:
    with FakeConfluence() as server:
        yield server


def post(fake: FakeConfluence, title: str, body: str) -> requests.Response:
    payload: dict[str, Any] = {
        "type": "page",
        "title": title,
        "space": {"key": "OPS"},
        "body": {"storage": {"value": body, "representation": "storage"}},
    }
    return requests.post(
        f"{fake.url}{V1}/content", json=payload, headers=fake.auth_headers(), timeout=5
    )


@pytest.mark.parametrize("body", VALID)
def test_well_formed_storage_is_accepted_verbatim(fake: FakeConfluence, body: str) -> None:
    created = post(fake, "Valid page", body)
    assert created.status_code == 200, created.text
    assert fake.page(created.json()["id"]).body == body
    assert created.json()["body"]["storage"]["value"] == body


@pytest.mark.parametrize(("body", "reason"), MALFORMED)
def test_malformed_storage_is_a_400_in_confluences_envelope(
    fake: FakeConfluence, body: str, reason: str
) -> None:
    refused = post(fake, "Broken page", body)
    assert refused.status_code == 400
    error = refused.json()
    assert error["statusCode"] == 400 and error["reason"] == "Bad Request"
    assert error["data"] == {
        "authorized": False,
        "valid": True,
        "allowedInReadOnlyMode": True,
        "errors": [],
        "successful": False,
    }
    assert error["message"].startswith(f"Error parsing xhtml: {reason}")
    assert POSITION.search(error["message"]) is not None, error["message"]
    assert fake.find_page("OPS", "Broken page") is None


def test_positions_count_rows_and_columns_of_the_body() -> None:
    with pytest.raises(StorageError) as caught:
        validate_storage("<p>fine</p>\n<p>also fine</p>\n<p>x &nbsp; y</p>")
    assert (caught.value.row, caught.value.col) == (3, 6)
    with pytest.raises(StorageError) as first_line:
        validate_storage("<p>a&nbsp;</p>")
    assert (first_line.value.row, first_line.value.col) == (1, 5)


def test_malformed_update_leaves_the_page_alone(fake: FakeConfluence) -> None:
    page_id = post(fake, "Doc", "<p>ok</p>").json()["id"]
    payload: dict[str, Any] = {
        "version": {"number": 2},
        "title": "Doc",
        "type": "page",
        "body": {"storage": {"value": "<p>bad<br></p>", "representation": "storage"}},
    }
    refused = requests.put(
        f"{fake.url}{V1}/content/{page_id}", json=payload, headers=fake.auth_headers(), timeout=5
    )
    assert refused.status_code == 400
    assert refused.json()["message"].startswith("Error parsing xhtml: ")
    assert (fake.page(page_id).version, fake.page(page_id).body) == (1, "<p>ok</p>")


def test_v2_reports_malformed_storage_in_the_v2_envelope(fake: FakeConfluence) -> None:
    payload: dict[str, Any] = {
        "spaceId": str(fake.space_id("OPS")),
        "status": "current",
        "title": "V2 broken",
        "body": {"representation": "storage", "value": "<p>a&nbsp;b</p>"},
    }
    refused = requests.post(
        f"{fake.url}/wiki/api/v2/pages", json=payload, headers=fake.auth_headers(), timeout=5
    )
    assert refused.status_code == 400
    [error] = refused.json()["errors"]
    assert error["status"] == 400 and error["detail"] is None
    assert error["title"].startswith('Error parsing xhtml: Undeclared general entity "nbsp"')


def test_a_person_cannot_save_malformed_storage_either(fake: FakeConfluence) -> None:
    page = fake.create_as_person("OPS", "Human page", "<p>ok</p>")
    with pytest.raises(ValueError, match="Error parsing xhtml"):
        fake.edit_as_person(page.id, "<p>oops<br></p>")
    assert fake.page(page.id).version == 1
