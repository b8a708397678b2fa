"""Rules for the expressions analysts write in Camunda Modeler (engine.expressions, engine.script_engine)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.util.task import TaskState

from engine.errors import EngineError
from engine.expressions import (
    MAX_REPEAT_LENGTH,
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionFunctionError,
    Functions,
    compile_expression,
    compile_template,
    evaluate,
    is_expression,
    render,
)
from engine.script_engine import (
    ExpressionTaskError,
    SafeScriptEngine,
    ScriptTasksDisabledError,
    find_expressions,
    find_script_tasks,
)

# ------------------------------------------------------------ JUEL as Camunda reads it

TICKET = {
    "approved": True,
    "amount": 1500,
    "category": "network",
    "comment": "",
    "subject": "VPN is down again",
    "customer": {"name": "Acme", "tier": "gold", "address": {"city": "Kazan"}},
    "approvers": ["anna", "boris"],
    "tags": [],
    "owner": None,
    "count": 3,
    "profile": {"age": 34, "vip": False, "phones": ["+7 843 000", "+7 843 001"]},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("${approved}", True),
        ("${!approved}", False),
        ("${amount > 1000 && category == 'network'}", True),
        ("${amount > 1000 && category == 'mail'}", False),
        ("${approved || amount < 10}", True),
        ("${!approved || amount < 10}", False),
        ("${amount gt 1000 and category eq 'network'}", True),
        ("${amount lt 1000 or category ne 'network'}", False),
        ("${amount le 1500 && amount ge 1500}", True),
        ("${not approved}", False),
        ("${owner == null}", True),
        ("${owner != null}", False),
        ("${approved == true}", True),
        ("${approved eq false}", False),
        ('${category == "network"}', True),
        ("${empty comment}", True),
        ("${empty owner}", True),
        ("${empty tags}", True),
        ("${empty approvers}", False),
        ("${not empty comment}", False),
        ("${!empty approvers}", True),
        ("${customer.name}", "Acme"),
        ("${customer.address.city}", "Kazan"),
        ("${customer['tier']}", "gold"),
        ("${approvers[0]}", "anna"),
        ("${approvers[1] == 'boris'}", True),
        ("${amount > 1000 ? 'high' : 'low'}", "high"),
        ("${approved ? (amount > 2000 ? 'big' : 'medium') : 'none'}", "medium"),
        ("${amount + 500}", 2000),
        ("${amount - 500}", 1000),
        ("${count * 2}", 6),
        ("${count / 2}", 1.5),
        ("${count div 2}", 1.5),
        ("${count % 2}", 1),
        ("${count mod 2}", 1),
        ("${-count}", -3),
        ("${1 + 2 * 3}", 7),
        ("${(1 + 2) * 3}", 9),
        ("${!approved == false}", True),
        ("${subject.contains('VPN')}", True),
        ("${subject.contains('printer')}", False),
        ("${subject.startsWith('VPN')}", True),
        ("${subject.endsWith('again')}", True),
        ("${subject.toLowerCase()}", "vpn is down again"),
        ("${subject.toUpperCase().contains('DOWN')}", True),
        ("${subject.length()}", 17),
        ("${approvers.size()}", 2),
        ("${category.equals('network')}", True),
        ("${comment.isEmpty()}", True),
        ("${approvers.contains('anna')}", True),
        ("${customer.containsKey('tier')}", True),
        ("${[1, 2, 3]}", [1, 2, 3]),
        ("${{'a': 1}['a']}", 1),
        ("${customer.prop('tier').stringValue() == 'gold'}", True),
        ("${customer.hasProp('tier')}", True),
        ("${profile.prop('age').numberValue() >= 21}", True),
        ("${profile.prop('vip').boolValue()}", False),
        ("${profile.prop('phones').elements().size()}", 2),
        ("${owner.isNull()}", True),
        ("#{approved}", True),
        ("  ${approved}  ", True),
    ],
)
def test_juel_evaluates_as_camunda_would(source, expected):
    """Includes the Spin JSON calls Camunda examples use; JSON variables are plain dicts here."""
    assert evaluate(source, TICKET) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("${'a && b'}", "a && b"),
        ("${'x || !y eq z and not empty w'}", "x || !y eq z and not empty w"),
        ('${"${nested} } {"}', "${nested} } {"),
        ("${subject == 'a && b'}", False),
        ("${'it\\'s' == \"it's\"}", True),
        ("${'__class__'}", "__class__"),
        ("${'null' == null}", False),
    ],
)
def test_operators_inside_quotes_stay_literal(source, expected):
    assert evaluate(source, TICKET) == expected


@given(st.text(alphabet=st.characters(blacklist_characters="'\\", blacklist_categories=("Cs",))))
@settings(max_examples=200, deadline=None)
def test_any_quoted_text_comes_back_unchanged(text):
    assert evaluate("${'" + text + "'}", {}) == text


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("amount > 1000 and category == 'network'", True),
        ('amount > 1000 and category == "mail"', False),
        ("not approved", False),
        ("approved", True),
        ("category in ('network', 'mail')", True),
        ("'VPN' in subject", True),
        ("len(approvers) == 2", True),
        ("1000 < amount <= 1500", True),
        ("'high' if amount > 1000 else 'low'", "high"),
        ("customer['name'].lower()", "acme"),
        ("customer.name", "Acme"),
        ("max(amount, 2000)", 2000),
        ("sorted(approvers, reverse=True)[0]", "boris"),
        ("round(amount / 7, 2)", 214.29),
        ("owner is None", True),
        ("owner == null", True),
        ("amount // 1000", 1),
        ("2 ** 10", 1024),
        ("subject[:3]", "VPN"),
        ("any([approved, False])", True),
        ("${amount if approved else 0}", 1500),
        ("amount > 1000 && category == 'network'", True),
        ("!approved", False),
    ],
)
def test_plain_python_works(source, expected):
    assert evaluate(source, TICKET) == expected


@pytest.mark.parametrize(
    ("source", "python"),
    [
        ("${approved}", "approved"),
        ("${!approved}", "not approved"),
        ("${amount > 1000 && category == 'network'}", "amount > 1000 and category == 'network'"),
        ("${a || b && c}", "a or (b and c)"),
        ("${!a == b}", "(not a) == b"),
        ("${a eq b ne c}", "(a == b) != c"),
        ("${empty comment}", "is_empty(comment)"),
        ("${not empty x}", "not is_empty(x)"),
        ("${x.y}", "x.y"),
        ("${item.class}", "item['class']"),
        ("${a ? b : c}", "b if a else c"),
        ("${x == null}", "x == None"),
        ("${a div b mod c}", "a / b % c"),
    ],
)
def test_juel_is_translated_to_readable_python(source, python):
    assert compile_expression(source).python == python


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("${amount > 1000 && category == 'network'}", {"amount", "category"}),
        ("${customer.address.city == 'Kazan'}", {"customer"}),
        ("${approvers[index]}", {"approvers", "index"}),
        ("${subject.contains(word)}", {"subject", "word"}),
        ("${empty comment ? fallback : comment}", {"comment", "fallback"}),
        ("len(items) > limit", {"items", "limit"}),
        ("${'amount' == 'x'}", set()),
        ("${max(a, b)}", {"a", "b"}),
        ("${null == true}", set()),
    ],
)
def test_names_lists_the_variables_an_expression_reads(source, names):
    assert compile_expression(source).names == names


# ---------------------------------------------------------- hostile expressions refused

HOSTILE = [
    ("${''.__class__}", "__class__"),
    ("${().__class__.__bases__[0].__subclasses__()}", "__class__"),
    ("__import__('os')", "__import__"),
    ("${__import__('os').system('id')}", "__import__"),
    ("open('/etc/passwd')", "open()"),
    ("${open('/etc/passwd').read()}", "open()"),
    ("getattr(x, '__class__')", "getattr()"),
    ("eval('1 + 1')", "eval()"),
    ("exec('import os')", "exec()"),
    ("compile('1', 'f', 'eval')", "compile()"),
    ("type(x)", "type()"),
    ("globals()", "globals()"),
    ("vars()", "vars()"),
    ("breakpoint()", "breakpoint()"),
    ("x.__dict__", "__dict__"),
    ("x._secret", "_secret"),
    ("__builtins__", "__builtins__"),
    ("(lambda: 1)()", None),
    ("[c for c in ().__class__.__base__.__subclasses__()]", "__class__"),
    ("[x for x in items]", None),
    ("(y := 1)", None),
    ("f'{x}'", None),
    ("'{0.__class__}'.format(x)", ".format()"),
    ("'{0}'.format_map(x)", ".format_map()"),
    ("x.gi_frame.f_globals", "gi_frame"),
    ("x.mro()", ".mro()"),
    ("items.append(1)", ".append()"),
    ("customer.update({'tier': 'gold'})", ".update()"),
    ("max(*items)", None),
    ("sorted(**options)", None),
    ("{**options}", None),
    ("2 ** 10 ** 10", "**"),
    ("${'a' * 10 ** 9}", "*"),
    ("[0] * 10", "*"),
    ("1 << 10 ** 9", "<<"),
    ("~x", "~"),
    ("(x for x in y)", None),
    ("b'bytes'", None),
    ("x()", "x()"),
    ("items[0]()", None),
    ("${'-' * 100 + x.__class__.__name__}", "__class__"),
    ("${sorted(items, key=_helper)}", "_helper"),
]


@pytest.mark.parametrize(("source", "subject"), HOSTILE)
def test_hostile_expressions_are_refused_at_compile_time(source, subject):
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    error = caught.value
    assert error.expression == source.strip()
    assert error.reason and error.reason in str(error)
    if subject is not None:
        assert error.subject == subject
        assert f"uses {subject!r}" in str(error)


def test_refusal_message_names_the_attribute_and_the_rule():
    with pytest.raises(ExpressionError) as caught:
        compile_expression("${''.__class__}")
    assert str(caught.value).startswith(
        "Expression ${''.__class__} uses '__class__': names starting with '_' are not allowed"
    )


def test_refused_function_lists_what_is_allowed():
    with pytest.raises(ExpressionError, match=r"allowed: abs, all, any, .*len"):
        compile_expression("open('/etc/passwd')")


def test_expression_errors_are_engine_errors():
    assert issubclass(ExpressionError, EngineError)
    assert issubclass(ExpressionEvaluationError, EngineError)


@pytest.mark.parametrize(
    ("source", "variables"),
    [
        ("${text * times}", {"text": "ab", "times": 10**9}),
        ("${items * 2}", {"items": [[0] * 10]}),
        ("${base ** exponent}", {"base": 10, "exponent": 10**6}),
        ("${pattern % value}", {"pattern": "%*d", "value": (10**9, 1)}),
        ("round(x, digits)", {"x": 10**10, "digits": -(10**9)}),
        ("${text.replace('a', filler)}", {"text": "a" * 1000, "filler": "b" * 10_000}),
        ("${big + big}", {"big": "x" * 600_000}),
        ("sum(values, [])", {"values": [[1], [2]]}),
    ],
)
def test_size_bombs_built_from_variables_are_stopped_at_run_time(source, variables):
    with pytest.raises(ExpressionEvaluationError):
        evaluate(source, variables)


def test_text_repetition_within_the_limit_still_works():
    assert evaluate("${'-' * width}", {"width": 40}) == "-" * 40
    with pytest.raises(ExpressionEvaluationError, match=str(MAX_REPEAT_LENGTH)):
        evaluate("${'-' * width}", {"width": MAX_REPEAT_LENGTH + 1})


def test_overlong_and_deeply_nested_expressions_are_refused():
    with pytest.raises(ExpressionError, match="limit"):
        compile_expression("${" + " + ".join(["amount"] * 1000) + "}")
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression("${" + "[" * 150 + "x" + "]" * 150 + "}")
    with pytest.raises(ExpressionError):
        compile_expression("-" * 3000 + "x")


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_any_text_either_compiles_or_is_refused_cleanly(text):
    try:
        compile_expression(text)
    except ExpressionError:
        pass


@given(st.text(alphabet="${}()[]'\"!&|=<>?:.,+-*/% abcnotemptyul01_", max_size=40))
@settings(max_examples=300, deadline=None)
def test_expression_like_text_either_compiles_or_is_refused_cleanly(text):
    try:
        compile_expression(text)
    except ExpressionError:
        pass


# --------------------------------------------------------------- syntax and run time


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("${amount > 1000 &&}", "expected a value after '&&'"),
        ("${status = 'open'}", "use '==' (or 'eq') to compare"),
        ("${a & b}", "'&&'"),
        ("${'unterminated}", "closing"),
        ("${approved", "closing '}' is missing"),
        ("Amount ${amount} is high", "mixes text"),
        ("${}", "empty"),
        ("", "empty"),
    ],
)
def test_syntax_errors_say_what_to_fix(source, fragment):
    with pytest.raises(ExpressionError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        compile_expression(source)


def test_syntax_errors_are_also_syntax_errors_for_spiffworkflow_callers():
    with pytest.raises(SyntaxError):
        compile_expression("${a &&}")


def test_unknown_variable_is_named_with_what_is_set():
    with pytest.raises(ExpressionEvaluationError) as caught:
        evaluate("${amout > 1000}", {"amount": 5, "category": "network"})
    error = caught.value
    assert error.variable == "amout"
    assert error.available == ("amount", "category")
    assert "Unknown property used in expression" in str(error)
    assert "Did you mean 'amount'?" in str(error)


def test_unknown_variable_is_not_an_error_when_short_circuit_skips_it():
    assert evaluate("${false && missing}", {}) is False
    assert evaluate("${true ? 'yes' : missing}", {}) == "yes"


def test_missing_map_keys_and_null_bases_read_as_null_as_in_juel():
    assert evaluate("${customer.phone}", TICKET) is None
    assert evaluate("${owner.name}", TICKET) is None
    assert evaluate("${approvers[5]}", TICKET) is None
    assert evaluate("${empty customer.phone}", TICKET) is True


def test_wrong_types_fail_at_run_time_with_the_expression():
    with pytest.raises(ExpressionEvaluationError, match=r"Expression \$\{count.toLowerCase\(\)\} failed"):
        evaluate("${count.toLowerCase()}", TICKET)
    with pytest.raises(ExpressionEvaluationError, match="ZeroDivisionError"):
        evaluate("${count / 0}", TICKET)


def test_juel_comparisons_coerce_form_strings_like_el():
    assert evaluate("${amount > 1000}", {"amount": "1500"}) is True
    assert evaluate("${count == '3'}", {"count": 3}) is True
    assert evaluate("${approved == true}", {"approved": "true"}) is True
    assert evaluate("${!approved}", {"approved": "false"}) is True
    assert evaluate("${amount > 1000}", {"amount": None}) is False
    with pytest.raises(ExpressionEvaluationError, match="as a number"):
        evaluate("${amount > 1000}", {"amount": "a lot"})


def test_juel_addition_takes_a_number_in_text_as_a_number_and_still_joins_two_texts():
    """EL 1.7.1: `+` coerces text to a number (a form field, a JUEL script's literal "0")."""
    assert evaluate("${i + 1}", {"i": "0"}) == 1
    assert evaluate("${1.5 + amount}", {"amount": "2"}) == 3.5
    assert evaluate("${'REQ-' + suffix}", {"suffix": "7"}) == "REQ-7"
    with pytest.raises(ExpressionEvaluationError, match="as a number"):
        evaluate("${'REQ-' + 5}", {})


def test_a_juel_condition_on_the_string_false_is_false():
    assert compile_expression("${approved}").test({"approved": "false"}) is False
    assert compile_expression("${approved}").test({"approved": "TRUE"}) is True
    assert compile_expression("approved").test({"approved": "false"}) is True  # Python truthiness


def test_variables_are_read_in_place_and_never_changed():
    variables = {"items": [3, 1, 2], "customer": {"tier": "gold"}}
    evaluate("sorted(items)[0] == 1 and customer.tier == 'gold'", variables)
    assert variables == {"items": [3, 1, 2], "customer": {"tier": "gold"}}


def test_a_variable_named_like_a_function_does_not_replace_it():
    assert evaluate("${max(a, b)}", {"a": 1, "b": 2, "max": "not a function"}) == 2
    assert evaluate("${max}", {"max": 7}) == 7


def test_the_translated_python_means_the_same_for_typed_values():
    for source in ("${amount > 1000 && category == 'network'}", "${!approved}", "${empty comment}"):
        expression = compile_expression(source)
        assert evaluate(expression.python, TICKET) == expression.evaluate(TICKET)


# --------------------------------------------------------------- functions and templates


def test_engine_functions_can_be_added_and_are_checked_at_compile_time():
    functions = Functions({"business_days": lambda a, b: b - a})
    assert evaluate("${business_days(1, 4) > 2}", {}, functions) is True
    with pytest.raises(ExpressionError, match="business_days"):
        compile_expression("${business_days(1, 4)}")


@pytest.mark.parametrize("name", ["_private", "class", "null", "not an identifier"])
def test_functions_cannot_be_registered_under_unsafe_names(name):
    with pytest.raises(ExpressionFunctionError):
        Functions({name: len})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${amount}", 1500),
        ("${approvers}", ["anna", "boris"]),
        ("${owner}", None),
        (" ${amount} ", 1500),
        ("Invoice ${amount} for ${customer.name}", "Invoice 1500 for Acme"),
        ("Approved: ${approved}, owner: '${owner}'", "Approved: true, owner: ''"),
        ("${customer.name}-${count}", "Acme-3"),
        ("plain text, no placeholders", "plain text, no placeholders"),
        ("PT1H", "PT1H"),
        ("", ""),
        ("Price \\${amount} is ${amount}", "Price ${amount} is 1500"),
        ("Subject: ${subject.contains('VPN') ? 'VPN' : 'other'}", "Subject: VPN"),
    ],
)
def test_render_returns_whole_values_mixed_text_or_the_text_itself(text, expected):
    assert render(text, TICKET) == expected


