"""DMN decision tables: parsing (parse), FEEL/JUEL cells (feel), the table model (model) and
evaluation with Camunda's hit policies (evaluate).

Camunda Modeler writes the tables; the engine deploys them as versioned decision definitions
(engine.decisions) and business rule tasks evaluate them (engine.runtime_decisions). The
package imports nothing itself, so the BPMN parser may use its pieces without a cycle.
"""
