"""Deployed decision definitions: finding one by key and binding, loading it, recording evaluations.

A decision definition row points at the DMN resource it came from; the compiled table is
built from that resource once per process and kept by definition id (a version never
changes). Bindings are Camunda's: `latest`, `deployment` (the calling diagram's own
deployment), `version` and `versionTag`.

Which definition a key and binding mean is asked by every business rule task of every
instance and changes only when something deploys or deletes: it is kept while the table's
read token stays (read_tokens), so a new version counts from the next transaction in any process.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, make_transient_to_detached

import read_tokens
from engine.dmn.evaluate import Evaluation, evaluate
from engine.dmn.model import Decision, DecisionEvaluationError
from engine.dmn.parse import parse_dmn
from engine.errors import NotFoundError
from engine.serialization import to_jsonable
from engine.store import DecisionDefinition, DecisionInstance, Resource

BINDINGS = ("latest", "deployment", "version", "versionTag")

_CACHE: OrderedDict[str, Decision] = OrderedDict()
_CACHE_SIZE = 256
_LOCK = threading.Lock()


class DecisionNotFoundError(NotFoundError):
    """No deployed decision matches the key and binding asked for."""

    def __init__(self, key: str, binding: str, detail: str = "", known: list[str] | None = None) -> None:
        self.key, self.binding = key, binding
        hint = (
            f" Deployed decisions: {', '.join(sorted(known))}." if known else " Deploy the .dmn file first."
        )
        super().__init__(f"No decision definition {key!r}{detail}.{hint}")


class AmbiguousDecisionError(DecisionEvaluationError):
    """Binding versionTag found several versions with that tag (Camunda refuses to pick one)."""

    def __init__(self, key: str, version_tag: str) -> None:
        super().__init__(
            key,
            f"found more than one decision definition for key {key!r} and versionTag {version_tag!r}; "
            "give each version its own camunda:versionTag",
        )


def find_definition(
    session: Session,
    key: str,
    *,
    binding: str = "latest",
    version: int | None = None,
    version_tag: str | None = None,
    deployment_id: str | None = None,
) -> DecisionDefinition:
    """The decision definition a business rule task (or a REST call) means; raise DecisionNotFoundError."""
    candidates = read_tokens.shared(
        session,
        ("decisions.find_definition", key, binding, version, version_tag, deployment_id),
        (DecisionDefinition.__tablename__,),
        lambda: _candidates(session, key, binding, version, version_tag, deployment_id),
    )
    if binding == "versionTag" and len(candidates) > 1:
        raise AmbiguousDecisionError(key, version_tag or "")
    if not candidates:
        known = sorted(set(session.scalars(select(DecisionDefinition.key)).all()))
        raise DecisionNotFoundError(key, binding, _detail(binding, version, version_tag), known)
    # The row as read, attached to the session without reading it again (a changed row would
    # have changed the token).
    found = DecisionDefinition(**candidates[0])
    make_transient_to_detached(found)
    return session.merge(found, load=False)


_COLUMNS = tuple(column.key for column in inspect(DecisionDefinition).column_attrs)


def _detail(binding: str, version: int | None, version_tag: str | None) -> str:
    if binding == "deployment":
        return " in the diagram's own deployment"
    if binding == "version":
        return f" version {version}"
    if binding == "versionTag":
        return f" with versionTag {version_tag!r}"
    return ""


def _candidates(
    session: Session,
    key: str,
    binding: str,
    version: int | None,
    version_tag: str | None,
    deployment_id: str | None,
) -> tuple[dict[str, Any], ...]:
    """The newest two matching versions as column values (two: versionTag must name one)."""
    query = select(*(getattr(DecisionDefinition, name) for name in _COLUMNS)).where(
        DecisionDefinition.key == key
    )
    if binding == "deployment":
        query = query.where(DecisionDefinition.deployment_id == deployment_id)
    elif binding == "version":
        query = query.where(DecisionDefinition.version == version)
    elif binding == "versionTag":
        query = query.where(DecisionDefinition.version_tag == version_tag)
    rows = session.execute(query.order_by(DecisionDefinition.version.desc()).limit(2)).all()
    return tuple(dict(row._mapping) for row in rows)


def find_by_id(session: Session, definition_id: str) -> DecisionDefinition:
    found = session.get(DecisionDefinition, definition_id)
    if found is None:
        raise DecisionNotFoundError(definition_id, "id", " (by id)")
    return found


def load_decision(session: Session, definition: DecisionDefinition) -> Decision:
    """The compiled table of a deployed decision version (cached: versions never change)."""
    with _LOCK:
        cached = _CACHE.get(definition.id)
        if cached is not None:
            _CACHE.move_to_end(definition.id)
            return cached
    content = session.scalar(
        select(Resource.content).where(
            Resource.deployment_id == definition.deployment_id, Resource.name == definition.resource_name
        )
    )
    parsed = parse_dmn({definition.resource_name: content or b""})
    decision = parsed.decisions.get(definition.key)
    if decision is None:
        raise DecisionNotFoundError(definition.key, "id", f" in {definition.resource_name}")
    with _LOCK:
        _CACHE[definition.id] = decision
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return decision


def record(
    session: Session,
    definition: DecisionDefinition,
    evaluation: Evaluation,
    *,
    now: datetime,
    user: str | None,
) -> DecisionInstance:
    """Keep one evaluation made outside a process (REST, the admin's rule pages) for history."""
    row = DecisionInstance(**record_values(definition, evaluation, now=now, user=user))
    session.add(row)
    return row


def record_values(
    definition: DecisionDefinition,
    evaluation: Evaluation,
    *,
    now: datetime,
    user: str | None = None,
    instance_id: str | None = None,
    process_definition_id: str | None = None,
    element_id: str | None = None,
    activity_instance_id: str | None = None,
) -> dict[str, Any]:
    """The `decision_instance` row of one evaluation (the instance page, /history/decision-instance),
    as values: a process step inserts its evaluations with its other rows in one statement
    (engine.step_rows)."""
    history = to_jsonable(evaluation.history())
    return {
        "id": str(uuid.uuid4()),
        "decision_definition_id": definition.id,
        "decision_key": definition.key,
        "instance_id": instance_id,
        "process_definition_id": process_definition_id,
        "element_id": element_id,
        "activity_instance_id": activity_instance_id,
        "evaluated_at": now,
        "user": user,
        "inputs": history["inputs"],
        "matched_rules": history["matchedRules"],
        "result": _json_keys(history["result"]),
        "collect_result_value": (
            {"value": history["collectResultValue"]} if evaluation.decision.table.aggregation else None
        ),
    }


def _json_keys(result: list[Mapping[Any, Any]]) -> list[dict[str, Any]]:
    """A COUNT over no matches has no output name (Camunda's null key); JSON keys are text."""
    return [{("" if k is None else str(k)): v for k, v in entry.items()} for entry in result]


def evaluate_definition(
    session: Session, definition: DecisionDefinition, variables: Mapping[str, Any]
) -> Evaluation:
    return evaluate(load_decision(session, definition), variables)


def deployed_keys(session: Session, keys: list[str]) -> set[str]:
    """Which of `keys` have at least one deployed decision definition (kept as find_definition's)."""
    if not keys:
        return set()
    found = read_tokens.shared(
        session,
        ("decisions.deployed_keys", *keys),
        (DecisionDefinition.__tablename__,),
        lambda: frozenset(
            session.scalars(select(DecisionDefinition.key).where(DecisionDefinition.key.in_(keys)).distinct())
        ),
    )
    return set(found)
