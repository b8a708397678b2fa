"""Admin pages (admin role only): staff accounts, groups, the classifier dictionary, business calendars,
SLA policies, notification wording and API tokens.

Every edit is validated by the domain code that will later use it (Calendar.from_dict,
SlaPolicy, compile_dictionary, the sandboxed template environment), so a bad edit is refused
with the reason and nothing stored changes.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from jinja2 import StrictUndefined, TemplateError, meta
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desk import classify, crm, notify, sla
from desk.calendar import WEEKDAY_NAMES, Calendar, InvalidCalendarError, working_hours
from desk.dictionary import load_dictionary, save_dictionary
from desk.models import ROLES, ApiToken, CalendarRow, SlaPolicyRow, User
from desk.staff import StaffGroup, TemplateOverride
from desk.template_sandbox import BoundedSandbox
from service.permissions import DEFAULT, PERSON_ACT_MESSAGES, SCOPES, parse_scopes
from web.auth import hash_password, issue_token
from web.i18n import language as ui_language
from web.i18n import translate
from web.labels import label
from web.security import permission_required
from web.views.admin_rules import deployed_table

bp = Blueprint("admin", __name__, url_prefix="/admin")
log = logging.getLogger(__name__)

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
LANGUAGES = ("ru", "en")
MIN_PASSWORD = 8
PREVIEW_DAYS = 30
# Pages other helpers add under /admin; the index links them when their blueprint is installed.
OTHER_PAGES = (
    ("/admin/outbox", "Outbox"),
    ("/admin/queues", "Queues"),
    ("/admin/import", "Import"),
    ("/admin/routing", "Routing"),
    ("/admin/retention/", "Retention"),
)


class AdminInputError(ValueError):
    """A submitted admin form is wrong; the message names the field and what to enter."""


def _sessions():
    return current_app.extensions["sessions"]


def _now() -> datetime:
    return current_app.extensions["runtime"].now()


@bp.before_request
@permission_required("manage", "admin")
def _admins_only() -> None:
    """Every page of this blueprint is for admins; checked once here, before any view runs."""


@bp.get("/")
def index() -> ResponseReturnValue:
    installed = {rule.rule.rstrip("/") for rule in current_app.url_map.iter_rules()}
    others = [(path, title) for path, title in OTHER_PAGES if path in installed]
    with _sessions()() as session:
        stats = {
            "users": session.scalar(select(func.count()).select_from(User).where(User.active.is_(True))),
            "tokens": session.scalar(
                select(func.count()).select_from(ApiToken).where(ApiToken.revoked_at.is_(None))
            ),
            "overrides": session.scalar(select(func.count()).select_from(TemplateOverride)),
        }
    return render_template("admin_index.html", others=others, stats=stats)


# ------------------------------------------------------------------------------------------- users


def _known_groups(session: Session) -> list[str]:
    """Groups with a row, plus any a user already lists (diagrams name groups before admins do)."""
    names = set(session.scalars(select(StaffGroup.name)))
    for groups in session.scalars(select(User.groups)):
        names.update(groups or [])
    return sorted(names)


def _user_fields(form, *, creating: bool) -> dict[str, Any]:
    """Validated user fields from a submitted form."""
    roles = form.getlist("roles")
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise AdminInputError(
            translate("Unknown roles %(unknown)s; choose from %(known)s.")
            % {"unknown": ", ".join(unknown), "known": ", ".join(ROLES)}
        )
    groups = sorted(
        {g.strip() for g in form.getlist("groups") + form.get("new_groups", "").split(",") if g.strip()}
    )
    bad = [g for g in groups if not NAME.match(g)]
    if bad:
        raise AdminInputError(
            f"Group names {', '.join(bad)} must be lower-case letters, digits, '_', '.', '-'."
        )
    language = form.get("language", "ru")
    if language not in LANGUAGES:
        raise AdminInputError(translate("Language must be one of %s.") % ", ".join(LANGUAGES))
    fields = {
        "full_name": form.get("full_name", "").strip(),
        "email": form.get("email", "").strip() or None,
        "phone": form.get("phone", "").strip() or None,
        "extension": form.get("extension", "").strip() or None,
        "roles": roles,
        "groups": groups,
        "language": language,
    }
    if creating:
        username = form.get("username", "").strip()
        if not NAME.match(username):
            raise AdminInputError(
                f"User name {username!r} must start with a letter or digit and use a-z, 0-9, '_', '.', '-'."
            )
        fields["username"] = username
        fields["password"] = _password(form)
    return fields


def _password(form) -> str:
    password = form.get("password", "")
    if len(password) < MIN_PASSWORD:
        raise AdminInputError(translate("The password must be at least %s characters long.") % MIN_PASSWORD)
    if password != form.get("password2", password):
        raise AdminInputError("The two passwords differ; type the same password twice.")
    return password


@bp.get("/users")
def users() -> ResponseReturnValue:
    with _sessions()() as session:
        rows = session.scalars(select(User).order_by(User.active.desc(), User.username)).all()
        groups = _known_groups(session)
    return render_template("admin_users.html", users=rows, roles=ROLES, groups=groups, languages=LANGUAGES)


@bp.post("/users")
def create_user() -> ResponseReturnValue:
    try:
        fields = _user_fields(request.form, creating=True)
        with _sessions()() as session, session.begin():
            if session.scalars(select(User).where(User.username == fields["username"])).first():
                raise AdminInputError(
                    translate("User %s exists already; edit it instead.") % fields["username"]
                )
            password = fields.pop("password")
            session.add(User(**fields, password_hash=hash_password(password), active=True))
    except AdminInputError as err:
        flash(str(err), "error")
        with _sessions()() as session:
            rows = session.scalars(select(User).order_by(User.active.desc(), User.username)).all()
            groups = _known_groups(session)
        return render_template(
            "admin_users.html", users=rows, roles=ROLES, groups=groups, languages=LANGUAGES, form=request.form
        ), 400
    log.info("admin %s created user %s", current_user.username, fields["username"])
    flash(translate("User %s created.") % fields["username"])
    return redirect(url_for("admin.user", username=fields["username"]))


def _get_user(session: Session, username: str) -> User:
    row = session.scalars(select(User).where(User.username == username)).first()
    if row is None:
        abort(404, translate("No user %s.") % username)
    return row


@bp.get("/users/<username>")
def user(username: str) -> ResponseReturnValue:
    with _sessions()() as session:
        row = _get_user(session, username)
        groups = _known_groups(session)
        tokens = session.scalars(select(ApiToken).where(ApiToken.username == username)).all()
    return render_template(
        "admin_user.html", user=row, roles=ROLES, groups=groups, languages=LANGUAGES, tokens=tokens
    )


@bp.post("/users/<username>")
def edit_user(username: str) -> ResponseReturnValue:
    try:
        fields = _user_fields(request.form, creating=False)
        active = request.form.get("active") == "on"
        if username == current_user.username and (not active or "admin" not in fields["roles"]):
            raise AdminInputError("You cannot deactivate yourself or drop your own admin role.")
        with _sessions()() as session, session.begin():
            row = _get_user(session, username)
            for name, value in fields.items():
                setattr(row, name, value)
            if row.active and not active:
                row.session_version += 1  # a deactivated user's sessions and cached logins end now
            row.active = active
    except AdminInputError as err:
        flash(str(err), "error")
        return redirect(url_for("admin.user", username=username)), 303
    log.info("admin %s edited user %s", current_user.username, username)
    flash(translate("User %s saved.") % username)
    return redirect(url_for("admin.user", username=username))


@bp.post("/users/<username>/password")
def reset_password(username: str) -> ResponseReturnValue:
    try:
        password = _password(request.form)
    except AdminInputError as err:
        flash(str(err), "error")
        return redirect(url_for("admin.user", username=username))
    with _sessions()() as session, session.begin():
        row = _get_user(session, username)
        row.password_hash = hash_password(password)
        row.session_version += 1  # every session and cached Basic login with the old password ends
    log.info("admin %s reset the password of %s", current_user.username, username)
    flash(translate("Password of %s changed.") % username)
    return redirect(url_for("admin.user", username=username))


# ------------------------------------------------------------------------------------------ groups


@bp.get("/groups")
def groups() -> ResponseReturnValue:
    with _sessions()() as session:
        rows = {g.name: g for g in session.scalars(select(StaffGroup))}
        members: dict[str, list[str]] = {}
        for username, user_groups in session.execute(
            select(User.username, User.groups).where(User.active.is_(True))
        ):
            for name in user_groups or []:
                members.setdefault(name, []).append(username)
        names = sorted(set(rows) | set(members))
    return render_template("admin_groups.html", names=names, rows=rows, members=members)


@bp.post("/groups")
def save_group() -> ResponseReturnValue:
    name = request.form.get("name", "").strip()
    if not NAME.match(name):
        flash(translate("Group name %s must use lower-case letters, digits, '_', '.', '-'.") % name, "error")
        return redirect(url_for("admin.groups"))
    with _sessions()() as session, session.begin():
        row = session.scalars(select(StaffGroup).where(StaffGroup.name == name)).first()
        if row is None:
            row = StaffGroup(name=name, title="", active=True)
            session.add(row)
        row.title = request.form.get("title", row.title or "").strip()
        if "active" in request.form:
            row.active = request.form["active"] == "1"
    log.info("admin %s saved group %s", current_user.username, name)
    flash(translate("Group %s saved.") % name)
    return redirect(url_for("admin.groups"))


# -------------------------------------------------------------------------------------- dictionary


def _parse_keywords(category: str, text: str) -> dict[str, float]:
    """ "keyword = weight" lines of one category; the error names the line to fix."""
    words: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        keyword, sep, weight = line.rpartition("=")
        if not sep or not keyword.strip():
            raise AdminInputError(f"{category}, line {number} ({line.strip()!r}): write 'keyword = weight'.")
        try:
            words[keyword.strip()] = float(weight.strip().replace(",", "."))
        except ValueError:
            raise AdminInputError(
                f"{category}, line {number}: weight {weight.strip()!r} is not a number."
            ) from None
    return words


@bp.get("/dictionary")
def dictionary() -> ResponseReturnValue:
    with _sessions()() as session:
        current = load_dictionary(session)
    return render_template("admin_dictionary.html", dictionary=current, verdict=None)


@bp.post("/dictionary")
def save_dictionary_view() -> ResponseReturnValue:
    """Replace one category's keywords (or add a category; an empty text removes it)."""
    category = request.form.get("category", "").strip()
    try:
        if not category:
            raise AdminInputError("Name the category.")
        words = _parse_keywords(category, request.form.get("keywords", ""))
        with _sessions()() as session, session.begin():
            edited = {name: dict(kw) for name, kw in load_dictionary(session).items()}
            if words:
                edited[category] = words
            else:
                edited.pop(category, None)
            if not edited:
                raise AdminInputError("The dictionary needs at least one category.")
            save_dictionary(session, edited)
    except (AdminInputError, classify.InvalidDictionaryError) as err:
        flash(str(err), "error")
        with _sessions()() as session:
            current = load_dictionary(session)
        return render_template(
            "admin_dictionary.html",
            dictionary=current,
            verdict=None,
            draft=(category, request.form.get("keywords", "")),
        ), 400
    log.info("admin %s edited dictionary category %s", current_user.username, category)
    flash(
        translate("Category %(category)s saved (%(count)s keywords).")
        % {"category": label("category", category, ui_language()), "count": len(words)}
    )
    return redirect(url_for("admin.dictionary") + f"#cat-{category}")


