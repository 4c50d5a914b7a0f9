"""The fake Slack Web API (auth, messages, history, threads, chat, users), driven only through
the real slack_sdk WebClient."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.slack.fake import FakeSlack
from tests.slack_fake.support import TOKEN, api_error, error_of, names, post, seed

# --- auth -------------------------------------------------------------------------------------


def test_auth_test_and_auth_errors(fake: FakeSlack, client: WebClient) -> None:
    me = client.auth_test()
    assert (me["user_id"], me["bot_id"], me["team_id"]) == ("UBOT0001", "BBOT0001", "T0001")
    assert me["url"] == "https://acme.slack.com/" and me["is_enterprise_install"] is False
    assert "enterprise_id" not in me.data

    with pytest.raises(SlackApiError) as bad:
        WebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test()
    assert api_error(bad) == "invalid_auth"
    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=fake.api_url).auth_test()
    assert api_error(missing) == "not_authed"

    # A token in the form body is accepted too, and Bolt's extra team_id is ignored.
    status, _, body = post(
        f"{fake.api_url}auth.test",
        f"token={TOKEN}&team_id=T0001".encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200 and json.loads(body)["user_id"] == "UBOT0001"
    assert [c.status for c in fake.calls_to("auth.test")] == [200, 200, 200, 200]


def test_unknown_method_and_invalid_json(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as unknown:
        client.api_call("chat.doesNotExist")
    assert api_error(unknown) == "unknown_method"
    _, _, body = post(
        f"{fake.api_url}chat.postMessage",
        b"{not json",
        {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    assert json.loads(body) == {"ok": False, "error": "invalid_json"}


def test_enterprise_id_is_reported_when_set() -> None:
    with FakeSlack(enterprise_id="E0001") as grid:
        me = WebClient(token=TOKEN, base_url=grid.api_url).auth_test()
        assert me["enterprise_id"] == "E0001"


# --- messages, history and threads ------------------------------------------------------------


def test_post_history_replies_round_trip(fake: FakeSlack, client: WebClient, channel: str) -> None:
    parent = fake.post_as_user(channel, "U1", "db is down")
    sent = client.chat_postMessage(channel=channel, text="on it", thread_ts=parent["ts"])
    assert sent["channel"] == channel
    message = sent["message"]
    assert message["bot_id"] == "BBOT0001" and message["user"] == "UBOT0001"
    assert message["app_id"] == "A0001" and message["thread_ts"] == parent["ts"]
    human = fake.post_as_user(channel, "U2", "thanks", thread_ts=parent["ts"])
    broadcast = client.chat_postMessage(
        channel=channel, text="fixed", thread_ts=human["ts"], reply_broadcast=True
    )
    later = client.chat_postMessage(channel=channel, text="all clear")

    history = client.conversations_history(channel=channel)
    assert [m["text"] for m in history["messages"]] == ["all clear", "fixed", "db is down"]
    top = history["messages"][2]
    assert top["reply_count"] == 3 and top["thread_ts"] == parent["ts"]
    assert top["reply_users"] == ["UBOT0001", "U2"] and top["reply_users_count"] == 2
    assert top["latest_reply"] == broadcast["ts"]
    assert history["messages"][1]["subtype"] == "thread_broadcast"
    assert history["has_more"] is False and history["response_metadata"]["next_cursor"] == ""
    assert history["pin_count"] == 0

    thread = client.conversations_replies(channel=channel, ts=parent["ts"])
    assert [m["text"] for m in thread["messages"]] == ["db is down", "on it", "thanks", "fixed"]
    assert all(m["thread_ts"] == parent["ts"] for m in thread["messages"])
    assert thread["messages"][2]["parent_user_id"] == "U1"
    # A reply's ts yields only that reply; an unthreaded message yields itself.
    only = client.conversations_replies(channel=channel, ts=sent["ts"])["messages"]
    assert [m["text"] for m in only] == ["on it"]
    alone = client.conversations_replies(channel=channel, ts=later["ts"])["messages"]
    assert [m["text"] for m in alone] == ["all clear"] and "thread_ts" not in alone[0]
    with pytest.raises(SlackApiError) as missing:
        client.conversations_replies(channel=channel, ts="1.000001")
    assert api_error(missing) == "thread_not_found"
    assert [m["text"] for m in fake.replies(channel, parent["ts"])][-1] == "fixed"


def test_ts_are_unique_and_increasing(fake: FakeSlack, channel: str) -> None:
    stamps = [fake.post_as_user(channel, "U1", str(i))["ts"] for i in range(20)]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 20
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)
    with pytest.raises(ValueError):
        fake.post_as_user(channel, "U1", "dup", ts=stamps[0])


def test_delete_parent_leaves_tombstone(fake: FakeSlack, client: WebClient, channel: str) -> None:
    parent = fake.post_as_user(channel, "U1", "parent")
    reply = fake.post_as_user(channel, "U2", "reply", thread_ts=parent["ts"])
    fake.delete_message(channel, parent["ts"])
    [tomb] = client.conversations_history(channel=channel)["messages"]
    assert tomb["subtype"] == "tombstone" and tomb["reply_count"] == 1
    fake.delete_message(channel, reply["ts"])
    assert client.conversations_history(channel=channel)["messages"] == []


def test_history_pagination_three_pages(fake: FakeSlack, client: WebClient, channel: str) -> None:
    stamps = seed(fake, channel, 7)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = client.conversations_history(channel=channel, limit=3, cursor=cursor)
        pages += 1
        seen += [m["ts"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert pages == 3 and seen == stamps[::-1]
    # slack_sdk's own cursor iteration walks the same pages.
    walked = [len(p["messages"]) for p in client.conversations_history(channel=channel, limit=3)]
    assert walked == [3, 3, 1]
    with pytest.raises(SlackApiError) as bad:
        client.conversations_history(channel=channel, cursor="not-a-cursor")
    assert api_error(bad) == "invalid_cursor"


def test_history_oldest_latest_inclusive(fake: FakeSlack, client: WebClient, channel: str) -> None:
    t = seed(fake, channel, 5)

    def texts(**kwargs: Any) -> list[str]:
        return [
            m["text"] for m in client.conversations_history(channel=channel, **kwargs)["messages"]
        ]

    assert texts(oldest=t[1], latest=t[3]) == ["m2"]  # both bounds exclusive by default
    assert texts(oldest=t[1], latest=t[3], inclusive=True) == ["m3", "m2", "m1"]
    assert texts(oldest=t[3]) == ["m4"]
    assert texts(oldest=t[3], inclusive=True) == ["m4", "m3"]
    assert texts(latest=t[1], inclusive=True) == ["m1", "m0"]
    assert texts(inclusive=True) == ["m4", "m3", "m2", "m1", "m0"]  # ignored without bounds
    assert texts(oldest="1700000002") == ["m4", "m3", "m2"]  # plain Unix time
    # Time windows combine with cursors: limit=1 pages through the window newest first.
    first = client.conversations_history(channel=channel, oldest=t[0], latest=t[4], limit=2)
    assert [m["text"] for m in first["messages"]] == ["m3", "m2"] and first["has_more"]
    rest = client.conversations_history(
        channel=channel,
        oldest=t[0],
        latest=t[4],
        limit=2,
        cursor=first["response_metadata"]["next_cursor"],
    )
    assert [m["text"] for m in rest["messages"]] == ["m1"] and rest["has_more"] is False
    with pytest.raises(SlackApiError) as bad:
        client.conversations_history(channel=channel, oldest="yesterday")
    assert api_error(bad) == "invalid_ts_oldest"


def test_replies_pagination(fake: FakeSlack, client: WebClient, channel: str) -> None:
    parent = fake.post_as_user(channel, "U1", "root", ts="1700000100.000000")
    for i in range(5):
        fake.post_as_user(channel, "U2", f"r{i}", thread_ts=parent["ts"], ts=f"{1700000101 + i}.0")
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = client.conversations_replies(
            channel=channel, ts=parent["ts"], limit=2, cursor=cursor
        )
        pages.append([m["text"] for m in page["messages"]])
        cursor = page["response_metadata"]["next_cursor"]
        if not page["has_more"]:
            break
    # Every page starts with the parent, as Slack does.
    assert pages == [["root", "r0"], ["root", "r1", "r2"], ["root", "r3", "r4"]]
    windowed = client.conversations_replies(
        channel=channel, ts=parent["ts"], oldest="1700000102.000000", latest="1700000104.000000"
    )
    assert [m["text"] for m in windowed["messages"]] == ["root", "r2"]


def test_post_message_errors(fake: FakeSlack, client: WebClient, channel: str) -> None:
    def error(**kwargs: Any) -> str:
        with warnings.catch_warnings(), pytest.raises(SlackApiError) as exc:
            warnings.simplefilter("ignore", UserWarning)  # slack_sdk's missing-text nag
            client.chat_postMessage(**kwargs)
        return api_error(exc)

    assert error(channel="C_NOPE", text="x") == "channel_not_found"
    assert error(channel="", text="x") == "channel_not_found"
    assert error(channel=channel) == "no_text"
    assert error(channel=channel, text="x" * 40_001) == "msg_too_long"
    assert error(channel=channel, blocks=[{"text": "no type"}]) == "invalid_blocks"
    archived = fake.add_channel(f"old-{next(names)}", archived=True)
    assert error(channel=archived["id"], text="x") == "is_archived"
    hidden = fake.add_channel(f"secret-{next(names)}", private=True, bot_is_member=False)
    assert error(channel=hidden["id"], text="x") == "channel_not_found"
    with pytest.warns(UserWarning, match="text"):  # slack_sdk nags; Slack accepts it
        blocks_only = client.chat_postMessage(
            channel=f"#{fake.channel(channel)['name']}", blocks=[{"type": "divider"}]
        )
    assert blocks_only["channel"] == channel and blocks_only["message"]["blocks"]


def test_not_in_channel_then_join_then_post(
    fake: FakeSlack, client: WebClient, channel: str
) -> None:
    outside = str(fake.add_channel(f"ext-{next(names)}", members=["U1"], bot_is_member=False)["id"])
    calls: list[Callable[[], object]] = [
        lambda: client.chat_postMessage(channel=outside, text="hi"),
        lambda: client.conversations_history(channel=outside),
    ]
    for call in calls:
        assert error_of(call) == "not_in_channel"
    assert client.conversations_info(channel=outside)["channel"]["is_member"] is False

    joined = client.conversations_join(channel=outside)
    assert joined["channel"]["is_member"] is True and "warning" not in joined.data
    client.chat_postMessage(channel=outside, text="hello")
    history = client.conversations_history(channel=outside)["messages"]
    assert [(m.get("subtype"), m["text"]) for m in history] == [
        (None, "hello"),
        ("channel_join", "<@UBOT0001> has joined the channel"),
    ]
    assert client.conversations_join(channel=outside)["warning"] == "already_in_channel"

    private = fake.add_channel(f"priv-{next(names)}", private=True, members=["U1"])
    archived = fake.add_channel(f"arch-{next(names)}", archived=True, bot_is_member=False)
    for ref, expected in (
        (private["id"], "method_not_supported_for_channel_type"),
        (archived["id"], "is_archived"),
        ("C_NOPE", "channel_not_found"),
    ):
        with pytest.raises(SlackApiError) as exc:
            client.conversations_join(channel=ref)
        assert api_error(exc) == expected


def test_conversations_info_and_members(fake: FakeSlack, client: WebClient) -> None:
    private = fake.add_channel(
        f"p-{next(names)}", private=True, members=["U1", "U2", "U3"], topic="sev1"
    )
    info = client.conversations_info(channel=private["id"])["channel"]
    assert info["id"].startswith("C") and info["is_private"] is True
    assert (info["is_channel"], info["is_group"], info["is_im"]) == (True, False, False)
    assert info["num_members"] == 4 and info["topic"]["value"] == "sev1"
    assert info["is_archived"] is False and info["creator"] == "U1"

    first = client.conversations_members(channel=private["id"], limit=3)
    second = client.conversations_members(
        channel=private["id"], limit=3, cursor=first["response_metadata"]["next_cursor"]
    )
    assert first["members"] + second["members"] == ["U1", "U2", "U3", "UBOT0001"]
    assert second["response_metadata"]["next_cursor"] == ""


# --- other chat.* -----------------------------------------------------------------------------


def test_update_delete_and_ephemeral(fake: FakeSlack, client: WebClient, channel: str) -> None:
    sent = client.chat_postMessage(channel=channel, text="draft")
    updated = client.chat_update(channel=channel, ts=sent["ts"], text="final")
    assert updated["text"] == "final" and updated["message"]["edited"]["user"] == "UBOT0001"
    assert fake.messages(channel)[-1]["text"] == "final"
    human = fake.post_as_user(channel, "U1", "mine")
    cases: list[tuple[Callable[[], object], str]] = [
        (
            lambda: client.chat_update(channel=channel, ts=human["ts"], text="x"),
            "cant_update_message",
        ),
        (lambda: client.chat_update(channel=channel, ts="1.000001", text="x"), "message_not_found"),
        (lambda: client.chat_delete(channel=channel, ts=human["ts"]), "cant_delete_message"),
    ]
    for call, expected in cases:
        assert error_of(call) == expected

    eph = client.chat_postEphemeral(channel=channel, user="U1", text="only you")
    assert eph["message_ts"]
    with pytest.raises(SlackApiError) as outsider:
        client.chat_postEphemeral(channel=channel, user="U3", text="nope")
    assert api_error(outsider) == "user_not_in_channel"
    assert [e["text"] for e in fake.ephemerals(channel, "U1")] == ["only you"]
    assert "only you" not in [m["text"] for m in fake.messages(channel)]

    client.chat_delete(channel=channel, ts=sent["ts"])
    assert [m["text"] for m in fake.messages(channel)] == ["mine"]


def test_permalink_forms(fake: FakeSlack, client: WebClient, channel: str) -> None:
    parent = fake.post_as_user(channel, "U1", "root", ts="1763800000.000100")
    reply = fake.post_as_user(
        channel, "U2", "reply", thread_ts=parent["ts"], ts="1763800001.000200"
    )
    top = client.chat_getPermalink(channel=channel, message_ts=parent["ts"])
    assert top["permalink"] == f"https://acme.slack.com/archives/{channel}/p1763800000000100"
    threaded = client.chat_getPermalink(channel=channel, message_ts=reply["ts"])["permalink"]
    assert threaded == (
        f"https://acme.slack.com/archives/{channel}/p1763800001000200"
        f"?thread_ts=1763800000.000100&cid={channel}"
    )
    with pytest.raises(SlackApiError) as missing:
        client.chat_getPermalink(channel=channel, message_ts="1763800009.000000")
    assert api_error(missing) == "message_not_found"


def test_reactions(fake: FakeSlack, client: WebClient, channel: str) -> None:
    msg = fake.post_as_user(channel, "U1", "deploy done")
    fake.add_reaction(channel, msg["ts"], "eyes", "U2")
    client.reactions_add(channel=channel, timestamp=msg["ts"], name="eyes")
    client.reactions_add(channel=channel, timestamp=msg["ts"], name=":white_check_mark:")
    assert fake.reactions(channel, msg["ts"]) == [
        {"name": "eyes", "users": ["U2", "UBOT0001"], "count": 2},
        {"name": "white_check_mark", "users": ["UBOT0001"], "count": 1},
    ]
    cases: list[tuple[Callable[[], object], str]] = [
        (
            lambda: client.reactions_add(channel=channel, timestamp=msg["ts"], name="eyes"),
            "already_reacted",
        ),
        (
            lambda: client.reactions_remove(channel=channel, timestamp=msg["ts"], name="tada"),
            "no_reaction",
        ),
        (
            lambda: client.reactions_add(channel=channel, timestamp="1.000001", name="x"),
            "message_not_found",
        ),
    ]
    for call, expected in cases:
        assert error_of(call) == expected
    client.reactions_remove(channel=channel, timestamp=msg["ts"], name="eyes")
    history = client.conversations_history(channel=channel)["messages"][0]
    assert [(r["name"], r["count"]) for r in history["reactions"]] == [
        ("eyes", 1),
        ("white_check_mark", 1),
    ]


# --- users and DMs ----------------------------------------------------------------------------


def test_users_info(client: WebClient) -> None:
    ada = client.users_info(user="U1")["user"]
    assert (ada["name"], ada["real_name"], ada["tz"]) == ("ada", "Ada L", "Europe/London")
    assert ada["tz_offset"] in (0, 3600) and ada["tz_label"] in (
        "Greenwich Mean Time",
        "British Summer Time",
    )
    assert ada["profile"]["email"] == "ada@acme.io" and ada["profile"]["image_48"]
    assert ada["is_bot"] is False and ada["deleted"] is False and ada["team_id"] == "T0001"
    cy = client.users_info(user="U3")["user"]
    assert cy["tz_offset"] == 19800 and cy["tz_label"] == "India Standard Time"
    assert "email" not in cy["profile"]
    assert client.users_lookupByEmail(email="ADA@acme.io")["user"]["id"] == "U1"
    with pytest.raises(SlackApiError) as missing:
        client.users_info(user="U404")
    assert api_error(missing) == "user_not_found"


def test_conversations_open_is_stable(fake: FakeSlack, client: WebClient) -> None:
    first = client.conversations_open(users="U2")
    assert first["channel"]["id"].startswith("D") and "already_open" not in first.data
    again = client.conversations_open(users=["U2"], return_im=True)
    assert again["channel"]["id"] == first["channel"]["id"]
    assert again["already_open"] is True and again["no_op"] is True
    assert again["channel"]["is_im"] is True and again["channel"]["user"] == "U2"
    group = client.conversations_open(users="U2,U3")["channel"]["id"]
    assert group != first["channel"]["id"]
    assert client.conversations_open(users="U3,U2")["channel"]["id"] == group
    assert fake.dm_channel_id("U2") == first["channel"]["id"]

    # Posting to a user id lands in the DM.
    sent = client.chat_postMessage(channel="U2", text="your action items")
    assert sent["channel"] == first["channel"]["id"]
    assert fake.messages(sent["channel"])[-1]["text"] == "your action items"
    with pytest.raises(SlackApiError) as unknown:
        client.conversations_open(users="U404")
    assert api_error(unknown) == "user_not_found"
