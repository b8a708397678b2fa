"""Who may do what: the one permission decision every door asks (UI, /engine-rest, /api, CLI).

Camunda 7's model, cut to what the desk has: resources × permissions, granted to roles,
groups, users, or to a task's own people ("assignee", "candidate"), optionally for one
resource id (a process key, a message name, a topic). The defaults are today's UI rules
written down once, so the web pages, the REST API and the CLI cannot disagree.

API tokens carry scopes; a token is a principal whose permissions are only what its
scopes grant (`engine:admin` lends the token its user's role grants).

`may()` is a pure function: callers pass the principal, the permission and the resource
they already loaded; nothing here reads the database or the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.errors import PermissionDenied

# Resource -> its permissions, as Camunda names them (lower case, our resource names).
RESOURCES: Mapping[str, tuple[str, ...]] = {
    "engine": ("read",),
    "process_definition": ("read", "start", "suspend"),
    "process_instance": ("read", "update_variables", "cancel", "migrate"),
    "task": ("read", "claim", "complete", "assign"),
    "message": ("correlate",),
    "deployment": ("read", "create", "delete"),
    "decision_definition": ("read", "evaluate", "read_history"),
    "external_task": ("read", "fetch"),
    "incident": ("read", "retry"),
    "request": ("read", "create", "reply", "convert"),
    "invoice": ("read", "pay"),
    "field_task": ("read", "start", "finish"),
    "report": ("read",),
    "mail": ("ingest",),
    "telephony": ("webhook",),
    "admin": ("manage",),
    "absence": ("read", "manage", "hand_over"),
    "calendar": ("read", "read_all"),
    # Retention (issue 23): running Camunda's history cleanup, and erasing a contact's personal
    # data. Nobody but admins holds them by default.
    "history_cleanup": ("read", "run"),
    "contact_erasure": ("erase",),
}
# Messages that stand for a person's act: the generic "any staff may correlate" grant does
# not cover them; only explicit grants (the UI's rule) or a token scoped to them do.
PERSON_ACT_MESSAGES = frozenset({"invoice.paid", "task.started", "task.finished"})
STAFF_ROLES = ("operator", "dispatcher", "manager", "executor", "approver", "analyst")
ROLES = (*STAFF_ROLES, "admin")
ANY = "*"


@dataclass(frozen=True)
class Grant:
    """`who` may do `permission` on `resource` (all of them, or the one named by `resource_id`).

    `who` is `role:NAME`, `group:NAME`, `user:LOGIN`, `staff` (any signed-in staff user),
    or a task's own people: `assignee`, `candidate` (offered to them or their group),
    `unassigned_candidate` (the same, while nobody holds the task), `completer` (who completed
    it, to see it afterwards), `starter` (who started an instance).
    """

    resource: str
    permission: str
    who: str
    resource_id: str = ANY


def _roles(resource: str, permission: str, roles: Iterable[str], resource_id: str = ANY) -> list[Grant]:
    return [Grant(resource, permission, f"role:{r}", resource_id) for r in roles]


DEFAULT_GRANTS: tuple[Grant, ...] = (
    Grant("engine", "read", "staff"),
    # Process definitions: the process pages are for managers and analysts; operators start requests.
    Grant("process_definition", "read", "staff"),
    *_roles("process_definition", "start", ("analyst", "operator")),
    *_roles("process_definition", "suspend", ("analyst",)),
    *_roles("process_instance", "read", ("manager", "analyst")),
    Grant("process_instance", "read", "starter"),
    *_roles("process_instance", "update_variables", ("manager", "analyst")),
    *_roles("process_instance", "cancel", ("manager", "analyst")),
    *_roles("process_instance", "migrate", ("analyst",)),
    *_roles("incident", "read", ("manager", "analyst")),
    *_roles("incident", "retry", ("manager", "analyst")),
    Grant("deployment", "read", "staff"),
    *_roles("deployment", "create", ("analyst",)),
    *_roles("deployment", "delete", ("analyst",)),
    # Decision tables: staff read them (the admin pages show them); analysts try them out
    # (the Modeler's "run decision"); an evaluation's history shows variables, as instances do.
    Grant("decision_definition", "read", "staff"),
    *_roles("decision_definition", "evaluate", ("analyst",)),
    *_roles("decision_definition", "read_history", ("manager", "analyst")),
    # Tasks: their own people; managers see every task and hand tasks over.
    Grant("task", "read", "assignee"),
    Grant("task", "read", "candidate"),
    Grant("task", "read", "completer"),
    *_roles("task", "read", ("manager",)),
    Grant("task", "claim", "candidate"),
    Grant("task", "complete", "assignee"),
    Grant("task", "complete", "unassigned_candidate"),
    Grant("task", "assign", "assignee"),
    *_roles("task", "assign", ("manager",)),
    # Messages: any staff user for process messages; a person's act only as in the UI.
    Grant("message", "correlate", "staff"),
    *_roles("message", "correlate", ("dispatcher", "manager"), "invoice.paid"),
    *_roles("message", "correlate", ("dispatcher",), "task.started"),
    *_roles("message", "correlate", ("dispatcher",), "task.finished"),
    # External tasks: workers with an engine:worker token; staff read the list.
    *_roles("external_task", "read", ("manager", "analyst")),
    # Desk pages.
    Grant("request", "read", "staff"),
    *_roles("request", "create", ("operator", "dispatcher", "manager")),  # phone calls and walk-ins
    *_roles("request", "reply", ("operator", "dispatcher", "manager", "executor")),
    *_roles("request", "convert", ("dispatcher", "manager")),
    *_roles("invoice", "read", ("dispatcher", "manager", "operator")),
    *_roles("invoice", "pay", ("dispatcher", "manager")),
    *_roles("field_task", "read", ("dispatcher", "manager", "operator")),
    Grant("field_task", "read", "assignee"),
    Grant("field_task", "start", "assignee"),
    Grant("field_task", "finish", "assignee"),
    *_roles("field_task", "start", ("dispatcher",)),
    *_roles("field_task", "finish", ("dispatcher",)),
    *_roles("report", "read", ("manager",)),
    # Absences: everyone sees who is away; managers (and admins) enter them; the dispatcher
    # hands an absent person's open tasks to their substitute.
    Grant("absence", "read", "staff"),
    *_roles("absence", "manage", ("manager",)),
    *_roles("absence", "hand_over", ("dispatcher", "manager")),
    # Calendars: one's own and one's groups'; managers and dispatchers plan with everyone's.
    Grant("calendar", "read", "staff"),
    *_roles("calendar", "read_all", ("dispatcher", "manager")),
)

# Token scopes: what a bearer token may do, whatever its user's roles.
SCOPES: Mapping[str, str] = {
    "mail:ingest": "POST /api/email: hand in a received e-mail",
    "telephony": "/api/telephony/*: the PBX's routing and call-event webhooks",
    "invoices:pay": "POST /api/invoices/{n}/paid, and correlating invoice.paid",
    "engine:worker": "/engine-rest/external-task: fetch, lock and complete tasks "
    "(of the listed topics: engine:worker:TOPIC)",
    "engine:admin": "the whole /engine-rest as the token's user's roles allow",
}
SCOPE_GRANTS: Mapping[str, tuple[tuple[str, str, str], ...]] = {
    "invoices:pay": (("invoice", "pay", ANY), ("message", "correlate", "invoice.paid")),
    "engine:worker": (("external_task", "fetch", ANY), ("external_task", "read", ANY)),
    "mail:ingest": (("mail", "ingest", ANY),),
    "telephony": (("telephony", "webhook", ANY),),
}


@dataclass(frozen=True)
class Principal:
    """Who is asking: a signed-in user, or a bearer token (`scopes` is then not None)."""

    username: str
    roles: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    scopes: frozenset[str] | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles and (self.scopes is None or "engine:admin" in self.scopes)

    @property
    def is_token(self) -> bool:
        return self.scopes is not None

    @classmethod
    def of(
        cls,
        username: str,
        roles: Iterable[str] = (),
        groups: Iterable[str] = (),
        scopes: Iterable[str] | None = None,
    ) -> Principal:
        return cls(
            username, frozenset(roles), frozenset(groups), frozenset(scopes) if scopes is not None else None
        )


@dataclass(frozen=True)
class TaskPeople:
    """The people of one task (or instance) that relational grants refer to."""

    assignee: str | None = None
    candidate_users: Sequence[str] = ()
    candidate_groups: Sequence[str] = ()
    completed_by: str | None = None
    started_by: str | None = None

    @classmethod
    def of(cls, task: Any) -> TaskPeople:
        """From a UserTask row, a tasklist view, a desk Task or an Instance (any of these attributes)."""
        return cls(
            getattr(task, "assignee", None),
            tuple(getattr(task, "candidate_users", None) or ()),
            tuple(getattr(task, "candidate_groups", None) or ()),
            getattr(task, "completed_by", None),
            getattr(task, "started_by", None),
        )


@dataclass
class Matrix:
    """The grants in force; `DEFAULT` holds today's rules, tests and admins may build others."""

    grants: tuple[Grant, ...] = DEFAULT_GRANTS
    person_act_messages: frozenset[str] = field(default=PERSON_ACT_MESSAGES)

    def rows(self) -> list[dict[str, Any]]:
        """One row per resource × permission × resource id, with who holds it: the admin page and CLI."""
        rows: dict[tuple[str, str, str], list[str]] = {}
        for resource, permissions in RESOURCES.items():
            for permission in permissions:
                rows[(resource, permission, ANY)] = []
        for g in self.grants:
            rows.setdefault((g.resource, g.permission, g.resource_id), []).append(g.who)
        for scope, grants in SCOPE_GRANTS.items():
            for resource, permission, resource_id in grants:
                rows.setdefault((resource, permission, resource_id), []).append(f"scope:{scope}")
        return [
            {"resource": r, "permission": p, "resourceId": i, "grantedTo": sorted(who) + ["role:admin"]}
            for (r, p, i), who in sorted(rows.items())
        ]


