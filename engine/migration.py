"""Moving running instances from one version of a process definition to another.

An instance stays on the version it started with; when a process changes, an admin moves
the running ones (Camunda's migration). Each element of version N maps to the element of
version M with the same id, or to the one an explicit mapping names (renamed elements).
An instance waiting at an element with no counterpart, or whose counterpart is a
different kind of element (a user task that became a service task, a timer that would be
lost), is refused and left untouched.

Moving an instance re-points every node of its saved task tree at the target version's
task specs and lets SpiffWorkflow's own `migrate_workflow` re-predict what follows the
waiting tasks, so the new path runs. The change is one step of the runtime (`Engine._step`):
the instance row is locked, projections (user tasks, jobs, timers, message subscriptions)
are brought in line, the version column moves and a history event is written, all in one
transaction. A batch migrates each instance in its own transaction.
"""

from __future__ import annotations

import copy
import difflib
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.util.diff import migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.admin_store import BatchStatus, ItemStatus, MigrationBatch, MigrationBatchItem
from engine.errors import EngineError
from engine.forms import FormSchema
from engine.handlers import HandlerRegistry
from engine.runtime import Engine, LoadedDefinition, StepContext
from engine.serialization import StateFormatError, dump_workflow, load_workflow
from engine.specs import ExternalServiceTask, HumanTask
from engine.store import Incident, Instance, InstanceStatus, Job, MessageSubscription, Timer, UserTask

log = logging.getLogger(__name__)

ACTIVE = TaskState.READY | TaskState.STARTED | TaskState.WAITING
UNSTARTED = TaskState.PREDICTED_MASK | TaskState.FUTURE


class MigrationError(EngineError):
    """Base of the errors a migration raises."""


