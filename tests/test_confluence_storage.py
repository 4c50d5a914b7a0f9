"""Markdown → Confluence storage format, page bodies and splicing (pure), and the settings and
gateway pieces that need no bot: Data Center, credentials reused from Jira, the start check."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.confluence.flows import ConfluenceSetup
from bot.confluence.gateway import ConfluenceGateway, site_url
from bot.confluence.page import Fact, PageWriter, read_layout, splice, with_properties
from bot.confluence.storage import Converter, StorageProblem, cdata, check
from bot.core.settings import Settings
from bot.postmortem.document import split_document
from sandbox.confluence import DATACENTER, FakeConfluence, StorageError, validate_storage

RENDERING = """# INC-7: Disk full {bot}

Opening line.

## Timeline {bot}

- 10:00 first

## Root cause {people}

> ✏️ Why?

## Corrective actions {bot}

- [OPS-3](https://jira.example.test/browse/OPS-3) Add alerts
"""
FACTS = [Fact.text("Severity", "SEV2"), Fact.link("Slack", "channel", "https://x/archives/C1")]


def writer() -> PageWriter:
    return PageWriter(Converter("https://jira.example.test"))


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=200))
def test_any_text_people_type_makes_valid_storage(text: str) -> None:
    markdown = f"## Timeline\n\n- {text}\n\n{text}\n\n```\n{text}\n```\n"
    body = Converter()(markdown)
    check(body, "the test")
    validate_storage(body)  # the fake's parser, Confluence's wording: the second opinion


def test_cdata_splits_its_end_marker() -> None:
    assert cdata("a]]>b") == "<![CDATA[a]]]]><![CDATA[>b]]>"
    body = f"<ac:plain-text-body>{cdata('x ]]> y ]]>')}</ac:plain-text-body>"
    validate_storage(body)


def test_text_is_escaped_never_markup() -> None:
    body = Converter()("a <b>bold</b> & <![CDATA[ x ]]> &nbsp; \x07 \ufffe")
    # Markdown's own entities are read as the characters they name (CommonMark): never as XML
    assert body == "<p>a &lt;b&gt;bold&lt;/b&gt; &amp; &lt;![CDATA[ x ]]&gt; \xa0</p>"
    validate_storage(body)


def test_jira_links_become_issue_macros_other_links_stay_links() -> None:
    body = Converter("https://jira.example.test")(
        "[OPS-3](https://jira.example.test/browse/OPS-3) and "
        "[elsewhere](https://jira.example.test/browse/OPS-4) and "
        "[OPS-5](https://other.example/browse/OPS-5)"
    )
    assert body.count('ac:name="jira"') == 1
    assert '<ac:parameter ac:name="key">OPS-3</ac:parameter>' in body
    assert '<a href="https://jira.example.test/browse/OPS-4">elsewhere</a>' in body
    assert '<a href="https://other.example/browse/OPS-5">OPS-5</a>' in body


def test_a_body_confluence_would_refuse_is_an_error_naming_where() -> None:
    with pytest.raises(StorageProblem) as refused:
        check("<p>line<br></p>", "the section *Timeline*")
    assert "the section *Timeline*" in refused.value.message
    assert "Nothing was published" in refused.value.message
    with pytest.raises(StorageError):
        validate_storage("<p>line<br></p>")  # and the fake agrees


def test_the_full_page_has_properties_then_sections_without_the_title() -> None:
    body = writer().full(split_document(RENDERING), FACTS)
    validate_storage(body)
    assert body.startswith('<ac:structured-macro ac:name="details"')
    assert "<h1>" not in body and "<p>Opening line.</p>" in body
    layout = read_layout(body)
    assert [s.text for s in layout.segments] == ["Timeline", "Root cause", "Corrective actions"]
    assert layout.properties is not None and layout.properties.start == 0


def test_splice_refreshes_bot_sections_and_copies_people_bytes() -> None:
    old = split_document(RENDERING)
    body = writer().full(old, FACTS)
    people = "<h2>Root cause</h2>\n<p>A <strong>human</strong> wrote this &amp; that.</p>\n"
    start = body.index("<h2>Root cause</h2>")
    end = body.index("<h2>Corrective actions</h2>")
    edited = body[:start] + people + body[end:]
    new = split_document(RENDERING.replace("- 10:00 first", "- 10:00 first\n- 11:00 second"))
    result = splice(writer(), edited, new, old, [Fact.text("Severity", "SEV1")])
    assert people.strip() in result.body
    assert "<li>11:00 second</li>" in result.body
    assert "<td><p>SEV1</p></td>" in result.body and "SEV2" not in result.body
    assert result.refreshed == ["Timeline", "Corrective actions"]
    validate_storage(result.body)


def test_splice_leaves_a_removed_bot_section_removed_and_adds_a_new_one() -> None:
    old = split_document(RENDERING)
    body = writer().full(old, FACTS)
    start = body.index("<h2>Timeline</h2>")
    end = body.index("<h2>Root cause</h2>")
    without_timeline = body[:start] + body[end:]
    new = split_document(RENDERING + "\n## Participants {bot}\n\n- Alice\n")
    result = splice(writer(), without_timeline, new, old, FACTS)
    assert "<h2>Timeline</h2>" not in result.body
    assert [h for h, _ in result.left_alone] == ["Timeline"]
    assert result.inserted == ["Participants"]
    assert result.body.index("<h2>Participants</h2>") > result.body.index("Corrective actions")


def test_properties_are_put_back_first_when_people_removed_them() -> None:
    body = "<p>Only words</p>"
    refreshed = with_properties(body, FACTS)
    assert refreshed.startswith('<ac:structured-macro ac:name="details"')
    assert with_properties(refreshed, FACTS) == refreshed


def test_destination_settings_per_template_and_credentials_from_jira() -> None:
    values = Settings(
        _env_file=None,  # type: ignore[call-arg]
        postmortem_destinations="concise=canvas, standard=confluence",
        confluence_url="https://acme.atlassian.net/wiki",
        confluence_space="OPS",
        jira_url="https://acme.atlassian.net",
        jira_email="bot@acme.test",
        jira_api_token="jira-token",  # type: ignore[arg-type]
    )
    assert values.destination_for("standard") == "confluence"
    assert values.destination_for("concise") == "canvas"
    assert values.destination_for("custom") == "canvas"
    assert values.confluence_credentials() == ("basic", "bot@acme.test", "jira-token")
    assert values.confluence_enabled and values.confluence_cloud
    elsewhere = values.model_copy(update={"confluence_url": "https://wiki.acme.internal"})
    assert elsewhere.confluence_credentials() is None
    assert "CONFLUENCE_EMAIL" in " ".join(elsewhere.confluence_missing())
    with pytest.raises(ValueError, match="POSTMORTEM_DESTINATIONS|expected"):
        Settings(_env_file=None, postmortem_destinations="standard=notion")  # type: ignore[call-arg]


def test_site_url_adds_wiki_on_cloud_only() -> None:
    assert site_url("https://acme.atlassian.net", cloud=True) == "https://acme.atlassian.net/wiki"
    assert site_url("https://acme.atlassian.net/wiki/", cloud=True).endswith("/wiki")
    assert site_url("https://wiki.acme.internal/confluence", cloud=False).endswith("/confluence")


def test_data_center_pages_through_v1_with_a_personal_access_token() -> None:
    with FakeConfluence(deployment=DATACENTER) as fake:
        gateway = ConfluenceGateway(
            Settings(
                _env_file=None,  # type: ignore[call-arg]
                confluence_url=fake.site_url,
                confluence_space="OPS",
                confluence_personal_access_token=fake.bot.personal_access_token,  # type: ignore[arg-type]
            )
        )
        assert not gateway.cloud and gateway.check() is None
        page = gateway.create("INC-1: x — postmortem", "<p>hi</p>", parent_id=None, private=False)
        assert gateway.owns(page)
        fake.edit_as_person(page.id, "<p>edited</p>")
        fresh = gateway.page(page.id)
        assert fresh is not None and fresh.version == 2 and fresh.body == "<p>edited</p>"
        saved = gateway.update(fresh, fresh.title, "<p>bot</p>", message="m")
        assert saved.version == 3 and fake.page(page.id).body == "<p>bot</p>"
        assert gateway.find_user("riley@acme.test") is None  # no user search on Data Center
        assert all(c.path.startswith("/rest/api/") for c in fake.calls)


def test_the_start_check_says_what_is_wrong_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with FakeConfluence() as fake:
        base = {"confluence_url": fake.site_url, "confluence_email": fake.bot.email}
        cases = [
            ({"confluence_space": "OPS", "confluence_api_token": "nope"}, "(401)"),
            ({"confluence_space": "NOPE", "confluence_api_token": fake.bot.api_token}, "NOPE"),
        ]
        for overrides, expected in cases:
            values = Settings(_env_file=None, **base, **overrides)  # type: ignore[arg-type]
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="postmortem_bot.confluence"):
                problem = ConfluenceSetup(values, ConfluenceGateway(values)).startup_check()
            assert problem is not None and expected in problem
            [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert "Confluence is not usable" in line.getMessage()
        good = Settings(
            _env_file=None, **base, confluence_space="OPS", confluence_api_token=fake.bot.api_token
        )  # type: ignore[arg-type]
        assert ConfluenceSetup(good, ConfluenceGateway(good)).startup_check() is None
