from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.core.logs import RedactingFilter, redact
from bot.core.settings import ConfigError, Settings

ENV_NAMES = [
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "DATABASE_URL",
    "PORT",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_missing_settings_are_all_named() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings().require_slack()
    message = str(caught.value)
    assert "SLACK_BOT_TOKEN" in message and "SLACK_SIGNING_SECRET" in message
    assert "README" in message


def test_socket_mode_needs_no_signing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    settings = Settings()
    settings.require_slack()
    assert settings.socket_mode


def test_blank_values_count_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "   ")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        Settings().require_slack()


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-file\nSLACK_SIGNING_SECRET=abc\n")
    settings = Settings()
    settings.require_slack()
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-from-file"


def test_urls_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9999/api")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db:5432/pm")
    settings = Settings()
    assert settings.slack_api_url == "http://127.0.0.1:9999/api/"
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/pm"


def test_tokens_never_print() -> None:
    settings = Settings(slack_bot_token="xoxb-secret-123", slack_signing_secret="shh")  # type: ignore[arg-type]
    assert "xoxb-secret-123" not in repr(settings) and "shh" not in str(settings)


def test_log_filter_redacts_tokens(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("calling with %s and header %s", "xoxb-12345-abcdef", "Bearer xapp-1-XYZ")
    assert "xoxb-12345" not in caplog.text and "xapp-1-XYZ" not in caplog.text
    assert "[redacted]" in caplog.text
    assert redact("no secrets here") == "no secrets here"


def test_a_warning_repeated_on_every_request_is_logged_once_a_minute() -> None:
    """waitress warns "Task queue depth is N" for each request that waits for a thread: under a
    burst that was one log line per request, written with CPU the waiting requests needed."""
    from tests.logcapture import captured_logs

    with captured_logs() as logs:
        queue = logging.getLogger("waitress.queue")
        for depth in range(1, 201):
            queue.warning("Task queue depth is %d", depth)
        assert len(logs.lines()) == 1 and "Task queue depth is 1" in logs.lines()[0]
        logging.getLogger("postmortem_bot.test").warning("another logger is not held back")
        assert len(logs.lines()) == 2


def test_after_the_quiet_minute_the_warning_is_logged_again() -> None:
    from bot.core.logs import OncePerInterval

    logger = logging.getLogger("postmortem_bot.test.once_per_interval")
    pending: list[tuple[float, Callable[[], None]]] = []
    only = OncePerInterval(logger, 60, later=lambda s, f: pending.append((s, f)))
    logger.addFilter(only)
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        for n in range(3):
            logger.warning("depth %d", n)
        assert seen == ["depth 0 (the same warning is not logged for 60 s)"]
        assert not logger.isEnabledFor(logging.WARNING)  # the repeats are not even built
        assert [s for s, _ in pending] == [60]
        pending.pop()[1]()  # the minute is over
        logger.warning("depth %d", 7)
        assert seen[-1] == "depth 7 (the same warning is not logged for 60 s)"
    finally:
        logger.removeHandler(handler)
        logger.removeFilter(only)
        logger.setLevel(logging.NOTSET)
