"""camunda:formRef as Camunda 7 resolves it: by the Camunda Form's `id`, with a binding.

Camunda 7 deploys each .form file as a form definition whose key is the `id` inside the
JSON (not the file name) and numbers its versions per key. A user or start event's
`camunda:formRef="invoiceForm"` names that id; `camunda:formRefBinding` says which version:
`deployment` (the one deployed with the diagram), `latest`, or `version` with
`camunda:formRefVersion`. Camunda's BpmnParse refuses at deploy a formRef without a valid
binding and an element with both formKey and formRef; it looks the form up only when the
task's form is asked for. We refuse at deploy too when binding=deployment and the form is
not in the deployment (it can never be found), and warn for latest/version forms not
deployed yet (a later deployment may bring them, as in Camunda).

`camunda:formKey="camunda-forms:deployment:forms/x.form"` is different: Camunda reads it as
a resource path, so engine.definitions keeps resolving formKey by file name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.forms import FormError, FormSchema, schema_from_form_js
from engine.store import Deployment, Resource

CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
BINDINGS = ("deployment", "latest", "version")


class FormRefError(ValueError):
    """The element's formRef attributes break one of Camunda's rules; the message says which."""


@dataclass(frozen=True)
class FormRef:
    """What an element's camunda:formRef, formRefBinding and formRefVersion ask for."""

    form_id: str
    binding: str
    version: int | None = None

    def describe(self) -> str:
        pinned = f" version {self.version}" if self.binding == "version" else ""
        return f"form id {self.form_id!r} (formRefBinding {self.binding}{pinned})"


def parse_form_ref(node: Any) -> FormRef | None:
    """The element's form reference, or None without camunda:formRef; FormRefError when invalid."""
    ref = node.get(f"{CAMUNDA}formRef")
    if ref is None:
        return None
    if node.get(f"{CAMUNDA}formKey") is not None:
        raise FormRefError("has both camunda:formKey and camunda:formRef; Camunda allows only one of them")
    binding = node.get(f"{CAMUNDA}formRefBinding")
    if binding not in BINDINGS:
        raise FormRefError(
            f"camunda:formRefBinding must be one of {', '.join(BINDINGS)}, not {binding!r}; "
            "choose the binding under Forms in Camunda Modeler's properties panel"
        )
    if "${" in ref or "#{" in ref:
        raise FormRefError(
            f"camunda:formRef {ref!r} is an expression, which this engine does not resolve; "
            'write the form\'s id (the "id" in the .form file)'
        )
    version = None
    if binding == "version":
        text = (node.get(f"{CAMUNDA}formRefVersion") or "").strip()
        if not text.isdigit() or int(text) < 1:
            raise FormRefError(
                f"camunda:formRefBinding is version, so camunda:formRefVersion must be a version "
                f"number like 1, not {text!r}"
            )
        version = int(text)
    return FormRef(ref.strip(), binding, version)


def form_id(content: bytes) -> str | None:
    """The `id` a Camunda Form declares (what formRef names), None when it has none."""
    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    value = doc.get("id") if isinstance(doc, dict) else None
    return value if isinstance(value, str) and value else None


@dataclass
class FormCatalog:
    """Every deployed Camunda Form by id and version (1, 2… in deployment order), as Camunda numbers them."""

    versions: dict[str, list[FormSchema]] = field(default_factory=dict)

    def latest(self, form: str) -> FormSchema | None:
        found = self.versions.get(form)
        return found[-1] if found else None

    def version(self, form: str, number: int) -> FormSchema | None:
        found = self.versions.get(form) or []
        return found[number - 1] if 0 < number <= len(found) else None

    def next_version(self, form: str) -> int:
        return len(self.versions.get(form) or []) + 1


def catalog_of(forms: Iterable[tuple[str, bytes]]) -> FormCatalog:
    """A catalog from (file name, content) pairs in deployment order; unreadable forms are skipped."""
    catalog = FormCatalog()
    for name, content in forms:
        key = form_id(content)
        if key is None:
            continue
        try:
            catalog.versions.setdefault(key, []).append(schema_from_form_js(content, name))
        except FormError:
            continue
    return catalog


def deployed_forms(session: Session) -> list[tuple[str, bytes]]:
    """Every stored .form resource as (file name, content), in deployment order."""
    rows = session.execute(
        select(Resource.name, Resource.content)
        .join(Deployment, Deployment.id == Resource.deployment_id)
        .where(Resource.name.like("%.form"))
        .order_by(Deployment.deployed_at, Resource.id)
    ).all()
    return [(name, content) for name, content in rows]


def resolve(ref: FormRef, own: Mapping[str, FormSchema], catalog: FormCatalog) -> FormSchema | None:
    """The form `ref` names: from the diagram's own deployment (`own`, by id) or the catalog of
    every deployed form, the diagram's deployment included."""
    if ref.binding == "deployment":
        return own.get(ref.form_id)
    if ref.binding == "latest":
        return catalog.latest(ref.form_id)
    return catalog.version(ref.form_id, ref.version or 0)


def forms_stamp(session: Session) -> tuple[int, int]:
    """(count, highest id) of the stored .form resources: changes whenever a form is deployed or deleted.

    A definition whose formRef is bound `latest` or `version` resolved its forms against the
    forms stored then; Camunda looks the form up each time it is asked for, so a form
    deployed later must be seen without a restart. The engine's definition cache compares
    this stamp (one indexed aggregate over the resource table) before reusing such a
    definition, in every process of a scaled-out deployment alike.
    """
    count, highest = session.execute(
        select(func.count(Resource.id), func.max(Resource.id)).where(Resource.name.like("%.form"))
    ).one()
    return int(count), int(highest or 0)


def forms_changed(session: Session, info: Any) -> bool:
    """Whether a cached definition's late-bound formRefs (latest/version) may now resolve otherwise."""
    return bool(info.late_form_refs) and forms_stamp(session) != info.forms_stamp
