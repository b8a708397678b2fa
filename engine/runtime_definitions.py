"""Engine's deployed definitions: parsed once and cached, the latest of a key, deleting a deployment.

Deleting the latest version moves its timer starts back to the previous one.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.definitions import parse_resources
from engine.errors import (
    DefinitionNotFoundError,
    InvalidStateError,
    NotFoundError,
    ProcessError,
)
from engine.events import has_event_subprocesses
from engine.form_refs import catalog_of, deployed_forms, forms_changed, forms_stamp
from engine.runtime_support import (
    LoadedDefinition,
    _wire_loop_tasks,
    log,
)
from engine.store import (
    DecisionInstance,
    Deployment,
    HistoryEvent,
    Instance,
    InstanceStatus,
    ProcessDefinition,
    Resource,
)
from engine.timer_start import retire_start_timers, server_zone


class DefinitionsMixin:
    """Part of Engine (engine.runtime); `self` is the Engine."""

    def definition(self, session: Session, definition_id: str) -> LoadedDefinition:
        """The parsed definition, from cache; parsed from its deployment's resources on first use."""
        cached = self._definitions.get(definition_id)
        if cached is not None and not forms_changed(session, cached.info):
            return cached
        row = session.get(ProcessDefinition, definition_id)
        if row is None:
            raise DefinitionNotFoundError(definition_id)
        resources = {
            r.name: r.content
            for r in session.scalars(select(Resource).where(Resource.deployment_id == row.deployment_id))
        }
        stamp = forms_stamp(session)  # read first: a form deployed meanwhile makes the stamp stale
        forms = catalog_of(deployed_forms(session))  # formRef by id and version (engine.form_refs)
        parsed = parse_resources(resources, allow_scripts=True, lint=False, form_catalog=forms)
        if row.key not in parsed.processes:
            problems = "; ".join(str(p) for p in parsed.errors) or "process not found in its resources"
            raise ProcessError("-", None, f"definition {definition_id} cannot be loaded: {problems}")
        info = parsed.processes[row.key]
        info.forms_stamp = stamp
        for called in info.missing_called:
            latest = self._latest_row(session, called)
            if latest is not None:
                other = self.definition(session, latest.id)
                info.subprocess_specs[called] = other.info.spec
                info.subprocess_specs.update(other.info.subprocess_specs)
        _wire_loop_tasks(info.spec, *info.subprocess_specs.values())
        loaded = LoadedDefinition(
            row.id,
            row.key,
            row.version,
            row.name,
            info,
            has_event_subprocesses(info.spec, *info.subprocess_specs.values()),
        )
        with self._definitions_lock:
            self._definitions[definition_id] = loaded
        return loaded

    def _latest_row(self, session: Session, key: str) -> ProcessDefinition | None:
        return session.scalars(
            select(ProcessDefinition)
            .where(ProcessDefinition.key == key)
            .order_by(ProcessDefinition.version.desc())
        ).first()

    def latest_definition_id(self, session: Session, key: str) -> str:
        row = self._latest_row(session, key)
        if row is None:
            known = list(session.scalars(select(ProcessDefinition.key).distinct()))
            raise DefinitionNotFoundError(key, known)
        return row.id

    def delete_deployment(
        self, deployment_id: str, *, cascade: bool = False, user: str | None = None
    ) -> None:
        """Delete a deployment with its resources and definitions (Camunda's DELETE /deployment/{id}).

        Instances point at their definition, so without `cascade` any instance refuses the
        delete, finished ones too: deleting those would erase their audit history. With
        `cascade`, running instances are cancelled, then every instance goes with its history.
        """
        with self.session_factory() as session:
            if session.get(Deployment, deployment_id) is None:
                raise NotFoundError(f"No deployment {deployment_id!r}; check the id in the deployment list.")
            definition_ids = list(
                session.scalars(
                    select(ProcessDefinition.id).where(ProcessDefinition.deployment_id == deployment_id)
                )
            )
            instances = list(
                session.execute(
                    select(Instance.id, Instance.status).where(Instance.definition_id.in_(definition_ids))
                )
            )
        running = [i for i, status in instances if status == InstanceStatus.RUNNING.value]
        if instances and not cascade:
            raise InvalidStateError(
                f"Deployment {deployment_id} has {len(instances)} process instance(s), {len(running)} "
                "running; delete with cascade=true to cancel them and delete them with their history."
            )
        for instance_id in running:
            self.cancel(instance_id, user=user, reason=f"deployment {deployment_id} deleted")
        instance_ids = [i for i, _ in instances]
        with self.session_factory() as session, session.begin():
            session.execute(delete(HistoryEvent).where(HistoryEvent.instance_id.in_(instance_ids)))
            session.execute(delete(DecisionInstance).where(DecisionInstance.instance_id.in_(instance_ids)))
            session.execute(delete(Instance).where(Instance.id.in_(instance_ids)))
            retire_start_timers(  # the previous version's timer starts come back (engine.timer_start)
                session,
                definition_ids,
                spec_of=lambda i: self.definition(session, i).info.spec,
                now=self.now(),
                zone=server_zone(),
            )
            session.execute(delete(ProcessDefinition).where(ProcessDefinition.id.in_(definition_ids)))
            session.execute(delete(Deployment).where(Deployment.id == deployment_id))
        with self._definitions_lock:
            for definition_id in definition_ids:
                self._definitions.pop(definition_id, None)
        with self._workflows_lock:
            for instance_id in instance_ids:
                self._workflows.pop(instance_id, None)
        log.info("deployment %s deleted by %s with %s instance(s)", deployment_id, user, len(instance_ids))
