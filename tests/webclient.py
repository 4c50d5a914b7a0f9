"""A small browser for the web view's tests: real HTTP, redirects followed by hand, and a cookie
jar that keeps what the server set (including `Secure` cookies: the tests run on plain HTTP on
the loopback, as Chromium allows for 127.0.0.1)."""

from __future__ import annotations

import http.client
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urljoin, urlsplit


@dataclass
class Page:
    status: int
    headers: dict[str, str]
    set_cookies: list[str]
    body: str
    url: str


@dataclass
class Browser:
    cookies: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (value, path)
    history: list[Page] = field(default_factory=list)

    def _cookie_header(self, path: str) -> str:
        return "; ".join(
            f"{name}={value}"
            for name, (value, cookie_path) in self.cookies.items()
            if path.startswith(cookie_path) or path + "/" == cookie_path
        )

    def _keep(self, raw: str) -> None:
        jar: SimpleCookie = SimpleCookie()
        jar.load(raw)
        for name, morsel in jar.items():
            gone = morsel["max-age"] == "0" or "1970" in morsel["expires"] or not morsel.value
            if gone:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = (morsel.value, morsel["path"] or "/")

    def request(self, method: str, url: str, *, body: bytes | None = None) -> Page:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"Host": parts.netloc}
        cookie = self._cookie_header(parts.path)
        if cookie:
            headers["Cookie"] = cookie
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            set_cookies = response.headers.get_all("Set-Cookie") or []
            page = Page(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                set_cookies,
                text,
                url,
            )
        finally:
            conn.close()
        for raw in set_cookies:
            self._keep(raw)
        self.history.append(page)
        return page

    def get(self, url: str, *, follow: bool = True) -> Page:
        page = self.request("GET", url)
        hops = 0
        while follow and page.status in (301, 302, 303, 307, 308) and hops < 10:
            page = self.request("GET", urljoin(page.url, page.headers["location"]))
            hops += 1
        return page

    def post(self, url: str, *, follow: bool = True) -> Page:
        page = self.request("POST", url, body=b"")
        if follow and page.status in (302, 303):
            return self.get(urljoin(page.url, page.headers["location"]))
        return page
