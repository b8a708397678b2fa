"""Changes to SpiffWorkflow 3, applied when the engine's event specs are imported.

A fix: `BpmnWorkflow._do_engine_steps` takes the list of running subprocesses once, then steps
each and looks up the task that runs it. When a step inside one of them ends an enclosing activity
(an interrupting boundary timer on a sequential multi-instance subprocess cancels the instance
being run and the iterations after it), the later entries are gone, and the lookup raised "A task
with id … was not found": the timer failed where Camunda leaves by the boundary event. The loop
below is the library's, skipping the subprocesses an earlier step removed.

A faster walk: the engine asks for "the tasks in these states" a dozen times per step (every
engine-step round, the inline service tasks, projections, timers), and each time the library's
iterator visits the whole tree, completed tasks included, through a filter object, a list popped
from its front and depth bookkeeping: a fifth of a step's CPU. `get_tasks(state=…)` with no other
filter (and the wake-up of waiting tasks after every completion) now walks the same tree in the
same depth-first order with the same rules in one tight loop: a subprocess's tasks come before its
task's children; tasks below a predicted task are not visited unless predicted ones are asked for;
a subprocess is entered whatever its task's state (the library's `state >= FINISHED_MASK` test
never holds for a single state). Any other filter goes to the library.

tests/conftest.py checks every walk against the library's in the conformance tests.

No depth limit: the library's iterators stopped 1,000 levels down (see `_without_depth_limit`).

Joins keep what each parallel path set (see `_join_branches`), as Camunda's shared variables do.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.bpmn.util.subworkflow import BpmnBaseWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.util.task import TaskIterator, TaskState

_library_get_tasks = BpmnBaseWorkflow.get_tasks


def _lowest_state_entered(state: int) -> int:
    """Below a task in a lower state than this the library does not look (its children are guesses)."""
    if state & TaskState.PREDICTED_MASK:
        return TaskState.MAYBE
    if state & TaskState.DEFINITE_MASK:
        return TaskState.FUTURE
    return TaskState.COMPLETED


def _walk(root: Any, state: int, subprocesses: dict) -> Iterator[Any]:
    """Depth-first from `root`, entering the subprocesses in `subprocesses`; a task's children are
    read when it is reached, before it is yielded, as the library's iterator does."""
    min_state = _lowest_state_entered(state)
    stack = [root]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        task = pop()
        task_state = task._state
        subprocess = subprocesses.get(task.id) if subprocesses else None
        if subprocess is not None or (task._children and task_state >= min_state):
            owner = task.workflow.tasks
            extend(owner[child] for child in reversed(task._children))
            if subprocess is not None:
                push(subprocess.task_tree)
        if task_state & state:
            yield task


def tasks_in_state(workflow: Any, state: int) -> list[Any]:
    """The tasks whose state is in the mask `state`, subprocesses' included, in the library's order."""
    return list(_walk(workflow.task_tree, state, workflow.top_workflow.subprocesses))


def _update_waiting_tasks(self: Any) -> None:
    # The library's loop over its own tree (not its subprocesses'), updating each waiting task as
    # it is reached: an update may change what comes after it.
    for task in _walk(self.task_tree, TaskState.WAITING, {}):
        task.task_spec._update(task)


def _get_tasks(self: Any, first_task: Any = None, **kwargs: Any) -> list[Any]:
    if first_task is None and kwargs.keys() == {"state"}:
        return tasks_in_state(self, kwargs["state"])
    return _library_get_tasks(self, first_task, **kwargs)


def _run_ready(workflow: Any, will_complete_task: Any, did_complete_task: Any) -> int:
    count = 0
    for task in workflow.get_tasks(state=TaskState.READY):
        if not task.task_spec.manual:
            if will_complete_task is not None:
                will_complete_task(task)
            task.run()
            count += 1
            if did_complete_task is not None:
                did_complete_task(task)
    return count


def _do_engine_steps(
    self: BpmnWorkflow, will_complete_task: Any = None, did_complete_task: Any = None
) -> bool:
    active = self.get_active_subprocesses()
    for subprocess in sorted(active, key=lambda v: v.depth, reverse=True):
        if subprocess not in self.subprocesses.values():
            continue  # removed with an activity an earlier step ended
        while _run_ready(subprocess, will_complete_task, did_complete_task):
            pass
        if subprocess.parent_task_id is None:
            continue
        try:
            task = self.get_task_from_id(subprocess.parent_task_id)
        except TaskNotFoundException:
            continue
        task.task_spec._update(task)
    count = _run_ready(self, will_complete_task, did_complete_task)
    return count > 0 or len(self.get_active_subprocesses()) > len(active)


def _without_depth_limit(init: Any) -> None:
    """The library's iterators stop 1,000 levels down by default, and every pass through a loop
    adds levels: after a few hundred passes (a polling loop's timer, a rework loop) the tasks
    below were invisible, and `is_completed` called an instance with an open user task complete.
    Camunda runs a loop any number of times; so do the iterators, wherever the library makes one."""
    names = init.__code__.co_varnames[1 : init.__code__.co_argcount]
    defaults = list(init.__defaults__)
    defaults[names[-len(defaults) :].index("max_depth")] = sys.maxsize
    init.__defaults__ = tuple(defaults)


_without_depth_limit(TaskIterator.__init__)
_without_depth_limit(BpmnTaskIterator.__init__)


def common_ancestor(tasks: list[Any]) -> Any | None:
    """The nearest task every one of `tasks` descends from (or is), None when they share none."""
    common = tasks[0]
    for task in tasks[1:]:
        line = set()
        walker = common
        while walker is not None:
            line.add(walker.id)
            walker = walker.parent
        while task is not None and task.id not in line:
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


def _join_branches(self: Any, my_task: Any) -> bool:
    """A join's data as Camunda's process variables come out of parallel paths: what a path set
    stands, whichever path arrives last. SpiffWorkflow gives each path a copy of the variables
    and let the last path's copy win, so a variable one path changed went back to its value
    before the split when another path (which never touched it) arrived after it. Each path now
    contributes only the variables it changed since the paths parted (their nearest common
    task); the paths' order of arrival decides between two that changed the same one."""
    finished = [
        t
        for t in my_task.workflow.tasks.values()
        if t.task_spec == self and t.has_state(TaskState.FINISHED_MASK) and not my_task.is_descendant_of(t)
    ]
    earlier = _previous_pass(my_task)
    this_pass = [t for t in finished if earlier is None or t.is_descendant_of(earlier)]
    this_pass.sort(key=lambda t: t.last_state_change)
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


@contextmanager
def library_task_walk() -> Iterator[None]:
    """SpiffWorkflow's own task walk while inside: bench/engine.py's "raw SpiffWorkflow" baseline
    is the library as released, not the library with this module's walk."""
    BpmnBaseWorkflow.get_tasks = _library_get_tasks
    del BpmnBaseWorkflow.update_waiting_tasks  # back to the library's Workflow method
    try:
        yield
    finally:
        BpmnBaseWorkflow.get_tasks = _get_tasks
        BpmnBaseWorkflow.update_waiting_tasks = _update_waiting_tasks


BpmnWorkflow._do_engine_steps = _do_engine_steps
BpmnBaseWorkflow.get_tasks = _get_tasks
BpmnBaseWorkflow.update_waiting_tasks = _update_waiting_tasks
UnstructuredJoin._run_hook = _join_branches
