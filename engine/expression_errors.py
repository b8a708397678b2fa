"""What goes wrong with an expression, at deploy (compiling) or at run time (evaluating).

Their own module so the parts of the expression language (values, sandbox, compiler) and every
caller name one set of errors; engine.expressions re-exports them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from engine.errors import EngineError


class ExpressionError(EngineError):
    """An expression cannot be compiled (bad syntax or a refused construct); raised at deploy."""

    def __init__(self, expression: str, reason: str, *, subject: str | None = None, hint: str = "") -> None:
        self.expression, self.reason, self.subject = expression, reason, subject
        head = f"uses {subject!r}: {reason}" if subject else f"is not valid: {reason}"
        super().__init__(f"Expression {expression} {head}." + (f" {hint}" if hint else ""))


class ExpressionSyntaxError(ExpressionError, SyntaxError):
    """An expression is not well-formed; also a SyntaxError, which SpiffWorkflow's DMN code probes for."""


class ExpressionEvaluationError(EngineError):
    """An expression failed while running: unknown variable, wrong type, or a size limit."""

    def __init__(
        self, expression: str, reason: str, *, variable: str | None = None, available: Iterable[str] = ()
    ) -> None:
        self.expression, self.reason, self.variable = expression, reason, variable
        self.available = tuple(available)
        super().__init__(f"Expression {expression} failed: {reason}")

    @classmethod
    def unknown_variable(
        cls, expression: str, variable: str, available: Iterable[str]
    ) -> ExpressionEvaluationError:
        """Camunda says "Unknown property used in expression"; we also say what is set and what was meant."""
        names = sorted(name for name in available if isinstance(name, str) and not name.startswith("_"))
        guess = difflib.get_close_matches(variable, names, n=1)
        shown = ", ".join(names[:30]) + (f" and {len(names) - 30} more" if len(names) > 30 else "")
        reason = (
            f"unknown variable {variable!r} (Unknown property used in expression)."
            + (f" Did you mean {guess[0]!r}?" if guess else "")
            + (f" Set variables: {shown}." if names else " No variables are set.")
            + " Set it before this step or fix the name in the diagram"
        )
        return cls(expression, reason, variable=variable, available=names)


class ExpressionFunctionError(EngineError):
    """Engine code offered an expression function under a name expressions cannot call."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason
        super().__init__(f"Expression function {name!r} cannot be registered: {reason}.")
