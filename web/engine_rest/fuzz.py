"""Property-based fuzzing of /engine-rest against its own OpenAPI document (schemathesis).

Every operation web/engine_rest/openapi.json lists is called on the live WSGI app (no server)
with generated parameters and bodies, as a demo user, and each response is checked: no 5xx,
a documented status code and content type, and a body matching the documented schema. Used by
tests/test_engine_rest_fuzz.py (a few examples per operation) and bench/fuzz_rest.py (many).
It lives beside the document so both callers read the same rules; it imports schemathesis only
when called, so the app itself never needs it.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOCUMENT = Path(__file__).with_name("openapi.json")


@dataclass
class FuzzReport:
    """What a run did: operations, examples sent, statuses seen, and each distinct failure."""

    operations: int = 0
    examples: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # "METHOD path: check" -> first detail

    def summary(self) -> str:
        return (
            f"{self.operations} operations, {self.examples} examples, "
            f"statuses {dict(sorted(self.statuses.items()))}, {len(self.failures)} failures"
        )


def basic_auth(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def fuzz_engine_rest(
    app: Any, credentials: list[tuple[str, str]], *, max_examples: int = 3, seed: int | None = 0
) -> FuzzReport:
    """Fuzz every documented operation as each of `credentials` (username, password).

    Failures are collected rather than raised so one run reports them all; a fixed seed keeps the
    suite's run reproducible.
    """
    import hypothesis
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi import checks

    wanted = [
        not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
    ]
    schema = schemathesis.openapi.from_dict(json.loads(DOCUMENT.read_text()))
    schema.app = app
    settings = hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=seed is not None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations += 1
        for username, password in credentials:
            run = _examples(operation, basic_auth(username, password), wanted, report)
            settings(hypothesis.given(case=_cases(operation))(run))()
    return report


def _cases(operation: Any) -> Any:
    """Inputs that fit the document and inputs that do not (the latter where it has any to break)."""
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    try:
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    except Exception:  # noqa: BLE001 - an operation with nothing to make invalid has no negative cases
        pass
    return st.one_of(strategies)


def _examples(operation: Any, headers: dict[str, str], wanted: list, report: FuzzReport):
    """The body of one operation's property: call, then record what the checks refuse."""
    where = f"{operation.method.upper()} {operation.path}"

    def run(case: Any) -> None:
        report.examples += 1
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the app raised through the WSGI call: a 5xx in production
            sent = f"{case.path_parameters} {case.query} {case.body!r}"
            report.failures.setdefault(f"{where}: {type(exc).__name__}", f"{exc} ({sent})")
            return
        report.statuses[response.status_code] += 1
        for check in wanted:
            try:
                case.validate_response(response, checks=[check])
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis's FailureGroup is the latter
                sent = f"{case.path_parameters} {case.query} {str(case.body)[:200]!r}"
                detail = f"{response.status_code} {str(exc)[:800]}\n    sent {sent}"
                report.failures.setdefault(f"{where}: {check.__name__}", detail)

    return run
