"""Reading admin-edited settings inside a transaction that is busy writing other rows.

A handler reads the calendars, the SLA policies or a template several times while it changes a
request; each read's autoflush wrote the pending request rows early, a flush (and the report
counters' hooks) per read instead of one for the handler. The settings' own pending rows are
the only ones such a read could miss, so the flush is skipped only when there are none.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy.orm import Session


def settings_read(session: Session, *models: type) -> AbstractContextManager[Any]:
    """No autoflush around a read of `models`' rows, unless this session holds unflushed ones."""
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, models):
            return nullcontext()
    return session.no_autoflush
