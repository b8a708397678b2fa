"""Script tasks in JUEL (`scriptFormat="juel"`), as Camunda 7 runs them: the script is one JUEL
expression whose value goes to camunda:resultVariable. It is not code, so the engine's sandboxed
expression evaluator runs it even while script tasks (Python) are disabled; other script
languages stay refused at deploy. And Camunda's reading of `activiti:` extensions as `camunda:` ones."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.deploy import DeployError, deploy
from engine.runtime import Engine
from engine.store import Instance, TaskCandidate, UserTask
from tests.conftest import Clock
from tests.test_camunda7_runtime import DATA, T0, complete_task, deploy_diagram, open_task_names, status


@pytest.fixture
def engine(any_app) -> Engine:
    runtime: Engine = any_app.extensions["runtime"]
    runtime.clock = Clock(T0)
    assert not runtime.allow_scripts, "the product default: script tasks disabled"
    return runtime


def test_juel_script_tasks_run_with_scripts_disabled_and_set_their_result_variable(engine):
    """A literal script is its text ("0"); `${i + 1}` then counts from it as EL coerces text to a
    number; a script with text around `${…}` is a string."""
    deploy_diagram(engine, "juel_script_loop.bpmn")
    started = engine.start("c7_juel_script_loop", variables={"wanted": 5})
    assert open_task_names(engine, started.id) == ["Task_check"]
    with engine.session_factory() as session:
        variables = session.get(Instance, started.id).variables
    assert (variables["i"], variables["label"]) == (5, "Counted to 5")
    complete_task(engine, started.id, "Task_check")
    assert status(engine, started.id) == "completed"


def test_a_juel_script_that_does_not_parse_is_refused_at_deploy_naming_the_task(engine):
    xml = (DATA / "juel_script_loop.bpmn").read_text().replace("${i + 1}", "${i + }")
    with pytest.raises(DeployError) as refused:
        deploy(engine.session_factory, {"juel_script_loop.bpmn": xml.encode()})
    assert "Script_next" in str(refused.value)
    assert "arbitrary code" not in str(refused.value), "refused for its expression, not as a script"


def test_extensions_in_the_activiti_namespace_mean_their_camunda_twins(engine):
    """Camunda 7 reads `activiti:` extensions as `camunda:` ones (diagrams that came from
    Activiti): the result variables, the script format's task and the candidate group all hold."""
    xml = (DATA / "juel_script_loop.bpmn").read_text()
    xml = xml.replace(
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"', 'xmlns:camunda="http://activiti.org/bpmn"'
    )
    deploy(engine.session_factory, {"activiti_loop.bpmn": xml.encode()})
    started = engine.start("c7_juel_script_loop", variables={"wanted": 3})
    with engine.session_factory() as session:
        assert session.get(Instance, started.id).variables["label"] == "Counted to 3"
        [task] = session.scalars(select(UserTask).where(UserTask.instance_id == started.id)).all()
        groups = session.scalars(select(TaskCandidate.name).where(TaskCandidate.task_id == task.id)).all()
    assert (task.element_id, groups) == ("Task_check", ["staff"])
