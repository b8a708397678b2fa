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

Parallel joins (what each path set survives; a join in a loop costs the same every pass) are in
engine.spiff_joins, applied with this module.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from SpiffWorkflow.bpmn.util.subworkflow import BpmnBaseWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.util.task import TaskIterator, TaskState

import engine.spiff_joins  # noqa: F401  (applied with the rest of the library's changes)

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
