"""The production server's process settings (bot.web.server.HttpServer.serve_forever)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SERVE_AND_ASK = textwrap.dedent(
    """
    import sys, threading, time, urllib.request
    from bot.web.server import HttpServer

    def app(environ, start_response):
        body = repr(sys.getswitchinterval()).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    server = HttpServer(app, host="127.0.0.1", port=0, threads=2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    deadline = time.monotonic() + 10
    while True:
        try:
            print(urllib.request.urlopen(server.url + "/", timeout=2).read().decode())
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    server.stop(5)
    """
)


def test_a_serving_process_hands_the_interpreter_on_within_a_millisecond() -> None:
    """Python's default 5 ms let a thread holding SQLite's write turn wait that long for the
    interpreter after each SQLite call, with every other writer waiting behind it."""
    served = subprocess.run(
        [sys.executable, "-c", SERVE_AND_ASK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert float(served.stdout.strip()) == 0.001