def test_templates_are_checked_at_deploy_and_know_their_names():
    template = compile_template("Dear ${customer.name}, ticket ${id} is ${status}")
    assert template.names == {"customer", "id", "status"}
    assert not template.is_literal
    assert compile_template("no placeholders").is_literal
    with pytest.raises(ExpressionError, match="__class__"):
        compile_template("Hello ${name.__class__}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("${x}", True), ("#{x}", True), ("a ${x} b", True), ("PT1H", False), ("\\${x}", False), (None, False)],
)
def test_is_expression_spots_placeholders(text, expected):
    assert is_expression(text) is expected


# -------------------------------------------------------------------- BPMN, end to end

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">'
)

ROUTING = (
    HEAD
    + """
  <bpmn:process id="routing" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>to_gateway</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="to_gateway" sourceRef="start" targetRef="is_big_network" />
    <bpmn:exclusiveGateway id="is_big_network" default="routine_flow">
      <bpmn:incoming>to_gateway</bpmn:incoming>
      <bpmn:outgoing>escalate_flow</bpmn:outgoing>
      <bpmn:outgoing>routine_flow</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="escalate_flow" sourceRef="is_big_network" targetRef="escalate">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >${amount &gt; 1000 &amp;&amp; category == 'network'}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="routine_flow" sourceRef="is_big_network" targetRef="routine" />
    <bpmn:manualTask id="escalate"><bpmn:incoming>escalate_flow</bpmn:incoming></bpmn:manualTask>
    <bpmn:manualTask id="routine"><bpmn:incoming>routine_flow</bpmn:incoming></bpmn:manualTask>
  </bpmn:process>
</bpmn:definitions>"""
)


