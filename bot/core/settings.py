"""Settings from environment variables (and an optional `.env` file).

The variable names are a contract (see README): do not rename them casually.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from bot.slack.response_urls import ResponseUrlPolicy

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///postmortem-bot.sqlite3"
# The bot scopes of manifest.yml (tests/test_oauth.py keeps the two lists equal).
DEFAULT_SLACK_SCOPES = (
    "commands,chat:write,chat:write.public,channels:read,groups:read,channels:history,"
    "groups:history,channels:join,users:read,users:read.email,reactions:read,reactions:write,"
    "im:write,canvases:read,canvases:write,files:write"
)
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
    # Multi-workspace install (OAuth): set both and SLACK_BOT_TOKEN is not used.
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_scopes: str = DEFAULT_SLACK_SCOPES  # comma-separated bot scopes asked at install
    slack_redirect_uri: str | None = None  # only when the app has several redirect URLs
    # Hosts the bot may POST replies to (a request's response_url); see bot.slack.response_urls.
    slack_response_url_hosts: str = "hooks.slack.com"
    database_url: str = DEFAULT_DATABASE_URL
    # Bounds on every wait for the database (storage.db; README explains each default).
    database_connect_timeout_seconds: int = Field(default=5, ge=2, le=300)  # libpq: >= 2 s
    database_statement_timeout_seconds: float = Field(default=5.0, ge=0.1, le=3600)
    database_lock_timeout_seconds: float = Field(default=2.0, ge=0.1, le=3600)
    database_pool_timeout_seconds: float = Field(default=2.0, ge=0.1, le=300)
    port: int = Field(default=3000, ge=1, le=65535)
    # The production HTTP server (waitress) and stopping it; see README "Deployment".
    http_threads: int = Field(default=8, ge=1, le=256)  # `run --threads` overrides it
    http_max_request_bytes: int = Field(default=5 * 1024 * 1024, ge=64 * 1024, le=1024**3)
    http_channel_timeout_seconds: int = Field(default=120, ge=1, le=24 * 3600)
    shutdown_timeout_seconds: float = Field(default=20.0, gt=0, le=3600)
    scheduler_first_run_seconds: float = Field(default=10.0, ge=0, le=24 * 3600)
    # How long a replica holds a side effect it is carrying out; if it dies, another replica
    # takes the job over this long after (bot.core.outbox).
    outbox_lease_seconds: float = Field(default=60.0, ge=1, le=3600)
    # `run` carries out slow work (generation, backfill, Jira exports, Confluence pages) in a child
    # process of its own, so it never takes the CPU that acks need (bot.slow_work). Off: one
    # process does everything. An in-memory SQLite database always uses one process.
    slow_work_process: bool = True

    jira_url: str | None = None
    jira_email: str | None = None
    jira_api_token: SecretStr | None = None  # Cloud: with JIRA_EMAIL
    jira_personal_access_token: SecretStr | None = None  # Server / Data Center
    jira_project: str | None = None
    jira_issue_type: str = "Task"
    jira_priorities: str = "p1=Highest,p2=High,p3=Medium,p4=Low"
    jira_auto_export: bool = False
    jira_webhook_secret: SecretStr | None = None
    jira_sync_interval_minutes: int = Field(default=10, ge=1, le=24 * 60)
    jira_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    jira_max_retries: int = Field(default=2, ge=0, le=5)

    # Where postmortems are published (bot.postmortem.destinations): canvas (default), a
    # Markdown file in the channel, or a Confluence page; per template with the map.
    postmortem_destination: Literal["canvas", "confluence", "file"] = "canvas"
    postmortem_destinations: str = ""  # "standard=confluence,concise=canvas"

    confluence_url: str | None = None  # https://acme.atlassian.net/wiki, or a DC base URL
    confluence_space: str | None = None  # the space key postmortems are written in
    confluence_parent_page_id: str | None = None  # under this page (else the space homepage)
    confluence_email: str | None = None  # Cloud: with CONFLUENCE_API_TOKEN
    confluence_api_token: SecretStr | None = None
    confluence_personal_access_token: SecretStr | None = None  # Data Center
    confluence_private_group: str | None = None  # may read private incidents' pages
    confluence_private_parent_page_id: str | None = None  # DC: a view-restricted parent
    confluence_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    confluence_max_retries: int = Field(default=2, ge=0, le=5)  # 429/5xx within one call

    postmortem_templates_dir: Path | None = None
    # A runaway custom template becomes a clear error instead of a stuck worker or a huge doc.
    postmortem_render_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    postmortem_max_chars: int = Field(default=8_000_000, ge=10_000, le=100_000_000)
    postmortem_admins: str = ""  # comma-separated user ids who may complete any postmortem
    timeline_emoji: str = "pushpin"
    backfill_leadup_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)
    # Slack's limits on conversations.history/.replies for this app (see bot.slack.budget):
    # Tier 3 (50 a minute, pages of 200) for Marketplace apps; 1 a minute and pages of 15 for
    # apps distributed outside the Marketplace since 2025.
    slack_history_calls_per_minute: float = Field(default=50.0, gt=0, le=10_000)
    slack_history_page_size: int = Field(default=200, ge=1, le=999)
    followup_default_due_days: int = Field(default=14, ge=1, le=365)
    reminder_interval_minutes: int = Field(default=15, ge=1, le=24 * 60)
    reminder_due_soon_days: int = Field(default=1, ge=0, le=30)
    postmortem_draft_sla_hours: int = Field(default=48, ge=1, le=24 * 365)
    postmortem_review_sla_days: int = Field(default=5, ge=1, le=365)
    working_hours: str = "09:00-18:00"  # in each recipient's own Slack time zone
    working_days: str = "mon-fri"
    reminder_digest_channel: str | None = None
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line
    metrics_enabled: bool = True  # GET /metrics (unsigned: keep it off the public internet)
    status_updates_channel: str | None = None  # stakeholder channel id for updates
    status_page_title: str = "Status"
    # The private web view under /app/ (bot.webapp), behind Sign in with Slack: on when
    # WEB_SESSION_SECRET is set and the app's client id and secret are known (SLACK_CLIENT_ID/
    # SECRET of a multi-workspace install, else WEB_SLACK_CLIENT_ID/SECRET).
    web_session_secret: SecretStr | None = None  # signs the session cookie; 32+ characters
    web_base_url: str | None = None  # https://incidents.acme.com: the redirect URL's base
    web_slack_client_id: str | None = None  # single-workspace install only
    web_slack_client_secret: SecretStr | None = None
    web_session_hours: float = Field(default=8.0, gt=0, le=24 * 30)

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("web_session_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and 0 < len(value.get_secret_value().strip()) < 32:
            raise ValueError(
                "WEB_SESSION_SECRET must be at least 32 characters (e.g. openssl rand -hex 32)"
            )
        return value

    @field_validator("web_base_url")
    @classmethod
    def _web_base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("WEB_BASE_URL must be the bot's public URL, e.g. https://bot.acme.com")
        return value.strip().rstrip("/")

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # slack_sdk joins base_url + method name, so the base must end with "/".
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_response_url_hosts")
    @classmethod
    def _response_url_hosts(cls, value: str) -> str:
        from bot.slack.response_urls import ResponseUrlPolicy

        ResponseUrlPolicy.parse(value)  # ValueError → a validation error naming the setting
        return value

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

    @field_validator("jira_priorities")
    @classmethod
    def _jira_priorities(cls, value: str) -> str:
        parse_priority_map(value)  # ValueError → a validation error naming JIRA_PRIORITIES
        return value

    @property
    def jira_enabled(self) -> bool:
        """Jira export and sync are on: a URL, a project and a way to sign in."""
        signed_in = (bool(self.jira_email) and _present(self.jira_api_token)) or _present(
            self.jira_personal_access_token
        )
        return bool(self.jira_url and self.jira_project) and signed_in

    @field_validator("postmortem_destination", mode="before")
    @classmethod
    def _destination(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("postmortem_destinations")
    @classmethod
    def _destinations(cls, value: str) -> str:
        parse_destination_map(value)  # ValueError → a validation error naming the setting
        return value

    @property
    def destination_map(self) -> dict[str, str]:
        """Template name → destination, from POSTMORTEM_DESTINATIONS."""
        return parse_destination_map(self.postmortem_destinations)

    def destination_for(self, template: str) -> str:
        """Where a postmortem written with `template` is published."""
        return self.destination_map.get(template, self.postmortem_destination)

    @property
    def confluence_cloud(self) -> bool:
        """Data Center signs in with a personal access token; Cloud with e-mail + API token
        (its own, or Jira's when both live on the same site)."""
        return not _present(self.confluence_personal_access_token) and not (
            self._reuses_jira() and _present(self.jira_personal_access_token)
        )

    def _reuses_jira(self) -> bool:
        """No Confluence credentials, and CONFLUENCE_URL is on JIRA_URL's site."""
        own = (bool(self.confluence_email) and _present(self.confluence_api_token)) or _present(
            self.confluence_personal_access_token
        )
        return not own and same_site(self.confluence_url, self.jira_url)

    def confluence_credentials(self) -> tuple[str, str, str] | None:
        """("basic", e-mail, API token) or ("bearer", "", personal access token); Jira's when
        CONFLUENCE_URL is the same site as JIRA_URL and Confluence has none of its own."""
        pat = self.confluence_personal_access_token
        if _present(pat) and pat is not None:
            return ("bearer", "", pat.get_secret_value().strip())
        token = self.confluence_api_token
        if self.confluence_email and _present(token) and token is not None:
            return ("basic", self.confluence_email, token.get_secret_value().strip())
        if self._reuses_jira():
            jira_pat = self.jira_personal_access_token
            if _present(jira_pat) and jira_pat is not None:
                return ("bearer", "", jira_pat.get_secret_value().strip())
            jira_token = self.jira_api_token
            if self.jira_email and _present(jira_token) and jira_token is not None:
                return ("basic", self.jira_email, jira_token.get_secret_value().strip())
        return None

    def confluence_missing(self) -> list[str]:
        """The settings Confluence publishing still needs (empty: it can be used)."""
        missing = [
            name
            for name, value in (
                ("CONFLUENCE_URL", self.confluence_url),
                ("CONFLUENCE_SPACE", self.confluence_space),
            )
            if not (value or "").strip()
        ]
        if self.confluence_credentials() is None:
            missing.append(
                "CONFLUENCE_EMAIL + CONFLUENCE_API_TOKEN (Cloud) or "
                "CONFLUENCE_PERSONAL_ACCESS_TOKEN (Data Center)"
            )
        return missing

    @property
    def confluence_enabled(self) -> bool:
        return not self.confluence_missing()

    @property
    def jira_priority_map(self) -> dict[str, str]:
        return parse_priority_map(self.jira_priorities)

    @property
    def admins(self) -> set[str]:
        return {part.strip() for part in self.postmortem_admins.split(",") if part.strip()}

    @property
    def response_url_policy(self) -> ResponseUrlPolicy:
        from bot.slack.response_urls import ResponseUrlPolicy

        return ResponseUrlPolicy.parse(self.slack_response_url_hosts)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None and bool(self.slack_app_token.get_secret_value())

    @property
    def oauth_mode(self) -> bool:
        """Multi-workspace install: SLACK_CLIENT_ID or SLACK_CLIENT_SECRET is set."""
        return bool((self.slack_client_id or "").strip()) or _present(self.slack_client_secret)

    @property
    def scopes(self) -> list[str]:
        return [part.strip() for part in self.slack_scopes.split(",") if part.strip()]

    @property
    def web_client_credentials(self) -> tuple[str, str] | None:
        """The app's client id and secret for Sign in with Slack, when known."""
        if self.oauth_mode:
            client_id, secret = self.slack_client_id, self.slack_client_secret
        else:
            client_id, secret = self.web_slack_client_id, self.web_slack_client_secret
        if not (client_id or "").strip() or secret is None or not _present(secret):
            return None
        return (client_id or "").strip(), secret.get_secret_value().strip()

    @property
    def openid_authorize_url(self) -> str:
        """Sign in with Slack's page: next to the Web API (slack.com/api/ → slack.com/openid/…;
        the fake's likewise)."""
        base = self.slack_api_url.rstrip("/")
        base = base[: -len("/api")] if base.endswith("/api") else base
        return base + "/openid/connect/authorize"

    def require_slack(self) -> None:
        """Raise ConfigError naming every missing variable needed to talk to Slack."""
        if self.oauth_mode:
            self._require_oauth()
            return
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
                "(SLACK_APP_TOKEN as well for Socket Mode; SLACK_CLIENT_ID and "
                "SLACK_CLIENT_SECRET instead of SLACK_BOT_TOKEN for a multi-workspace install). "
                + README_HINT
            )

    def _require_oauth(self) -> None:
        missing: list[str] = []
        if not (self.slack_client_id or "").strip():
            missing.append("SLACK_CLIENT_ID")
        if not _present(self.slack_client_secret):
            missing.append("SLACK_CLIENT_SECRET")
        if not _present(self.slack_signing_secret):
            missing.append("SLACK_SIGNING_SECRET")
        if not self.scopes:
            missing.append("SLACK_SCOPES")
        if missing:
            names = ", ".join(missing)
            raise ConfigError(
                f"Missing required setting{'s' if len(missing) > 1 else ''}: {names}. "
                "A multi-workspace install (SLACK_CLIENT_ID or SLACK_CLIENT_SECRET set) needs "
                "SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET, from your app's "
                "Basic Information page; SLACK_BOT_TOKEN is not used. " + README_HINT
            )
        if self.socket_mode:
            raise ConfigError(
                "SLACK_APP_TOKEN (Socket Mode) cannot be combined with a multi-workspace install "
                "(SLACK_CLIENT_ID, SLACK_CLIENT_SECRET): the install pages are served over HTTP. "
                "Unset SLACK_APP_TOKEN, or unset the client id and secret and use "
                "SLACK_BOT_TOKEN. " + README_HINT
            )