class MigrationMappingError(MigrationError):
    """An explicit mapping names an element that one of the two versions does not have."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Migration mapping refused: " + "; ".join(problems))


class InstanceNotMigratableError(MigrationError):
    """The instance waits somewhere the target version cannot take it; it was left untouched."""

    def __init__(self, instance_id: str, issues: list[InstanceIssue]) -> None:
        self.instance_id, self.issues = instance_id, issues
        reasons = "; ".join(f"{i.element_id}: {i.reason}" for i in issues)
        super().__init__(f"Instance {instance_id} cannot migrate: {reasons}")


@dataclass(frozen=True)
class ElementMapping:
    """Where one element of the source version goes, and why an instance waiting there cannot."""

    source_id: str
    source_type: str
    target_id: str | None
    target_type: str | None
    explicit: bool
    problem: str | None


@dataclass(frozen=True)
class InstanceIssue:
    """One active element of an instance that keeps it from migrating."""

    element_id: str
    reason: str


@dataclass
class MigrationPlan:
    """Source and target definitions (parsed) and the element mapping between them."""

    source: LoadedDefinition
    target: LoadedDefinition
    elements: dict[str, ElementMapping]
    explicit: dict[str, str]

    @property
    def blocked(self) -> list[ElementMapping]:
        """Elements an instance cannot be waiting at to migrate."""
        return [m for m in self.elements.values() if m.problem]

    def spec_name(self, name: str) -> str | None:
        """The target task-spec name for a source one, internal specs ("x.BoundaryEventSplit") included."""
        mapping = self.elements.get(name)
        if mapping is not None:
            return mapping.target_id
        head, dot, tail = name.partition(".")
        if dot and head in self.elements:
            target = self.elements[head].target_id
            return f"{target}.{tail}" if target else None
        if dot and head == self.source.key:
            return f"{self.target.key}.{tail}"
        return name

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": {"id": self.source.id, "key": self.source.key, "version": self.source.version},
            "target": {"id": self.target.id, "key": self.target.key, "version": self.target.version},
            "mapping": self.explicit,
            "elements": [m.__dict__ for m in self.elements.values()],
        }


@dataclass
class InstanceReport:
    """The dry-run verdict on one instance."""

    instance_id: str
    business_key: str | None
    issues: list[InstanceIssue] = field(default_factory=list)

    @property
    def migratable(self) -> bool:
        return not self.issues

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "business_key": self.business_key,
            "migratable": self.migratable,
            "issues": [i.__dict__ for i in self.issues],
        }


@dataclass
class DryRunReport:
    """What a migration would do: which instances move and, for the others, why not."""

    plan: MigrationPlan
    instances: list[InstanceReport]

    @property
    def migratable(self) -> list[InstanceReport]:
        return [r for r in self.instances if r.migratable]

    @property
    def refused(self) -> list[InstanceReport]:
        return [r for r in self.instances if not r.migratable]

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_dict(),
            "total": len(self.instances),
            "migratable": len(self.migratable),
            "refused": len(self.refused),
            "instances": [r.to_dict() for r in self.instances],
        }

    def lines(self) -> list[str]:
        src, tgt = self.plan.source, self.plan.target
        out = [
            f"Dry run {src.key} v{src.version} -> {tgt.key} v{tgt.version}: "
            f"{len(self.instances)} instance(s), {len(self.migratable)} can migrate, "
            f"{len(self.refused)} cannot"
        ]
        for report in self.refused:
            for issue in report.issues:
                out.append(
                    f"  {report.instance_id} {report.business_key or '-'}: {issue.element_id}: {issue.reason}"
                )
        return out


# --------------------------------------------------------------------------- the plan (pure)


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """ "old=new" strings (CLI --map, a form's lines) -> {old: new}; blank lines are ignored."""
    mapping: dict[str, str] = {}
    for raw in pairs:
        pair = raw.strip()
        if not pair:
            continue
        old, eq, new = pair.partition("=")
        if not eq or not old.strip() or not new.strip():
            raise MigrationMappingError([f"{pair!r} is not old_id=new_id"])
        mapping[old.strip()] = new.strip()
    return mapping


def plan(
    source: LoadedDefinition, target: LoadedDefinition, explicit_mapping: Mapping[str, str] | None = None
) -> MigrationPlan:
    """Map every element of `source` to `target` (same id, or `explicit_mapping` old -> new)."""
    if source.id == target.id:
        raise MigrationError(
            f"Source and target are the same definition ({source.id}); pick another version."
        )
    src, tgt = _elements(source.info), _elements(target.info)
    explicit = dict(explicit_mapping or {})
    problems = [
        f"{old!r} is not an element of {source.key} v{source.version}{_did_you_mean(old, src)}"
        for old in explicit
        if old not in src
    ] + [
        f"{new!r} is not an element of {target.key} v{target.version}{_did_you_mean(new, tgt)}"
        for new in explicit.values()
        if new not in tgt
    ]
    if problems:
        raise MigrationMappingError(problems)
    elements = {}
    for element_id, spec in src.items():
        target_id = explicit.get(element_id, element_id if element_id in tgt else None)
        target_spec = tgt.get(target_id) if target_id else None
        elements[element_id] = ElementMapping(
            source_id=element_id,
            source_type=_describe(spec),
            target_id=target_id,
            target_type=_describe(target_spec) if target_spec is not None else None,
            explicit=element_id in explicit,
            problem=_problem(spec, target_id, target_spec, target.version),
        )
    return MigrationPlan(source, target, elements, explicit)


def _elements(info: Any) -> dict[str, Any]:
    """Element id -> task spec over the process and its embedded subprocesses."""
    out: dict[str, Any] = {}
    for spec in [info.spec, *info.subprocess_specs.values()]:
        for task_spec in spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id:
                out.setdefault(bpmn_id, task_spec)
    return out


def _did_you_mean(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(sorted(known))})"


def _event_family(spec: Any) -> str | None:
    definition = getattr(spec, "event_definition", None)
    if isinstance(definition, TimerEventDefinition):
        return "timer"
    if isinstance(definition, MessageEventDefinition):
        return "message"
    return None


def _kind(spec: Any) -> tuple[str, str | None, bool | None]:
    """What must stay the same for a waiting task to move: the spec class, its event, interrupting or not."""
    return type(spec).__name__, _event_family(spec), getattr(spec, "cancel_activity", None)


def _describe(spec: Any) -> str:
    return getattr(spec, "description", None) or type(spec).__name__