def _spec(xml: str, process_id: str):
    parser = CamundaParser()
    parser.add_bpmn_str(xml.encode())
    return parser.get_spec(process_id)


def _start(xml: str, process_id: str, data: dict, engine: SafeScriptEngine | None = None) -> BpmnWorkflow:
    workflow = BpmnWorkflow(_spec(xml, process_id), script_engine=engine or SafeScriptEngine())
    workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
    workflow.do_engine_steps()
    return workflow


def _ready(workflow: BpmnWorkflow) -> list[str]:
    return [task.task_spec.bpmn_id for task in workflow.get_tasks(state=TaskState.READY)]


@pytest.mark.parametrize(
    ("data", "branch"),
    [
        ({"amount": 5000, "category": "network"}, "escalate"),
        ({"amount": 5000, "category": "mail"}, "routine"),
        ({"amount": "5000", "category": "network"}, "escalate"),
    ],
)
def test_gateway_takes_the_branch_the_juel_condition_picks(data, branch):
    assert _ready(_start(ROUTING, "routing", data)) == [branch]


def test_a_failing_gateway_condition_carries_the_task_and_the_variable():
    with pytest.raises(ExpressionTaskError) as caught:
        _start(ROUTING, "routing", {"category": "network"})
    error = caught.value
    assert isinstance(error, WorkflowTaskException) and isinstance(error, EngineError)
    assert error.task.task_spec.bpmn_id == "is_big_network"
    assert error.element_id == "is_big_network"
    assert error.variable == "amount"


