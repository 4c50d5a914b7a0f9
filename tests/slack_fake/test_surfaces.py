"""The fake Slack Web API (error injection, files, canvases, views, response_url), driven only
through the real slack_sdk WebClient (and urllib)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from sandbox.slack.fake import FakeSlack, FakeSlackTimeout
from tests.slack_fake.support import TOKEN, api_error, error_of, post

# --- error injection --------------------------------------------------------------------------


def test_rate_limit_is_retried_after_retry_after(
    fake: FakeSlack, client: WebClient, channel: str
) -> None:
    fake.rate_limit("chat.postMessage", retry_after=1)
    retrying = WebClient(
        token=TOKEN,
        base_url=fake.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    started = time.monotonic()
    sent = retrying.chat_postMessage(channel=channel, text="after the storm")
    assert time.monotonic() - started >= 1.0
    calls = fake.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert calls[0].response == {"ok": False, "error": "ratelimited"}
    assert [m["ts"] for m in fake.messages(channel)] == [sent["ts"]]


def test_rate_limit_without_retry_handler(fake: FakeSlack, client: WebClient) -> None:
    fake.rate_limit("users.info", retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        client.users_info(user="U1")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    assert client.users_info(user="U1")["ok"] is True


def test_fail_and_server_error(fake: FakeSlack, client: WebClient, channel: str) -> None:
    fake.fail("chat.postMessage", "channel_is_archived", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as failed:
            client.chat_postMessage(channel=channel, text="x")
        assert failed.value.response.status_code == 200
        assert api_error(failed) == "channel_is_archived"
    client.chat_postMessage(channel=channel, text="third time lucky")
    fake.server_error("conversations.history", 503)
    with pytest.raises(SlackApiError) as broken:
        client.conversations_history(channel=channel)
    assert broken.value.response.status_code == 503
    assert [c.status for c in fake.calls] == [200, 200, 200, 503]
    assert fake.messages(channel)[-1]["text"] == "third time lucky"


# --- files ------------------------------------------------------------------------------------


def test_files_upload_v2_end_to_end(fake: FakeSlack, client: WebClient, channel: str) -> None:
    content = "# Postmortem\n\nRoot cause: a full disk.\n"
    result = client.files_upload_v2(
        channel=channel,
        content=content,
        filename="postmortem.md",
        title="INC-42 postmortem",
        initial_comment="Draft attached",
    )
    file_id = result["file"]["id"]
    assert [c.method for c in fake.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    complete = fake.calls_to("files.completeUploadExternal")[0]
    assert complete.params["files"] == [{"id": file_id, "title": "INC-42 postmortem"}]
    stored = fake.files()[file_id]
    assert stored["content"] == content.encode() and stored["channels"] == [channel]
    assert stored["name"] == "postmortem.md" and stored["title"] == "INC-42 postmortem"
    share_ts = result["file"]["shares"]["public"][channel][0]["ts"]
    [message] = fake.messages(channel)
    assert message["ts"] == share_ts and message["text"] == "Draft attached"
    assert message["files"][0]["id"] == file_id
    assert client.files_info(file=file_id)["file"]["size"] == len(content.encode())

    download = urllib.request.Request(
        result["file"]["url_private_download"], headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(download, timeout=5) as response:
        assert response.read() == content.encode()

    threaded = client.files_upload_v2(
        channel=channel, content=b"\x00\x01", filename="dump.bin", thread_ts=share_ts
    )
    reply = fake.replies(channel, share_ts)[-1]
    assert reply["files"][0]["id"] == threaded["file"]["id"]
    with pytest.raises(SlackApiError) as unknown:
        client.files_completeUploadExternal(files=[{"id": "F404", "title": "x"}])
    assert api_error(unknown) == "file_not_found"


# --- canvases ---------------------------------------------------------------------------------


def test_canvases(fake: FakeSlack, client: WebClient, channel: str) -> None:
    created = client.canvases_create(
        title="INC-42",
        document_content={"type": "markdown", "markdown": "# Timeline\n"},
        channel_id=channel,
    )
    canvas_id = created["canvas_id"]
    client.canvases_edit(
        canvas_id=canvas_id,
        changes=[
            {
                "operation": "insert_at_end",
                "document_content": {"type": "markdown", "markdown": "- 10:00 paged"},
            }
        ],
    )
    canvas = fake.canvases()[canvas_id]
    assert canvas["title"] == "INC-42" and canvas["channel_id"] == channel
    # two sections (a heading, a list item), read back as Markdown blocks
    assert canvas["markdown"] == "# Timeline\n\n- 10:00 paged"
    assert [(s["type"], s["text"]) for s in canvas["sections"]] == [
        ("h1", "Timeline"),
        ("bullet", "10:00 paged"),
    ]
    client.canvases_edit(
        canvas_id=canvas_id,
        changes=[
            {"operation": "replace", "document_content": {"type": "markdown", "markdown": "new"}}
        ],
    )
    assert fake.canvases()[canvas_id]["markdown"] == "new"
    client.canvases_access_set(canvas_id=canvas_id, access_level="read", user_ids=["U1"])
    assert fake.canvases()[canvas_id]["access"]["users"] == {"U1": "read"}

    replace = {"operation": "replace", "document_content": {"type": "markdown", "markdown": "x"}}
    assert error_of(lambda: client.canvases_edit(canvas_id="F404", changes=[replace])) == (
        "canvas_not_found"
    )
    assert error_of(lambda: client.canvases_edit(canvas_id=canvas_id, changes=[replace] * 2)) == (
        "invalid_arguments"
    )
    assert (
        error_of(
            lambda: client.canvases_access_set(
                canvas_id=canvas_id, access_level="write", channel_ids=[channel], user_ids=["U1"]
            )
        )
        == "invalid_parameters"
    )

    channel_canvas = client.conversations_canvases_create(
        channel_id=channel, document_content={"type": "markdown", "markdown": "pinned"}
    )["canvas_id"]
    info = client.conversations_info(channel=channel)["channel"]
    assert info["properties"]["canvas"]["file_id"] == channel_canvas
    assert (
        error_of(
            lambda: client.conversations_canvases_create(
                channel_id=channel, document_content={"type": "markdown", "markdown": "again"}
            )
        )
        == "channel_canvas_already_exists"
    )


# --- views ------------------------------------------------------------------------------------

MODAL = {
    "type": "modal",
    "callback_id": "declare",
    "title": {"type": "plain_text", "text": "Declare incident"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Sev?"}}],
}


def test_views_open_and_update(fake: FakeSlack, client: WebClient) -> None:
    trigger = fake.new_trigger_id()
    view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "declare"
    assert view["state"] == {"values": {}} and view["hash"] and view["root_view_id"] == view["id"]
    assert fake.views()[view["id"]]["title"]["text"] == "Declare incident"

    expired = fake.new_trigger_id(ttl=0.01)
    time.sleep(0.05)
    for trigger_id, expected in (
        (trigger, "exchanged_trigger_id"),
        ("123.456.bogus", "invalid_trigger_id"),
        (expired, "expired_trigger_id"),
    ):
        with pytest.raises(SlackApiError) as exc:
            client.views_open(trigger_id=trigger_id, view=MODAL)
        assert api_error(exc) == expected

    new_view = {**MODAL, "blocks": []}
    updated = client.views_update(view_id=view["id"], view=new_view, hash=view["hash"])["view"]
    assert updated["id"] == view["id"] and updated["hash"] != view["hash"]
    with pytest.raises(SlackApiError) as stale:
        client.views_update(view_id=view["id"], view=new_view, hash=view["hash"])
    assert api_error(stale) == "hash_conflict"
    with pytest.raises(SlackApiError) as missing:
        client.views_update(view_id="V404", view=new_view)
    assert api_error(missing) == "not_found"


def test_views_publish_home(fake: FakeSlack, client: WebClient) -> None:
    home = {
        "type": "home",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "Open"}}],
    }
    published = client.views_publish(user_id="U1", view=home)["view"]
    assert published["type"] == "home"
    again = client.views_publish(user_id="U1", view=home, hash=published["hash"])["view"]
    assert again["id"] == published["id"]
    stored = fake.home_view("U1")
    assert stored is not None and stored["blocks"][0]["type"] == "header"
    assert fake.home_view("U2") is None
    with pytest.raises(SlackApiError) as wrong_type:
        client.views_publish(user_id="U1", view=MODAL)
    assert api_error(wrong_type) == "invalid_arguments"


# --- response_url and waiting -----------------------------------------------------------------


def test_response_url_posts(fake: FakeSlack) -> None:
    url = fake.new_response_url()
    assert url.startswith(f"{fake.url}/response/")
    status, content_type, body = post(
        url, json.dumps({"text": "Got it", "response_type": "ephemeral"}).encode(), {}
    )
    assert (status, body) == (200, "ok") and content_type.startswith("text/html")
    assert fake.response_posts(url)[-1] == {"text": "Got it", "response_type": "ephemeral"}
    assert fake.response_posts(fake.new_response_url()) == []
    assert post(f"{fake.url}/response/999999", b"{}", {})[0] == 404


def test_wait_for_work_done_after_an_ack(fake: FakeSlack, channel: str) -> None:
    url = fake.new_response_url()
    before = len(fake.response_posts())

    def later() -> None:
        time.sleep(0.05)
        WebClient(token=TOKEN, base_url=fake.api_url).chat_postMessage(channel=channel, text="bg")
        post(url, b'{"text": "done"}', {"Content-Type": "application/json"})

    worker = threading.Thread(target=later)
    worker.start()
    [call] = fake.wait_for("chat.postMessage", timeout=2)
    assert call.params["text"] == "bg" and call.response["ok"] is True
    assert fake.wait_for_response(before + 1, timeout=2)[-1] == {"text": "done"}
    worker.join()
    with pytest.raises(FakeSlackTimeout):
        fake.wait_for("views.open", timeout=0.05)
