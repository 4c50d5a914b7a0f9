"""The HTTP edge of the fake: authentication (401 text/plain on Cloud), injected faults (429
with Retry-After, 5xx, dropped and hung connections, the site going down), rate limiting,
routing errors and the recording of every call."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.confluence import Account, FakeConfluence, FakeConfluenceTimeout

V1 = "/wiki/rest/api"
CLOUD_401 = (
    "Basic authentication with passwords is deprecated.  For more information, see: "
    "https://confluence.atlassian.com/cloud/deprecation-of-basic-authentication-with-passwords-"
    "for-jira-and-confluence-apis-972355348.html"
)


class Ticks:
    """A settable monotonic clock for the rate limiter."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def fake(ticks: Ticks) -> Iterator[FakeConfluence]:
    with FakeConfluence(monotonic=ticks) as server:
        yield server


def call(
    fake: FakeConfluence, method: str, path: str, *, account: Account | None = None, **kw: Any
) -> requests.Response:
    kw.setdefault("timeout", 5)
    return requests.request(method, fake.url + path, headers=fake.auth_headers(account), **kw)


def space(fake: FakeConfluence, **kw: Any) -> requests.Response:
    return call(fake, "GET", f"{V1}/space/OPS", **kw)


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param(("bot@acme.test", "my-password"), id="wrong-token"),
        pytest.param(("nobody@acme.test", "confluence-api-token"), id="unknown-email"),
        pytest.param(None, id="missing"),
    ],
)
def test_cloud_rejects_bad_credentials_with_text_plain_401(
    fake: FakeConfluence, auth: tuple[str, str] | None
) -> None:
    answer = requests.get(f"{fake.url}{V1}/space/OPS", auth=auth, timeout=5)
    assert answer.status_code == 401
    assert answer.headers["Content-Type"] == "text/plain"
    assert answer.text == CLOUD_401
    assert answer.headers["Server"].startswith("AtlassianProxy/")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert fake.calls[-1].status == 401 and fake.calls[-1].account_id is None
    v2 = requests.get(f"{fake.url}/wiki/api/v2/spaces", auth=auth, timeout=5)
    assert (v2.status_code, v2.text) == (401, CLOUD_401)


def test_both_accounts_authenticate_with_their_own_tokens(fake: FakeConfluence) -> None:
    assert space(fake).status_code == 200
    assert space(fake, account=fake.person).status_code == 200
    assert [c.account_id for c in fake.calls] == [fake.bot.account_id, fake.person.account_id]
    bearer = requests.get(
        f"{fake.url}{V1}/space/OPS",
        headers={"Authorization": f"Bearer {fake.bot.personal_access_token}"},
        timeout=5,
    )
    assert bearer.status_code == 401  # Cloud API tokens are Basic, not Bearer


def test_data_center_401_is_json() -> None:
    with FakeConfluence(deployment="datacenter") as fake:
        answer = requests.get(
            f"{fake.url}/rest/api/space/OPS", headers={"Authorization": "Bearer wrong"}, timeout=5
        )
        assert answer.status_code == 401
        assert answer.json()["statusCode"] == 401


def test_injected_429_carries_retry_after_then_recovers(fake: FakeConfluence) -> None:
    fake.fail_next(429, times=2, path=r"/space/", retry_after=7)
    for _ in range(2):
        limited = space(fake)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "7"
        assert limited.json()["statusCode"] == 429
    assert space(fake).status_code == 200
    assert [c.status for c in fake.calls] == [429, 429, 200]


def test_injected_faults_match_method_and_path(fake: FakeConfluence) -> None:
    fake.fail_next(503, method="POST", path=r"/content$", retry_after=2)
    fake.fail_next(500, method="GET", path=r"/api/v2/", body="upstream exploded")
    assert space(fake).status_code == 200
    made = call(
        fake, "POST", f"{V1}/content", json={"type": "page", "title": "x", "space": {"key": "OPS"}}
    )
    assert (made.status_code, made.headers["Retry-After"]) == (503, "2")
    assert made.json()["message"] == "Service Unavailable"
    assert fake.find_page("OPS", "x") is None
    v2 = call(fake, "GET", "/wiki/api/v2/spaces")
    assert (v2.status_code, v2.text) == (500, "upstream exploded")
    assert call(fake, "GET", "/wiki/api/v2/spaces").status_code == 200
    with pytest.raises(ValueError):
        fake.fail_next(500, times=0)


