"""Small, pure formatting helpers for times and durations in Slack messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utc_label(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def slack_date(moment: datetime) -> str:
    """A date token Slack shows in each reader's own timezone, with a UTC fallback."""
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{utc_label(moment)}>"


def format_duration(span: timedelta) -> str:
    seconds = max(0, int(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = []
    if days:
        parts.append(f"{days}d")
    if hours:
        parts.append(f"{hours}h")
    if minutes or not parts:
        parts.append(f"{minutes}m")
    return " ".join(parts)
