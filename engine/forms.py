"""Form schemas from camunda:formData and Camunda Forms (.form JSON), and validation of submitted data.

Both notations describe the same thing, fields with a type and constraints; we turn
them into one `FormSchema` so the task list renders, and the runtime validates, one
shape. Submitted values arrive as strings from HTML forms or typed from JSON APIs;
validation coerces them to the declared type and refuses bad ones by field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from engine.errors import EngineError
from engine.expressions import evaluate, is_expression, render
from engine.typed_values import Long


class FormError(EngineError):
    """A form definition (.form file or camunda:formData) cannot be understood."""


class FormValidationError(EngineError):
    """Submitted form data breaks the form's rules; nothing was saved."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        detail = "; ".join(f"{name}: {reason}" for name, reason in self.errors.items())
        super().__init__(f"Form data is invalid ({detail}). Correct these fields and submit again.")


FIELD_TYPES = {"string", "long", "double", "boolean", "date", "enum", "text"}


@dataclass(frozen=True)
class FormField:
    """One input; `type` is one of FIELD_TYPES, `widget` how the UI draws it."""

    id: str
    label: str = ""
    type: str = "string"
    widget: str = "textfield"
    required: bool = False
    readonly: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    description: str = ""
    required_if: str | None = None  # an expression over the submitted values, e.g. "approved == false"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "type": self.type,
            "widget": self.widget,
            "required": self.required,
            "readonly": self.readonly,
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "min_length": self.min_length,
            "max_length": self.max_length,
            "pattern": self.pattern,
            "options": [list(o) for o in self.options],
            "description": self.description,
            "required_if": self.required_if,
        }

    @classmethod
    def from_dict(cls, dct: dict[str, Any]) -> FormField:
        dct = dict(dct)
        dct["options"] = tuple(tuple(o) for o in dct.get("options", ()))
        return cls(**dct)


@dataclass(frozen=True)
class FormSchema:
    """The fields of a start or user-task form, in display order."""

    fields: tuple[FormField, ...] = field(default_factory=tuple)
    source: str = "none"  # formData | camunda-forms | none

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "fields": [f.to_dict() for f in self.fields]}

    @classmethod
    def from_dict(cls, dct: dict[str, Any] | None) -> FormSchema:
        if not dct:
            return cls()
        return cls(tuple(FormField.from_dict(f) for f in dct.get("fields", [])), dct.get("source", "none"))

    def with_defaults(self, variables: dict[str, Any]) -> FormSchema:
        """Resolve ${...} defaults (e.g. a suggested executor) against the task's variables."""
        if not any(is_expression(f.default) for f in self.fields):
            return self
        fields = tuple(
            replace(f, default=render(f.default, variables)) if is_expression(f.default) else f
            for f in self.fields
        )
        return FormSchema(fields, self.source)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        """Return the submitted values coerced to their types; raise FormValidationError otherwise.

        Keys the form does not declare pass through unchanged (Camunda accepts extra
        variables on complete), so an API client may set more than the form shows.
        """
        result: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for f in self.fields:
            if f.readonly or f.widget == "text":
                continue
            raw = data.get(f.id)
            try:
                value = _coerce(f, raw)
                _check(f, value)
                if self.source == "formData":
                    value = _form_data_model_value(f, value)
            except ValueError as err:
                errors[f.id] = str(err)
                continue
            if value is not None or f.id in data:
                result[f.id] = value
        for f in self.fields:
            if f.required_if and f.id not in errors and result.get(f.id) in (None, ""):
                if evaluate(f.required_if, {**{x.id: None for x in self.fields}, **result}):
                    errors[f.id] = f"is required when {f.required_if}"
        if errors:
            raise FormValidationError(errors)
        declared = {f.id for f in self.fields}
        result.update({k: v for k, v in data.items() if k not in declared})
        return result


def _empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def _coerce(f: FormField, raw: Any) -> Any:
    if _empty(raw):
        if f.type == "boolean" and f.widget == "checkbox" and raw is not None:
            return False
        return None
    if f.type == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"true", "on", "1", "yes", "да"}:
            return True
        if text in {"false", "off", "0", "no", "нет"}:
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if f.type == "long":
        if isinstance(raw, bool):
            raise ValueError(f"expected a whole number, got {raw!r}")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
    if f.type == "double":
        if isinstance(raw, bool):
            raise ValueError(f"expected a number, got {raw!r}")
        try:
            return float(str(raw).strip().replace(",", "."))
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
    if f.type == "date":
        if isinstance(raw, datetime):
            return raw  # a REST Date; kept a moment, not flattened to text
        if isinstance(raw, date):
            return raw.isoformat()
        text = str(raw).strip()
        for parser in (date.fromisoformat, datetime.fromisoformat):
            try:
                return parser(text).isoformat()
            except ValueError:
                continue
        for fmt in ("%d/%m/%Y", "%d.%m.%Y"):
            try:
                return datetime.strptime(text, fmt).date().isoformat()
            except ValueError:
                continue
        raise ValueError(f"expected a date like 2026-11-23, got {raw!r}")
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if not isinstance(raw, str | int | float):
        raise ValueError(f"expected text, got {type(raw).__name__}")
    return str(raw)


def _form_data_model_value(f: FormField, value: Any) -> Any:
    """The variable Camunda's FormFieldType makes of a camunda:formData value.

    LongFormType stores a java.lang.Long and DateFormType a java.util.Date (its form value is
    a string in the pattern dd/MM/yyyy); boolean and enum stay Boolean and String. So a
    formData `date` becomes a datetime at local midnight (what SimpleDateFormat parses a day
    to on the server) and a `long` a Long, and REST answers them typed Date and Long.
    """
    if value is None:
        return None
    if f.type == "long":
        return Long(value)
    if f.type == "date":
        return _form_data_date(value)
    return value


