"""The process admin's tables (variable-edit audit, migration batches) and the audited variable edit.

A variable edit is an administrator overriding what the process computed, so each one is
kept apart from the instance history with who, when and old -> new. A migration batch is
the progress a page polls; each item says what happened to one instance and why.
"""

from __future__ import annotations

import enum
import json
import re
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.errors import EngineError
from engine.runtime import Engine, StepContext, current_variables
from engine.serialization import to_jsonable
from engine.store import Base, InstanceStatus


class VariableAudit(Base):
    """One variable changed by a person on a running instance: who, when, old -> new."""

    __tablename__ = "variable_audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    old_value: Mapped[Any | None] = mapped_column(JSON)
    new_value: Mapped[Any | None] = mapped_column(JSON)
    existed: Mapped[bool] = mapped_column(default=True)
    user: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]


class BatchStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"


class ItemStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"  # the migration itself raised; the instance was rolled back
    SKIPPED = "skipped"  # the dry-run check refused it; the instance was not touched


class MigrationBatch(Base):
    """Moving a set of instances from one definition version to another, one transaction each."""

    __tablename__ = "migration_batch"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_definition_id: Mapped[str] = mapped_column(ForeignKey("process_definition.id"))
    target_definition_id: Mapped[str] = mapped_column(ForeignKey("process_definition.id"))
    mapping: Mapped[dict[str, Any]]
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class MigrationBatchItem(Base):
    """One instance of a batch; `reason` says why it failed or was skipped."""

    __tablename__ = "migration_batch_item"
    __table_args__ = (Index("ix_migration_item_batch_status", "batch_id", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("migration_batch.id", ondelete="CASCADE"))
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]


# --------------------------------------------------------------------------- editing variables

VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


class VariableEditError(EngineError):
    """A variable edit was refused: a bad name, a value that is not JSON, or an instance that ended."""


def parse_variable(name: str, raw: str) -> tuple[str, Any]:
    """Check a name and decode its JSON value, with a message saying how to write it instead."""
    name = (name or "").strip()
    if not VARIABLE_NAME.match(name):
        raise VariableEditError(
            f"Variable name {name!r} is not allowed; use letters, digits and _ (not starting with a digit), "
            "as conditions in the diagram refer to it."
        )
    try:
        return name, json.loads(raw)
    except (TypeError, ValueError) as err:
        raise VariableEditError(
            f'The value for {name!r} is not valid JSON ({err}); write text in double quotes ("text"), '
            "numbers as 42 or 4.2, and true, false, null, [..] or {..} as they are."
        ) from err


def edit_variable(
    engine: Engine, instance_id: str, name: str, raw: str, *, user: str | None
) -> VariableAudit:
    """Set one variable of a running instance on every waiting path, with an audit row, in one step."""
    name, value = parse_variable(name, raw)
    audit: list[VariableAudit] = []

    def action(workflow: BpmnWorkflow, ctx: StepContext) -> None:
        if ctx.instance.status != InstanceStatus.RUNNING.value:
            raise VariableEditError(
                f"Instance {instance_id} is {ctx.instance.status}; only running instances' variables change."
            )
        before = current_variables(workflow)
        for task in workflow.get_tasks(state=TaskState.READY | TaskState.STARTED | TaskState.WAITING):
            task.data[name] = value
        workflow.data[name] = value
        ctx.record("variables_changed", data={name: {"old": before.get(name), "new": value}})
        row = VariableAudit(
            instance_id=instance_id,
            name=name,
            old_value=to_jsonable(before.get(name)),
            new_value=value,
            existed=name in before,
            user=user,
            at=ctx.now,
        )
        ctx.session.add(row)
        audit.append(row)

    # The runtime's step: the instance row is locked and the audit row commits with the change.
    engine._step(instance_id, action, user=user)
    return audit[0]
