"""One fix to SpiffWorkflow 3's engine loop, applied when the engine's event specs are imported.

`BpmnWorkflow._do_engine_steps` takes the list of running subprocesses once, then steps each and
looks up the task that runs it. When a step inside one of them ends an enclosing activity (an
interrupting boundary timer on a sequential multi-instance subprocess cancels the instance being
run and the iterations after it), the later entries are gone, and the lookup raised "A task with
id … was not found": the timer failed where Camunda leaves by the boundary event. The loop below
is the library's, skipping the subprocesses an earlier step removed.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.util.task import TaskState


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


BpmnWorkflow._do_engine_steps = _do_engine_steps