def _problem(spec: Any, target_id: str | None, target_spec: Any, version: int) -> str | None:
    family = _event_family(spec)
    lost = {"timer": "its timer", "message": "its message subscription"}.get(family or "")
    if target_spec is None:
        if lost:
            return f"waits on a {family} that version {version} does not have; the instance would lose {lost}"
        return f"has no counterpart in version {version}; map it to an element of version {version} (old=new)"
    if _kind(spec) != _kind(target_spec):
        if lost and _event_family(target_spec) != family:
            return f"the instance would lose {lost}: target {target_id!r} is a {_describe(target_spec)}"
        return f"is a {_describe(spec)} but its target {target_id!r} is a {_describe(target_spec)}"
    return None


# --------------------------------------------------------------------------- checking instances


def _workflows(workflow: BpmnWorkflow, plan: MigrationPlan) -> Iterator[tuple[Any, Any, str]]:
    """(workflow or subworkflow, its target process spec or None, its source spec name)."""
    yield workflow, plan.target.info.spec, workflow.spec.name
    for sub in workflow.subprocesses.values():
        name = plan.spec_name(sub.spec.name)
        yield sub, plan.target.info.subprocess_specs.get(name) if name else None, sub.spec.name


def instance_issues(workflow: BpmnWorkflow, plan: MigrationPlan) -> list[InstanceIssue]:
    """Every active element of the workflow that the plan cannot carry over, with the reason."""
    issues: list[InstanceIssue] = []
    for wf, target_spec, spec_name in _workflows(workflow, plan):
        if target_spec is None:
            issues.append(
                InstanceIssue(
                    spec_name, f"runs subprocess {spec_name!r}, which version {plan.target.version} lacks"
                )
            )
            continue
        for task in wf.get_tasks(state=ACTIVE, skip_subprocesses=True):
            name = task.task_spec.name
            element = plan.elements.get(name)
            if element is not None and element.problem:
                issues.append(InstanceIssue(name, element.problem))
                continue
            target_name = plan.spec_name(name)
            if target_name is None or target_name not in target_spec.task_specs:
                where = "there" if element is not None else f"for internal step {name!r}"
                issues.append(
                    InstanceIssue(
                        getattr(task.task_spec, "bpmn_id", None) or name,
                        f"target {target_name!r} is not in the same (sub)process {where}",
                    )
                )
    return issues


def dry_run(session: Session, plan: MigrationPlan, instance_ids: Iterable[str] | None = None) -> DryRunReport:
    """Check instances against the plan without changing anything (all running ones by default)."""
    ids = list(instance_ids) if instance_ids is not None else running_instance_ids(session, plan.source.id)
    rows = {i.id: i for i in session.scalars(select(Instance).where(Instance.id.in_(ids)))}
    reports = []
    for instance_id in ids:
        inst = rows.get(instance_id)
        if inst is None:
            reports.append(InstanceReport(instance_id, None, [InstanceIssue("-", "no such instance")]))
            continue
        reports.append(InstanceReport(inst.id, inst.business_key, _row_issues(inst, plan)))
    return DryRunReport(plan, reports)


def running_instance_ids(session: Session, definition_id: str) -> list[str]:
    return list(
        session.scalars(
            select(Instance.id)
            .where(Instance.definition_id == definition_id, Instance.status == InstanceStatus.RUNNING.value)
            .order_by(Instance.started_at, Instance.id)
        )
    )


def _row_issues(
    inst: Instance, plan: MigrationPlan, workflow: BpmnWorkflow | None = None
) -> list[InstanceIssue]:
    if inst.definition_id != plan.source.id:
        return [InstanceIssue("-", f"runs on {inst.definition_id}, not on {plan.source.id}")]
    if inst.status != InstanceStatus.RUNNING.value:
        return [InstanceIssue("-", f"is {inst.status}; only running instances migrate")]
    if workflow is None:
        try:
            workflow = load_workflow(inst.state, plan.source.info.spec, plan.source.info.subprocess_specs)
        except StateFormatError as err:
            return [InstanceIssue("-", str(err))]
    return instance_issues(workflow, plan)


# --------------------------------------------------------------------------- migrating one instance


