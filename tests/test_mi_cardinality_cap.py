"""The multi-instance cardinality cap (engine.limits, MAX_MI_CARDINALITY): a collection or
loopCardinality over it becomes an open incident naming the element and the number, never
thousands of tasks; fixing the variable and retrying the incident runs the activity."""

from __future__ import annotations

from sqlalchemy import select

from engine.deploy import deploy
from engine.runtime import Engine
from engine.store import Incident, UserTask
from tests.test_camunda7_runtime import DATA, complete_task, deploy_diagram, engine, open_task_names, status

__all__ = ["engine"]  # the fixture, shared with test_camunda7_runtime

SEQUENTIAL = 'isSequential="true" camunda:collection="${approvers}" camunda:elementVariable="approver">'
PARALLEL_CARDINALITY = 'isSequential="false"><bpmn:loopCardinality>${copies}</bpmn:loopCardinality>'


def open_incidents(engine: Engine, instance_id: str) -> list[Incident]:
    with engine.session_factory() as session:
        query = select(Incident).where(Incident.instance_id == instance_id, Incident.status == "open")
        return list(session.scalars(query))


def task_rows(engine: Engine, instance_id: str) -> int:
    with engine.session_factory() as session:
        return len(list(session.scalars(select(UserTask).where(UserTask.instance_id == instance_id))))


def test_a_collection_over_the_cap_is_an_incident_naming_element_and_number(engine):
    engine.max_mi_cardinality = 3
    deploy_diagram(engine, "sequential_mi.bpmn")
    started = engine.start("c7_sequential_mi", variables={"approvers": [f"u{n}" for n in range(5)]}).id

    assert status(engine, started) == "running"
    [incident] = open_incidents(engine, started)
    assert incident.element_id == "Approve"
    assert "5" in incident.message and "cap of 3" in incident.message
    assert task_rows(engine, started) == 0, "no task was created for the runaway activity"

    engine.set_variables(started, {"approvers": ["ann", "bob"]})
    engine.retry_incident(incident.id, user="demo")

    assert open_incidents(engine, started) == []
    assert open_task_names(engine, started) == ["Approve"]
    complete_task(engine, started, "Approve", {"rejected": False})
    complete_task(engine, started, "Approve", {"rejected": False})
    assert open_task_names(engine, started) == ["Done"]


def test_a_loop_cardinality_over_the_default_cap_of_1000_is_an_incident(engine):
    content = (DATA / "sequential_mi.bpmn").read_text().replace(SEQUENTIAL, PARALLEL_CARDINALITY)
    content = content.replace(' camunda:assignee="${approver}"', "")  # copies, not people
    assert PARALLEL_CARDINALITY in content
    deploy(engine.session_factory, {"parallel_copies.bpmn": content.encode()})

    runaway = engine.start("c7_sequential_mi", variables={"copies": 1_000_000}).id
    [incident] = open_incidents(engine, runaway)
    assert incident.element_id == "Approve"
    assert "1000000" in incident.message and "cap of 1000" in incident.message
    assert task_rows(engine, runaway) == 0

    within = engine.start("c7_sequential_mi", variables={"copies": 2}).id
    assert open_incidents(engine, within) == []
    assert open_task_names(engine, within) == ["Approve", "Approve"]
