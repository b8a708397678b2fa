"""Constructs that deployed and then behaved differently from Camunda 7: refused at deploy instead.

Each refusal names the element, the attribute, the line and a way out (engine/camunda_support.py),
so the analyst redraws before an instance runs the wrong way.
"""

from __future__ import annotations

from tests.test_camunda7_events import line_of, refusal
from tests.test_camunda7_runtime import engine

__all__ = ["engine"]  # the fixture, shared with test_camunda7_runtime


def test_an_escalation_boundary_on_a_multi_instance_subprocess_is_refused(engine):
    """Today the interrupting one fails with 'task not found' and the non-interrupting one
    catches one escalation of five; Camunda catches each instance's escalation."""
    name = "refused_escalation_mi.bpmn"
    [problem] = refusal(engine, name)
    assert (problem.element_id, problem.line) == (
        "SiteLate",
        line_of(name, 'id="EscalationEventDefinition_2"'),
    )
    assert "escalationEventDefinition" in problem.message
    assert "PerSite" in problem.message and "multi-instance" in problem.message
    assert "inside the subprocess" in problem.message, "names a way out"


def test_a_signal_throw_or_end_event_with_camunda_in_mappings_is_refused(engine):
    """Camunda passes camunda:in variables with the signal; here they would be dropped silently."""
    name = "refused_signal_in.bpmn"
    problems = refusal(engine, name)
    found = {(p.element_id, p.line) for p in problems}
    assert found == {
        ("AnnounceOutage", line_of(name, '<camunda:in source="region"')),
        ("AllClear", line_of(name, '<camunda:in variables="all"')),
    }
    assert all("camunda:in" in p.message and "signal" in p.message for p in problems)
    assert all("POST /engine-rest/signal" in p.message for p in problems), "names a way out"


def test_a_conditional_start_event_of_an_event_subprocess_is_refused(engine):
    """Camunda re-evaluates it whenever a variable changes; here it would never start."""
    name = "refused_conditional_event_subprocess.bpmn"
    [problem] = refusal(engine, name)
    expected_line = line_of(name, 'id="ConditionalEventDefinition_1"')
    assert (problem.element_id, problem.line) == ("BecameUrgent", expected_line)
    assert "conditionalEventDefinition" in problem.message and "event subprocess" in problem.message
    assert "conditional boundary event" in problem.message, "names a way out"
