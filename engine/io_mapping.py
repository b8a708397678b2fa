"""camunda:inputOutput on the activities that are not served by a handler: user tasks, plain,
manual, receive and script tasks, embedded subprocesses, call activities' outputs, and
intermediate and end events.

Camunda 7 makes such an activity a variable scope (BpmnParse.parseActivityInputOutput): input
parameters are evaluated, in order, when it starts and become its local variables, which
shadow a process variable of the same name; output parameters are evaluated when it completes,
in its scope, and set in the enclosing one; then the locals are gone. A variable set inside
that is not local (a form field) still reaches the process, as AbstractVariableScope.setVariable
sets where the name already lives, else at the top. An activity left through an interrupting
boundary event maps no outputs. Service tasks (engine.runtime_jobs), call activities' inputs
(engine.call_activity) and business rule tasks (engine.decision_task) map their own.

SpiffWorkflow copies a task's data from its parent when the task is updated
(TaskSpec._update_hook) and hands it to the next task when it completes
(TaskSpec._on_complete_hook); the two hooks below wrap exactly those, so every task spec class
gets the behaviour through its own super() chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.specs.base import TaskSpec

from engine.execution_view import evaluating_for
from engine.expressions import ExpressionError, ExpressionEvaluationError
from engine.parser import parse_input_output
from engine.script_engine import ExpressionTaskError
from engine.specs import MI_COUNTERS, Parameter

CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"

#: The elements whose inputOutput this module runs. Service and send tasks served by a topic,
#: call activities' inputs and business rule tasks are mapped where they run.
MAPPED_HERE = frozenset(
    {
        "userTask",
        "task",
        "manualTask",
        "receiveTask",
        "scriptTask",
        "subProcess",
        "transaction",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "endEvent",
    }
)
#: internal_data key: name -> [had an outer value, that value] for each local variable.
SHADOWED = "camunda_io_shadowed"
#: internal_data key: the local variables as the inputs set them (re-applied if the task's data
#: is inherited again while it waits, as a catch event's is).
LOCALS = "camunda_io_locals"


def attach_io_mappings(trees: Mapping[str, Any], specs: Iterable[Any]) -> None:
    """Give each task spec the input and output parameters its element declares.

    `trees` are the deployment's parsed files by name; each spec reads the file it came from,
    so two files that reuse an element id do not mix their mappings.
    """
    mapped: dict[str, dict[str, Any]] = {}
    for name, tree in trees.items():
        found = mapped.setdefault(name, {})
        for io in tree.getroot().iter(f"{CAMUNDA}inputOutput"):
            extensions = io.getparent()
            element = extensions.getparent() if extensions is not None else None
            if element is None or etree.QName(extensions).localname != "extensionElements":
                continue  # a connector's own inputOutput
            local = etree.QName(element).localname
            if (local in MAPPED_HERE or local == "callActivity") and element.get("id"):
                found[element.get("id")] = element
    for spec in specs:
        elements = mapped.get(getattr(spec, "file", None) or "", {})
        for task_spec in spec.task_specs.values():
            element = elements.get(getattr(task_spec, "bpmn_id", None) or "")
            if element is None or isinstance(task_spec, LoopTask) or hasattr(task_spec, "call"):
                continue  # a multi-instance body (each instance maps) or one served like a service task
            inputs, outputs = parse_input_output(element)
            if etree.QName(element).localname == "callActivity":
                inputs = ()  # engine.call_activity passes them to the called process
            task_spec.io_inputs, task_spec.io_outputs = inputs, outputs


def enter_scope(task: Any, inputs: tuple[Parameter, ...]) -> None:
    """Set the input parameters as the task's local variables (again, if already entered)."""
    data = task.data
    if LOCALS in task.internal_data:
        data.update(task.internal_data[LOCALS])
        return
    shadowed: dict[str, list[Any]] = {}
    for parameter in inputs:
        if parameter.name not in shadowed:
            shadowed[parameter.name] = [parameter.name in data, data.get(parameter.name)]
        data[parameter.name] = parameter.resolve(data)  # later inputs see earlier ones
    task.internal_data[SHADOWED] = shadowed
    task.internal_data[LOCALS] = {name: data[name] for name in shadowed}


def leave_scope(task: Any, outputs: tuple[Parameter, ...]) -> None:
    """Evaluate the outputs in the task's scope, drop its locals, then set the outputs outside."""
    data = task.data
    values = {p.name: p.resolve(data) for p in outputs}
    _unshadow(data, task.internal_data.pop(SHADOWED, {}))
    task.internal_data.pop(LOCALS, None)
    data.update(values)


