"""The fake's Sign in with Slack, driven by slack-sdk as the bot drives it, against what Slack's
docs say: the authorize page's redirect, openid.connect.token's answer and errors, the claims
of openid.connect.userInfo."""

from __future__ import annotations

import base64
import http.client
import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth import OpenIDConnectAuthorizeUrlGenerator

from sandbox.slack.fake import FakeSlack
from sandbox.slack.oauth import CLIENT_ID, CLIENT_SECRET
from tests.slack_fake.support import api_error

REDIRECT = "https://bot.example.com/app/auth/callback"


def _get(url: str) -> tuple[int, dict[str, str], str]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, response.read().decode()
    finally:
        conn.close()


def _authorize(fake: FakeSlack, **extra: str) -> tuple[int, dict[str, str], str]:
    url = OpenIDConnectAuthorizeUrlGenerator(
        client_id=CLIENT_ID,
        redirect_uri=REDIRECT,
        scopes=["openid", "profile", "email"],
        authorization_url=fake.openid_authorize_url,
    ).generate(state="st4te", nonce="n0nce")
    if extra:
        url += "&" + urlencode(extra)
    return _get(url)


def _code(fake: FakeSlack, user: str = "U1", team: str | None = None) -> str:
    fake.sign_in_browser_as(user, team_id=team)
    try:
        status, headers, _ = _authorize(fake)
    finally:
        fake.sign_in_browser_as(None)
    assert status == 302
    back = urlsplit(headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    query = parse_qs(back.query)
    assert query["state"] == ["st4te"]
    return query["code"][0]


def _exchange(fake: FakeSlack, code: str, **kwargs: str) -> dict[str, object]:
    args = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT}
    args.update(kwargs)
    return WebClient(base_url=fake.api_url).openid_connect_token(code=code, **args).data  # type: ignore[return-value]


def test_sign_in_gives_a_user_token_an_id_token_and_the_claims(fake: FakeSlack) -> None:
    answer = _exchange(fake, _code(fake))
    assert answer["ok"] is True and answer["token_type"] == "Bearer"
    token = str(answer["access_token"])
    assert token.startswith("xoxp-")
    payload = str(answer["id_token"]).split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == CLIENT_ID and claims["nonce"] == "n0nce"
    assert claims["https://slack.com/user_id"] == "U1"
    info = WebClient(token=token, base_url=fake.api_url).openid_connect_userInfo().data
    assert isinstance(info, dict)
    assert info["ok"] is True and info["sub"] == "U1"
    assert info["https://slack.com/team_id"] == fake.team_id
    assert info["email"] == "ada@acme.io" and info["email_verified"] is True
    assert info["name"] == "Ada L"


def test_a_code_works_once_and_only_with_the_apps_credentials(fake: FakeSlack) -> None:
    code = _code(fake)
    with pytest.raises(SlackApiError) as bad_secret:
        _exchange(fake, code, client_secret="wrong")
    assert api_error(bad_secret) == "bad_client_secret"
    with pytest.raises(SlackApiError) as bad_client:
        _exchange(fake, code, client_id="123.456")
    assert api_error(bad_client) == "invalid_client_id"
    with pytest.raises(SlackApiError) as bad_redirect:
        _exchange(fake, code, redirect_uri="https://evil.example.com/cb")
    assert api_error(bad_redirect) == "bad_redirect_uri"
    _exchange(fake, code)
    with pytest.raises(SlackApiError) as reused:
        _exchange(fake, code)
    assert api_error(reused) == "invalid_code"


def test_user_info_needs_a_sign_in_token(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as unknown:
        WebClient(token="xoxp-1-2-nope", base_url=fake.api_url).openid_connect_userInfo()
    assert api_error(unknown) == "invalid_auth"


def test_another_workspace_is_said_in_the_claims(fake: FakeSlack) -> None:
    token = str(_exchange(fake, _code(fake, "U2", team="T0OTHER"))["access_token"])
    info = WebClient(token=token, base_url=fake.api_url).openid_connect_userInfo().data
    assert isinstance(info, dict)
    assert info["https://slack.com/team_id"] == "T0OTHER"


def test_the_authorize_page_refuses_bad_requests_and_lets_someone_choose(fake: FakeSlack) -> None:
    status, _, body = _authorize(fake)  # nobody signed in: the people to choose from
    assert status == 200 and "as_user=U1" in body and "ada" in body
    _, headers, _ = _get(
        fake.openid_authorize_url + "?" + body.split("?", 1)[1].split('"')[0].replace("&amp;", "&")
    )
    assert "code=" in headers["location"]
    status, _, body = _get(
        fake.openid_authorize_url
        + "?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": CLIENT_ID,
                "scope": "profile",
                "redirect_uri": REDIRECT,
            }
        )
    )
    assert status == 400 and "openid" in body
    status, _, _ = _get(
        fake.openid_authorize_url
        + "?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": "nope",
                "scope": "openid",
                "redirect_uri": REDIRECT,
            }
        )
    )
    assert status == 400
