"""A stateful fake of Confluence's REST API (Cloud v1 + v2, Data Center v1) over real HTTP on
127.0.0.1, for the tests and the demo. Start with ``FakeConfluence`` (``fake.py``)."""

from __future__ import annotations

from sandbox.confluence.fake import FakeConfluence, FakeConfluenceTimeout
from sandbox.confluence.model import CLOUD, DATACENTER, Account, Call
from sandbox.confluence.snapshots import Page, Restrictions
from sandbox.confluence.storage import StorageError, validate_storage

__all__ = [
    "CLOUD",
    "DATACENTER",
    "Account",
    "Call",
    "FakeConfluence",
    "FakeConfluenceTimeout",
    "Page",
    "Restrictions",
    "StorageError",
    "validate_storage",
]