def test_deploy_finds_every_condition_with_its_element():
    found = find_expressions([_spec(ROUTING, "routing")])
    assert [(f.element_id, f.role, f.text) for f in found] == [
        ("is_big_network -> escalate", "condition", "${amount > 1000 && category == 'network'}")
    ]
    hostile = ROUTING.replace("category == 'network'", "category.__class__")
    problems = SafeScriptEngine().expression_problems([_spec(hostile, "routing")])
    assert [(p.element_id, p.error.subject) for p in problems] == [
        ("is_big_network -> escalate", "__class__")
    ]


TIMER = (
    HEAD
    + """
  <bpmn:process id="wait" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="pause" />
    <bpmn:intermediateCatchEvent id="pause">
      <bpmn:timerEventDefinition>
        <bpmn:TAG xsi:type="bpmn:tFormalExpression">SPEC</bpmn:TAG>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="pause" targetRef="done" />
    <bpmn:endEvent id="done" />
  </bpmn:process>
</bpmn:definitions>"""
)


@pytest.mark.parametrize(
    ("spec", "data", "hours"),
    [
        ("PT1H", {}, 1),
        ("${sla}", {"sla": "PT4H"}, 4),
        ("PT${hours}H", {"hours": 8}, 8),
        ("${wait}", {"wait": timedelta(hours=2)}, 2),
    ],
)
def test_timer_durations_are_literal_iso_text_unless_they_hold_an_expression(spec, data, hours):
    xml = TIMER.replace("TAG", "timeDuration").replace("SPEC", spec)
    before = datetime.now().astimezone()
    workflow = _start(xml, "wait", data)
    pause = next(t for t in workflow.get_tasks() if t.task_spec.bpmn_id == "pause")
    due = datetime.fromisoformat(pause.internal_data["event_value"])
    assert timedelta(hours=hours) <= due - before < timedelta(hours=hours, minutes=1)