def migrate_instance(
    engine: Engine, plan: MigrationPlan, instance_id: str, *, user: str | None = None
) -> dict[str, str]:
    """Move one instance to the plan's target in one transaction; returns {active element: target}.

    Raises InstanceNotMigratableError (nothing changed) when the dry-run check refuses it.
    """

    def action(workflow: BpmnWorkflow, ctx: StepContext) -> dict[str, str]:
        issues = _row_issues(ctx.instance, plan, workflow)
        if issues:
            raise InstanceNotMigratableError(instance_id, issues)
        moved = _retarget(workflow, plan)
        _check_round_trip(workflow, plan, instance_id)
        ctx.definition = plan.target
        ctx.instance.definition_id = plan.target.id
        ctx.instance.definition_key = plan.target.key
        _move_projections(workflow, ctx, plan, moved, engine.handlers)
        ctx.record(
            "instance_migrated",
            data={
                "from": plan.source.id,
                "to": plan.target.id,
                "from_version": plan.source.version,
                "to_version": plan.target.version,
                "elements": {old: new for old, new in moved.values()},
            },
        )
        return {old: new for old, new in moved.values()}

    # The runtime's step: row lock, version check, projections re-computed, history, commit.
    return engine._step(instance_id, action, user=user)


def _retarget(workflow: BpmnWorkflow, plan: MigrationPlan) -> dict[str, tuple[str, str]]:
    """Point the task tree at the target specs; returns {task id: (old, new element)} of active tasks."""
    moved: dict[str, tuple[str, str]] = {}
    for wf, target_spec, _ in list(_workflows(workflow, plan)):
        moved.update(_retarget_one(wf, target_spec, plan))
    workflow.subprocess_specs = plan.target.info.subprocess_specs
    live = {task_id for wf, _, _ in _workflows(workflow, plan) for task_id in wf.tasks}
    for sub_id in [s for s, sub in workflow.subprocesses.items() if sub.parent_task_id not in live]:
        del workflow.subprocesses[sub_id]
    # What deserializing would register: every waiting catch event, on its current task object.
    workflow.event_manager.tasks = {
        task.id: task
        for wf, _, _ in _workflows(workflow, plan)
        for task in wf.get_tasks(state=TaskState.WAITING, skip_subprocesses=True)
        if isinstance(task.task_spec, CatchingEvent)
    }
    return moved


def _retarget_one(wf: Any, target_spec: Any, plan: MigrationPlan) -> dict[str, tuple[str, str]]:
    active = {
        task.id: (task.task_spec.name, copy.deepcopy(task.data), copy.deepcopy(task.internal_data))
        for task in wf.get_tasks(state=ACTIVE, skip_subprocesses=True)
    }

    def target_of(task: Any) -> Any:
        name = plan.spec_name(task.task_spec.name)
        return target_spec.task_specs.get(name) if name else None

    # Finished steps the target no longer has are history (kept in history_event); lift them out
    # of the tree so no node names a spec the target lacks.
    for task in list(wf.tasks.values()):
        if task.has_state(TaskState.FINISHED_MASK) and task.parent is not None and target_of(task) is None:
            _splice(wf, task)
    alignment = {task: target_of(task) for task in wf.tasks.values()}
    migrate_workflow(SimpleNamespace(alignment=alignment), wf, target_spec)
    # Predictions the target cannot make are dropped, STARTED tasks (jobs, subprocesses) were not
    # reset by migrate_workflow, so their next steps are predicted here.
    for task in list(wf.tasks.values()):
        stale = target_spec.task_specs.get(task.task_spec.name) is not task.task_spec
        if stale and task.id in wf.tasks and task.has_state(UNSTARTED):
            wf._remove_task(task.id)
    for task in wf.get_tasks(state=TaskState.STARTED, skip_subprocesses=True):
        _predict_outputs(task)
    moved = {}
    for task_id, (old_name, data, internal) in active.items():
        task = wf.tasks.get(task_id)
        if task is None:
            continue
        # migrate_workflow resets waiting tasks from their parent; keep what they held (edited
        # variables, a timer's due moment).
        task.data, task.internal_data = data, internal
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if bpmn_id:
            moved[str(task_id)] = (old_name, bpmn_id)
    return moved


