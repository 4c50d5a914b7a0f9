"""Rendering postmortem templates: Jinja2 in a sandbox, strict about undefined variables.

A template that cannot render raises TemplateProblem naming the template and the line, and
nothing is published: never a half-written document.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from types import TracebackType

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)
from jinja2.sandbox import SandboxedEnvironment

from bot.core.errors import UserError
from bot.core.formatting import format_duration
from bot.postmortem.document import Document, markup_problems, split_document
from bot.postmortem.limits import (
    DEFAULT_MAX_CHARS,
    DEFAULT_SECONDS,
    BoundedSandbox,
    OutputTooLarge,
    RenderTimeout,
    render_bounded,
)
from bot.postmortem.markdown import one_line

SUFFIX = ".md.j2"
BUILTIN_DIR = Path(str(files("templates")))


class TemplateProblem(UserError):
    """A template failed to compile or render; the message says which and where."""

    def __init__(self, template: str, line: int | None, detail: str) -> None:
        where = f"`{template}{SUFFIX}`" + (f", line {line}," if line else "")
        super().__init__(
            f"The postmortem template {where} has a problem: {detail.rstrip('.')}. "
            "Nothing was published; "
            "fix the template (`postmortem-bot templates check`) or pick another one."
        )
        self.template, self.line, self.detail = template, line, detail


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "n/a"


def _hm(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%H:%M") if moment else "n/a"


def _day_hm(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "n/a"


def _when(moment: datetime | None, day: date | None = None) -> str:
    """`14:32` on the incident's day, `2026-11-19 08:50` on any other (always UTC)."""
    if moment is None:
        return "n/a"
    moment = moment.astimezone(UTC)
    return _hm(moment) if day is not None and moment.date() == day else _day_hm(moment)


def _day(moment: datetime | date | None) -> str:
    if moment is None:
        return "n/a"
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.isoformat()


def _duration(span: timedelta | None) -> str:
    return format_duration(span) if span is not None else "n/a"


def environment(
    custom_dir: Path | None = None, *, max_chars: int = DEFAULT_MAX_CHARS
) -> SandboxedEnvironment:
    """Custom templates (if any) first, so they can override built-ins by name."""
    loaders = [FileSystemLoader(str(custom_dir))] if custom_dir else []
    loaders.append(FileSystemLoader(str(BUILTIN_DIR)))
    env = BoundedSandbox(
        max_chars=max_chars,
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        autoescape=False,  # Markdown, not HTML
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters.update(
        utc=_utc,
        hm=_hm,
        when=_when,
        day_hm=_day_hm,
        day=_day,
        duration=_duration,
        one_line=one_line,
    )
    return env


@lru_cache(maxsize=8)
def shared_environment(custom_dir: Path | None, max_chars: int) -> SandboxedEnvironment:
    """One environment per setting, kept: Jinja compiles a template once per environment (and
    again when its file changes), which a fresh environment per generation paid every time."""
    return environment(custom_dir, max_chars=max_chars)


def template_names(env: SandboxedEnvironment) -> list[str]:
    assert env.loader is not None
    names = {n[: -len(SUFFIX)] for n in env.loader.list_templates() if n.endswith(SUFFIX)}
    return sorted(n for n in names if not n.startswith("_"))


def _line_in_template(tb: TracebackType | None, filename: str | None) -> int | None:
    line = None
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render(
    env: SandboxedEnvironment,
    name: str,
    variables: dict[str, object],
    *,
    seconds: float = DEFAULT_SECONDS,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> str:
    """The postmortem as published (ownership markers removed)."""
    return render_document(env, name, variables, seconds=seconds, max_chars=max_chars).markdown


def render_document(
    env: SandboxedEnvironment,
    name: str,
    variables: dict[str, object],
    *,
    seconds: float = DEFAULT_SECONDS,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> Document:
    """The postmortem as sections with owners (see bot.postmortem.document)."""
    return split_document(render_marked(env, name, variables, seconds=seconds, max_chars=max_chars))


def render_marked(
    env: SandboxedEnvironment,
    name: str,
    variables: dict[str, object],
    *,
    seconds: float = DEFAULT_SECONDS,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> str:
    """The template's output as it is, `{bot}`/`{people}` markers included, rendered within
    `seconds` and `max_chars` (bot.postmortem.limits); any problem is a TemplateProblem naming
    the template (and the line, where known)."""
    try:
        template = env.get_template(name + SUFFIX)
    except TemplateNotFound:
        available = ", ".join(template_names(env))
        raise UserError(
            f"There is no postmortem template `{name}`. Available: {available}."
        ) from None
    except TemplateSyntaxError as error:
        raise TemplateProblem(name, error.lineno, error.message or "syntax error") from None
    try:
        return render_bounded(
            lambda: template.generate(**variables), seconds=seconds, max_chars=max_chars
        )
    except RenderTimeout:
        raise TemplateProblem(
            name, None, f"it took longer than {seconds:g} s to render (a loop too large?)"
        ) from None
    except OutputTooLarge as error:
        raise TemplateProblem(name, None, str(error)) from None
    except TemplateError as error:
        line = _line_in_template(sys.exc_info()[2], template.filename)
        raise TemplateProblem(name, line, error.message or type(error).__name__) from None
    except Exception as error:  # a filter or attribute blew up on this data
        line = _line_in_template(sys.exc_info()[2], template.filename)
        raise TemplateProblem(name, line, f"{type(error).__name__}: {error}") from None


@dataclass(frozen=True)
class CheckResult:
    name: str
    problem: str | None


def check_templates(custom_dir: Path | None, sample: dict[str, object]) -> list[CheckResult]:
    """Compile and render every template against sample data, and check that it says who owns
    each section and that the bot can find its own sections again (for `templates check`)."""
    env = environment(custom_dir)
    results = []
    assert env.loader is not None
    for name in template_names(env):
        try:
            rendered = render_marked(env, name, sample)
        except UserError as error:
            results.append(CheckResult(name, error.message))
            continue
        source = env.loader.get_source(env, name + SUFFIX)[0]
        problems = markup_problems(rendered, source)
        results.append(CheckResult(name, "; ".join(problems) if problems else None))
    return results
