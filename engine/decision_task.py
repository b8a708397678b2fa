"""Business rule tasks: Camunda's camunda:decisionRef, its bindings and camunda:mapDecisionResult.

The task parks (state STARTED) like a service task; the runtime evaluates the decision in the
same step (engine.runtime_decisions), since Camunda evaluates it synchronously in the
transaction that reaches the task. Everything an analyst can get wrong in the attributes is
refused at deploy by `refusals`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.specs.defaults import ServiceTask

from engine.dmn.evaluate import MAP_DECISION_RESULTS
from engine.expressions import ExpressionError, compile_template, is_expression
from engine.specs import Parameter

BINDINGS = ("latest", "deployment", "version", "versionTag")
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"


@dataclass(frozen=True)
class DecisionRef:
    """What a business rule task evaluates and where the result goes."""

    key: str  # may hold ${...}
    binding: str = "latest"
    version: str | None = None  # may hold ${...}
    version_tag: str | None = None
    result_variable: str | None = None
    map_result: str | None = None
    inputs: tuple[Parameter, ...] = ()


class DecisionTask(ServiceTask):
    """A business rule task with camunda:decisionRef; the runtime evaluates it in the same step."""

    def __init__(self, wf_spec, bpmn_id, ref: DecisionRef | None = None, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.ref = ref

    def _run_hook(self, task):
        return None


def decision_ref(node: Any, inputs: tuple[Parameter, ...]) -> DecisionRef:
    attr = node.attrib.get
    return DecisionRef(
        key=(attr(f"{CAMUNDA}decisionRef") or "").strip(),
        binding=attr(f"{CAMUNDA}decisionRefBinding") or "latest",
        version=attr(f"{CAMUNDA}decisionRefVersion"),
        version_tag=attr(f"{CAMUNDA}decisionRefVersionTag"),
        result_variable=attr(f"{CAMUNDA}resultVariable"),
        map_result=attr(f"{CAMUNDA}mapDecisionResult"),
        inputs=inputs,
    )


def refusals(node: Any) -> list[tuple[str, str]]:
    """(attribute, message) for each attribute of a business rule task this engine cannot run."""
    attr = node.attrib.get
    found: list[tuple[str, str]] = []
    binding = attr(f"{CAMUNDA}decisionRefBinding") or "latest"
    if binding not in BINDINGS:
        found.append(
            (
                "camunda:decisionRefBinding",
                f"binding {binding!r} is unknown; use one of {', '.join(BINDINGS)}",
            )
        )
    if binding == "version" and not attr(f"{CAMUNDA}decisionRefVersion"):
        found.append(("camunda:decisionRefVersion", "binding 'version' needs camunda:decisionRefVersion"))
    if binding == "versionTag" and not attr(f"{CAMUNDA}decisionRefVersionTag"):
        found.append(
            ("camunda:decisionRefVersionTag", "binding 'versionTag' needs camunda:decisionRefVersionTag")
        )
    mapping = attr(f"{CAMUNDA}mapDecisionResult")
    if mapping is not None and mapping not in MAP_DECISION_RESULTS:
        found.append(
            (
                "camunda:mapDecisionResult",
                f"mapDecisionResult {mapping!r} is unknown; use one of {', '.join(MAP_DECISION_RESULTS)}",
            )
        )
    if attr(f"{CAMUNDA}decisionRefTenantId"):
        found.append(("camunda:decisionRefTenantId", "tenants are not supported; remove decisionRefTenantId"))
    for name in ("decisionRef", "decisionRefVersion"):
        text = attr(f"{CAMUNDA}{name}")
        if text and is_expression(text):
            try:
                compile_template(text)
            except ExpressionError as err:
                found.append((f"camunda:{name}", str(err)))
    io = node.find(
        "{http://www.omg.org/spec/BPMN/20100524/MODEL}extensionElements/" + f"{CAMUNDA}inputOutput"
    )
    if io is not None and io.find(f"{CAMUNDA}outputParameter") is not None:
        found.append(
            (
                "camunda:outputParameter",
                "output parameters on a business rule task are not supported; name the result with "
                "camunda:resultVariable and camunda:mapDecisionResult instead",
            )
        )
    return found