@bp.post("/dictionary/try")
def try_text() -> ResponseReturnValue:
    """Classify a sample text with the stored dictionary and show every category's score."""
    subject, body = request.form.get("subject", ""), request.form.get("body", "")
    with _sessions()() as session:
        current = load_dictionary(session)
    verdict = classify.classify(subject, body, current)
    ranked = sorted(verdict.scores.items(), key=lambda item: -item[1])
    return render_template(
        "admin_dictionary.html",
        dictionary=current,
        verdict=verdict,
        ranked=ranked,
        subject=subject,
        body=body,
    )


# --------------------------------------------------------------------------------------- calendars


def _calendar_from_form(form, name: str) -> Calendar:
    """A Calendar from the edit form; InvalidCalendarError names what is wrong."""
    intervals = {}
    for day in WEEKDAY_NAMES:
        text = form.get(f"day_{day}", "").strip()
        intervals[day] = [part.strip().split("-", 1) for part in text.split(",") if part.strip()]
    return Calendar.from_dict(
        {
            "name": name,
            "tz": form.get("tz", "").strip(),
            "intervals": intervals,
            "country": form.get("country", "").strip().upper() or None,
            "extra_holidays": _dates(form.get("extra_holidays", "")),
            "extra_working_days": _dates(form.get("extra_working_days", "")),
            "substitute_weekday": form.get("substitute_weekday", "mon"),
        }
    )


