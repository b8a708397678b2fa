"""Demo data (pinned by DESIGN §8a): one user per role named after it, password "demo", plus samples.

Idempotent: running it twice leaves one of everything.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from desk.calendar import DEFAULT_CALENDARS
from desk.classify_dictionary import DEFAULT_DICTIONARY
from desk.dictionary import save_dictionary
from desk.models import CalendarRow, Company, Contact, Deal, DictionaryEntry, Request, RouteRule, User
from web.auth import hash_password

DEMO_PASSWORD = "demo"
DEMO_USERS = {
    "operator": ("Ольга Операторова", ["operator"], ["operators"]),
    "dispatcher": ("Дмитрий Диспетчеров", ["dispatcher"], ["dispatchers"]),
    "manager": ("Мария Менеджерова", ["manager"], ["managers"]),
    "executor": ("Евгений Исполнителев", ["executor"], ["executors"]),
    "executor2": ("Елена Исполнителева", ["executor"], ["executors"]),
    "approver": ("Антон Согласующий", ["approver"], ["approvers"]),
    "approver2": ("Алла Согласующая", ["approver"], ["approvers"]),
    "analyst": ("Анна Аналитикова", ["analyst"], ["analysts"]),
    "admin": ("Админ Админов", ["admin"], ["admins"]),
}
ROUTES = {
    "*": ("dispatchers", "executor", False),
    "purchases": ("dispatchers", "executor2", True),
    "access": ("dispatchers", "executor", True),
}
SAMPLE_REQUESTS = [
    (
        "Не печатает принтер на 3 этаже",
        "Принтер HP в бухгалтерии не печатает, горит ошибка замятия бумаги.",
        "high",
    ),
    (
        "Нет доступа к сетевой папке",
        "Прошу предоставить доступ к папке \\\\fs01\\finance для нового сотрудника.",
        "normal",
    ),
    ("Купить новый монитор", "Прошу закупить монитор 27 дюймов для дизайнера.", "low"),
    (
        "Не работает интернет",
        "С утра нет интернета на всём этаже, Wi-Fi подключается, но сайты не открываются.",
        "high",
    ),
    ("1С не запускается", "При запуске 1С:Бухгалтерии ошибка лицензии.", "normal"),
    ("Вопрос", "Добрый день, подскажите, пожалуйста.", "normal"),
]


def create_user(
    username: str,
    password: str,
    *,
    full_name: str = "",
    roles: list[str] | None = None,
    groups: list[str] | None = None,
    email: str | None = None,
) -> User:
    """Create or update a staff account (used by the demo seed and `flask --app web create-user`)."""
    sessions = current_app.extensions["sessions"]
    with sessions() as session, session.begin():
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            user = User(username=username)
            session.add(user)
        user.full_name = full_name or user.full_name or username
        if user.password_hash:
            user.session_version = (user.session_version or 1) + 1
        user.password_hash = hash_password(password)
        user.roles = roles if roles is not None else (user.roles or [])
        user.groups = groups if groups is not None else (user.groups or [])
        user.email = email or user.email or f"{username}@desk.example.com"
        user.active = True
    return user


def seed_demo(history: bool = False) -> list[str]:
    """Seed users, calendars, dictionary, routing, sample clients and requests; return what it did.

    `history` also stores three months of closed requests (web.demo_history) so reports have
    shape; the CLI asks for it, tests and load runs do not.
    """
    done = []
    for username, (name, roles, groups) in DEMO_USERS.items():
        create_user(username, DEMO_PASSWORD, full_name=name, roles=roles, groups=groups)
    done.append(f"users: {', '.join(DEMO_USERS)} (password {DEMO_PASSWORD!r})")
    sessions = current_app.extensions["sessions"]
    runtime = current_app.extensions["runtime"]
    now = runtime.now()
    with sessions() as session, session.begin():
        for name, cal in DEFAULT_CALENDARS.items():
            if session.get(CalendarRow, name) is None:
                session.add(CalendarRow(name=name, data=cal.to_dict()))
        if not session.scalar(select(func.count()).select_from(DictionaryEntry)):
            save_dictionary(session, DEFAULT_DICTIONARY)
        for category, (group, executor, approval) in ROUTES.items():
            if session.scalars(select(RouteRule).where(RouteRule.category == category)).first() is None:
                session.add(
                    RouteRule(
                        category=category,
                        dispatcher_group=group,
                        executor=executor,
                        needs_approval=approval,
                        approvers=["approver", "approver2"] if approval else [],
                    )
                )
        if not session.scalar(select(func.count()).select_from(Company)):
            company = Company(name="ООО «Ромашка»", inn="7701234567")
            session.add(company)
            session.flush()
            contacts = [
                Contact(
                    name="Иван Петров",
                    email="ivan.petrov@romashka.example.ru",
                    phones=["+79161234567"],
                    phone_e164="+79161234567",
                    responsible="executor",
                    company_id=company.id,
                    created_at=now,
                    updated_at=now,
                ),
                Contact(
                    name="Светлана Смирнова",
                    email="s.smirnova@romashka.example.ru",
                    phones=["+79031112233"],
                    phone_e164="+79031112233",
                    responsible="executor2",
                    company_id=company.id,
                    created_at=now,
                    updated_at=now,
                ),
            ]
            session.add_all(contacts)
            session.add(
                Deal(
                    title="Обслуживание офиса 2027",
                    amount=480000,
                    responsible="manager",
                    updated_at=now - timedelta(days=1),
                    contacts=contacts,
                )
            )
        seed_field_service(session)
    done.append("calendars, dictionary, routing, sample clients and a deal, price list, field-service rules")
    with sessions() as session:
        existing = session.scalar(select(func.count()).select_from(Request))
        contact_ids = list(session.scalars(select(Contact.id).order_by(Contact.id)))
    if not existing and contact_ids:
        from web.intake import open_request

        for i, (subject, body, priority) in enumerate(SAMPLE_REQUESTS * 2):
            open_request(
                channel=("email", "web", "phone")[i % 3],
                subject=subject,
                body=body,
                priority=priority,
                contact_id=contact_ids[i % len(contact_ids)],
                created_at=now - timedelta(hours=3 * i),
            )
        _advance_samples(runtime)
        done.append(
            f"{len(SAMPLE_REQUESTS) * 2} sample requests started in service_request, some dispatched, "
            "approved and resolved"
        )
    if history:
        from web.demo_history import seed_history

        with sessions() as session, session.begin():
            added = seed_history(session, now)
        done.append(f"{added} closed requests of the last three months (history for reports)")
    with sessions() as session:
        crm_count = session.scalar(select(func.count()).select_from(Request))
    done.append(f"{crm_count} requests in the database")
    return done


PRICE_LIST = (
    ("VISIT", "Выезд специалиста", "усл", "1500.00"),
    ("CONNECT", "Подключение абонента", "усл", "3000.00"),
    ("CABLE-10", "Кабель витая пара, 10 м", "шт", "450.00"),
    ("CABLE-WORK", "Замена кабеля, работы", "усл", "2000.00"),
    ("TARIFF", "Перенастройка оборудования на новый тариф", "усл", "800.00"),
)
FIELD_SERVICE_RULES = (
    ("connection", "Подключение", "Connection", "executor", "dispatcher"),
    ("cable_replacement", "Замена кабеля", "Cable replacement", "executor2", "dispatcher"),
    ("tariff_change", "Смена тарифа", "Tariff change", "executor", "dispatcher"),
)


def seed_field_service(session) -> None:
    """The price list and request type -> specialist rules that field_service.bpmn reads (idempotent)."""
    from decimal import Decimal

    from desk.billing import FieldServiceRule, Product

    for code, name, unit, price in PRICE_LIST:
        if session.scalars(select(Product).where(Product.code == code)).first() is None:
            session.add(Product(code=code, name=name, unit=unit, price=Decimal(price)))
    for request_type, title_ru, title_en, specialist, administrator in FIELD_SERVICE_RULES:
        if (
            session.scalars(
                select(FieldServiceRule).where(FieldServiceRule.request_type == request_type)
            ).first()
            is None
        ):
            session.add(
                FieldServiceRule(
                    request_type=request_type,
                    title_ru=title_ru,
                    title_en=title_en,
                    specialist=specialist,
                    administrator=administrator,
                )
            )


def _advance_samples(runtime) -> None:
    """Move sample requests to different stages, as a desk mid-day would have them."""
    from engine.tasklist import TaskQuery, query_tasks

    def open_tasks(element_id: str):
        """In request order: the samples start at one instant, and task ids are random UUIDs, so
        creation time alone would pick different requests (and leave different work) each run."""
        with current_app.extensions["sessions"]() as session:
            tasks = query_tasks(
                session,
                TaskQuery(
                    everything=True, element_id=element_id, sort="created", descending=False, limit=100
                ),
            ).tasks
        return sorted(
            tasks,
            key=lambda task: (task.created_at, task.business_key or "", task.assignee or "", task.id),
        )

    for task in open_tasks("Task_Triage")[:1]:
        runtime.complete(task.id, "operator", {"category": "software", "priority": "normal"})
    for i, task in enumerate(open_tasks("Task_Dispatch")[:8]):
        runtime.complete(task.id, "dispatcher", {"executor": ("executor", "executor2")[i % 2]})
    # One vote on each of two requests: every request waiting for approval keeps an open
    # approval (two votes on one request would end it, and the browser tests need one open).
    voted: set[str] = set()
    for task in open_tasks("Task_Approve"):
        if task.instance_id not in voted and len(voted) < 2:
            voted.add(task.instance_id)
            runtime.complete(task.id, task.assignee, {"approved": True})
    for task in open_tasks("Task_Resolve")[:3]:
        runtime.complete(task.id, task.assignee, {"resolution": "Проблема устранена", "done": True})


def seed_demo_for_load(reason: str) -> int:
    """The demo seed with its sample requests' processes cancelled; the last seeded request id.

    Load runs (bench/scale.py, the crash suite) count only the requests they open themselves,
    so the samples must neither run on the workers nor be mistaken for theirs.
    """
    from engine.store import Instance

    seed_demo()
    runtime = current_app.extensions["runtime"]
    with current_app.extensions["sessions"]() as session:
        samples = session.scalars(select(Instance.id).where(Instance.status == "running")).all()
        before = session.scalar(select(func.max(Request.id))) or 0
    for instance_id in samples:
        runtime.cancel(instance_id, reason=reason)
    return before
