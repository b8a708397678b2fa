"""camunda:inputOutput on user tasks, subprocesses and multi-instance activities, and `execution`
in expressions, as Camunda 7 runs them (InputOutputTest, DelegateExecution).

Before, a user task's or subprocess's Inputs/Outputs tab was ignored without a word (an output
never reached the process), `${execution.processBusinessKey}` deployed and then failed the
instance, and `execution.getVariable`/`setVariable` were refused. Each diagram in
tests/data/bpmn/camunda7/ is deployed through the real deploy path and driven as a user would.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.deploy import DeployError, deploy
from engine.errors import ProcessError
from engine.store import Job
from tests.test_camunda7_runtime import T0, complete_task, deploy_diagram, engine, open_tasks, restarted

__all__ = ["engine"]  # the fixture, shared with test_camunda7_runtime

IO = "<bpmn:extensionElements><camunda:inputOutput>{}</camunda:inputOutput></bpmn:extensionElements>"
INPUT = '<camunda:inputParameter name="a">1</camunda:inputParameter>'
OUTPUT = '<camunda:outputParameter name="a">1</camunda:outputParameter>'


def task_rows(engine, instance_id: str) -> list[tuple[str, str, str | None]]:
    return [(t.element_id, t.name, t.assignee) for t in open_tasks(engine, instance_id)]


# ----------------------------------------------------------------------------- user task


def test_a_user_tasks_inputs_are_its_own_and_its_outputs_reach_the_process(engine):
    deploy_diagram(engine, "io_user_task.bpmn")
    started = engine.start("c7_io_user_task", business_key="VIP-1", variables={"amount": 10})

    assert task_rows(engine, started.id) == [("Review", "Review offer of 20", "anna")]
    assert engine.variables(started.id) == {"amount": 10}, "the task's locals are not process variables"
    [task] = open_tasks(engine, started.id)
    assert engine.task_variables(task.id)["amount"] == 20, "the task sees its local value"

    # The form writes `amount` where it lives (the task's local) and `approved` on the process; on
    # a new engine object, so the scope survives the instance being stored and loaded again.
    restarted(engine).complete(task.id, "anna", {"approved": True, "amount": 99})

    assert engine.variables(started.id) == {
        "amount": 10,
        "approved": True,
        "reviewedAmount": 99,
        "decision": "yes",
    }


def test_an_input_that_reads_an_unset_variable_fails_naming_the_task(engine):
    deploy_diagram(engine, "io_user_task.bpmn")
    with pytest.raises(Exception, match=r"failed at 'Review'.*amount"):
        engine.start("c7_io_user_task", business_key="R-1", variables={})


# ----------------------------------------------------------------------------- subprocess


def test_a_subprocess_maps_in_and_out_like_camundas_subprocess_io_support(engine):
    deploy_diagram(engine, "io_subprocess.bpmn")
    started = engine.start("c7_io_subprocess", business_key="SP-1", variables={"processVar": "value"})

    assert task_rows(engine, started.id) == [("subprocessTask", "Inside: value", None)]
    assert "innerVar" not in engine.variables(started.id)

    complete_task(engine, started.id, "subprocessTask")

    assert task_rows(engine, started.id) == [("After", "After: value", None)]
    assert engine.variables(started.id) == {"processVar": "value", "outerVar": "value"}


# ----------------------------------------------------------------------------- multi-instance


def test_each_multi_instance_instance_gets_its_own_input_and_the_loop_leaves_nothing_behind(engine):
    deploy_diagram(engine, "io_multi_instance.bpmn")
    started = engine.start("c7_io_multi_instance", business_key="MI-1", variables={"nrOfLoops": 2})

    assert sorted(name for _, name, _ in task_rows(engine, started.id)) == ["Item 1", "Item 2"]
    assert engine.variables(started.id) == {"nrOfLoops": 2}

    for task in open_tasks(engine, started.id):
        engine.complete(task.id, "demo", {})

    assert task_rows(engine, started.id) == [("After", "After the loop", None)]
    # Neither the instances' input nor Camunda's loop counters become process variables.
    assert engine.variables(started.id) == {"nrOfLoops": 2}


# ----------------------------------------------------------------------------- boundary events


def test_an_activity_left_by_its_interrupting_boundary_event_maps_no_outputs(engine):
    deploy_diagram(engine, "io_boundary.bpmn")
    cancelled = engine.start("c7_io_boundary", business_key="B-1")
    finished = engine.start("c7_io_boundary", business_key="B-2")

    engine.correlate("c7.io.cancel", business_key="B-1")
    complete_task(engine, finished.id, "wait")

    assert task_rows(engine, cancelled.id) == [("taskError", "Cancelled", None)]
    assert engine.variables(cancelled.id) == {}
    assert task_rows(engine, finished.id) == [("taskOk", "OK", None)]
    assert engine.variables(finished.id) == {"mapped": "local"}


# ----------------------------------------------------------------------------- external task


def test_an_external_workers_variables_reach_the_process_and_its_local_ones_only_the_mapping(engine):
    deploy_diagram(engine, "io_external_task.bpmn")
    started = engine.start("c7_io_external", business_key="X-1", variables={"threshold": 50})
    with engine.session_factory() as session:
        job = session.scalars(select(Job).where(Job.instance_id == started.id)).one()
    assert engine.job_variables(job.id)["limit"] == 100, "the worker sees the input parameter"

    assert engine.complete_job(job.id, {"score": 42, "limit": 7}, local={"note": "checked"})

    assert engine.variables(started.id) == {
        "threshold": 50,
        "score": 42,  # `variables` are set on the process, as ExternalTaskEntity.complete does
        # The worker's `limit` lands on the task's own input variable (setVariable sets where a
        # variable lives): the mapping reads 42 < 7, and `limit` never reaches the process.
        "approved": False,
        "reviewNote": "checked",
    }


# ----------------------------------------------------------------------------- execution


@pytest.mark.parametrize(
    ("business_key", "variables", "element", "name"),
    [
        ("VIP-7", {}, "Vip", "VIP request VIP-7"),
        ("R-7", {"approved": True}, "Vip", "VIP request R-7"),
        ("R-8", {}, "Normal", "Request R-8"),  # getVariable of an unset variable is null
    ],
)
def test_execution_reads_the_business_key_and_variables_and_sets_one(
    engine, business_key, variables, element, name
):
    deploy_diagram(engine, "execution_expressions.bpmn")
    started = engine.start("c7_execution", business_key=business_key, variables=variables)

    assert task_rows(engine, started.id) == [(element, name, None)]
    assert engine.variables(started.id)["seenBy"] == "Mark", "execution.setVariable on the service task"


# ----------------------------------------------------------------------------- refused at deploy


def _process(body: str, key: str = "refused") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">'
        f'<bpmn:process id="{key}" isExecutable="true">{body}</bpmn:process></bpmn:definitions>'
    ).encode()


START = '<bpmn:startEvent id="Start"/><bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="X"/>'


def deploy_inline(engine, key: str, body: str) -> None:
    """Deploy a one-process diagram written inline (the behaviour needs no more than a few elements)."""
    topics = engine.handlers.topics()
    deploy(engine.session_factory, {f"{key}.bpmn": _process(body, key)}, known_topics=topics)


@pytest.mark.parametrize(
    ("body", "element", "message"),
    [
        (
            f'<bpmn:startEvent id="X">{IO.format(INPUT)}</bpmn:startEvent>',
            "X",
            "camunda:inputOutput mapping unsupported for element type 'startEvent'.",
        ),
        (
            f'{START}<bpmn:exclusiveGateway id="X">{IO.format(INPUT)}</bpmn:exclusiveGateway>',
            "X",
            "camunda:inputOutput mapping unsupported for element type 'exclusiveGateway'.",
        ),
        (
            f'{START}<bpmn:userTask id="X"/><bpmn:boundaryEvent id="B" attachedToRef="X">{IO.format(INPUT)}'
            "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>"
            "</bpmn:boundaryEvent>",
            "B",
            "camunda:inputOutput mapping unsupported for element type 'boundaryEvent'.",
        ),
        (
            f'{START}<bpmn:userTask id="X"/>'
            f'<bpmn:subProcess id="E" triggeredByEvent="true">{IO.format(INPUT)}'
            '<bpmn:startEvent id="ES"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration>'
            "</bpmn:timerEventDefinition></bpmn:startEvent></bpmn:subProcess>",
            "E",
            "with attribute 'triggeredByEvent = true'",
        ),
        (
            f'{START}<bpmn:endEvent id="X">{IO.format(OUTPUT)}</bpmn:endEvent>',
            "X",
            "camunda:outputParameter not allowed for element type 'endEvent'.",
        ),
        (
            f'{START}<bpmn:userTask id="X">{IO.format(OUTPUT)}<bpmn:multiInstanceLoopCharacteristics>'
            "<bpmn:loopCardinality>2</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>",
            "X",
            "camunda:outputParameter not allowed for multi-instance constructs",
        ),
        (
            f'{START}<bpmn:serviceTask id="X" camunda:type="external" camunda:topic="score">'
            '<bpmn:extensionElements><camunda:errorEventDefinition id="D" errorRef="E" expression="${true}"/>'
            "</bpmn:extensionElements></bpmn:serviceTask>",
            "X",
            "POST /external-task/{id}/bpmnError",
        ),
        (
            f'{START}<bpmn:userTask id="X" camunda:assignee="${{owner.getVariable(\'x\')}}"/>',
            "X",
            "it is a method of execution only",
        ),
    ],
)
def test_mappings_camunda_refuses_are_refused_naming_the_element(engine, body, element, message):
    with pytest.raises(DeployError) as refused:
        deploy(
            engine.session_factory, {"refused.bpmn": _process(body)}, known_topics=engine.handlers.topics()
        )
    [problem] = refused.value.problems
    assert problem.element_id == element
    assert message in problem.message


def test_setting_a_process_variable_leaves_a_tasks_local_of_that_name_alone(engine):
    deploy_diagram(engine, "io_user_task.bpmn")
    started = engine.start("c7_io_user_task", business_key="R-2", variables={"amount": 10})

    engine.set_variables(started.id, {"amount": 11})

    assert engine.variables(started.id) == {"amount": 11}
    [task] = open_tasks(engine, started.id)
    assert engine.task_variables(task.id)["amount"] == 20, "the task's own input is not the process's"
    complete_task(engine, started.id, "Review", {"approved": False})
    assert engine.variables(started.id) == {
        "amount": 11,
        "approved": False,
        "reviewedAmount": 20,
        "decision": "no",
    }


def test_map_and_list_parameters_evaluate_their_keys_and_values(engine):
    mapping = (
        '<camunda:inputParameter name="menu"><camunda:map>'
        '<camunda:entry key="${first}">potato</camunda:entry>'
        '<camunda:entry key="b">${second}</camunda:entry></camunda:map></camunda:inputParameter>'
        '<camunda:inputParameter name="items"><camunda:list><camunda:value>${first}</camunda:value>'
        "<camunda:value>fixed</camunda:value></camunda:list></camunda:inputParameter>"
        '<camunda:outputParameter name="order">${menu}</camunda:outputParameter>'
        '<camunda:outputParameter name="picked">${items}</camunda:outputParameter>'
    )
    body = (
        '<bpmn:startEvent id="Start"/><bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="Pick"/>'
        f'<bpmn:task id="Pick">{IO.format(mapping)}</bpmn:task>'
        '<bpmn:sequenceFlow id="F2" sourceRef="Pick" targetRef="Wait"/><bpmn:userTask id="Wait"/>'
    )
    deploy_inline(engine, "maps", body)
    started = engine.start("maps", business_key="M-1", variables={"first": "a", "second": "tomato"})

    variables = engine.variables(started.id)
    assert variables["order"] == {"a": "potato", "b": "tomato"}
    assert variables["picked"] == ["a", "fixed"]


def test_now_and_current_user_are_the_engines_clock_and_whoever_completes_the_task(engine):
    stamp = (
        '<camunda:outputParameter name="doneAt">${now()}</camunda:outputParameter>'
        '<camunda:outputParameter name="doneBy">${currentUser()}</camunda:outputParameter>'
    )
    body = (
        '<bpmn:startEvent id="Start"/><bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="Sign"/>'
        f'<bpmn:userTask id="Sign">{IO.format(stamp)}</bpmn:userTask>'
        '<bpmn:sequenceFlow id="F2" sourceRef="Sign" targetRef="Wait"/><bpmn:userTask id="Wait"/>'
    )
    deploy_inline(engine, "stamp", body)
    started = engine.start("stamp", business_key="S-1")
    [task] = open_tasks(engine, started.id)

    engine.complete(task.id, "olga", {})

    variables = engine.variables(started.id)
    assert variables["doneBy"] == "olga"
    assert variables["doneAt"] == T0.isoformat()  # the engine's clock (here the test's), not the wall's


# ----------------------------------------------------------------------------- due dates


def test_a_due_date_may_be_a_duration_from_now_as_camundas_due_date_calendar_reads_it(engine):
    body = (
        '<bpmn:startEvent id="Start"/><bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="Call"/>'
        '<bpmn:userTask id="Call" camunda:dueDate="P2D" camunda:followUpDate="${followUp}"/>'
    )
    deploy_inline(engine, "due", body)
    started = engine.start("due", business_key="D-1", variables={"followUp": "PT4H"})

    [task] = open_tasks(engine, started.id)
    assert task.due == T0 + timedelta(days=2)
    assert task.follow_up == T0 + timedelta(hours=4)


def test_a_written_due_date_that_is_neither_a_date_nor_a_duration_is_refused_at_deploy(engine):
    body = f'{START}<bpmn:userTask id="X" camunda:dueDate="next friday"/>'
    with pytest.raises(DeployError) as refused:
        deploy(engine.session_factory, {"due.bpmn": _process(body)}, known_topics=engine.handlers.topics())
    [problem] = refused.value.problems
    assert problem.element_id == "X" and "camunda:dueDate" in problem.message and "PT5M" in problem.message


@pytest.mark.parametrize("items", [None, "abc"])
def test_a_multi_instance_collection_that_is_not_a_list_fails_naming_the_activity(engine, items):
    body = (
        '<bpmn:startEvent id="Start"/><bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="Each"/>'
        '<bpmn:userTask id="Each"><bpmn:multiInstanceLoopCharacteristics camunda:collection="${items}" '
        'camunda:elementVariable="item"/></bpmn:userTask>'
    )
    deploy_inline(engine, "each", body)
    with pytest.raises(ProcessError, match=r"failed at 'Each'.*'items' is not a Collection"):
        engine.start("each", business_key="E-1", variables={"items": items})


# ----------------------------------------------------------------------------- gateways


def test_a_gateway_no_flow_can_leave_fails_with_camundas_words_naming_it(engine):
    condition = '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{}</bpmn:conditionExpression>'
    body = (
        '<bpmn:startEvent id="Start"/><bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="Route"/>'
        '<bpmn:exclusiveGateway id="Route"/>'
        f'<bpmn:sequenceFlow id="Big" sourceRef="Route" targetRef="A">{condition.format("${amount > 10}")}'
        '</bpmn:sequenceFlow><bpmn:userTask id="A"/>'
    )
    deploy_inline(engine, "route", body)
    with pytest.raises(ProcessError, match="No outgoing sequence flow for the element with id 'Route'"):
        engine.start("route", business_key="G-1", variables={"amount": 5})


# ----------------------------------------------------------------------------- errors


ERROR_SUBPROCESS = (
    '<bpmn:startEvent id="Start"/><bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="Check"/>'
    '<bpmn:subProcess id="Check">{loop}<bpmn:startEvent id="InnerStart"/>'
    '<bpmn:sequenceFlow id="I1" sourceRef="InnerStart" targetRef="Fail"/>'
    '<bpmn:endEvent id="Fail"><bpmn:errorEventDefinition errorRef="Rejected"/></bpmn:endEvent>'
    "</bpmn:subProcess>"
    '<bpmn:boundaryEvent id="Caught" attachedToRef="Check"><bpmn:errorEventDefinition errorRef="Rejected" '
    'camunda:errorCodeVariable="code" camunda:errorMessageVariable="reason"/></bpmn:boundaryEvent>'
    '<bpmn:sequenceFlow id="F2" sourceRef="Caught" targetRef="Fix"/><bpmn:userTask id="Fix"/>'
)


def _with_error(body: str, message: str) -> bytes:
    error = f'<bpmn:error id="Rejected" errorCode="REJECTED" camunda:errorMessage="{message}"/>'
    return _process(body).replace(b"</bpmn:process>", f"</bpmn:process>{error}".encode())


@pytest.mark.parametrize(
    ("message", "variables", "expected"),
    [
        ("The card was declined", {}, "The card was declined"),
        ("${why}", {"why": "Over the limit"}, "Over the limit"),  # an expression, evaluated when thrown
    ],
)
def test_an_error_end_event_throws_its_errors_message_to_the_catching_boundary(
    engine, message, variables, expected
):
    deploy(engine.session_factory, {"err.bpmn": _with_error(ERROR_SUBPROCESS.format(loop=""), message)})
    started = engine.start("refused", business_key="ER-1", variables=variables)

    assert engine.variables(started.id) == {**variables, "code": "REJECTED", "reason": expected}


def test_an_error_out_of_a_multi_instance_subprocess_leaves_no_loop_counters_behind(engine):
    loop = (
        "<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>3</bpmn:loopCardinality>"
        "</bpmn:multiInstanceLoopCharacteristics>"
    )
    deploy(engine.session_factory, {"err.bpmn": _with_error(ERROR_SUBPROCESS.format(loop=loop), "No")})
    started = engine.start("refused", business_key="ER-2")

    assert open_tasks(engine, started.id)[0].element_id == "Fix"
    assert engine.variables(started.id) == {"code": "REJECTED", "reason": "No"}