def _dates(text: str) -> list[str]:
    return [d.strip() for d in re.split(r"[\s,;]+", text) if d.strip()]


def preview(calendar: Calendar, start: datetime, days: int = PREVIEW_DAYS) -> list[dict[str, Any]]:
    """The next `days` days with their working intervals and hours, as the SLA arithmetic sees them."""
    first = start.astimezone(ZoneInfo(calendar.tz)).date()
    out = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        hours = working_hours(day, calendar)
        out.append(
            {
                "date": day,
                "intervals": [f"{s // 60:02d}:{s % 60:02d}–{e // 60:02d}:{e % 60:02d}" for s, e in hours],
                "hours": sum(e - s for s, e in hours) / 60,
                "weekend": day.weekday() >= 5,
            }
        )
    return out


@bp.get("/calendars")
def calendars() -> ResponseReturnValue:
    if new := request.args.get("name", "").strip():
        if not NAME.match(new):
            abort(
                400, translate("Calendar name %s must use lower-case letters, digits, '_', '.', '-'.") % new
            )
        return redirect(url_for("admin.calendar", name=new, new=1))
    with _sessions()() as session:
        known = crm.calendars(session)
        stored = set(session.scalars(select(CalendarRow.name)))
    return render_template("admin_calendars.html", calendars=known, stored=stored)