def _present(value: SecretStr | None) -> bool:
    return value is not None and bool(value.get_secret_value().strip())


def parse_priority_map(value: str) -> dict[str, str]:
    """`p1=Highest,p2=High,...` → {"p1": "Highest", ...}; every one of p1..p4 must be named."""
    mapping: dict[str, str] = {}
    for part in value.split(","):
        key, sep, name = part.partition("=")
        key, name = key.strip().lower(), name.strip()
        if not part.strip():
            continue
        if not sep or key not in ("p1", "p2", "p3", "p4") or not name:
            raise ValueError(f"expected p1=<Jira priority>,p2=...; got {part.strip()!r}")
        mapping[key] = name
    missing = [p for p in ("p1", "p2", "p3", "p4") if p not in mapping]
    if missing:
        raise ValueError(f"no Jira priority for {', '.join(missing)}")
    return mapping


DESTINATIONS = ("canvas", "confluence", "file")


def parse_destination_map(value: str) -> dict[str, str]:
    """`standard=confluence,concise=canvas` → {"standard": "confluence", ...}."""
    mapping: dict[str, str] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        name, sep, where = part.partition("=")
        name, where = name.strip(), where.strip().lower()
        if not sep or not name or where not in DESTINATIONS:
            raise ValueError(
                f"expected <template>=<{'|'.join(DESTINATIONS)}>,...; got {part.strip()!r}"
            )
        mapping[name] = where
    return mapping


def same_site(first: str | None, second: str | None) -> bool:
    """Two URLs on one Atlassian site (scheme and host), e.g. …/wiki and Jira's root."""
    if not first or not second:
        return False
    a, b = urlsplit(first.strip()), urlsplit(second.strip())
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port) and bool(a.hostname)


def normalise_database_url(url: str) -> str:
    """Accept the URL spellings hosting providers hand out and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; overrides win (used by tests and the demo)."""
    return Settings(**overrides)  # type: ignore[arg-type]
