"""Tables of the legacy import: loaded files, the staging rows, links to real rows, value mappings, runs.

The staging row keeps the raw source row (as JSON text) with its file and line, so a
failure can always be traced to the export and retried after the mapping is fixed.
`legacy_link` remembers which real row an external id became, with a digest of the
mapped values: an unchanged row is skipped, a changed one is updated in place.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from desk.models import Base

KINDS = ("companies", "contacts", "deals", "requests")
"""Import kinds in dependency order: a run does companies before the contacts that name them."""


class RowStatus(StrEnum):
    """Where a staged row stands; only NEW rows are picked up by a run."""

    NEW = "NEW"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class LegacyFile(Base):
    """One loaded export file; the same content loaded again (same digest and kind) is the same file."""

    __tablename__ = "legacy_file"
    __table_args__ = (UniqueConstraint("sha256", "kind", name="uq_legacy_file_sha_kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8))
    encoding: Mapped[str] = mapped_column(String(16))
    delimiter: Mapped[str | None] = mapped_column(String(1))
    id_column: Mapped[str] = mapped_column(String(255))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    complete: Mapped[bool] = mapped_column(default=False)
    loaded_at: Mapped[datetime]


class StagingRow(Base):
    """One source row waiting for (or done with) import; `problem` is what loading already found wrong."""

    __tablename__ = "legacy_staging"
    __table_args__ = (
        UniqueConstraint("file_id", "source_line", name="uq_legacy_staging_line"),
        Index("ix_legacy_staging_pick", "kind", "status", "id"),
        Index("ix_legacy_staging_external", "file_id", "external_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("legacy_file.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    source_line: Mapped[int] = mapped_column(Integer)
    external_id: Mapped[str | None] = mapped_column(String(64))
    raw: Mapped[str] = mapped_column(Text)
    problem: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default=RowStatus.NEW.value)
    message: Mapped[str | None] = mapped_column(Text)


class LegacyLink(Base):
    """External id of a kind -> the real row it became, with the digest of what was written."""

    __tablename__ = "legacy_link"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    target_id: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(32))


class LegacyMapping(Base):
    """An admin's translation of a legacy value (status, category, …) into the desk's own; beats defaults."""

    __tablename__ = "legacy_mapping"
    field: Mapped[str] = mapped_column(String(16), primary_key=True)
    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    target: Mapped[str] = mapped_column(String(64))


class ImportRun(Base):
    """Progress of one `import run`, updated in every batch's transaction; the admin page reads it."""

    __tablename__ = "legacy_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
