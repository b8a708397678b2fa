"""A Jinja sandbox with an operation budget, for templates admins and users type in.

Jinja's sandbox stops attribute tricks but not arithmetic: `{{ 9**(9**7) }}` or
`{{ 'x' * 10**9 }}` would pin a worker's CPU or memory in a template preview. Powers,
products and repeated strings are bounded here; anything larger is a TemplateError the
preview shows like any other template mistake.
"""

from __future__ import annotations

import operator
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

MAX_EXPONENT = 64
MAX_RESULT_DIGITS = 100
MAX_TEXT = 100_000


class BoundedSandbox(SandboxedEnvironment):
    """SandboxedEnvironment whose `**` and `*` refuse results too large to be a message's text."""

    intercepted_binops = frozenset({"**", "*"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"the exponent {right} is over the template limit of {MAX_EXPONENT}")
            result = operator.pow(left, right)
        elif operator_name == "*":
            for text, times in ((left, right), (right, left)):
                if isinstance(text, str | list) and isinstance(times, int) and len(text) * times > MAX_TEXT:
                    raise SecurityError(f"repeating text to over {MAX_TEXT} characters is not allowed")
            result = operator.mul(left, right)
        else:
            return super().call_binop(context, operator_name, left, right)
        if isinstance(result, int) and result.bit_length() > MAX_RESULT_DIGITS * 4:
            raise SecurityError("the number is too large for a template")
        return result