def _unshadow(data: dict[str, Any], shadowed: Mapping[str, list[Any]]) -> None:
    """Put back the values a scope's locals hid, and drop the locals that hid nothing."""
    for name, (had, outer) in shadowed.items():
        if had:
            data[name] = outer
        else:
            data.pop(name, None)


_update_hook = TaskSpec._update_hook
_on_complete_hook = TaskSpec._on_complete_hook


def _update_hook_with_inputs(self: TaskSpec, my_task: Any) -> Any:
    result = _update_hook(self, my_task)
    inputs = getattr(self, "io_inputs", ())
    if inputs or getattr(self, "io_outputs", ()):
        _for_task(my_task, enter_scope, inputs)
    return result


def _on_complete_hook_with_outputs(self: TaskSpec, my_task: Any) -> Any:
    if getattr(self, "io_inputs", ()) or getattr(self, "io_outputs", ()):
        _for_task(my_task, leave_scope, getattr(self, "io_outputs", ()))
    return _on_complete_hook(self, my_task)


def _for_task(task: Any, step: Any, parameters: tuple[Parameter, ...]) -> None:
    """Run a mapping step as the task (for `execution`); a failing expression names the element."""
    try:
        with evaluating_for(task):
            step(task, parameters)
    except (ExpressionError, ExpressionEvaluationError) as err:
        raise ExpressionTaskError(err, task) from err


TaskSpec._update_hook = _update_hook_with_inputs
TaskSpec._on_complete_hook = _on_complete_hook_with_outputs


def process_scope_data(task: Any) -> dict[str, Any]:
    """The task's data as the process sees it: without the local variables of the activities
    it runs in (its own inputs, an enclosing subprocess's, a multi-instance instance's loop
    counters), with the process values those locals shadow."""
    data = dict(task.data)
    scope: Any = task
    while scope is not None:
        _restore_outer(data, scope)
        scope = _enclosing_activity(scope)
    return data


def _restore_outer(data: dict[str, Any], scope: Any) -> None:
    _unshadow(data, scope.internal_data.get(SHADOWED, {}))
    parent = scope.parent
    if parent is not None and isinstance(parent.task_spec, LoopTask):
        for name in MI_COUNTERS:
            if name in parent.data:
                data[name] = parent.data[name]  # an enclosing loop's own counter
            else:
                data.pop(name, None)


def _enclosing_activity(task: Any) -> Any:
    """The subprocess task the task's (sub)workflow runs for, or None at the process level."""
    workflow = task.workflow
    parent_id = getattr(workflow, "parent_task_id", None)
    if parent_id is None:
        return None
    try:
        return workflow.top_workflow.get_task_from_id(parent_id)
    except Exception:  # the enclosing task is gone (a cancelled scope): nothing more to undo
        return None


# ----------------------------------------------------------------------------- service tasks


def service_inputs(task: Any, call: Any) -> dict[str, Any]:
    """What a service task's handler or worker sees: the visible variables, and its input
    parameters on top as its local variables (evaluated in order, each seeing the earlier)."""
    seen = dict(task.data)
    with evaluating_for(task):
        for parameter in call.inputs:
            seen[parameter.name] = parameter.resolve(seen)
    return seen


def apply_service_result(
    task: Any,
    call: Any,
    variables: Mapping[str, Any],
    local: Mapping[str, Any] | None = None,
    seen: Mapping[str, Any] | None = None,
) -> None:
    """Set what a handler or worker returned, as Camunda 7's setVariables does, then the outputs.

    `variables` reach the process (a name the task's inputs declared stays local, as setVariable
    sets where the variable lives); `local` (REST localVariables) only feeds the output mapping.
    The output parameters are evaluated in the task's scope and set last. `seen` is what
    `service_inputs` gave the handler in this same step, so the inputs are not evaluated twice.
    """
    input_names = {p.name for p in call.inputs}
    if call.outputs:
        inputs = seen if seen is not None else service_inputs(task, call)
        scope = {**inputs, **(local or {}), **variables}
        with evaluating_for(task):
            mapped = {p.name: p.resolve(scope) for p in call.outputs}
    else:
        mapped = {}
    task.data.update({name: value for name, value in variables.items() if name not in input_names})
    task.data.update(mapped)


def set_process_variables(task: Any, variables: Mapping[str, Any]) -> None:
    """Set process variables as seen from a waiting task (Cockpit's edit): a name the task holds
    as a local keeps its local value and gets the new process value behind it."""
    shadowed = task.internal_data.get(SHADOWED, {})
    for name, value in variables.items():
        if name in shadowed:
            shadowed[name] = [True, value]
        else:
            task.data[name] = value