def _form_data_date(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    try:
        day = datetime.strptime(text, "%d/%m/%Y")  # DateFormType's default pattern
    except ValueError:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo or "T" in text:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        day = parsed
    return day.astimezone()  # local midnight of that day, in the zone it has on that day


def _check(f: FormField, value: Any) -> None:
    if value is None:
        if f.required:
            raise ValueError("is required")
        return
    if f.options and f.type in {"enum", "string"} and str(value) not in {o[0] for o in f.options}:
        allowed = ", ".join(o[0] for o in f.options)
        raise ValueError(f"{value!r} is not one of the choices ({allowed})")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if f.minimum is not None and value < f.minimum:
            raise ValueError(f"must be at least {f.minimum:g}")
        if f.maximum is not None and value > f.maximum:
            raise ValueError(f"must be at most {f.maximum:g}")
    if isinstance(value, str):
        if f.min_length is not None and len(value) < f.min_length:
            raise ValueError(f"must be at least {f.min_length} characters")
        if f.max_length is not None and len(value) > f.max_length:
            raise ValueError(f"must be at most {f.max_length} characters")
        if f.pattern and not re.fullmatch(f.pattern, value):
            raise ValueError(f"does not match the pattern {f.pattern}")


CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
_FORMDATA_WIDGETS = {"boolean": "checkbox", "enum": "select", "long": "number", "date": "datetime"}


def schema_from_form_data(field_nodes: list[Any]) -> FormSchema:
    """Build a schema from camunda:formField XML elements (Camunda Modeler's generated forms)."""
    fields = []
    for node in field_nodes:
        validations = {
            c.get("name"): c.get("config")
            for v in node.findall(f"{CAMUNDA}validation")
            for c in v.findall(f"{CAMUNDA}constraint")
        }
        ftype = node.get("type") or "string"
        if ftype not in {"string", "long", "boolean", "date", "enum"}:
            ftype = "string"
        options = tuple((v.get("id"), v.get("name") or v.get("id")) for v in node.findall(f"{CAMUNDA}value"))
        properties = {
            p.get("id"): p.get("value")
            for ps in node.findall(f"{CAMUNDA}properties")
            for p in ps.findall(f"{CAMUNDA}property")
        }
        fields.append(
            FormField(
                id=node.get("id"),
                label=node.get("label") or node.get("id"),
                type=ftype,
                widget=_FORMDATA_WIDGETS.get(ftype, "textfield"),
                required="required" in validations,
                readonly="readonly" in validations,
                default=node.get("defaultValue"),
                minimum=_num(validations.get("min")),
                maximum=_num(validations.get("max")),
                min_length=_int(validations.get("minlength")),
                max_length=_int(validations.get("maxlength")),
                options=options,
                required_if=properties.get("requiredIf"),
            )
        )
    return FormSchema(tuple(fields), "formData" if fields else "none")


def _num(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def _int(text: str | None) -> int | None:
    return int(text) if text not in (None, "") else None


_FORM_JS_TYPES = {
    "textfield": "string",
    "textarea": "string",
    "number": "double",
    "checkbox": "boolean",
    "select": "enum",
    "radio": "enum",
    "datetime": "date",
    "text": "text",
}


def schema_from_form_js(content: bytes | str, filename: str = "form") -> FormSchema:
    """Build a schema from a Camunda Forms (form-js) JSON document."""
    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError) as err:
        raise FormError(f"{filename} is not valid JSON ({err}). Re-export it from Camunda Modeler.") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("components"), list):
        raise FormError(f"{filename} has no 'components' list; it is not a Camunda Form.")
    fields: list[FormField] = []
    _collect_components(doc["components"], fields, filename)
    return FormSchema(tuple(fields), "camunda-forms")


def _collect_components(components: list[Any], out: list[FormField], filename: str) -> None:
    for comp in components:
        if not isinstance(comp, dict):
            raise FormError(f"{filename}: a component is not an object")
        ctype = comp.get("type", "")
        if isinstance(comp.get("components"), list):
            _collect_components(comp["components"], out, filename)
            continue
        if ctype in {"button", "spacer", "separator", "image", "html", "default"}:
            continue
        if ctype not in _FORM_JS_TYPES:
            raise FormError(f"{filename}: component type {ctype!r} is not supported")
        validate = comp.get("validate") or {}
        key = comp.get("key") or comp.get("id") or ""
        if ctype != "text" and not key:
            raise FormError(f"{filename}: a {ctype} component has no key")
        ftype = _FORM_JS_TYPES[ctype]
        if ctype == "number" and comp.get("decimalDigits") == 0:
            ftype = "long"
        options = tuple(
            (str(v.get("value")), str(v.get("label", v.get("value")))) for v in comp.get("values", [])
        )
        out.append(
            FormField(
                id=key or f"text_{len(out)}",
                label=comp.get("label") or comp.get("text", "") or key,
                type=ftype,
                widget=ctype,
                required=bool(validate.get("required")),
                readonly=bool(comp.get("readonly") or comp.get("disabled")),
                default=comp.get("defaultValue"),
                minimum=validate.get("min"),
                maximum=validate.get("max"),
                min_length=validate.get("minLength"),
                max_length=validate.get("maxLength"),
                pattern=validate.get("pattern"),
                options=options,
                description=comp.get("description", ""),
            )
        )


def form_file_name(form_key: str | None) -> str | None:
    """The .form file a formKey names (camunda-forms:deployment:x.form or camunda-forms:app:x.form)."""
    if not form_key or not form_key.startswith("camunda-forms:"):
        return None
    ref = form_key.split(":", 2)[-1]
    return ref.rsplit("/", 1)[-1]
