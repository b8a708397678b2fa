"""The engine's exception tree: one base, one subclass per thing a caller can act on."""


class EngineError(Exception):
    """Base of every error the engine raises; catch it at the web/CLI edge."""


class NotFoundError(EngineError, LookupError):
    """Something named by id or key does not exist."""


class DefinitionNotFoundError(NotFoundError):
    """No deployed process definition has that id or key."""

    def __init__(self, ref: str, known: list[str] | None = None) -> None:
        self.ref = ref
        hint = f" Deployed keys: {', '.join(sorted(known))}." if known else " Deploy the diagram first."
        super().__init__(f"No process definition {ref!r}.{hint}")


class InstanceNotFoundError(NotFoundError):
    """No process instance has that id."""

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        super().__init__(f"No process instance {instance_id!r}; list them with `flask --app web instances`.")


class TaskNotFoundError(NotFoundError):
    """No user task has that id."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"No user task {task_id!r}; list open tasks with `flask --app web tasks`.")


class ExecutionNotFoundError(NotFoundError):
    """No running execution with that id waits for a signal."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(
            f"No execution {execution_id!r} waits for a signal; only a receive task without a message "
            "waits for one, and it may have been signalled already. Check the id of the waiting receive task."
        )


class IncidentNotFoundError(NotFoundError):
    """No incident has that id."""

    def __init__(self, incident_id: int) -> None:
        self.incident_id = incident_id
        super().__init__(f"No open incident {incident_id}; list them with `flask --app web incidents`.")


class TaskAlreadyCompleted(EngineError):
    """The task was completed (or cancelled) before this request reached it."""

    def __init__(self, task_id: str, by: str | None = None) -> None:
        self.task_id, self.by = task_id, by
        who = f" by {by}" if by else ""
        super().__init__(f"Task {task_id} was already completed{who}; reload the task list.")


class TaskAlreadyClaimed(EngineError):
    """Someone else holds the task; it must be unclaimed (or delegated) first."""

    def __init__(self, task_id: str, assignee: str) -> None:
        self.task_id, self.assignee = task_id, assignee
        super().__init__(f"Task {task_id} is already claimed by {assignee}; ask them to unclaim it.")


class ConcurrentUpdateError(EngineError):
    """Another transaction changed the instance first; the caller may reload and retry."""

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        super().__init__(f"Instance {instance_id} was changed by someone else at the same time; try again.")


class MessageNotCorrelatedError(EngineError):
    """No waiting instance and no message start event matches the message."""

    def __init__(self, message_name: str, business_key: str | None) -> None:
        self.message_name, self.business_key = message_name, business_key
        key = f" with business key {business_key!r}" if business_key else ""
        super().__init__(
            f"No process instance is waiting for message {message_name!r}{key}, and no deployed "
            f"process starts with it. Check the message name in the diagram."
        )


class MessageCorrelationAmbiguousError(MessageNotCorrelatedError):
    """A message for one execution matches several (Camunda's MismatchingMessageCorrelationException)."""

    def __init__(self, message_name: str, count: int) -> None:
        self.message_name, self.business_key, self.count = message_name, None, count
        EngineError.__init__(
            self,
            f"Cannot correlate a message with name {message_name!r} to a single execution. {count} "
            "executions match the correlation keys; give a business key, a processInstanceId or "
            "correlation keys that single one out, or correlate to all",
        )


class ProcessError(EngineError):
    """The process itself failed while stepping (a condition raised, no gateway path matched…)."""

    def __init__(self, instance_id: str, element_id: str | None, reason: str) -> None:
        self.instance_id, self.element_id, self.reason = instance_id, element_id, reason
        where = f" at {element_id!r}" if element_id else ""
        super().__init__(f"Process instance {instance_id} failed{where}: {reason}")


class InvalidStateError(EngineError):
    """The operation does not apply to the object in its current state."""