def _splice(wf: Any, task: Any) -> None:
    parent = task.parent
    position = parent._children.index(task.id)
    parent._children[position : position + 1] = task._children
    for child in task.children:
        child._parent = parent.id
    del wf.tasks[task.id]
    if wf.last_task is task:
        wf.last_task = parent


def _predict_outputs(task: Any) -> None:
    for child in task.children:
        if child.has_state(UNSTARTED):
            task.workflow._remove_task(child.id)
    present = {child.task_spec for child in task.children}
    for output in task.task_spec.outputs:
        if output not in present:
            child = task._add_child(output, TaskState.FUTURE)
            output._predict(child, mask=UNSTARTED)


def _check_round_trip(workflow: BpmnWorkflow, plan: MigrationPlan, instance_id: str) -> None:
    """The rewritten state must load on the target specs, or nothing is saved."""
    try:
        load_workflow(dump_workflow(workflow), plan.target.info.spec, plan.target.info.subprocess_specs)
    except Exception as err:  # any failure here means the rewrite is wrong; roll back
        raise MigrationError(
            f"Instance {instance_id}: the migrated state does not load on {plan.target.id} ({err}); "
            "nothing was changed"
        ) from err


def _move_projections(
    workflow: BpmnWorkflow,
    ctx: StepContext,
    plan: MigrationPlan,
    moved: dict[str, tuple[str, str]],
    handlers: HandlerRegistry,
) -> None:
    """Re-point the waiting projections at the target elements; the runtime's sync does the rest."""
    s = ctx.session
    tasks = {str(t.id): t for t in workflow.get_tasks(state=ACTIVE)}
    for task_id, (old, new) in moved.items():
        task = tasks.get(task_id)
        spec = task.task_spec if task is not None else None
        if isinstance(spec, HumanTask):
            form = plan.target.info.task_forms.get(new, FormSchema()).with_defaults(task.data)
            s.execute(
                update(UserTask)
                .where(UserTask.id == task_id)
                .values(
                    definition_id=plan.target.id,
                    definition_key=plan.target.key,
                    element_id=new,
                    name=spec.bpmn_name or new,
                    form=form.to_dict() if form.fields else None,
                    form_key=spec.assignment.form_key or spec.assignment.form_ref,
                )
            )
        elif isinstance(spec, ExternalServiceTask):
            s.execute(
                update(Job)
                .where(Job.task_id == task_id, Job.status.in_(["pending", "locked", "failed"]))
                .values(
                    element_id=new,
                    topic=spec.call.topic,
                    external=spec.call.topic not in handlers,
                    version=Job.version + 1,
                )
            )
        s.execute(
            update(Timer).where(Timer.task_id == task_id, Timer.status == "pending").values(element_id=new)
        )
        message = getattr(spec, "event_definition", None)
        values: dict[str, Any] = {"element_id": new}
        if isinstance(message, MessageEventDefinition):
            values["message_name"] = message.name
        s.execute(
            update(MessageSubscription)
            .where(MessageSubscription.task_id == task_id, MessageSubscription.status == "waiting")
            .values(**values)
        )
        if old != new:
            s.execute(
                update(Incident)
                .where(
                    Incident.instance_id == ctx.instance.id,
                    Incident.status == "open",
                    Incident.element_id == old,
                )
                .values(element_id=new)
            )
    s.execute(
        update(UserTask)
        .where(UserTask.instance_id == ctx.instance.id, UserTask.status == "open")
        .values(definition_id=plan.target.id, definition_key=plan.target.key)
    )


# --------------------------------------------------------------------------- batches


def create_batch(
    session_factory: sessionmaker,
    plan: MigrationPlan,
    instance_ids: Iterable[str],
    *,
    user: str | None = None,
    now: datetime | None = None,
) -> int:
    """Record a batch and its items (all pending); `run_batch` works through them."""
    ids = list(dict.fromkeys(instance_ids))
    with session_factory() as session, session.begin():
        batch = MigrationBatch(
            source_definition_id=plan.source.id,
            target_definition_id=plan.target.id,
            mapping=plan.explicit,
            total=len(ids),
            done=0,
            failed=0,
            skipped=0,
            status=BatchStatus.RUNNING.value,
            created_by=user,
            created_at=now or datetime.now(UTC),
        )
        session.add(batch)
        session.flush()
        session.add_all(
            MigrationBatchItem(batch_id=batch.id, instance_id=i, status=ItemStatus.PENDING.value) for i in ids
        )
        return batch.id


