"""Timer cycles on intermediate and boundary events, as Camunda 7 runs them. A cron cycle
(`<timeCycle>0 0/5 * * * ?</timeCycle>`) fires at each moment it names, in the server's zone (it
was refused at deploy: only timer start events ran cron). On a boundary event a cycle repeats
while its activity runs; on an intermediate catch event it is a wait for its first moment, after
which the path goes on (SpiffWorkflow fired it every cycle and left the path waiting)."""

from __future__ import annotations

from datetime import timedelta

from engine.deploy import deploy
from tests.test_camunda7_runtime import (
    DATA,
    T0,
    complete_task,
    deploy_diagram,
    engine,
    fire_timers_at,
    open_task_names,
    status,
)

__all__ = ["engine"]  # the fixture, shared with test_camunda7_runtime

EVERY_TEN_MINUTES = "0 0/10 * * * ?"


def test_an_intermediate_cron_timer_waits_for_the_next_moment_it_names(engine):
    deploy_diagram(engine, "cron_wait.bpmn")
    started = engine.start("c7_cron_wait")  # at 09:00: the next five-minute mark is 09:05
    assert fire_timers_at(engine, T0 + timedelta(minutes=4, seconds=59)) == 0
    assert status(engine, started.id) == "running"
    assert fire_timers_at(engine, T0 + timedelta(minutes=5)) == 1
    assert status(engine, started.id) == "completed"


def test_an_intermediate_timer_with_a_repetition_goes_on_at_its_first_moment(engine):
    xml = (DATA / "cron_wait.bpmn").read_text().replace("0 0/5 * * * ?", "R3/PT5M")
    deploy(engine.session_factory, {"repeating_wait.bpmn": xml.encode()})
    started = engine.start("c7_cron_wait")
    assert fire_timers_at(engine, T0 + timedelta(minutes=5)) == 1
    assert status(engine, started.id) == "completed"
    assert fire_timers_at(engine, T0 + timedelta(minutes=10)) == 0


def test_a_non_interrupting_cron_boundary_timer_fires_at_each_mark_until_its_task_ends(engine):
    from engine.deploy import deploy
    from tests.test_camunda7_runtime import DATA

    xml = (DATA / "boundary_timer_cycle.bpmn").read_text().replace("R3/PT10M", EVERY_TEN_MINUTES)
    deploy(engine.session_factory, {"cron_reminders.bpmn": xml.encode()})
    started = engine.start("c7_boundary_timer_cycle")
    for minutes in (10, 20, 30, 40):  # no count: a cron repeats for as long as the task is open
        assert fire_timers_at(engine, T0 + timedelta(minutes=minutes)) == 1
    assert open_task_names(engine, started.id) == ["Remind"] * 4 + ["Work"]
    complete_task(engine, started.id, "Work")
    assert fire_timers_at(engine, T0 + timedelta(minutes=50)) == 0
    assert open_task_names(engine, started.id) == ["Remind"] * 4
