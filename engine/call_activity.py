"""Call activities with Camunda 7's variable passing: camunda:in and camunda:out.

SpiffWorkflow copies every variable of the caller into the called process and replaces
the caller's data with the called process's on return. Camunda 7 passes only what the
mappings name (`source`, `sourceExpression`, `variables="all"`, optionally `local="true"`,
which reads only the call activity's own input parameters) and, on completion, writes the
`camunda:out` mappings over the caller's variables, leaving the rest as they were.

The called process runs inside the caller's instance here, so it shares the caller's
business key; a `camunda:in businessKey=...` mapping therefore needs no work.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.parser.task_parsers import SubprocessParser
from SpiffWorkflow.bpmn.specs.defaults import CallActivity

from engine.expressions import render
from engine.specs import Parameter

CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


@dataclass(frozen=True)
class VariableMapping:
    """One camunda:in or camunda:out element."""

    source: str | None = None
    source_expression: str | None = None
    target: str | None = None
    all_variables: bool = False
    local: bool = False

    def apply(self, scope: dict[str, Any], local_scope: dict[str, Any], into: dict[str, Any]) -> None:
        """Write what this mapping passes from `scope` (or only `local_scope`) into `into`."""
        source_scope = local_scope if self.local else scope
        if self.all_variables:
            into.update(deepcopy(source_scope))
        elif self.target and self.source_expression:
            into[self.target] = render(self.source_expression, source_scope)
        elif self.target and self.source:
            into[self.target] = deepcopy(source_scope.get(self.source))


def parse_mappings(node: Any, tag: str) -> tuple[VariableMapping, ...]:
    """camunda:in or camunda:out mappings of a call activity node (businessKey ones skipped)."""
    mappings = []
    for item in node.findall(f"{BPMN}extensionElements/{CAMUNDA}{tag}"):
        if item.get("businessKey") is not None and not (item.get("source") or item.get("variables")):
            continue
        mappings.append(
            VariableMapping(
                source=item.get("source"),
                source_expression=item.get("sourceExpression"),
                target=item.get("target"),
                all_variables=item.get("variables") == "all",
                local=(item.get("local") or "").lower() == "true",
            )
        )
    return tuple(mappings)


class CamundaCallActivity(CallActivity):
    """A call activity that passes variables as camunda:in / camunda:out say, and nothing else."""

    def __init__(
        self,
        wf_spec,
        bpmn_id,
        subworkflow_spec,
        ins: tuple[VariableMapping, ...] = (),
        outs: tuple[VariableMapping, ...] = (),
        local_parameters: tuple[Parameter, ...] = (),
        **kwargs,
    ):
        super().__init__(wf_spec, bpmn_id, subworkflow_spec, **kwargs)
        self.ins, self.outs = ins, outs
        # camunda:inputOutput input parameters: the call activity's local variables (`local="true"`).
        self.local_parameters = local_parameters

    def _local(self, data: dict[str, Any]) -> dict[str, Any]:
        return {p.name: p.resolve(data) for p in self.local_parameters}

    def copy_data(self, my_task, subworkflow):
        start = subworkflow.get_next_task(subworkflow.task_tree, skip_subprocesses=True, spec_name="Start")
        local = self._local(my_task.data)
        passed: dict[str, Any] = {}
        for mapping in self.ins:
            mapping.apply({**my_task.data, **local}, local, passed)
        start.set_data(**passed)

    def update_data(self, my_task, subworkflow):
        returned = dict(subworkflow.data)
        if subworkflow.last_task is not None:
            returned.update(subworkflow.last_task.data)
        for mapping in self.outs:
            mapping.apply(returned, returned, my_task.data)


def create_call_activity(parser: Any, inputs: tuple[Parameter, ...]) -> CamundaCallActivity:
    """Build the spec for a callActivity node; `parser` is SpiffWorkflow's task parser for it."""
    return CamundaCallActivity(
        parser.spec,
        parser.bpmn_id,
        subworkflow_spec=SubprocessParser.get_call_activity_spec(parser),
        ins=parse_mappings(parser.node, "in"),
        outs=parse_mappings(parser.node, "out"),
        local_parameters=inputs,
        **parser.bpmn_attributes,
    )


#: The business key mappings that mean "the caller's key", which the called process has anyway.
_SAME_BUSINESS_KEY = frozenset({"#{execution.processBusinessKey}", "${execution.processBusinessKey}"})


def refusals(root: Any) -> list[tuple[Any, str]]:
    """(element, message) for each call-activity setting this engine cannot honour as Camunda does.

    The called process runs inside the caller's instance, so it always has the caller's
    business key; and Java mapping classes cannot run here.
    """
    found = []
    for node in root.iter(f"{BPMN}callActivity"):
        for item in node.findall(f"{BPMN}extensionElements/{CAMUNDA}in"):
            key = item.get("businessKey")
            if key is not None and key.strip() not in _SAME_BUSINESS_KEY:
                found.append(
                    (
                        item,
                        f"camunda:in businessKey={key!r} on call activity {node.get('id')!r}: the called "
                        "process runs with the caller's business key here; use "
                        "#{execution.processBusinessKey} or pass the value as a variable (camunda:in source)",
                    )
                )
        for attr in ("variableMappingClass", "variableMappingDelegateExpression"):
            if node.get(f"{CAMUNDA}{attr}"):
                found.append(
                    (
                        node,
                        f"camunda:{attr} on call activity {node.get('id')!r} names Java code, which this "
                        "engine cannot run; map variables with camunda:in / camunda:out instead",
                    )
                )
    return found
