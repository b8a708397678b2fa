"""Camunda 7's joins (in loops, and where they end a path), one Camunda Modeler diagram per behaviour.

Camunda's inclusive join (InclusiveGatewayActivityBehavior.activatesGateway) fires when as many
tokens have arrived as it has incoming flows, or else when no other token of its scope can still
reach it; every pass through a loop is a new activation. SpiffWorkflow looked only at the first
pass: on later passes the join found its inputs done and fired at the first arrival
(engine.spiff_joins has the Camunda rule).
"""

from __future__ import annotations

import pytest

from engine.runtime import Engine
from engine.store import Instance
from tests.conftest import Clock
from tests.test_camunda7_runtime import T0, complete_task, deploy_diagram, open_task_names, status


@pytest.fixture
def engine(any_app) -> Engine:
    runtime: Engine = any_app.extensions["runtime"]
    runtime.clock = Clock(T0)
    return runtime


def counter(engine, instance_id: str) -> int:
    with engine.session_factory() as session:
        return session.get(Instance, instance_id).variables["counter"]


def test_an_inclusive_join_in_a_loop_waits_on_every_pass_for_the_paths_that_pass_took(engine):
    """Each pass counts; the first two also open a review (a condition on the split's flow). The
    join waits for the review on those passes and goes on at once on the third, where nothing
    else can reach it. SpiffWorkflow opened a second review and the check after the first."""
    deploy_diagram(engine, "inclusive_paths_in_a_loop.bpmn")
    started = engine.start("c7_inclusive_paths_in_a_loop", variables={"counter": 0})
    for review in (1, 2):
        assert open_task_names(engine, started.id) == ["Task_review"]
        assert counter(engine, started.id) == review
        complete_task(engine, started.id, "Task_review")
    assert open_task_names(engine, started.id) == ["Task_check"]
    assert counter(engine, started.id) == 3
    complete_task(engine, started.id, "Task_check")
    assert status(engine, started.id) == "completed"


def test_an_inclusive_join_waits_for_a_token_still_looping_upstream_of_it(engine):
    """Camunda's InclusiveGatewayTest.testLoop: three paths from the start; one counts round a
    loop to 6 before it reaches the first join, where the empty task's token waits for it; the
    second join waits for the person's task C. Completing C ends the instance."""
    deploy_diagram(engine, "inclusive_join_waits_for_a_loop.bpmn")
    started = engine.start("c7_inclusive_join_waits_for_a_loop", variables={"counter": 1})
    assert open_task_names(engine, started.id) == ["C"]
    assert counter(engine, started.id) == 6
    complete_task(engine, started.id, "C")
    assert open_task_names(engine, started.id) == []
    assert status(engine, started.id) == "completed"


def test_a_parallel_join_with_no_outgoing_flow_ends_its_subprocess(engine):
    """Camunda joins the paths and ends there (ParallelGatewayTest.testCompletingJoin): the
    subprocess completes and the process goes on. SpiffWorkflow refused the deploy ("A
    SubWorkflow Must contain an End event")."""
    deploy_diagram(engine, "join_without_outgoing_in_subprocess.bpmn")
    started = engine.start("c7_join_without_outgoing_in_subprocess")
    assert open_task_names(engine, started.id) == ["Task_a", "Task_b"]
    complete_task(engine, started.id, "Task_a")
    assert open_task_names(engine, started.id) == ["Task_b"]
    complete_task(engine, started.id, "Task_b")
    assert open_task_names(engine, started.id) == ["Task_after"]
    complete_task(engine, started.id, "Task_after")
    assert status(engine, started.id) == "completed"
