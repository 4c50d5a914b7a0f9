"""Limits on rendering a template: time and size, so a runaway custom template (a loop over
`range(100000)` inside another, `'x' * 10**8`) becomes a clear error naming the template,
instead of a worker busy for minutes or a 100 MB document.

- Size: the output is streamed (`Template.generate`) and counted; past the cap, rendering
  stops. Jinja's sandbox also refuses to build huge values in one operation (`'x' * 10**8`,
  `10 ** 10**6`) before they exist, since that is one C call the stream never sees.
- Time: rendering runs on a thread of its own; past the limit, that thread is interrupted by
  raising an exception in it between two bytecodes (CPython's PyThreadState_SetAsyncExc), which
  stops any Python-level loop, Jinja's included. Rendering is pure computation on data already
  read from the database (no transaction is open), so interrupting it leaves nothing behind.
"""

from __future__ import annotations

import ctypes
import operator
import threading
from collections.abc import Callable, Iterator
from dataclasses import fields, is_dataclass
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

DEFAULT_SECONDS = 10.0
# A 50,000-message channel log is about 3.5 MB of Markdown (issue 15's largest channel): the
# bound is for a runaway template, not for a long incident.
DEFAULT_MAX_CHARS = 8_000_000
MAX_POWER_BITS = 4096


class RenderTimeout(Exception):
    """Raised inside the rendering thread when the time limit is reached."""


class OutputTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the document grew past {limit:,} characters, the POSTMORTEM_MAX_CHARS limit (an "
            "operator can raise it for a channel log that long)"
        )
        self.limit = limit


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, also refusing to build a huge string, list or number in one step."""

    intercepted_binops = frozenset(["*", "**"])

    def __init__(self, *args: Any, max_chars: int = DEFAULT_MAX_CHARS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_chars = max_chars

    def getattr(self, obj: Any, attribute: str) -> Any:
        # The fields of the context's dataclasses are data: the sandbox's own checks (is it a
        # str.format, an internal attribute of a function or frame?) would let them through,
        # at a cost paid seven times per channel-log line; anything else gets those checks.
        if attribute in _data_fields(type(obj)):
            value = getattr(obj, attribute)
            if not callable(value):
                return value
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            self._check_repeat(left, right)
            self._check_repeat(right, left)
            return operator.mul(left, right)
        if operator_ == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0:
                if left.bit_length() * right > MAX_POWER_BITS:
                    raise SecurityError("a number that large is not allowed in a template")
            return operator.pow(left, right)
        return super().call_binop(context, operator_, left, right)

    def _check_repeat(self, sequence: Any, times: Any) -> None:
        if isinstance(sequence, str | list | tuple | bytes) and isinstance(times, int):
            if len(sequence) * times > self.max_chars:
                raise SecurityError(
                    f"that would make a value of {len(sequence) * times:,} items, more than "
                    f"the {self.max_chars:,} a postmortem may have"
                )


_FIELDS: dict[type, frozenset[str]] = {}


def _data_fields(kind: type) -> frozenset[str]:
    """The public field names of a dataclass type (none for any other type), once per type."""
    names = _FIELDS.get(kind)
    if names is None:
        found = fields(kind) if is_dataclass(kind) else ()
        names = _FIELDS[kind] = frozenset(f.name for f in found if not f.name.startswith("_"))
    return names


def render_bounded(chunks: Callable[[], Iterator[str]], *, seconds: float, max_chars: int) -> str:
    """Join the chunks `chunks()` yields, on a thread of its own, within `seconds` and
    `max_chars`. Raises RenderTimeout or OutputTooLarge; any other error from the template
    propagates unchanged (with its traceback, for the line number)."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            parts: list[str] = []
            size = 0
            for chunk in chunks():
                size += len(chunk)
                if size > max_chars:
                    raise OutputTooLarge(max_chars)
                parts.append(chunk)
            outcome["text"] = "".join(parts)
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=work, name="render", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        _interrupt(worker)
        worker.join(1.0)
        raise RenderTimeout(f"rendering took longer than {seconds:g} s")
    error = outcome.get("error")
    if error is not None:
        raise error
    return str(outcome["text"])


def _interrupt(worker: threading.Thread) -> None:
    """Raise RenderTimeout in `worker` at its next bytecode (it stops a Python-level loop)."""
    if worker.ident is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(worker.ident), ctypes.py_object(RenderTimeout)
    )
