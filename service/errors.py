"""The service layer's errors: each says what was refused and what to do instead."""

from __future__ import annotations

from collections.abc import Iterable


class ServiceError(Exception):
    """Base class: a request the service layer refuses, whatever door it came through."""

    status = 400


class PermissionDenied(ServiceError):
    """The principal lacks a permission in the matrix (`flask --app web permissions`)."""

    status = 403

    def __init__(self, username: str | None, permission: str, resource: str, resource_id: str | None) -> None:
        self.username, self.permission, self.resource, self.resource_id = (
            username,
            permission,
            resource,
            resource_id,
        )
        what = f"{resource}.{permission}" + (f" on {resource_id!r}" if resource_id else "")
        super().__init__(
            f"User {username!r} lacks the permission {what}. Ask an admin; the matrix is on "
            "/admin/permissions and printed by `flask --app web permissions`."
        )


class UndeclaredVariablesError(ServiceError):
    """A task completion sets variables its form does not declare."""

    def __init__(self, task_id: str, names: Iterable[str], declared: Iterable[str]) -> None:
        self.task_id, self.names = task_id, sorted(names)
        allowed = ", ".join(sorted(declared)) or "none"
        super().__init__(
            f"Task {task_id} does not declare the variables {', '.join(self.names)}; its completion "
            f"sets only its form fields ({allowed}). Change other variables through the instance's "
            "variables (POST /engine-rest/process-instance/{id}/variables) if you hold that permission."
        )


class UnknownAssigneeError(ServiceError):
    """A login given as assignee is not an active user who may work the task."""

    def __init__(self, login: str, reason: str) -> None:
        self.login = login
        super().__init__(f"Cannot assign to {login!r}: {reason}. Pick an active user of the right group.")


class UndeclaredOutputsError(ServiceError):
    """An external-task worker's completion sets variables its topic does not own."""

    def __init__(self, topic: str, names: Iterable[str], reason: str) -> None:
        self.topic, self.names = topic, sorted(names)
        super().__init__(
            f"Topic {topic} may not set the variables {', '.join(self.names)}: {reason}. Change other "
            "variables through the instance's variables (POST /engine-rest/process-instance/{id}/variables) "
            "if you hold that permission."
        )