DEFAULT = Matrix()


def may(
    principal: Principal | None,
    permission: str,
    resource: str,
    resource_id: str | None = None,
    task: Any = None,
    matrix: Matrix = DEFAULT,
) -> bool:
    """Whether `principal` holds `permission` on `resource` (the one named `resource_id`, if given).

    Admins hold everything. Tokens hold what their scopes grant (plus their user's grants
    with `engine:admin`). `task` supplies the people task and field-task grants refer to.
    """
    if resource not in RESOURCES or permission not in RESOURCES[resource]:
        raise ValueError(f"Unknown permission {resource}.{permission}; known: {sorted(RESOURCES)}")
    if principal is None:
        return False
    if principal.is_token:
        if _scope_allows(principal.scopes or frozenset(), permission, resource, resource_id):
            return True
        if "engine:admin" not in (principal.scopes or ()):
            return False
    if "admin" in principal.roles:
        return True
    people = TaskPeople.of(task) if task is not None else None
    for grant in matrix.grants:
        if grant.resource != resource or grant.permission != permission:
            continue
        if grant.resource_id != ANY and grant.resource_id != resource_id:
            continue
        if grant.resource_id == ANY and resource == "message" and resource_id in matrix.person_act_messages:
            continue
        if _holds(principal, grant.who, people):
            return True
    return False


