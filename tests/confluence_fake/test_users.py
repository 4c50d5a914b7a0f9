"""The user endpoints the bot needs: `GET /user/current` (who the bot is, so it never
restricts a page away from itself) and Cloud's `GET /search/user` by e-mail (which channel
member has an account)."""

from __future__ import annotations

import requests

from sandbox.confluence import DATACENTER, FakeConfluence


def get(fake: FakeConfluence, path: str, **params: str) -> requests.Response:
    return requests.get(fake.site_url + path, headers=fake.auth_headers(), params=params, timeout=5)


def test_current_user_is_the_caller_on_cloud_and_data_center() -> None:
    with FakeConfluence() as cloud:
        me = get(cloud, "/rest/api/user/current")
        assert me.status_code == 200 and me.json()["accountId"] == cloud.bot.account_id
    with FakeConfluence(deployment=DATACENTER) as dc:
        me = get(dc, "/rest/api/user/current")
        assert me.status_code == 200
        assert me.json()["username"] == "postmortem-bot" and me.json()["userKey"]


def test_user_search_by_email_finds_one_account_or_none() -> None:
    with FakeConfluence() as fake:
        found = get(fake, "/rest/api/search/user", cql='user.email = "RILEY@acme.test"')
        assert found.status_code == 200
        [result] = found.json()["results"]
        assert result["user"]["accountId"] == fake.person.account_id
        assert result["user"]["email"] == ""  # Cloud's privacy: the address is not echoed
        none = get(fake, "/rest/api/search/user", cql="user.email = 'nobody@acme.test'")
        assert none.json()["results"] == [] and none.json()["totalSize"] == 0
        refused = get(fake, "/rest/api/search/user", cql='user.fullname ~ "Riley"')
        assert refused.status_code == 400 and "Could not parse cql" in refused.json()["message"]
        anonymous = requests.get(fake.site_url + "/rest/api/user/current", timeout=5)
        assert anonymous.status_code == 401


def test_data_center_has_no_user_search() -> None:
    with FakeConfluence(deployment=DATACENTER) as fake:
        assert get(fake, "/rest/api/search/user", cql='user.email = "x@y"').status_code == 404
