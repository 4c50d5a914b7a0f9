"""Settings from environment variables (and an optional `.env` file).

The variable names are a contract (see README): do not rename them casually.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///postmortem-bot.sqlite3"
README_HINT = "See the 'Environment variables' section of README.md."


class ConfigError(Exception):
    """The configuration cannot work; the message says what to set and where to read more."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    port: int = Field(default=3000, ge=1, le=65535)

    jira_url: str | None = None
    jira_email: str | None = None
    jira_api_token: SecretStr | None = None
    jira_project: str | None = None
    jira_webhook_secret: SecretStr | None = None

    postmortem_templates_dir: Path | None = None
    postmortem_admins: str = ""  # comma-separated user ids who may complete any postmortem
    timeline_emoji: str = "pushpin"
    backfill_leadup_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)
    followup_default_due_days: int = Field(default=14, ge=1, le=365)
    reminder_interval_minutes: int = Field(default=15, ge=1, le=24 * 60)
    reminder_due_soon_days: int = Field(default=1, ge=0, le=30)
    postmortem_draft_sla_hours: int = Field(default=48, ge=1, le=24 * 365)
    postmortem_review_sla_days: int = Field(default=5, ge=1, le=365)
    working_hours: str = "09:00-18:00"  # in each recipient's own Slack time zone
    working_days: str = "mon-fri"
    reminder_digest_channel: str | None = None
    log_level: str = "INFO"
    status_updates_channel: str | None = None  # stakeholder channel id for updates
    status_page_title: str = "Status"

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # slack_sdk joins base_url + method name, so the base must end with "/".
        return value if value.endswith("/") else value + "/"

    @field_validator("timeline_emoji")
    @classmethod
    def _emoji_name(cls, value: str) -> str:
        return value.strip().strip(":") or "pushpin"

    @field_validator("working_hours")
    @classmethod
    def _working_hours(cls, value: str) -> str:
        from bot.reminders.hours import parse_hours

        parse_hours(value)  # ValueError → a validation error naming WORKING_HOURS
        return value.strip()

    @field_validator("working_days")
    @classmethod
    def _working_days(cls, value: str) -> str:
        from bot.reminders.hours import parse_days

        parse_days(value)
        return value.strip().lower()

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @property
    def admins(self) -> set[str]:
        return {part.strip() for part in self.postmortem_admins.split(",") if part.strip()}

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None and bool(self.slack_app_token.get_secret_value())

    def require_slack(self) -> None:
        """Raise ConfigError naming every missing variable needed to talk to Slack."""
        missing: list[str] = []
        if not _present(self.slack_bot_token):
            missing.append("SLACK_BOT_TOKEN")
        # Socket Mode requests are not signed; HTTP mode must verify every request.
        if not self.socket_mode and not _present(self.slack_signing_secret):
            missing.append("SLACK_SIGNING_SECRET")
        if missing:
            names = ", ".join(missing)
            raise ConfigError(
                f"Missing required setting{'s' if len(missing) > 1 else ''}: {names}. "
                "Set them in the environment or in a .env file "
                "(SLACK_APP_TOKEN as well for Socket Mode). " + README_HINT
            )


def _present(value: SecretStr | None) -> bool:
    return value is not None and bool(value.get_secret_value().strip())


def normalise_database_url(url: str) -> str:
    """Accept the URL spellings hosting providers hand out and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; overrides win (used by tests and the demo)."""
    return Settings(**overrides)  # type: ignore[arg-type]
