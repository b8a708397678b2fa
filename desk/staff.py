"""Tables the admin pages maintain beside the desk's own: staff groups, notification template
overrides and the failed-login log that throttles password guessing across web processes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint, bindparam, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from desk.models import Base, Request
from desk.session_reads import core_rows, per_process

# Reports select done requests by date range (web.views.reports); declared here, created in 0007.
Index("ix_request_done_at", Request.__table__.c.done_at)


class StaffGroup(Base):
    """A candidate group staff belong to (users list group names in `desk_user.groups`).

    Groups exist as strings in diagrams (`camunda:candidateGroups`) before anyone creates a
    row here; the row gives a group a title and lets admins retire it (`active = False`).
    """

    __tablename__ = "staff_group"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    active: Mapped[bool] = mapped_column(default=True)


class TemplateOverride(Base):
    """An admin's wording of one notification template in one language (desk.notify.TEMPLATES)."""

    __tablename__ = "notification_template"
    __table_args__ = (UniqueConstraint("template", "language", name="uq_notification_template"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    template: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(64))


class LoginFailure(Base):
    """One failed login, keyed by client address or user name; old rows are pruned as they age out."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_key_at", "key", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]


def template_overrides(session: Session, template: str) -> dict[tuple[str, str], tuple[str, str]]:
    """The admins' wordings of `template`, keyed as desk.notify.render expects.

    Kept while the table's read token stays (desk.session_reads.per_process), so an edit counts
    from the next transaction; a notification to several people renders from one read.
    """
    return per_process(
        session,
        ("staff.template_overrides", template),
        (TemplateOverride,),
        lambda: _read_overrides(session, template),
    )


_OVERRIDES = select(TemplateOverride.language, TemplateOverride.subject, TemplateOverride.body).where(
    TemplateOverride.template == bindparam("template")
)


def _read_overrides(session: Session, template: str) -> dict[tuple[str, str], tuple[str, str]]:
    rows = core_rows(session, _OVERRIDES, {"template": template})
    return {(template, language): (subject, body) for language, subject, body in rows}