def batch_plan(engine: Engine, batch_id: int) -> MigrationPlan:
    """Rebuild a batch's plan from its row (so a batch can be resumed by another process)."""
    with engine.session_factory() as session:
        batch = session.get(MigrationBatch, batch_id)
        if batch is None:
            raise MigrationError(f"No migration batch {batch_id}.")
        source = engine.definition(session, batch.source_definition_id)
        target = engine.definition(session, batch.target_definition_id)
    return plan(source, target, batch.mapping)


def run_batch(engine: Engine, batch_id: int, *, user: str | None = None) -> MigrationBatch:
    """Migrate each pending item in its own transaction; a failure is recorded and the batch goes on."""
    migration = batch_plan(engine, batch_id)
    with engine.session_factory() as session:
        pending = session.execute(
            select(MigrationBatchItem.id, MigrationBatchItem.instance_id)
            .where(
                MigrationBatchItem.batch_id == batch_id,
                MigrationBatchItem.status == ItemStatus.PENDING.value,
            )
            .order_by(MigrationBatchItem.id)
        ).all()
    for item_id, instance_id in pending:
        try:
            migrate_instance(engine, migration, instance_id, user=user)
            status, reason = ItemStatus.DONE, None
        except InstanceNotMigratableError as err:
            status, reason = ItemStatus.SKIPPED, "; ".join(f"{i.element_id}: {i.reason}" for i in err.issues)
        except Exception as err:  # one instance's failure must not stop the batch; it is reported
            log.warning("migration batch %s: instance %s failed: %s", batch_id, instance_id, err)
            status, reason = ItemStatus.FAILED, f"{type(err).__name__}: {err}"
        _record_item(engine, batch_id, item_id, status, reason)
    with engine.session_factory() as session, session.begin():
        batch = session.get(MigrationBatch, batch_id)
        batch.status, batch.finished_at = BatchStatus.FINISHED.value, engine.now()
    log.info("migration batch %s finished", batch_id)
    return batch


def _record_item(engine: Engine, batch_id: int, item_id: int, status: ItemStatus, reason: str | None) -> None:
    counter = {ItemStatus.DONE: "done", ItemStatus.FAILED: "failed", ItemStatus.SKIPPED: "skipped"}[status]
    with engine.session_factory() as session, session.begin():
        session.execute(
            update(MigrationBatchItem)
            .where(MigrationBatchItem.id == item_id)
            .values(status=status.value, reason=reason, finished_at=engine.now())
        )
        column = getattr(MigrationBatch, counter)
        session.execute(
            update(MigrationBatch).where(MigrationBatch.id == batch_id).values({counter: column + 1})
        )


def batch_status(session: Session, batch_id: int) -> dict[str, Any]:
    """The progress a page polls: counts, status and the items that did not migrate, with reasons."""
    batch = session.get(MigrationBatch, batch_id)
    if batch is None:
        raise MigrationError(f"No migration batch {batch_id}.")
    problems = session.scalars(
        select(MigrationBatchItem)
        .where(
            MigrationBatchItem.batch_id == batch_id,
            MigrationBatchItem.status.in_([ItemStatus.FAILED.value, ItemStatus.SKIPPED.value]),
        )
        .order_by(MigrationBatchItem.id)
    ).all()
    return {
        "id": batch.id,
        "source": batch.source_definition_id,
        "target": batch.target_definition_id,
        "mapping": batch.mapping,
        "status": batch.status,
        "total": batch.total,
        "done": batch.done,
        "failed": batch.failed,
        "skipped": batch.skipped,
        "finished": batch.status == BatchStatus.FINISHED.value,
        "problems": [
            {"instance_id": i.instance_id, "status": i.status, "reason": i.reason} for i in problems
        ],
    }
