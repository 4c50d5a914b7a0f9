"""The fake's users.conversations: a person's conversations as a bot token sees them (private
ones only where the bot is a member too), paged like conversations.list."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.slack.fake import FakeSlack
from tests.slack_fake.support import names


def test_private_channels_a_person_shares_with_the_bot(fake: FakeSlack, client: WebClient) -> None:
    shared = [
        fake.add_channel(f"p-{next(names)}", private=True, members=["U1"])["id"] for _ in range(3)
    ]
    fake.add_channel(f"p-{next(names)}", private=True, members=["U2"])  # U1 not in it
    fake.add_channel(f"p-{next(names)}", private=True, members=["U1"], bot_is_member=False)
    archived = fake.add_channel(f"p-{next(names)}", private=True, members=["U1"], archived=True)
    fake.add_channel(f"c-{next(names)}", members=["U1"])  # public: not asked for

    seen: list[str] = []
    cursor = None
    while True:
        page = client.users_conversations(
            user="U1", types="private_channel", limit=2, cursor=cursor
        )
        assert len(page["channels"]) <= 2
        seen += [c["id"] for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted([*shared, archived["id"]])
    live = client.users_conversations(user="U1", types="private_channel", exclude_archived=True)
    assert archived["id"] not in [c["id"] for c in live["channels"]]


def test_unknown_person_and_bad_cursor(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as unknown:
        client.users_conversations(user="U404")
    assert unknown.value.response["error"] == "user_not_found"
    with pytest.raises(SlackApiError) as bad:
        client.users_conversations(user="U1", cursor="bm9wZQ==")
    assert bad.value.response["error"] == "invalid_cursor"
