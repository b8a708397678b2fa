"""Bounds the engine keeps whatever a diagram or its variables say.

A multi-instance activity whose `loopCardinality` (or collection) evaluates to a huge
number would create that many tasks in one step. The runtime asks
`check_cardinality` before expanding one; over the cap the step fails with
CardinalityTooLargeError, which the runtime records as an incident naming the element and
the number. (The hook into engine/runtime.py's multi-instance code is left to its owner:
call `check_cardinality(instance_id, element_id, n, cap)` where the cardinality is known.)
"""

from __future__ import annotations

from engine.errors import ProcessError

DEFAULT_MAX_CARDINALITY = 1000


class CardinalityTooLargeError(ProcessError):
    """A multi-instance activity asked for more instances than the configured cap."""

    def __init__(self, instance_id: str, element_id: str, cardinality: int, cap: int) -> None:
        self.cardinality, self.cap = cardinality, cap
        super().__init__(
            instance_id,
            element_id,
            f"multi-instance cardinality {cardinality} is over the cap of {cap} (MAX_MI_CARDINALITY); "
            "fix the collection or loopCardinality, or raise the cap, then retry the incident",
        )


def check_cardinality(
    instance_id: str, element_id: str, cardinality: int, cap: int = DEFAULT_MAX_CARDINALITY
) -> int:
    """`cardinality` if within `cap`; CardinalityTooLargeError naming the element and the number otherwise."""
    if cardinality > cap:
        raise CardinalityTooLargeError(instance_id, element_id, cardinality, cap)
    return cardinality
