"""SpiffWorkflow 3's joins, as Camunda 7 runs them: what each parallel path set survives the join,
a parallel join inside a loop costs the same on every pass, and an inclusive join waits, on every
pass, for the tokens that can still reach it (`inclusive_join_may_fire`).

Data. SpiffWorkflow gives each parallel path a copy of the variables and let the last path's copy
win at the join, so a variable one path changed went back to its value before the split when a
path that never touched it arrived later. `_join_branches` merges only what each path changed
since the paths parted (`changes_since`), as Camunda's shared process variables behave.

Speed. Every pass through a loop adds its tasks below the previous pass's, so the tree gets one
pass deeper each time. The library's parallel gateway asks, for every task of the join seen so far,
whether it descends from the arriving one and the other way round, each question a walk up the
whole tree: a loop's 80th pass took ~300 ms and the 200th seconds. Here the arriving task's
ancestors are collected once per question round, and "does this task descend from the arriving
one" walks up only until it meets that line (a few tasks: where its own pass branched off). The
answers, and so the join's decision, are the library's; tests/conftest.py checks them against the
library in the conformance tests.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.util.task import TaskState


def ancestors(task: Any) -> set[int]:
    """The identities (`id()`) of every task above `task` in its workflow's tree."""
    line: set[int] = set()
    walker = task.parent
    while walker is not None:
        line.add(id(walker))
        walker = walker.parent
    return line


def descends_from(task: Any, target: Any, target_ancestors: set[int]) -> bool:
    """Whether `target` is above `task`, given `ancestors(target)`: walking up from `task`, meeting
    one of target's ancestors before target itself means target is on another branch."""
    walker = task.parent
    while walker is not None:
        if walker is target:
            return True
        if id(walker) in target_ancestors:
            return False
        walker = walker.parent
    return False


def parallel_join_may_fire(self: Any, my_task: Any) -> bool:
    """The library's ParallelGateway check (a token on each incoming flow, earlier passes of a loop
    ignored), with the descent questions answered against `my_task`'s ancestor line."""
    tasks = my_task.workflow.get_tasks(spec_name=self.name)
    waiting_inputs = set(self.inputs)
    above = ancestors(my_task)

    def remove_ancestor(task: Any) -> None:
        # The first input spec met walking up from `task` (the library's recursion, as a loop).
        while task is not None:
            if task.task_spec in waiting_inputs:
                waiting_inputs.remove(task.task_spec)
                return
            task = task.parent

    for task in tasks:
        if descends_from(task, my_task, above):
            remove_ancestor(task)  # a first pass's task reached only after this join completes
        elif id(task) in above:
            continue  # an earlier pass: its inputs are not this pass's
        elif task.parent.state == TaskState.COMPLETED and task.parent.task_spec in waiting_inputs:
            waiting_inputs.remove(task.parent.task_spec)
    return not waiting_inputs


# A token: a task that runs, waits or is about to (FUTURE with its parent done: on the flow to it).
_TOKEN_STATES = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def _is_token(task: Any) -> bool:
    if task._state & _TOKEN_STATES:
        return True
    parent = task.parent
    return task._state == TaskState.FUTURE and parent is not None and parent._state == TaskState.COMPLETED


def _reaches(start: Any, target: Any) -> bool:
    """Whether a token at `start` (a task spec) can get to `target` along the diagram's flows."""
    seen = {id(start)}
    stack = [start]
    while stack:
        spec = stack.pop()
        if spec is target:
            return True
        for following in spec.outputs:
            if id(following) not in seen:
                seen.add(id(following))
                stack.append(following)
    return False


def inclusive_join_may_fire(self: Any, my_task: Any) -> bool:
    """Camunda 7's inclusive join (InclusiveGatewayActivityBehavior.activatesGateway): it fires when
    as many tokens have arrived as it has incoming flows, or else when no other token of its scope
    can still reach it. SpiffWorkflow's own check looked only at the first pass through a loop, so
    on every later pass the join found its inputs "completed" and fired at the first arrival: a
    review loop opened a second review and the task after the loop at once."""
    workflow = my_task.workflow
    above = ancestors(my_task)
    this_pass = _in_this_pass(my_task)
    arrived = 0
    for task in workflow.tasks.values():
        if task.task_spec is not self or id(task) in above or task._state == TaskState.COMPLETED:
            continue
        parent = task.parent
        if parent is None or parent._state != TaskState.COMPLETED:
            continue  # a prediction, not a token that came
        if this_pass(task):
            arrived += 1
    if arrived >= len(self.inputs):
        return True
    return not any(
        _reaches(task.task_spec, self)
        for task in workflow.tasks.values()
        if task.task_spec is not self and _is_token(task)
    )


def common_ancestor(tasks: list[Any]) -> Any | None:
    """The nearest task every one of `tasks` descends from (or is), None when they share none."""
    common = tasks[0]
    for task in tasks[1:]:
        line = ancestors(common) | {id(common)}
        while task is not None and id(task) not in line:
            task = task.parent
        if task is None:
            return None
        common = task
    return common


def changes_since(before: dict[str, Any], paths: list[dict[str, Any]]) -> dict[str, Any]:
    """`before` with what each of `paths` changed since, later paths winning: Camunda's shared
    variables after parallel paths that each had a copy (the join, and the variables view while
    the paths run)."""
    merged = dict(before)
    for data in paths:
        for name, value in data.items():
            if name not in before or before[name] != value:
                merged[name] = value
    return merged


def _previous_pass(my_task: Any) -> Any | None:
    """The same join reached on an earlier pass through a loop, if this task descends from one."""
    walker = my_task.parent
    while walker is not None:
        if walker.task_spec == my_task.task_spec:
            return walker
        walker = walker.parent
    return None


def _in_this_pass(my_task: Any) -> Callable[[Any], bool]:
    """Whether another task of `my_task`'s join came on the same pass through a loop: below the
    join's last firing on this path, when there was one (what arrived before it is spent)."""
    earlier = _previous_pass(my_task)
    if earlier is None:
        return lambda task: True
    before_earlier = ancestors(earlier)
    return lambda task: descends_from(task, earlier, before_earlier)


def _join_branches(self: Any, my_task: Any) -> bool:
    """A join's data as Camunda's process variables come out of parallel paths: what a path set
    stands, whichever path arrives last. Each path contributes only the variables it changed
    since the paths parted (their nearest common task); the paths' order of arrival decides
    between two that changed the same one."""
    above = ancestors(my_task)
    finished = [
        t
        for t in my_task.workflow.tasks.values()
        if t.task_spec == self and t.has_state(TaskState.FINISHED_MASK) and id(t) not in above
    ]
    this_pass = sorted(filter(_in_this_pass(my_task), finished), key=lambda t: t.last_state_change)
    paths = [t.parent for t in this_pass] + [my_task.parent]
    parted = common_ancestor(paths)
    if parted is None:
        return _library_join(self, my_task)
    merged = copy.deepcopy(changes_since(parted.data, [path.data for path in paths]))
    for task in finished:
        # As the library does: a path reset into a branch once cancelled must not keep the old one.
        if task.has_state(TaskState.COMPLETED):
            task._drop_children(force=True)
    my_task.data = merged
    return True


_library_join = UnstructuredJoin._run_hook
library_parallel_may_fire = ParallelGateway._check_threshold_unstructured
library_inclusive_may_fire = InclusiveGateway._check_threshold_unstructured

UnstructuredJoin._run_hook = _join_branches
ParallelGateway._check_threshold_unstructured = parallel_join_may_fire
InclusiveGateway._check_threshold_unstructured = inclusive_join_may_fire
