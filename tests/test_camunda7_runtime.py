"""Camunda 7 run-time semantics, one small Camunda Modeler diagram per behaviour (issue 17).

Each diagram in tests/data/bpmn/camunda7/ is deployed through the real deploy path and driven
like a user would; the asserted end state, variables and open tasks are what Camunda 7 reaches
with the same diagram (its engine source and test resources were read for each).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.deploy import DeployError, DeployReport, deploy
from engine.errors import MessageNotCorrelatedError, ProcessError
from engine.handlers import BpmnError
from engine.runtime import Engine
from engine.store import Incident, Instance, Timer
from engine.tasklist import TaskQuery, query_tasks
from tests.conftest import Clock
from web.demo import DEMO_PASSWORD, DEMO_USERS, create_user

DATA = Path(__file__).parent / "data" / "bpmn" / "camunda7"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(any_app) -> Engine:
    runtime: Engine = any_app.extensions["runtime"]
    runtime.clock = Clock(T0)
    return runtime


def deploy_diagram(engine: Engine, name: str) -> DeployReport:
    return deploy(
        engine.session_factory, {name: (DATA / name).read_bytes()}, known_topics=engine.handlers.topics()
    )


def open_tasks(engine: Engine, instance_id: str) -> list:
    with engine.session_factory() as session:
        tasks = query_tasks(session, TaskQuery(everything=True, instance_id=instance_id)).tasks
    return sorted(tasks, key=lambda t: t.element_id)


def open_task_names(engine: Engine, instance_id: str) -> list[str]:
    return [t.element_id for t in open_tasks(engine, instance_id)]


def complete_task(engine: Engine, instance_id: str, element_id: str, data: dict | None = None) -> None:
    [task] = [t for t in open_tasks(engine, instance_id) if t.element_id == element_id]
    engine.complete(task.id, "demo", data or {})


def restarted(engine: Engine) -> Engine:
    """A new engine object on the same database: what a restart or another worker looks like."""
    return Engine(
        engine.session_factory,
        engine.handlers,
        clock=engine.clock,
        inline_jobs=engine.inline_jobs,
        worker_id=engine.worker_id,
    )


def status(engine: Engine, instance_id: str) -> str:
    with engine.session_factory() as session:
        return session.get(Instance, instance_id).status


# ---------------------------------------------------------------------------- 1. sequential MI


def test_sequential_multi_instance_runs_each_element_in_order_and_leaves_the_collection_alone(engine):
    """Each step on a new Engine object, as when gunicorn or RQ workers take turns."""
    deploy_diagram(engine, "sequential_mi.bpmn")
    started = restarted(engine).start("c7_sequential_mi", variables={"approvers": ["anna", "boris", "clara"]})
    seen = []
    for _ in range(3):
        [task] = open_tasks(engine, started.id)
        assert task.element_id == "Approve"
        seen.append(task.assignee)
        restarted(engine).complete(task.id, task.assignee, {"rejected": False})
    assert seen == ["anna", "boris", "clara"]
    assert open_task_names(engine, started.id) == ["Done"]
    variables = engine.variables(started.id)
    assert variables["approvers"] == ["anna", "boris", "clara"]
    # The element variable and the loop counters are local to the multi-instance body in Camunda.
    assert not {"approver", "loopCounter", "nrOfInstances", "nrOfCompletedInstances"} & set(variables)


def test_sequential_multi_instance_stops_when_its_completion_condition_holds(engine):
    deploy_diagram(engine, "sequential_mi.bpmn")
    started = engine.start("c7_sequential_mi", variables={"approvers": ["anna", "boris", "clara"]})
    complete_task(restarted(engine), started.id, "Approve", {"rejected": False})
    complete_task(restarted(engine), started.id, "Approve", {"rejected": True})
    assert open_task_names(engine, started.id) == ["Done"]
    assert engine.variables(started.id)["approvers"] == ["anna", "boris", "clara"]


def test_sequential_multi_instance_sets_camundas_loop_variables_on_each_iteration(engine):
    deploy_diagram(engine, "sequential_mi.bpmn")
    started = engine.start("c7_sequential_mi", variables={"approvers": ["anna", "boris", "clara"]})
    counters = []
    for _ in range(3):
        [task] = open_tasks(engine, started.id)
        local = engine.task_variables(task.id)
        counters.append(
            (
                local["approver"],
                local["loopCounter"],
                local["nrOfInstances"],
                local["nrOfCompletedInstances"],
                local["nrOfActiveInstances"],
            )
        )
        engine.complete(task.id, task.assignee, {"rejected": False})
    assert counters == [("anna", 0, 3, 0, 1), ("boris", 1, 3, 1, 1), ("clara", 2, 3, 2, 1)]


# ---------------------------------------------------------------------------- 2. implicit end


def test_paths_without_outgoing_flow_end_implicitly_and_the_instance_completes(engine):
    deploy_diagram(engine, "implicit_end.bpmn")
    started = engine.start("c7_implicit_end")
    assert open_task_names(engine, started.id) == ["Inner"]
    complete_task(engine, started.id, "Inner")
    assert open_task_names(engine, started.id) == ["After"]
    complete_task(engine, started.id, "After")
    assert status(engine, started.id) == "completed"


# ---------------------------------------------------------------------------- 3. flows without id


def test_sequence_flows_without_an_id_run(engine):
    deploy_diagram(engine, "flows_without_id.bpmn")
    started = engine.start("c7_flows_without_id", variables={"ok": True})
    assert open_task_names(engine, started.id) == ["Work"]
    complete_task(engine, started.id, "Work")
    assert status(engine, started.id) == "completed"
    assert engine.active_elements(started.id)["Approved"] == "completed"
    assert "Rejected" not in engine.active_elements(started.id)


# ---------------------------------------------------------------------------- 4. timer cycles


def fire_timers_at(engine: Engine, moment: datetime) -> int:
    engine.clock.now = moment
    return engine.fire_due_timers()


def test_tasks_spawned_by_a_non_interrupting_timer_cycle_survive_the_main_task(engine):
    deploy_diagram(engine, "boundary_timer_cycle.bpmn")
    started = engine.start("c7_boundary_timer_cycle")
    assert fire_timers_at(engine, T0 + timedelta(minutes=10)) == 1
    assert fire_timers_at(engine, T0 + timedelta(minutes=20)) == 1
    assert open_task_names(engine, started.id) == ["Remind", "Remind", "Work"]
    complete_task(engine, started.id, "Work")
    # The cycle ends with its activity; the reminders it already spawned go on.
    assert open_task_names(engine, started.id) == ["Remind", "Remind"]
    assert fire_timers_at(engine, T0 + timedelta(minutes=30)) == 0
    assert status(engine, started.id) == "running"
    for task in open_tasks(engine, started.id):
        engine.complete(task.id, "demo", {})
    assert status(engine, started.id) == "completed"


def pending_timers(engine: Engine, instance_id: str) -> list[str]:
    with engine.session_factory() as session:
        return sorted(
            session.scalars(
                select(Timer.element_id).where(Timer.instance_id == instance_id, Timer.status == "pending")
            )
        )


def test_timer_event_subprocesses_nobody_triggered_do_not_keep_the_work_open(engine):
    """Camunda: an event subprocess is a subscription of its scope until its event occurs. When
    the work is done the scope (and here the process) completes and the timers go; nothing
    fires a day later. Before, the stage waited for its hourly reminder and the process for its
    deadline, so the instance stayed running and later escalated finished work."""
    deploy_diagram(engine, "event_subprocess_timer.bpmn")
    started = engine.start("c7_event_subprocess_timer")
    assert pending_timers(engine, started.id) == ["AfterOneDay", "EveryHour"]
    complete_task(engine, started.id, "Work")
    assert status(engine, started.id) == "completed"
    assert pending_timers(engine, started.id) == []
    assert fire_timers_at(engine, T0 + timedelta(days=2)) == 0
    assert open_task_names(engine, started.id) == []


def test_a_triggered_event_subprocess_keeps_its_scope_open_until_it_ends(engine):
    deploy_diagram(engine, "event_subprocess_timer.bpmn")
    started = engine.start("c7_event_subprocess_timer")
    assert fire_timers_at(engine, T0 + timedelta(hours=1, minutes=1)) == 1
    assert open_task_names(engine, started.id) == ["Remind", "Work"]
    complete_task(engine, started.id, "Work")
    assert status(engine, started.id) == "running", "the reminder that started is still open"
    complete_task(engine, started.id, "Remind")
    assert status(engine, started.id) == "completed"
    assert pending_timers(engine, started.id) == []


def test_an_interrupting_timer_event_subprocess_that_fires_replaces_the_work(engine):
    deploy_diagram(engine, "event_subprocess_timer.bpmn")
    started = engine.start("c7_event_subprocess_timer")
    fire_timers_at(engine, T0 + timedelta(days=1, minutes=1))
    assert "Escalate" in open_task_names(engine, started.id)
    assert "Work" not in open_task_names(engine, started.id)
    complete_task(engine, started.id, "Escalate")
    assert status(engine, started.id) == "completed"


def test_an_interrupting_timer_on_a_sequential_multi_instance_subprocess_leaves_by_the_boundary(engine):
    """Camunda cancels the running round and the rounds after it; the timer used to fail with
    'A task with id … was not found' (SpiffWorkflow's engine loop, engine/spiff_patches.py)."""
    deploy_diagram(engine, "sequential_mi_timer.bpmn")
    started = engine.start("c7_sequential_mi_timer")
    assert open_task_names(engine, started.id) == ["CheckNetwork", "CheckPower"]
    complete_task(engine, started.id, "CheckPower")
    complete_task(engine, started.id, "CheckNetwork")
    assert open_task_names(engine, started.id) == ["CheckNetwork", "CheckPower"], "the second round"
    complete_task(engine, started.id, "CheckPower")
    assert fire_timers_at(engine, T0 + timedelta(hours=1, minutes=1)) == 1
    assert open_task_names(engine, started.id) == ["CallSupplier"]
    complete_task(engine, started.id, "CallSupplier")
    assert status(engine, started.id) == "completed"


def test_a_multi_instance_subprocess_over_a_collection_runs_once_per_element_in_order(engine):
    """Sequential approvals drawn as a subprocess: one round per approver, the collection left
    as it was, each round's variables reaching the process. It failed to start before
    ('NoneType' object is not iterable): SpiffWorkflow read `${approvers}` as a variable name."""
    deploy_diagram(engine, "mi_subprocess_collection.bpmn")
    approvers = ["anna", "boris", "vera"]
    started = engine.start("c7_mi_subprocess_collection", variables={"approvers": approvers})
    for approver in approvers:
        [task] = open_tasks(engine, started.id)
        assert (task.element_id, task.assignee) == ("Approve", approver)
        engine.complete(task.id, approver, {f"note_{approver}": "ok"})
    assert open_task_names(engine, started.id) == ["Execute"]
    variables = engine.variables(started.id)
    assert variables["approvers"] == approvers
    assert {variables[f"note_{a}"] for a in approvers} == {"ok"}


def test_a_multi_instance_subprocess_without_its_collection_fails_naming_it(engine):
    deploy_diagram(engine, "mi_subprocess_collection.bpmn")
    with pytest.raises(ProcessError) as failed:
        engine.start("c7_mi_subprocess_collection")
    assert "ApprovalRound" in str(failed.value)
    assert "Unknown property used in expression: ${approvers}" in str(failed.value)


# ---------------------------------------------------------------------------- 5. event subprocesses


def test_message_start_events_of_event_subprocesses_are_subscribed(engine):
    deploy_diagram(engine, "event_subprocess_message.bpmn")
    started = engine.start("c7_event_subprocess_message", business_key="ES-1")
    assert engine.correlate("c7.note", business_key="ES-1", variables={"note": "hello"}) == [started.id]
    assert open_task_names(engine, started.id) == ["ReadNote", "Work"]
    assert engine.variables(started.id)["note"] == "hello"
    # Non-interrupting: it stays subscribed and catches the next note as well.
    assert engine.correlate("c7.note", business_key="ES-1") == [started.id]
    assert open_task_names(engine, started.id) == ["ReadNote", "ReadNote", "Work"]
    assert engine.correlate("c7.cancel", business_key="ES-1") == [started.id]
    assert open_task_names(engine, started.id) == []
    assert status(engine, started.id) == "completed"


def test_event_subprocesses_inside_a_subprocess_listen_while_it_runs(engine):
    deploy_diagram(engine, "event_subprocess_nested.bpmn")
    started = engine.start("c7_event_subprocess_nested", business_key="ES-2")
    assert engine.correlate("c7.stage_note", business_key="ES-2") == [started.id]
    assert open_task_names(engine, started.id) == ["ReadStageNote", "StageWork"]
    # Interrupting: the stage's activities end, the stage completes and the process goes on.
    assert engine.correlate("c7.stage_cancel", business_key="ES-2") == [started.id]
    assert open_task_names(engine, started.id) == ["After"]
    with pytest.raises(MessageNotCorrelatedError):
        engine.correlate("c7.stage_note", business_key="ES-2")
    complete_task(engine, started.id, "After")
    assert status(engine, started.id) == "completed"


def test_bpmn_error_from_a_handler_is_caught_by_an_error_event_subprocess(engine):
    def reject(variables):
        raise BpmnError("REJECTED", "amount over the limit")

    engine.handlers.register("c7_check", reject)
    deploy_diagram(engine, "event_subprocess_error.bpmn")
    started = engine.start("c7_event_subprocess_error")
    assert open_task_names(engine, started.id) == ["Fix"]
    variables = engine.variables(started.id)
    assert variables["errorCode"] == "REJECTED"
    assert variables["errorMessage"] == "amount over the limit"
    with engine.session_factory() as session:
        assert session.query(Incident).filter_by(instance_id=started.id).count() == 0
    complete_task(engine, started.id, "Fix")
    assert status(engine, started.id) == "completed"


def test_bpmn_error_nothing_catches_becomes_an_incident(engine):
    def other(variables):
        raise BpmnError("OTHER", "nobody waits for this")

    engine.handlers.register("c7_check", other)
    deploy_diagram(engine, "event_subprocess_error.bpmn")
    started = engine.start("c7_event_subprocess_error")
    # The error event subprocess waits for its error; it does not run when the process starts.
    assert open_task_names(engine, started.id) == []
    with engine.session_factory() as session:
        [incident] = session.query(Incident).filter_by(instance_id=started.id).all()
        assert incident.element_id == "Check" and "OTHER" in incident.message
    assert status(engine, started.id) == "running"


# ---------------------------------------------------------------------------- 6. error variables


def test_error_boundary_sets_error_code_and_message_variables_and_wins_over_an_event_subprocess(engine):
    def fail(variables):
        raise BpmnError("LIMIT", "over the limit")

    engine.handlers.register("c7_check", fail)
    deploy_diagram(engine, "error_variables_boundary.bpmn")
    started = engine.start("c7_error_variables_boundary")
    # The innermost catch takes the error: the boundary event, not the process's event subprocess.
    assert open_task_names(engine, started.id) == ["Handle"]
    variables = engine.variables(started.id)
    assert variables["code"] == "LIMIT" and variables["why"] == "over the limit"


# ---------------------------------------------------------------------------- 7. call activity


def test_call_activity_maps_in_and_out_as_camunda_does(engine):
    deploy_diagram(engine, "call_activity_mapping.bpmn")
    started = engine.start("c7_call_parent", business_key="CA-1", variables={"amount": 7, "secret": "s"})
    [child_task] = open_tasks(engine, started.id)
    assert child_task.element_id == "ChildWork" and child_task.business_key == "CA-1"
    # Only what is mapped in reaches the child.
    assert engine.task_variables(child_task.id) == {"total": 7, "scaled": 70}
    engine.complete(child_task.id, "demo", {"verdict": 3})
    parent_vars = engine.variables(started.id)
    assert parent_vars["amount"] == 3 and parent_vars["next"] == 4
    assert "total" not in parent_vars and "verdict" not in parent_vars
    # variables="all" both ways: the child sees everything and everything comes back.
    [child_task] = open_tasks(engine, started.id)
    assert engine.task_variables(child_task.id) == {"amount": 3, "next": 4, "secret": "s"}
    engine.complete(child_task.id, "demo", {"verdict": 5})
    parent_vars = engine.variables(started.id)
    assert parent_vars["verdict"] == 5 and parent_vars["amount"] == 3
    assert open_task_names(engine, started.id) == ["Review"]


def test_call_activity_local_in_mapping_passes_only_the_call_activitys_input_parameters(engine):
    deploy_diagram(engine, "call_activity_local.bpmn")
    started = engine.start("c7_call_local", variables={"amount": 7, "secret": "s"})
    [child_task] = open_tasks(engine, started.id)
    assert engine.task_variables(child_task.id) == {"doubled": 14}
    engine.complete(child_task.id, "demo", {"verdict": 2})
    assert status(engine, started.id) == "completed"
    assert engine.variables(started.id) == {"amount": 7, "secret": "s", "verdict": 2}


# ---------------------------------------------------------------------------- 8. receive task


def test_receive_task_without_message_waits_for_a_signal_and_with_message_for_it(engine):
    deploy_diagram(engine, "receive_task.bpmn")
    started = engine.start("c7_receive_task", business_key="RT-1")
    assert status(engine, started.id) == "running"
    [execution] = engine.signal_executions(started.id)
    assert execution.element_id == "WaitForSignal"
    engine.signal_execution(execution.id, {"signalled": True})
    assert engine.variables(started.id)["signalled"] is True
    assert engine.active_elements(started.id)["WaitForReply"] == "active"
    assert engine.correlate("c7.reply", business_key="RT-1", variables={"reply": "yes"}) == [started.id]
    assert status(engine, started.id) == "completed"
    assert engine.variables(started.id)["reply"] == "yes"


# ---------------------------------------------------------------------------- 9, 10. initiator, names


def test_initiator_is_the_starting_user_and_spiffworkflow_names_are_free_for_analysts(engine):
    deploy_diagram(engine, "initiator_and_start_id.bpmn")
    started = engine.start("c7_initiator", user="olga")
    assert engine.variables(started.id)["starter"] == "olga"
    [task] = open_tasks(engine, started.id)
    assert task.element_id == "End" and task.assignee == "olga"
    engine.complete(task.id, "olga", {})
    assert status(engine, started.id) == "completed"
    assert engine.active_elements(started.id) == {
        "Start": "completed",
        "End": "completed",
        "Root": "completed",
    }


# ---------------------------------------------------------------------------- 11. data artifacts


def test_data_stores_and_data_objects_deploy_and_are_ignored_at_run_time(engine):
    deploy_diagram(engine, "data_artifacts.bpmn")
    started = engine.start("c7_data_artifacts", variables={"x": 1})
    complete_task(engine, started.id, "Record")
    assert status(engine, started.id) == "completed"
    assert engine.variables(started.id) == {"x": 1}


# ---------------------------------------------------------------------------- 12. flows out of tasks


@pytest.mark.parametrize(
    ("amount", "taken"),
    [(2000, ["Audit", "Escalate"]), (700, ["Audit"]), (100, ["Routine"])],
)
def test_flows_straight_out_of_a_task_split_like_camunda(engine, amount, taken):
    deploy_diagram(engine, "task_outgoing_flows.bpmn")
    started = engine.start("c7_task_outgoing_flows", variables={"amount": amount})
    complete_task(engine, started.id, "Triage")
    # No condition: an implicit parallel split.
    assert open_task_names(engine, started.id) == ["Assess", "Notify"]
    complete_task(engine, started.id, "Assess")
    # Conditions: every flow whose condition holds is taken; the default only when none does.
    assert open_task_names(engine, started.id) == sorted([*taken, "Notify"])


def test_rest_signal_moves_a_waiting_receive_task_on(any_app, engine):
    with any_app.app_context():
        full_name, roles, groups = DEMO_USERS["operator"]
        create_user("operator", DEMO_PASSWORD, full_name=full_name, roles=roles, groups=groups)
    auth = {"Authorization": "Basic " + base64.b64encode(f"operator:{DEMO_PASSWORD}".encode()).decode()}
    client = any_app.test_client()
    deploy_diagram(engine, "receive_task.bpmn")
    started = engine.start("c7_receive_task")
    [execution] = engine.signal_executions(started.id)
    body = {"variables": {"approved": {"value": True, "type": "Boolean"}}}
    reply = client.post(f"/engine-rest/execution/{execution.id}/signal", json=body, headers=auth)
    assert reply.status_code == 204
    assert engine.variables(started.id)["approved"] is True
    assert engine.signal_executions(started.id) == []
    again = client.post(f"/engine-rest/execution/{execution.id}/signal", json={}, headers=auth)
    assert again.status_code == 404 and again.json["type"] == "InvalidRequestException"
    assert execution.id in again.json["message"]


def test_call_activity_business_key_other_than_the_callers_is_refused_naming_element_and_line(engine):
    content = (DATA / "call_activity_mapping.bpmn").read_text()
    content = content.replace('businessKey="#{execution.processBusinessKey}"', 'businessKey="${ticket}"')
    with pytest.raises(DeployError) as refused:
        deploy(engine.session_factory, {"call.bpmn": content.encode()})
    [problem] = refused.value.problems
    line = next(n for n, text in enumerate(content.splitlines(), 1) if "businessKey=" in text)
    assert (problem.element_id, problem.line) == ("CallMapped", line)
    assert "businessKey" in problem.message and "camunda:in source" in problem.message


def test_a_loop_runs_any_number_of_times_and_the_instance_waits_where_it_ended(engine):
    """Every pass adds levels to SpiffWorkflow's task tree, whose iterators stopped 1,000 levels
    down: after ~300 passes the instance was called completed with its user task open. Camunda
    runs a loop as often as its condition says."""
    deploy_diagram(engine, "loop_many_passes.bpmn")
    started = engine.start("c7_loop_many_passes", variables={"counter": 0, "passes": 0, "passesWanted": 300})
    with engine.session_factory() as session:
        instance = session.get(Instance, started.id)
        assert instance.status == "running"
        assert (instance.variables["counter"], instance.variables["passes"]) == (300, 300)
    assert open_task_names(engine, started.id) == ["Task_check"]
    complete_task(engine, started.id, "Task_check")
    with engine.session_factory() as session:
        assert session.get(Instance, started.id).status == "completed"


def test_a_variable_one_parallel_path_set_survives_the_join_whichever_path_arrives_last(engine):
    """Camunda's paths share the instance's variables: the count one path made stands when the
    other path (a person's review, which never touches it) reaches the join after it, and the
    instance shows it while the review is still open. Around a loop, each pass counts on from the
    last; SpiffWorkflow's last-arriving copy reset the count
    to its value at the split, and the loop never ended."""
    deploy_diagram(engine, "parallel_paths_in_a_loop.bpmn")
    started = engine.start("c7_parallel_paths_in_a_loop", variables={"counter": 0})
    for review in (1, 2, 3):
        assert open_task_names(engine, started.id) == ["Task_review"]
        with engine.session_factory() as session:  # the count shows while the review is open
            assert session.get(Instance, started.id).variables["counter"] == review
        complete_task(engine, started.id, "Task_review", {"remark": f"pass {review}"})
    with engine.session_factory() as session:
        instance = session.get(Instance, started.id)
        assert (instance.variables["counter"], instance.variables["remark"]) == (3, "pass 3")
    assert open_task_names(engine, started.id) == ["Task_check"]