@bp.get("/calendars/<name>")
def calendar(name: str) -> ResponseReturnValue:
    with _sessions()() as session:
        known = crm.calendars(session)
    if name not in known and request.args.get("new") != "1":
        abort(404, translate("No calendar %s.") % name)
    cal = known.get(name) or Calendar.from_dict({**known["support"].to_dict(), "name": name})
    return render_template(
        "admin_calendar.html",
        name=name,
        data=cal.to_dict(),
        days=preview(cal, _now()),
        weekdays=WEEKDAY_NAMES,
    )


@bp.post("/calendars/<name>")
def save_calendar(name: str) -> ResponseReturnValue:
    if not NAME.match(name):
        abort(400, translate("Calendar name %s must use lower-case letters, digits, '_', '.', '-'.") % name)
    try:
        cal = _calendar_from_form(request.form, name)
    except InvalidCalendarError as err:
        flash(str(err), "error")
        draft = {key: request.form.get(key, "") for key in request.form}
        return render_template(
            "admin_calendar.html", name=name, data=None, draft=draft, days=[], weekdays=WEEKDAY_NAMES
        ), 400
    if request.form.get("action") == "preview":
        return render_template(
            "admin_calendar.html",
            name=name,
            data=cal.to_dict(),
            days=preview(cal, _now()),
            weekdays=WEEKDAY_NAMES,
        )
    with _sessions()() as session, session.begin():
        row = session.get(CalendarRow, name)
        if row is None:
            session.add(CalendarRow(name=name, data=cal.to_dict()))
        else:
            row.data = cal.to_dict()
    log.info("admin %s saved calendar %s", current_user.username, name)
    flash(translate("Calendar %s saved.") % name)
    return redirect(url_for("admin.calendar", name=name))