@pytest.mark.parametrize(
    ("spec", "data", "cycles"), [("R3/PT10M", {}, 3), ("${cycle}", {"cycle": "R2/PT1H"}, 2)]
)
def test_timer_cycles_are_literal_iso_text_unless_they_hold_an_expression(spec, data, cycles):
    workflow = _start(TIMER.replace("TAG", "timeCycle").replace("SPEC", spec), "wait", data)
    pause = next(t for t in workflow.get_tasks() if t.task_spec.bpmn_id == "pause")
    assert pause.internal_data["event_value"]["cycles"] == cycles


def test_timer_dates_accept_literal_iso_moments():
    xml = TIMER.replace("TAG", "timeDate").replace("SPEC", "2000-01-01T00:00:00Z")
    workflow = _start(xml, "wait", {})
    workflow.refresh_timers()
    workflow.do_engine_steps()
    assert workflow.is_completed()


def test_stock_spiffworkflow_engine_cannot_read_camunda_timer_text():
    workflow = BpmnWorkflow(_spec(TIMER.replace("TAG", "timeDuration").replace("SPEC", "PT1H"), "wait"))
    with pytest.raises(WorkflowTaskException):
        workflow.do_engine_steps()


APPROVALS = (
    HEAD
    + """
  <bpmn:process id="approvals" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve" />
    <bpmn:userTask id="approve">
      <bpmn:multiInstanceLoopCharacteristics
          camunda:collection="approvers" camunda:elementVariable="approver">
        <bpmn:completionCondition xsi:type="bpmn:tFormalExpression"
          >${nrOfCompletedInstances &gt;= 2}</bpmn:completionCondition>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="done" />
    <bpmn:endEvent id="done" />
  </bpmn:process>
</bpmn:definitions>"""
)


