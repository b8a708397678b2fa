"""Reading DMN 1.1–1.3 files as Camunda Modeler writes them into compiled decision tables.

Everything is checked here, at deploy: a cell that does not compile, a hit policy that
cannot work, a column without a type this engine knows. Each refusal names the file, the
decision, the rule (its id and its number in the Modeler) and the cell, so the analyst can
go straight to it. The XML is read with DTDs, entities and the network off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.dmn.feel import (
    FeelError,
    compile_feel,
    compile_juel,
    compile_juel_test,
    compile_unary_tests,
)
from engine.dmn.model import (
    TYPE_REFS,
    Aggregation,
    Decision,
    DecisionInput,
    DecisionOutput,
    DecisionTable,
    HitPolicy,
    Rule,
    TypeRefError,
    column_index,
    transform,
)
from engine.parser import Problem, UnsafeXmlError, load_xml

DMN_NAMESPACES = frozenset(
    {
        "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
        "http://www.omg.org/spec/DMN/20180521/MODEL/",
        "https://www.omg.org/spec/DMN/20191111/MODEL/",
        "https://www.omg.org/spec/DMN/20230324/MODEL/",
    }
)
CAMUNDA_DMN = "{http://camunda.org/schema/1.0/dmn}"
FEEL_LANGUAGES = frozenset(
    {
        "feel",
        "http://www.omg.org/spec/FEEL/20140401",
        "https://www.omg.org/spec/DMN/20191111/FEEL/",
        "http://www.omg.org/spec/DMN/20180521/FEEL/",
        "https://www.omg.org/spec/DMN/20230324/FEEL/",
    }
)
MAX_KEY_LENGTH = 128


def is_dmn_name(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(".dmn") or lower.endswith(".dmn11.xml")


@dataclass
class ParsedDecisions:
    """The decisions of one or more DMN files, or the problems that refuse them."""

    decisions: dict[str, Decision] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)


def _local(node: Any) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _children(node: Any, name: str) -> list[Any]:
    return [child for child in node if _local(child) == name]


def _child(node: Any, name: str) -> Any:
    found = _children(node, name)
    return found[0] if found else None


def _text(node: Any) -> str:
    if node is None:
        return ""
    text = _child(node, "text")
    return (text.text or "").strip() if text is not None else ""


def _language(node: Any, default: str | None) -> str:
    return (node.get("expressionLanguage") or default or "feel").strip()


class _Refusal(Exception):
    def __init__(self, node: Any, message: str) -> None:
        super().__init__(message)
        self.node, self.message = node, message


def parse_dmn(resources: dict[str, bytes]) -> ParsedDecisions:
    """Parse every DMN resource; never raises for bad input, lists problems instead."""
    result = ParsedDecisions()
    for name, content in resources.items():
        if not is_dmn_name(name):
            continue
        try:
            tree = load_xml(content, name)
        except UnsafeXmlError as err:
            result.errors.append(Problem(name, str(err)))
            continue
        except etree.XMLSyntaxError as err:
            result.errors.append(Problem(name, f"is not well-formed XML: {err.msg}", line=err.lineno))
            continue
        root = tree.getroot()
        namespace = etree.QName(root).namespace
        if _local(root) != "definitions" or namespace not in DMN_NAMESPACES:
            result.errors.append(
                Problem(
                    name,
                    f"is not a DMN file (root element {_local(root)!r} in namespace {namespace!r}); "
                    "save it from Camunda Modeler as a DMN diagram",
                )
            )
            continue
        default_language = root.get("expressionLanguage")
        decisions = _children(root, "decision")
        if not decisions:
            result.errors.append(Problem(name, "has no decision; add a decision table in Camunda Modeler"))
        for node in decisions:
            key = node.get("id") or ""
            try:
                decision = _decision(name, node, default_language)
            except _Refusal as err:
                result.errors.append(
                    Problem(name, f"decision {key!r}: {err.message}", key or None, err.node.sourceline)
                )
                continue
            if key in result.decisions:
                result.errors.append(
                    Problem(
                        name,
                        f"decision {key!r} is defined twice in this deployment (also in "
                        f"{result.decisions[key].resource}); give each decision its own id",
                        key,
                        node.sourceline,
                    )
                )
                continue
            result.decisions[key] = decision
    return result


def _decision(resource: str, node: Any, default_language: str | None) -> Decision:
    key = node.get("id")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise _Refusal(node, f"the decision id must be set and at most {MAX_KEY_LENGTH} characters long")
    if any(_local(child) == "informationRequirement" for child in node):
        raise _Refusal(
            node,
            "requires other decisions (a decision requirements diagram); this engine evaluates single "
            "decision tables: merge the tables or evaluate each one from its own business rule task",
        )
    table = _child(node, "decisionTable")
    if table is None:
        kind = next((_local(c) for c in node if _local(c) not in ("description", "extensionElements")), None)
        raise _Refusal(
            node,
            f"its logic is a {kind or 'missing element'}, and this engine evaluates decision tables only; "
            "draw it as a decision table",
        )
    return Decision(
        key=key,
        name=node.get("name"),
        version_tag=node.get(f"{CAMUNDA_DMN}versionTag"),
        history_ttl=node.get(f"{CAMUNDA_DMN}historyTimeToLive"),
        resource=resource,
        table=_table(table, default_language),
    )


def _hit_policy(table: Any) -> tuple[HitPolicy, Aggregation | None]:
    raw = (table.get("hitPolicy") or "UNIQUE").strip().upper().replace("_", " ")
    try:
        policy = HitPolicy(raw)
    except ValueError:
        known = ", ".join(p.value for p in HitPolicy)
        raise _Refusal(table, f"hit policy {raw!r} is unknown; use one of {known}") from None
    aggregation_text = table.get("aggregation")
    if aggregation_text is None:
        return policy, None
    if policy is not HitPolicy.COLLECT:
        raise _Refusal(table, f"aggregation {aggregation_text!r} is only allowed with hit policy COLLECT")
    try:
        return policy, Aggregation(aggregation_text.strip().upper())
    except ValueError:
        raise _Refusal(
            table, f"aggregation {aggregation_text!r} is unknown; use SUM, MIN, MAX or COUNT"
        ) from None


def _type_ref(node: Any, owner: str) -> str | None:
    type_ref = (node.get("typeRef") or "").strip() or None
    if type_ref is not None and type_ref not in TYPE_REFS:
        raise _Refusal(
            node, f"{owner} has typeRef {type_ref!r}, which is unknown; use one of {', '.join(TYPE_REFS)}"
        )
    return type_ref


def _table(table: Any, default_language: str | None) -> DecisionTable:
    policy, aggregation = _hit_policy(table)
    inputs = tuple(_input(node, default_language) for node in _children(table, "input"))
    outputs = tuple(_output(node, len(_children(table, "output"))) for node in _children(table, "output"))
    if not outputs:
        raise _Refusal(table, "the table has no output column; add one")
    if aggregation is not None and len(outputs) > 1:
        raise _Refusal(
            table,
            f"aggregation {aggregation.value} needs exactly one output column; the table has {len(outputs)}",
        )
    if policy in (HitPolicy.PRIORITY, HitPolicy.OUTPUT_ORDER) and not any(o.values for o in outputs):
        raise _Refusal(
            table,
            f"hit policy {policy.value} orders rules by the output values' order; set 'Predefined values' "
            "(outputValues) on the output column",
        )
    rules = tuple(
        _rule(node, number, inputs, outputs, default_language)
        for number, node in enumerate(_children(table, "rule"), start=1)
    )
    indexes = tuple(column_index([rule.tests[i] for rule in rules]) for i in range(len(inputs)))
    return DecisionTable(policy, aggregation, inputs, outputs, rules, indexes)


def _input(node: Any, default_language: str | None) -> DecisionInput:
    expression_node = _child(node, "inputExpression")
    title = node.get("label") or node.get("id")
    if expression_node is None:
        raise _Refusal(node, f"input {title!r} has no input expression; set one in Camunda Modeler")
    text = _text(expression_node)
    language = _language(expression_node, default_language)
    expression = None
    if text:
        try:
            expression = _compile_value(text, language, f"input {title!r} expression")
        except FeelError as err:
            raise _Refusal(expression_node, f"input {title!r} expression {text!r}: {err.reason}") from None
    return DecisionInput(
        id=node.get("id") or "",
        label=node.get("label"),
        text=text,
        expression=expression,
        type_ref=_type_ref(expression_node, f"input {title!r}"),
        variable=node.get(f"{CAMUNDA_DMN}inputVariable") or "cellInput",
    )


def _output(node: Any, count: int) -> DecisionOutput:
    name = node.get("name")
    title = node.get("label") or node.get("id")
    if not name:
        raise _Refusal(
            node,
            f"output {title!r} has no name; set 'Output name' in Camunda Modeler (it is the result "
            "variable's key)",
        )
    values: tuple[Any, ...] = ()
    values_node = _child(node, "outputValues")
    if values_node is not None and _text(values_node):
        try:
            values = tuple(compile_feel(part).evaluate({}) for part in _split_values(_text(values_node)))
        except FeelError as err:
            raise _Refusal(values_node, f"output {name!r} predefined values: {err.reason}") from None
    return DecisionOutput(
        id=node.get("id") or "",
        label=node.get("label"),
        name=name,
        type_ref=_type_ref(node, f"output {name!r}"),
        values=values,
    )


def _split_values(text: str) -> list[str]:
    """`"high","medium","low"` -> its items (commas inside quotes stay)."""
    parts, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def _compile_value(text: str, language: str, where: str):
    lowered = language.lower()
    if lowered == "juel":
        return compile_juel(text)
    if lowered in FEEL_LANGUAGES:
        return compile_feel(text)
    raise FeelError(
        text,
        f"expression language {language!r} is not supported ({where}); use FEEL (the default) or JUEL, "
        "since scripts would run code",
    )


def _rule(node: Any, number: int, inputs, outputs, default_language: str | None) -> Rule:
    rule_id = node.get("id") or f"rule {number}"
    where = f"rule {rule_id!r} (row {number})"
    input_entries = _children(node, "inputEntry")
    output_entries = _children(node, "outputEntry")
    if len(input_entries) != len(inputs) or len(output_entries) != len(outputs):
        raise _Refusal(
            node,
            f"{where} has {len(input_entries)} input and {len(output_entries)} output cells; the table has "
            f"{len(inputs)} inputs and {len(outputs)} outputs",
        )
    tests, input_texts = [], []
    for column, entry in zip(inputs, input_entries, strict=True):
        text = _text(entry)
        input_texts.append(text)
        language = _language(entry, default_language).lower()
        try:
            if language == "juel":
                tests.append(compile_juel_test(text, column.variable) if text else compile_unary_tests(""))
            elif language in FEEL_LANGUAGES:
                tests.append(compile_unary_tests(text))
            else:
                raise FeelError(
                    text, f"expression language {language!r} is not supported; use FEEL (the default) or JUEL"
                )
        except FeelError as err:
            raise _Refusal(
                entry, f"{where}, input cell {column.title!r} ({entry.get('id')}): {text!r}: {err.reason}"
            ) from None
    output_values, output_texts = [], []
    for column, entry in zip(outputs, output_entries, strict=True):
        text = _text(entry)
        output_texts.append(text)
        if not text:
            output_values.append(None)
            continue
        try:
            compiled = _compile_value(text, _language(entry, default_language), "output entry")
            if compiled.expression is None:
                transform(column.type_ref, compiled.constant)
            output_values.append(compiled)
        except TypeRefError as err:
            raise _Refusal(
                entry, f"{where}, output cell {column.name!r} ({entry.get('id')}): {text!r}: {err}"
            ) from None
        except FeelError as err:
            raise _Refusal(
                entry, f"{where}, output cell {column.name!r} ({entry.get('id')}): {text!r}: {err.reason}"
            ) from None
    description = _child(node, "description")
    return Rule(
        id=rule_id,
        number=number,
        description=(description.text or "").strip() or None if description is not None else None,
        input_texts=tuple(input_texts),
        tests=tuple(tests),
        output_texts=tuple(output_texts),
        outputs=tuple(output_values),
    )