# -------------------------------------------------------------------------------------------- SLA


@bp.get("/sla")
def sla_policies() -> ResponseReturnValue:
    with _sessions()() as session:
        rows = session.scalars(
            select(SlaPolicyRow).order_by(SlaPolicyRow.category, SlaPolicyRow.priority)
        ).all()
        names = sorted(crm.calendars(session))
        table = deployed_table(session, "sla_policy")
    return render_template(
        "admin_sla.html",
        table=table,
        rows=rows,
        defaults=sla.DEFAULT_POLICIES,
        calendars=names,
        priorities=[p.value for p in sla.Priority],
    )


@bp.post("/sla")
def save_sla() -> ResponseReturnValue:
    form = request.form
    try:
        policy = sla.SlaPolicy(
            form.get("category", "").strip() or sla.ANY,
            form.get("priority", "").strip() or sla.ANY,
            form.get("resolve_within", "").strip(),
            form.get("calendar", "").strip() or "workdays",
        )
        with _sessions()() as session, session.begin():
            if policy.calendar not in crm.calendars(session):
                raise AdminInputError(
                    translate("No calendar %s; create it on the calendars page first.") % policy.calendar
                )
            row = session.get(SlaPolicyRow, int(form["id"])) if form.get("id") else None
            if row is None:
                row = (
                    session.scalars(
                        select(SlaPolicyRow).where(
                            SlaPolicyRow.category == policy.category, SlaPolicyRow.priority == policy.priority
                        )
                    ).first()
                    or SlaPolicyRow()
                )
                session.add(row)
            row.category, row.priority = policy.category, policy.priority
            row.resolve_within, row.calendar = policy.resolve_within, policy.calendar
    except AdminInputError as err:
        flash(str(err), "error")
        return redirect(url_for("admin.sla_policies")), 303
    except sla.InvalidSlaPolicyError:
        flash(
            translate("The time limit %s is not a duration; write working time like 4h, 2d or 1d 4h.")
            % form.get("resolve_within", "").strip(),
            "error",
        )
        return redirect(url_for("admin.sla_policies")), 303
    log.info("admin %s saved SLA %s/%s", current_user.username, policy.category, policy.priority)
    lang = ui_language()
    flash(
        translate("SLA for %(category)s / %(priority)s saved: %(within)s of the calendar %(calendar)s.")
        % {
            "category": translate("any")
            if policy.category == sla.ANY
            else label("category", policy.category, lang),
            "priority": translate("any")
            if policy.priority == sla.ANY
            else label("priority", policy.priority, lang),
            "within": policy.resolve_within,
            "calendar": label("calendar", policy.calendar, lang),
        }
    )
    return redirect(url_for("admin.sla_policies"))


@bp.post("/sla/<int:policy_id>/delete")
def delete_sla(policy_id: int) -> ResponseReturnValue:
    with _sessions()() as session, session.begin():
        row = session.get(SlaPolicyRow, policy_id)
        if row is None:
            abort(404, translate("No SLA policy %s.") % policy_id)
        session.delete(row)
    flash(translate("SLA policy removed; the default applies again."))
    return redirect(url_for("admin.sla_policies"))


# ------------------------------------------------------------------------------ notification texts