def test_rate_limit_per_account_with_retry_after(fake: FakeConfluence, ticks: Ticks) -> None:
    fake.set_rate_limit(2, window=10)
    assert [space(fake).status_code for _ in range(2)] == [200, 200]
    limited = space(fake)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "10"
    assert limited.headers["X-RateLimit-Limit"] == "2"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert space(fake, account=fake.person).status_code == 200  # its own budget
    ticks.now += 4
    assert space(fake).headers["Retry-After"] == "6"
    ticks.now += 6
    assert space(fake).status_code == 200
    fake.set_rate_limit(None)
    assert all(space(fake).status_code == 200 for _ in range(5))


def test_dropped_connection_is_a_connection_error(fake: FakeConfluence) -> None:
    fake.drop_next(path="/space/")
    with pytest.raises(requests.ConnectionError):
        space(fake)
    assert fake.calls[-1].status == 0
    assert space(fake).status_code == 200


def test_hung_request_times_out_on_the_client_until_released(fake: FakeConfluence) -> None:
    fake.hang_next(path="/space/", seconds=30)
    with pytest.raises(requests.ReadTimeout):
        space(fake, timeout=0.3)
    fake.release_hung()
    assert space(fake).status_code == 200


def test_going_down_refuses_connections_and_coming_back_keeps_state(
    fake: FakeConfluence,
) -> None:
    page = fake.create_as_person("OPS", "Survives restarts")
    url = fake.url
    fake.go_down()
    assert not fake.is_up
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}{V1}/space/OPS", timeout=2)
    fake.come_back()
    assert fake.url == url and fake.is_up
    assert call(fake, "GET", f"{V1}/content/{page.id}").status_code == 200


def test_routing_and_body_errors(fake: FakeConfluence) -> None:
    assert call(fake, "GET", f"{V1}/nothing-here").status_code == 404
    assert call(fake, "GET", "/elsewhere").status_code == 404
    wrong_method = call(fake, "PATCH", f"{V1}/content")
    assert wrong_method.status_code in (405, 501)
    not_allowed = call(fake, "DELETE", f"{V1}/content")
    assert not_allowed.status_code == 405 and "POST" in not_allowed.headers["Allow"]
    text = requests.post(
        f"{fake.url}{V1}/content",
        data="type=page",
        headers={**fake.auth_headers(), "Content-Type": "text/plain"},
        timeout=5,
    )
    assert text.status_code == 415
    broken = requests.post(
        f"{fake.url}{V1}/content",
        data="{not json",
        headers={**fake.auth_headers(), "Content-Type": "application/json"},
        timeout=5,
    )
    assert broken.status_code == 400


def test_calls_record_method_path_query_body_and_status(fake: FakeConfluence) -> None:
    payload = {"type": "page", "title": "Recorded", "space": {"key": "OPS"}}
    made = call(fake, "POST", f"{V1}/content", json=payload).json()
    call(fake, "GET", f"{V1}/content/{made['id']}", params={"expand": "version"})
    post, get = fake.calls
    assert (post.method, post.path, post.json, post.status) == (
        "POST",
        f"{V1}/content",
        payload,
        200,
    )
    assert post.response["title"] == "Recorded"
    assert post.headers["Authorization"].startswith("Basic ")
    assert (get.method, get.query) == ("GET", {"expand": ["version"]})
    assert fake.calls_to("GET", r"/content/\d+$") == [get]
    fake.reset_calls()
    assert fake.calls == []


def test_wait_for_blocks_until_the_requests_arrive(fake: FakeConfluence) -> None:
    worker = threading.Thread(target=lambda: [space(fake) for _ in range(3)])
    worker.start()
    found = fake.wait_for("GET", r"/space/OPS$", count=3, timeout=5)
    worker.join(timeout=5)
    assert len(found) == 3
    with pytest.raises(FakeConfluenceTimeout):
        fake.wait_for("DELETE", r"/content", timeout=0.2)


def test_concurrent_updates_get_exactly_one_winner(fake: FakeConfluence) -> None:
    page = fake.create_as_person("OPS", "Contended")
    results: list[int] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        body = {"version": {"number": 2}, "title": "Contended", "type": "page"}
        status = call(fake, "PUT", f"{V1}/content/{page.id}", json=body).status_code
        with lock:
            results.append(status)

    workers = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert sorted(results) == [200] + [409] * 7
    assert fake.page(page.id).version == 2
