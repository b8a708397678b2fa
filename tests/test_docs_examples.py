"""The analyst guide's examples: every diagram in docs/examples deploys lint-clean and runs to its end,
and the guides stay in step with the registry (topic table) and the lint (rule list)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.deploy import deploy
from engine.element_templates import TABLE_END, TABLE_START, topic_table, with_topic_table
from engine.lint import RULES
from engine.runtime import Engine
from engine.store import Instance
from engine.tasklist import TaskQuery, query_tasks
from tests.conftest import PROJECT, Clock

DOCS = PROJECT / "docs"
EXAMPLES = DOCS / "examples"
GUIDES = {"ru": DOCS / "analyst-guide.md", "en": DOCS / "analyst-guide.en.md"}
MSK = ZoneInfo("Europe/Moscow")
FRIDAY_17 = datetime(2026, 11, 20, 17, 0, tzinfo=MSK)


@pytest.fixture
def engine(app) -> Engine:
    runtime: Engine = app.extensions["runtime"]
    runtime.clock = Clock(FRIDAY_17)
    return runtime


def deploy_example(engine: Engine, name: str) -> None:
    resources = {p.name: p.read_bytes() for p in EXAMPLES.glob(f"{name.split('-')[0]}-*")}
    report = deploy(engine.session_factory, resources, known_topics=engine.handlers)
    assert report.definitions and report.warnings == [], [str(w) for w in report.warnings]


def the_task(engine: Engine, instance_id: str, element_id: str):
    with engine.session_factory() as session:
        tasks = query_tasks(session, TaskQuery(everything=True, instance_id=instance_id)).tasks
    assert [t.element_id for t in tasks] == [element_id]
    return tasks[0]


def status(engine: Engine, instance_id: str) -> str:
    with engine.session_factory() as session:
        return session.get(Instance, instance_id).status


def run_conditions(engine: Engine) -> None:
    big = engine.start("docs_conditions", variables={"amount": 5000, "category": "hardware"}).id
    approve = the_task(engine, big, "Task_Approve")
    assert approve.candidate_groups == ["managers"]
    engine.complete(approve.id, "manager", {"approved": True})
    assert status(engine, big) == "completed"
    small = engine.start("docs_conditions", variables={"amount": 100}).id
    assert status(engine, small) == "completed", "the default flow skips the approval"
    network = engine.start("docs_conditions", variables={"amount": 100, "category": "network"}).id
    engine.complete(the_task(engine, network, "Task_Approve").id, "manager", {"approved": False})
    assert "End_Rejected" in engine.active_elements(network)


def run_service_task(engine: Engine) -> None:
    started = engine.start("docs_service_task", variables={"category": "printer"}).id
    dispatch = the_task(engine, started, "Task_Dispatch")
    variables = engine.variables(started)
    assert dispatch.candidate_groups == [variables["dispatcher_group"]]
    assert {"dispatcher_group", "suggested_executor", "needs_approval", "approvers"} <= set(variables)
    engine.complete(dispatch.id, "dispatcher", {"executor": "executor"})
    assert status(engine, started) == "completed"


def run_forms(engine: Engine) -> None:
    started = engine.start("docs_forms", variables={"system": "1c", "reason": "Новый сотрудник"}).id
    decision = the_task(engine, started, "Task_Approve")
    assert [f.id for f in engine.task_form(decision.id).fields] == ["granted", "days", "comment"]
    engine.complete(decision.id, "manager", {"granted": True, "days": 30})
    assert status(engine, started) == "completed"
    assert engine.variables(started)["days"] == 30


def run_business_timer(engine: Engine) -> None:
    started = engine.start("docs_business_timer").id
    monday_10 = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)  # Fri 17-18 and Mon 9-10: two working hours
    engine.clock.now = monday_10 - timedelta(minutes=1)
    assert engine.fire_due_timers() == 0
    engine.clock.now = monday_10
    assert engine.fire_due_timers() == 1
    engine.complete(the_task(engine, started, "Task_Callback").id, "operator", {})
    assert status(engine, started) == "completed"


def run_messages(engine: Engine) -> None:
    [started] = engine.correlate("docs.ticket", business_key="T-1", variables={"question": "Где счёт?"})
    engine.complete(the_task(engine, started, "Task_Answer").id, "operator", {"answer": "Отправили"})
    engine.correlate("docs.reply", business_key="T-1", variables={"satisfied": True})
    assert status(engine, started) == "completed"
    assert "End_Closed" in engine.active_elements(started)


SCENARIOS: dict[str, Callable[[Engine], None]] = {
    "01-conditions.bpmn": run_conditions,
    "02-service-task.bpmn": run_service_task,
    "03-forms.bpmn": run_forms,
    "04-business-timer.bpmn": run_business_timer,
    "05-messages.bpmn": run_messages,
}


def test_every_example_diagram_has_a_scenario():
    assert sorted(p.name for p in EXAMPLES.glob("*.bpmn")) == sorted(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_example_deploys_without_warnings_and_runs_to_its_end(engine, name):
    deploy_example(engine, name)
    SCENARIOS[name](engine)


@pytest.mark.parametrize("language", sorted(GUIDES))
def test_guide_shows_every_example_and_explains_every_lint_rule(language):
    guide = GUIDES[language].read_text(encoding="utf-8")
    for path in EXAMPLES.iterdir():
        assert f"examples/{path.name}" in guide, f"{GUIDES[language].name} does not show {path.name}"
    for rule_id in RULES:
        assert f"`{rule_id}`" in guide, f"{GUIDES[language].name} does not explain lint rule {rule_id}"


@pytest.mark.parametrize("language", sorted(GUIDES))
def test_guide_topic_table_is_the_one_generated_from_the_registry(app, language):
    guide = GUIDES[language].read_text(encoding="utf-8")
    assert TABLE_START in guide and TABLE_END in guide
    expected = with_topic_table(guide, topic_table(app.extensions["handlers"], language))
    assert guide == expected, (
        "the topic table is out of date; run flask --app web element-templates --out bpmn/element-templates "
        "--guide docs/analyst-guide.md --guide docs/analyst-guide.en.md"
    )
