"""Deploy: validate every resource first, then store them and number new process versions.

Nothing is stored unless everything parses; a refused deployment names every problem
with its resource, element id and line. Identical resources with duplicate filtering on
create no new version, as in Camunda. Running instances keep the version they started on.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from engine.definitions import parse_resources, sha256
from engine.dmn.model import Decision
from engine.dmn.parse import parse_dmn
from engine.errors import EngineError
from engine.form_refs import catalog_of, deployed_forms
from engine.handlers import HandlerRegistry, topic_catalog
from engine.parser import MAX_RESOURCE_BYTES, Problem
from engine.retention import effective_ttl
from engine.store import DecisionDefinition, Deployment, ProcessDefinition, Resource
from engine.timer_start import schedule_on_deploy, server_zone, timer_starts

log = logging.getLogger(__name__)

MAX_RESOURCES = 100


class DeployError(EngineError):
    """The deployment was refused; `problems` lists each one, located."""

    def __init__(self, problems: list[Problem], warnings: list[Problem] | None = None) -> None:
        self.problems = problems
        self.warnings = warnings or []
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Deployment refused, {len(problems)} problem(s):\n{lines}")


@dataclass
class DeployedDefinition:
    id: str
    key: str
    name: str | None
    version: int
    resource: str
    deployment_id: str
    new: bool
    history_ttl: int | None = None  # days that apply to its finished instances (None: kept)
    history_ttl_source: str = "none"  # diagram | default | none


@dataclass
class DeployReport:
    """What a deploy did: the deployment, each definition (new or reused) and the warnings."""

    deployment_id: str
    name: str | None
    source: str | None
    tenant_id: str | None
    deployed_at: datetime
    definitions: list[DeployedDefinition] = field(default_factory=list)
    decisions: list[DeployedDefinition] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    duplicate: bool = False

    def lines(self) -> list[str]:
        out = [
            f"Deployment {self.deployment_id} ({self.name or 'unnamed'})"
            + (" — identical to what is deployed, no new version" if self.duplicate else "")
        ]
        for d in self.definitions:
            out.append(f"  {d.key} version {d.version}{'' if d.new else ' (unchanged)'}  id={d.id}")
            out.append(f"    history time to live: {ttl_phrase(d.history_ttl, d.history_ttl_source)}")
        for d in self.decisions:
            out.append(f"  decision {d.key} version {d.version}{'' if d.new else ' (unchanged)'}  id={d.id}")
        for w in self.warnings:
            out.append(f"  warning: {w}")
        return out


def deploy(
    session_factory: sessionmaker,
    resources: Mapping[str, bytes],
    *,
    name: str | None = None,
    source: str | None = None,
    tenant_id: str | None = None,
    duplicate_filtering: bool = False,
    changed_only: bool = False,
    allow_scripts: bool = False,
    known_topics: HandlerRegistry | Iterable[str] = (),
    user: str | None = None,
    now: datetime | None = None,
    default_history_ttl: int | None = None,
) -> DeployReport:
    """Validate and store `resources` ({file name: bytes}); raise DeployError listing every problem.

    `default_history_ttl` (days) is what applies to diagrams without camunda:historyTimeToLive;
    the report says, per definition, which one applies.
    """
    now = now or datetime.now(UTC)
    resources = dict(resources)
    problems = _check_envelope(resources)
    if problems:
        raise DeployError(problems)
    with session_factory() as session:
        stored_forms = deployed_forms(session)
    own_forms = [(n, c) for n, c in resources.items() if n.lower().endswith(".form")]
    parsed = parse_resources(
        resources,
        allow_scripts=allow_scripts,
        known_topics=topic_catalog(known_topics),
        form_catalog=catalog_of(stored_forms + own_forms),
    )
    decisions = parse_dmn(resources)
    if parsed.errors or decisions.errors:
        raise DeployError(parsed.errors + decisions.errors, parsed.warnings)

    for attempt in range(3):
        try:
            return _store(
                session_factory,
                resources,
                parsed,
                decisions.decisions,
                name=name,
                source=source,
                tenant_id=tenant_id,
                duplicate_filtering=duplicate_filtering or changed_only,
                user=user,
                now=now,
                default_ttl=default_history_ttl,
            )
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("version number taken by a concurrent deploy; retrying")
    raise AssertionError("unreachable")


def _check_envelope(resources: dict[str, bytes]) -> list[Problem]:
    """What is wrong with the deployment as a whole, before any resource is parsed.

    Any resource may be deployed, as Camunda deploys a .form or a .txt on its own (forms
    become resolvable by formRef, .dmn files decision definitions).
    """
    problems = []
    if not resources:
        problems.append(Problem("(deployment)", "no resources were sent"))
    if len(resources) > MAX_RESOURCES:
        problems.append(
            Problem("(deployment)", f"{len(resources)} resources; at most {MAX_RESOURCES} per deployment")
        )
    for res_name, content in resources.items():
        if not res_name or "\x00" in res_name or len(res_name) > 255:
            problems.append(Problem(res_name[:60] or "(unnamed)", "resource name is empty or invalid"))
        if len(content) > MAX_RESOURCE_BYTES:
            problems.append(
                Problem(
                    res_name,
                    f"file is {len(content) / 1024 / 1024:.1f} MB; the limit is "
                    f"{MAX_RESOURCE_BYTES // (1024 * 1024)} MB",
                )
            )
    return problems


def _store(
    session_factory,
    resources,
    parsed,
    decisions,
    *,
    name,
    source,
    tenant_id,
    duplicate_filtering,
    user,
    now,
    default_ttl,
):
    with session_factory() as session, session.begin():
        reused: dict[str, ProcessDefinition] = {}
        reused_decisions: dict[str, DecisionDefinition] = {}
        if duplicate_filtering:
            reused_decisions = _unchanged_decisions(session, resources, decisions)
            for key, info in parsed.processes.items():
                latest = session.scalars(
                    select(ProcessDefinition)
                    .where(ProcessDefinition.key == key)
                    .order_by(ProcessDefinition.version.desc())
                ).first()
                if latest is not None and latest.sha256 == sha256(resources[info.resource]):
                    reused[key] = latest
        if (parsed.processes or decisions) and (
            len(reused) == len(parsed.processes) and len(reused_decisions) == len(decisions)
        ):
            first = next(iter([*reused.values(), *reused_decisions.values()]))
            deployment = session.get(Deployment, first.deployment_id)
            report = DeployReport(
                deployment.id,
                deployment.name,
                deployment.source,
                deployment.tenant_id,
                deployment.deployed_at,
                warnings=parsed.warnings,
                duplicate=True,
            )
            report.definitions = [_describe(d, False, default_ttl) for d in reused.values()]
            report.decisions = [_describe(d, False, None) for d in reused_decisions.values()]
            return report

        deployment = Deployment(
            id=str(uuid.uuid4()),
            name=name,
            source=source,
            tenant_id=tenant_id,
            deployed_at=now,
            deployed_by=user,
        )
        session.add(deployment)
        for res_name, content in resources.items():
            session.add(
                Resource(deployment_id=deployment.id, name=res_name, content=content, sha256=sha256(content))
            )
        report = DeployReport(deployment.id, name, source, tenant_id, now, warnings=parsed.warnings)
        for key, info in parsed.processes.items():
            if key in reused:
                report.definitions.append(_describe(reused[key], False, default_ttl))
                continue
            version = _next_version(session, ProcessDefinition, key)
            definition = ProcessDefinition(
                id=f"{key}:{version}:{uuid.uuid4()}",
                key=key,
                name=info.name,
                version=version,
                deployment_id=deployment.id,
                resource_name=info.resource,
                sha256=sha256(resources[info.resource]),
                deployed_at=now,
                start_form=info.start_form.to_dict() if info.start_form.fields else None,
                message_starts=info.message_starts,
                history_ttl=info.history_ttl,
            )
            session.add(definition)
            session.flush()
            schedule_on_deploy(
                session,
                definition_id=definition.id,
                key=key,
                schedules=timer_starts(info.spec),
                now=now,
                zone=server_zone(),
            )
            report.definitions.append(_describe(definition, True, default_ttl))
        report.decisions = _store_decisions(
            session, deployment.id, resources, decisions, reused_decisions, now
        )
        log.info(
            "deployment %s stored: %s",
            deployment.id,
            ", ".join(f"{d.key} v{d.version}" for d in [*report.definitions, *report.decisions]),
        )
        return report


def _next_version(session, model, key: str) -> int:
    """One past the latest version of `key` (process or decision definition), 1 for a new key."""
    return (session.scalar(select(func.max(model.version)).where(model.key == key)) or 0) + 1


def _unchanged_decisions(
    session, resources: Mapping[str, bytes], decisions: Mapping[str, Decision]
) -> dict[str, DecisionDefinition]:
    """Decisions whose latest version came from a resource with these very bytes."""
    unchanged = {}
    for key, decision in decisions.items():
        latest = session.scalars(
            select(DecisionDefinition)
            .where(DecisionDefinition.key == key)
            .order_by(DecisionDefinition.version.desc())
        ).first()
        if latest is not None and latest.sha256 == sha256(resources[decision.resource]):
            unchanged[key] = latest
    return unchanged


def _store_decisions(session, deployment_id, resources, decisions, reused, now) -> list[DeployedDefinition]:
    """A new version of each decision whose file changed; the others are reported unchanged."""
    stored = []
    for key, decision in decisions.items():
        if key in reused:
            stored.append(_describe(reused[key], False, None))
            continue
        version = _next_version(session, DecisionDefinition, key)
        row = DecisionDefinition(
            id=f"{key}:{version}:{uuid.uuid4()}",
            key=key,
            name=decision.name,
            version=version,
            version_tag=decision.version_tag,
            history_ttl=decision.history_ttl,
            deployment_id=deployment_id,
            resource_name=decision.resource,
            sha256=sha256(resources[decision.resource]),
            deployed_at=now,
        )
        session.add(row)
        session.flush()
        stored.append(_describe(row, True, None))
    return stored


def _describe(
    d: ProcessDefinition | DecisionDefinition, new: bool, default_ttl: int | None
) -> DeployedDefinition:
    ttl, source = effective_ttl(d.history_ttl, default_ttl)
    return DeployedDefinition(
        d.id, d.key, d.name, d.version, d.resource_name, d.deployment_id, new, ttl, source
    )


def ttl_phrase(days: int | None, source: str) -> str:
    """How the deploy report names the time to live that applies and where it comes from."""
    if days is None:
        return "none: finished instances are kept (set camunda:historyTimeToLive or HISTORY_TIME_TO_LIVE)"
    origin = "from the diagram" if source == "diagram" else "the default, HISTORY_TIME_TO_LIVE"
    return f"{days} days ({origin})"