def require(
    principal: Principal | None,
    permission: str,
    resource: str,
    resource_id: str | None = None,
    task: Any = None,
    matrix: Matrix = DEFAULT,
) -> None:
    """`may()`, or PermissionDenied naming what is missing."""
    if not may(principal, permission, resource, resource_id, task, matrix):
        raise PermissionDenied(principal.username if principal else None, permission, resource, resource_id)


def topics_allowed(principal: Principal) -> frozenset[str] | None:
    """The external-task topics a principal may fetch: None means every topic."""
    if not principal.is_token:
        return None
    scopes = principal.scopes or frozenset()
    if "engine:worker" in scopes or principal.is_admin:
        return None
    return frozenset(s.removeprefix("engine:worker:") for s in scopes if s.startswith("engine:worker:"))


def _scope_allows(scopes: frozenset[str], permission: str, resource: str, resource_id: str | None) -> bool:
    if resource == "engine" and scopes:
        return True  # /version and /engine: any scoped token may ask which engine it talks to
    for scope in scopes:
        if scope.startswith("engine:worker:"):
            topic = scope.removeprefix("engine:worker:")
            if resource == "external_task" and (resource_id is None or resource_id == topic):
                return True
            continue
        for g_resource, g_permission, g_id in SCOPE_GRANTS.get(scope, ()):
            if (g_resource, g_permission) == (resource, permission) and g_id in (ANY, resource_id):
                return True
    return False


def _holds(principal: Principal, who: str, people: TaskPeople | None) -> bool:
    kind, _, name = who.partition(":")
    if kind == "role":
        return name in principal.roles
    if kind == "group":
        return name in principal.groups
    if kind == "user":
        return name == principal.username
    if kind == "staff":
        return bool(principal.roles & set(ROLES))
    if people is None:
        return False
    if kind == "assignee":
        return people.assignee == principal.username
    if kind == "starter":
        return people.started_by is not None and people.started_by == principal.username
    if kind == "completer":
        return people.completed_by is not None and people.completed_by == principal.username
    if kind in ("candidate", "unassigned_candidate"):
        offered = principal.username in people.candidate_users or bool(
            principal.groups & set(people.candidate_groups)
        )
        return offered and (kind == "candidate" or people.assignee is None)
    raise ValueError(f"Grant names an unknown kind of holder {who!r}")


def parse_scopes(raw: Iterable[str]) -> list[str]:
    """Validated scope names from a form or the CLI; ValueError naming an unknown one."""
    scopes = sorted({s.strip() for s in raw if s and s.strip()})
    for scope in scopes:
        base = "engine:worker" if scope.startswith("engine:worker:") else scope
        if base not in SCOPES:
            raise ValueError(f"Unknown scope {scope!r}; known: {', '.join(SCOPES)} (or engine:worker:TOPIC)")
    return scopes


def roles_holding(permission: str, resource: str, matrix: Matrix = DEFAULT) -> tuple[str, ...]:
    """The roles whose holders have `permission` on every `resource` (admin always): the UI's menus."""
    return tuple(r for r in ROLES if may(Principal.of("?", roles=(r,)), permission, resource, matrix=matrix))


def principal_of(user: Any) -> Principal | None:
    """A signed-in user (anything with username, roles, groups) as a principal; None if anonymous."""
    if user is None or not getattr(user, "is_authenticated", True) or not getattr(user, "username", None):
        return None
    return Principal.of(user.username, user.roles or (), user.groups or ())
