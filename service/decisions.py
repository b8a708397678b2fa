"""Evaluating a deployed decision at a door (REST's evaluate, the CLI): authorized, then recorded.

A business rule task evaluates inside its instance's step (engine.runtime_decisions); a
person or a client asking "what would this table say?" comes through here, so the same
permission (`decision_definition.evaluate`) applies at every door and every evaluation is
kept in history like the ones a process makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import sessionmaker

from engine import decisions
from engine.dmn.evaluate import Evaluation
from engine.store import DecisionDefinition
from service.permissions import Principal, require


def evaluate_decision(
    session_factory: sessionmaker,
    principal: Principal | None,
    variables: Mapping[str, Any],
    *,
    now: datetime,
    key: str | None = None,
    definition_id: str | None = None,
) -> tuple[DecisionDefinition, Evaluation]:
    """Evaluate the latest version of `key` (or the version `definition_id`) and keep it in history.

    Raises PermissionDenied, DecisionNotFoundError or DecisionEvaluationError.
    """
    with session_factory() as session, session.begin():
        if definition_id is not None:
            definition = decisions.find_by_id(session, definition_id)
        else:
            definition = decisions.find_definition(session, key or "")
        require(principal, "evaluate", "decision_definition", definition.key)
        evaluation = decisions.evaluate_definition(session, definition, variables)
        decisions.record(
            session, definition, evaluation, now=now, user=principal.username if principal else None
        )
        session.expunge(definition)
    return definition, evaluation