# The same sandbox and strictness desk.notify renders with, so a text that passes here renders there.
_TEMPLATE_ENV = BoundedSandbox(autoescape=False, undefined=StrictUndefined)
SAMPLE_PAYLOAD = {
    "request_id": 123,
    "number": "REQ-000123",
    "subject": "Не печатает принтер",
    "status": "assigned",
    "category": "printer",
    "priority": "normal",
    "assignee": "executor",
    "assignee_name": "Евгений Исполнителев",
    "resolve_by": "2026-11-24T10:00:00+03:00",
    "resolve_by_text": "24.11.2026 10:00",
    "comment": "Нет бюджета",
    "resolution": "Заменён картридж",
    "deal_title": "Обслуживание офиса",
    "old_responsible": "executor",
    "new_responsible": "executor2",
    "contacts_changed": 2,
    "gained": 3,
    "lost": 1,
}


def template_variables(template: str) -> set[str]:
    """Names a template may use: those of its shipped wording plus what every request notification carries."""
    names = {
        "resolve_by_text",
        "request_id",
        "number",
        "subject",
        "status",
        "category",
        "priority",
        "assignee",
    }
    names.add("resolve_by")
    names |= {f"{name}_code" for name in notify.WORDED}
    for subject, body in notify.TEMPLATES[template].values():
        for text in (subject, body):
            names |= meta.find_undeclared_variables(_TEMPLATE_ENV.parse(text))
    return names


def check_template(template: str, subject: str, body: str) -> tuple[str, str]:
    """Refuse syntax errors and unknown variables; return the rendering of a sample request."""
    if not subject.strip() or not body.strip():
        raise AdminInputError("Both the subject and the body need text.")
    allowed = template_variables(template)
    for part, text in (("subject", subject), ("body", body)):
        try:
            used = meta.find_undeclared_variables(_TEMPLATE_ENV.parse(text))
        except TemplateError as err:
            raise AdminInputError(f"The {part} is not a valid template: {err}.") from None
        unknown = sorted(used - allowed)
        if unknown:
            raise AdminInputError(
                f"The {part} uses {', '.join(unknown)}, which this notification does not carry; "
                f"use {', '.join(sorted(allowed))}."
            )
    try:
        return (
            _TEMPLATE_ENV.from_string(subject).render(SAMPLE_PAYLOAD),
            _TEMPLATE_ENV.from_string(body).render(SAMPLE_PAYLOAD),
        )
    except TemplateError as err:
        raise AdminInputError(f"The text does not render on a sample request: {err}.") from None


@bp.get("/templates")
def templates() -> ResponseReturnValue:
    with _sessions()() as session:
        overrides = {(o.template, o.language): o for o in session.scalars(select(TemplateOverride))}
    return render_template(
        "admin_templates.html", templates=notify.TEMPLATES, languages=LANGUAGES, overrides=overrides
    )


def _template_page(template: str, language: str, subject: str, body: str, rendered=None, status: int = 200):
    return render_template(
        "admin_template.html",
        template=template,
        language=language,
        subject=subject,
        body=body,
        shipped=notify.TEMPLATES[template].get(language) or notify.TEMPLATES[template]["ru"],
        variables=sorted(template_variables(template)),
        rendered=rendered,
    ), status


def _known_template(template: str, language: str) -> None:
    if template not in notify.TEMPLATES or language not in LANGUAGES:
        abort(
            404,
            translate("No notification template %(template)s in language %(language)s.")
            % {"template": template, "language": language},
        )


@bp.get("/templates/<template>/<language>")
def template(template: str, language: str) -> ResponseReturnValue:
    _known_template(template, language)
    with _sessions()() as session:
        row = session.scalars(
            select(TemplateOverride).where(
                TemplateOverride.template == template, TemplateOverride.language == language
            )
        ).first()
    subject, body = (
        (row.subject, row.body)
        if row
        else (notify.TEMPLATES[template].get(language) or notify.TEMPLATES[template]["ru"])
    )
    return _template_page(template, language, subject, body, rendered=None)


