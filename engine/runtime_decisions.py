"""The engine's business rule tasks: evaluate the bound decision in the instance's own step.

Camunda evaluates a decision synchronously, in the transaction that reaches the task, and
an error (no such decision, UNIQUE with two matches, a result mapping that does not fit)
rolls that transaction back. The same happens here: the step raises a ProcessError and
nothing is saved. Each evaluation is kept (engine.decisions.record) with its inputs, the
rules that matched and the result, for the instance page and /history/decision-instance.
"""

from __future__ import annotations

from typing import Any

from engine import decisions
from engine.decision_task import DecisionTask
from engine.decisions import DecisionNotFoundError
from engine.dmn.evaluate import map_result
from engine.dmn.model import DecisionEvaluationError
from engine.errors import ProcessError
from engine.expressions import ExpressionEvaluationError, render
from engine.runtime_support import StepContext, log
from engine.store import ProcessDefinition


class DecisionsMixin:
    """Engine methods for business rule tasks (mixed into engine.runtime.Engine)."""

    def _run_decision(self, task: Any, ctx: StepContext) -> None:
        try:
            self._evaluate_decision_task(task, ctx)
        except (DecisionEvaluationError, DecisionNotFoundError, ExpressionEvaluationError) as err:
            raise ProcessError(ctx.instance.id, task.task_spec.bpmn_id, str(err)) from err

    def _evaluate_decision_task(self, task: Any, ctx: StepContext) -> None:
        spec: DecisionTask = task.task_spec
        ref = spec.ref
        variables = dict(task.data)
        for parameter in ref.inputs:
            variables[parameter.name] = parameter.resolve(variables)
        key = str(render(ref.key, variables))
        version = None
        if ref.binding == "version" and ref.version:
            raw = render(ref.version, variables)
            try:
                version = int(raw)
            except (TypeError, ValueError):
                raise DecisionEvaluationError(
                    key, f"camunda:decisionRefVersion {raw!r} is not a number"
                ) from None
        deployment_id = None
        if ref.binding == "deployment":
            deployment_id = ctx.session.get(ProcessDefinition, ctx.definition.id).deployment_id
        definition = decisions.find_definition(
            ctx.session,
            key,
            binding=ref.binding,
            version=version,
            version_tag=ref.version_tag,
            deployment_id=deployment_id,
        )
        evaluation = decisions.evaluate_definition(ctx.session, definition, variables)
        if ref.result_variable:
            task.data[ref.result_variable] = map_result(key, evaluation.result, ref.map_result)
        ctx.rows.decision_instances.append(
            decisions.record_values(
                definition,
                evaluation,
                now=ctx.now,
                user=ctx.user,
                instance_id=ctx.instance.id,
                process_definition_id=ctx.definition.id,
                element_id=spec.bpmn_id,
                activity_instance_id=str(task.id),
            )
        )
        ctx.record(
            "decision_evaluated",
            spec.bpmn_id,
            str(task.id),
            {
                "decision": definition.key,
                "version": definition.version,
                "rules": [m.rule.id for m in evaluation.matched],
            },
        )
        log.debug(
            "instance %s: decision %s v%s matched %s",
            ctx.instance.id,
            definition.key,
            definition.version,
            [m.rule.id for m in evaluation.matched],
        )
        task.complete()
