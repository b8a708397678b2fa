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

from engine.definitions import is_bpmn_name, parse_resources, sha256
from engine.errors import EngineError
from engine.handlers import HandlerRegistry, topic_catalog
from engine.parser import MAX_RESOURCE_BYTES, Problem
from engine.store import Deployment, ProcessDefinition, Resource

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


@dataclass
class DeployReport:
    """What a deploy did: the deployment, each definition (new or reused) and the warnings."""

    deployment_id: str
    name: str | None
    source: str | None
    tenant_id: str | None
    deployed_at: datetime
    definitions: list[DeployedDefinition] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    duplicate: bool = False

    def lines(self) -> list[str]:
        out = [
            f"Deployment {self.deployment_id} ({self.name or 'unnamed'})"
            + (" — identical to what is deployed, no new version" if self.duplicate else "")
        ]
        for d in self.definitions:
            out.append(f"  {d.key} version {d.version}{'' if d.new else ' (unchanged)'}  id={d.id}")
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
) -> DeployReport:
    """Validate and store `resources` ({file name: bytes}); raise DeployError listing every problem."""
    now = now or datetime.now(UTC)
    resources = dict(resources)
    problems = _check_envelope(resources)
    if problems:
        raise DeployError(problems)
    parsed = parse_resources(resources, allow_scripts=allow_scripts, known_topics=topic_catalog(known_topics))
    if parsed.errors:
        raise DeployError(parsed.errors, parsed.warnings)
    if not any(is_bpmn_name(n) for n in resources):
        raise DeployError([Problem("(deployment)", "no .bpmn resource was sent; attach the diagram file")])

    for attempt in range(3):
        try:
            return _store(
                session_factory,
                resources,
                parsed,
                name=name,
                source=source,
                tenant_id=tenant_id,
                duplicate_filtering=duplicate_filtering or changed_only,
                user=user,
                now=now,
            )
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("version number taken by a concurrent deploy; retrying")
    raise AssertionError("unreachable")


def _check_envelope(resources: dict[str, bytes]) -> list[Problem]:
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


def _store(session_factory, resources, parsed, *, name, source, tenant_id, duplicate_filtering, user, now):
    with session_factory() as session, session.begin():
        reused: dict[str, ProcessDefinition] = {}
        if duplicate_filtering:
            for key, info in parsed.processes.items():
                latest = session.scalars(
                    select(ProcessDefinition)
                    .where(ProcessDefinition.key == key)
                    .order_by(ProcessDefinition.version.desc())
                ).first()
                if latest is not None and latest.sha256 == sha256(resources[info.resource]):
                    reused[key] = latest
        if parsed.processes and len(reused) == len(parsed.processes):
            first = next(iter(reused.values()))
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
            report.definitions = [_describe(d, new=False) for d in reused.values()]
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
                report.definitions.append(_describe(reused[key], new=False))
                continue
            version = (
                session.scalar(
                    select(func.max(ProcessDefinition.version)).where(ProcessDefinition.key == key)
                )
                or 0
            ) + 1
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
            )
            session.add(definition)
            session.flush()
            report.definitions.append(_describe(definition, new=True))
        log.info(
            "deployment %s stored: %s",
            deployment.id,
            ", ".join(f"{d.key} v{d.version}" for d in report.definitions),
        )
        return report


def _describe(d: ProcessDefinition, new: bool) -> DeployedDefinition:
    return DeployedDefinition(d.id, d.key, d.name, d.version, d.resource_name, d.deployment_id, new)
