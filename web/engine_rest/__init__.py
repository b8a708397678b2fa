"""Camunda 7 REST subset under /engine-rest: what Camunda Modeler and external-task workers call.

Field names, the date format, typed variables and error bodies follow Camunda 7's REST
reference, so the Modeler's Deploy and Start buttons and the official external-task
clients work unchanged. Resources translate JSON into engine calls and engine errors into
Camunda's `{type, message}` bodies; the rules themselves live in the engine.

One module per resource, as Camunda's own engine-rest (`DeploymentRestServiceImpl`,
`TaskRestServiceImpl`, ...): importing this package registers them all on `bp`.
Callers authenticate with HTTP Basic (desk users) or a bearer API token. No CORS headers
are sent.
"""

from web.engine_rest import (  # noqa: F401  (each module registers its routes on bp)
    auth,
    decision_definition,
    definition_state,
    deployment,
    engine,
    errors,
    external_task,
    incident,
    message,
    migration,
    process_definition,
    process_instance,
    signal,
    task,
)
from web.engine_rest.blueprint import bp
from web.engine_rest.history import cleanup as history_cleanup  # noqa: F401
from web.engine_rest.history import (
    decision_instance,  # noqa: F401
    variable_instance,  # noqa: F401
)
from web.engine_rest.history import process_instance as history_process_instance  # noqa: F401

__all__ = ["bp"]