def test_parallel_approval_ends_when_the_camunda_completion_condition_holds():
    workflow = _start(APPROVALS, "approvals", {"approvers": ["anna", "boris", "carl"]})
    assert len(workflow.get_tasks(state=TaskState.READY)) == 3
    for _ in range(2):
        workflow.get_tasks(state=TaskState.READY)[0].run()
        workflow.do_engine_steps()
    assert workflow.is_completed()


SCRIPT = (
    HEAD
    + """
  <bpmn:process id="scripted" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="calculate" />
    <bpmn:scriptTask id="calculate" scriptFormat="python">
      <bpmn:script>total = 1 + 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="calculate" targetRef="done" />
    <bpmn:endEvent id="done" />
  </bpmn:process>
</bpmn:definitions>"""
)


def test_script_tasks_are_refused_unless_enabled():
    with pytest.raises(ScriptTasksDisabledError, match="'calculate'") as caught:
        _start(SCRIPT, "scripted", {})
    assert caught.value.element_ids == ("calculate",)
    workflow = _start(SCRIPT, "scripted", {}, SafeScriptEngine(allow_scripts=True))
    assert workflow.is_completed() and workflow.data["total"] == 2


def test_deploy_refuses_diagrams_with_script_tasks_when_disabled():
    specs = [_spec(SCRIPT, "scripted")]
    assert find_script_tasks(specs) == ["calculate"]
    with pytest.raises(ScriptTasksDisabledError, match="allow_scripts"):
        SafeScriptEngine().refuse_script_tasks(specs)
    SafeScriptEngine(allow_scripts=True).refuse_script_tasks(specs)
    SafeScriptEngine().refuse_script_tasks([_spec(ROUTING, "routing")])