@bp.post("/templates/<template>/<language>")
def save_template(template: str, language: str) -> ResponseReturnValue:
    _known_template(template, language)
    subject, body = request.form.get("subject", ""), request.form.get("body", "")
    action = request.form.get("action", "save")
    if action == "reset":
        with _sessions()() as session, session.begin():
            row = session.scalars(
                select(TemplateOverride).where(
                    TemplateOverride.template == template, TemplateOverride.language == language
                )
            ).first()
            if row is not None:
                session.delete(row)
        flash(
            translate("%(event)s (%(language)s): the shipped text applies again.")
            % {"event": label("event", template, ui_language()), "language": language}
        )
        return redirect(url_for("admin.template", template=template, language=language))
    try:
        rendered = check_template(template, subject, body)
    except AdminInputError as err:
        flash(str(err), "error")
        return _template_page(template, language, subject, body, status=400)
    if action == "preview":
        return _template_page(template, language, subject, body, rendered=rendered)
    with _sessions()() as session, session.begin():
        row = session.scalars(
            select(TemplateOverride).where(
                TemplateOverride.template == template, TemplateOverride.language == language
            )
        ).first()
        if row is None:
            row = TemplateOverride(template=template, language=language)
            session.add(row)
        row.subject, row.body = subject, body
        row.updated_at, row.updated_by = datetime.now(UTC), current_user.username
    log.info("admin %s saved template %s/%s", current_user.username, template, language)
    flash(
        translate("%(event)s (%(language)s) saved.")
        % {"event": label("event", template, ui_language()), "language": language}
    )
    return _template_page(template, language, subject, body, rendered=rendered)


# ------------------------------------------------------------------------------------------ tokens


@bp.get("/tokens")
def tokens() -> ResponseReturnValue:
    return _tokens_page()


def _tokens_page(new_token: str | None = None, status: int = 200):
    with _sessions()() as session:
        rows = session.scalars(
            select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
        ).all()
        usernames = session.scalars(
            select(User.username).where(User.active.is_(True)).order_by(User.username)
        ).all()
    response = render_template(
        "admin_tokens.html", tokens=rows, usernames=usernames, new_token=new_token, scopes=SCOPES
    )
    return response, status, {"Cache-Control": "no-store"}


@bp.post("/tokens")
def create_token() -> ResponseReturnValue:
    name, username = request.form.get("name", "").strip(), request.form.get("username", "").strip()
    if not name:
        flash("Name the token after the client that will use it (e.g. 'pbx-webhook').", "error")
        return _tokens_page(status=400)
    with _sessions()() as session:
        known = session.scalars(
            select(User.id).where(User.username == username, User.active.is_(True))
        ).first()
    if not known:
        flash(translate("No active user %s; the token acts as that user.") % username, "error")
        return _tokens_page(status=400)
    topics = [t.strip() for t in request.form.get("topics", "").split(",") if t.strip()]
    try:
        scopes = parse_scopes([*request.form.getlist("scope"), *(f"engine:worker:{t}" for t in topics)])
    except ValueError as err:
        flash(str(err), "error")
        return _tokens_page(status=400)
    with _sessions()() as session, session.begin():
        token = issue_token(session, name=name[:128], username=username, now=datetime.now(UTC), scopes=scopes)
    log.info("admin %s issued API token %r for %s with %s", current_user.username, name, username, scopes)
    return _tokens_page(new_token=token)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> ResponseReturnValue:
    with _sessions()() as session, session.begin():
        row = session.get(ApiToken, token_id)
        if row is None:
            abort(404, translate("No API token %s.") % token_id)
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
    log.info("admin %s revoked API token %s", current_user.username, token_id)
    flash(translate("Token %s revoked.") % row.name)
    return redirect(url_for("admin.tokens"))


# ------------------------------------------------------------------------------------- permissions


@bp.get("/permissions")
def permissions() -> ResponseReturnValue:
    """The permission matrix every door asks (service.permissions), as `flask --app web permissions`."""
    return render_template(
        "admin_permissions.html",
        rows=DEFAULT.rows(),
        scopes=SCOPES,
        person_act=sorted(PERSON_ACT_MESSAGES),
    )
