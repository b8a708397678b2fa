"""A new client's request goes through a manager's card before dispatch; a known client's goes straight on.

bpmn/service_request.bpmn with its real handlers (match_client, client_card), the real mail
ingester and the demo seed, on SQLite and PostgreSQL. "Known" is the matching every door
uses (desk.crm.find_contact / match_contact): e-mail, or the phone in E.164 however it is typed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import func, select

from desk.models import Company, Contact, Request
from engine.store import Instance, Job, ProcessDefinition
from engine.tasklist import TaskQuery, query_tasks
from tests.conftest import PROJECT
from tests.web_helpers import post, seeded_fixture, staff_client  # noqa: F401
from web.cli import deploy_paths
from web.intake import open_request
from web.mail_in import mail_ingester

MAIL = Path(__file__).parent / "data" / "mail"
OLD_DIAGRAM = Path(__file__).parent / "data" / "service_request_before_new_client.bpmn"
IVAN = "+79161234567"  # the demo contact Иван Петров (ivan.petrov@romashka.example.ru)


def open_elements(app, number: str) -> list[str]:
    with app.extensions["sessions"]() as session:
        tasks = query_tasks(session, TaskQuery(everything=True, business_key=number)).tasks
    return sorted(t.element_id for t in tasks)


def only(app, number: str, element_id: str):
    with app.extensions["sessions"]() as session:
        tasks = query_tasks(
            session, TaskQuery(everything=True, business_key=number, element_id=element_id)
        ).tasks
    assert len(tasks) == 1, f"{number}: expected one open {element_id}, found {open_elements(app, number)}"
    return tasks[0]


def stored(app, request_id: int) -> Request:
    with app.extensions["sessions"]() as session:
        return session.get(Request, request_id)


def count(app, model, *where) -> int:
    with app.extensions["sessions"]() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_an_email_from_an_unknown_sender_reaches_the_managers_card_task_then_dispatch(desk):
    result = mail_ingester(desk).ingest((MAIL / "a01_outlook_ru_cp1251_new_printer.eml").read_bytes(), "file")
    assert result.action == "new"
    with desk.extensions["sessions"]() as session:
        request = session.scalars(select(Request).where(Request.number == result.request)).one()
    assert request.contact_id is None
    card = only(desk, request.number, "Task_ClientCard")
    assert open_elements(desk, request.number) == ["Task_ClientCard"]
    assert card.candidate_groups == ["managers"] and card.name == "Создать карточку клиента"

    runtime = desk.extensions["runtime"]
    runtime.complete(
        card.id,
        "manager",
        {
            "client_name": "Иван Петров",
            "client_email": "i.petrov@stroymontazh.example.ru",
            "client_phone": "8 (916) 555-44-33",
            "company_name": "ООО «СтройМонтаж»",
            "company_inn": "7712345678",
            "client_needs": "Обслуживание принтеров бухгалтерии",
        },
    )
    assert open_elements(desk, request.number) == ["Task_Dispatch"]
    with desk.extensions["sessions"]() as session:
        contact = session.get(Contact, session.get(Request, request.id).contact_id)
        company = session.get(Company, contact.company_id)
        assert (contact.name, contact.email, contact.phone_e164) == (
            "Иван Петров",
            "i.petrov@stroymontazh.example.ru",
            "+79165554433",
        )
        assert contact.notes == "Обслуживание принтеров бухгалтерии"
        assert (company.name, company.inn) == ("ООО «СтройМонтаж»", "7712345678")

    dispatch = only(desk, request.number, "Task_Dispatch")
    runtime.complete(dispatch.id, "dispatcher", {"executor": "executor"})
    assert open_elements(desk, request.number) == ["Task_Resolve"]

    # The same client writing again is known now: straight to dispatch, no second card, no duplicate.
    again = open_request(
        channel="email",
        subject="Снова не печатает принтер",
        requester_email="I.Petrov@stroymontazh.example.ru",
    )
    assert open_elements(desk, again.number) == ["Task_Dispatch"]
    assert stored(desk, again.id).contact_id == contact.id
    assert count(desk, Contact, Contact.email == "i.petrov@stroymontazh.example.ru") == 1


def test_a_known_senders_email_goes_straight_to_dispatch(desk):
    request = open_request(
        channel="email", subject="Не печатает принтер", requester_email="ivan.petrov@romashka.example.ru"
    )
    assert open_elements(desk, request.number) == ["Task_Dispatch"]
    with desk.extensions["sessions"]() as session:
        ivan = session.scalars(select(Contact).where(Contact.phone_e164 == IVAN)).one()
        assert session.get(Request, request.id).contact_id == ivan.id
    assert desk.extensions["runtime"].variables(stored(desk, request.id).instance_id)["client_known"] is True


def test_a_phone_number_spelled_another_way_counts_as_known(desk):
    contacts_before = count(desk, Contact)
    for spelling in ("8 (916) 123-45-67", "+7 916 1234567", "9161234567"):
        request = open_request(
            channel="phone",
            subject="Перезвоните",
            body="Принтер не печатает",
            variables={"client_phone": spelling},
        )
        assert open_elements(desk, request.number) == ["Task_Dispatch"], spelling
        with desk.extensions["sessions"]() as session:
            contact = session.get(Contact, session.get(Request, request.id).contact_id)
            assert contact.phone_e164 == IVAN
    assert count(desk, Contact) == contacts_before


def test_a_card_for_someone_already_known_by_phone_and_company_duplicates_neither(desk):
    contacts, companies = count(desk, Contact), count(desk, Company)
    request = open_request(
        channel="web", subject="Не печатает принтер", requester_email="new.address@mail.example"
    )
    card = only(desk, request.number, "Task_ClientCard")
    desk.extensions["runtime"].complete(
        card.id,
        "manager",
        {"client_name": "Светлана", "client_phone": "+7 (903) 111-22-33", "company_name": "ооо «ромашка»"},
    )
    assert (count(desk, Contact), count(desk, Company)) == (contacts, companies)
    with desk.extensions["sessions"]() as session:
        contact = session.get(Contact, session.get(Request, request.id).contact_id)
        assert contact.email == "s.smirnova@romashka.example.ru"
    assert open_elements(desk, request.number) == ["Task_Dispatch"]


def test_a_card_with_a_phone_that_is_no_number_fails_its_save_naming_the_number(desk):
    request = open_request(
        channel="email", subject="Не печатает принтер", requester_email="who@nowhere.example"
    )
    card = only(desk, request.number, "Task_ClientCard")
    desk.extensions["runtime"].complete(card.id, "manager", {"client_name": "Кто-то", "client_phone": "12"})
    with desk.extensions["sessions"]() as session:
        [job] = session.scalars(
            select(Job).where(
                Job.instance_id == stored(desk, request.id).instance_id, Job.topic == "client_card"
            )
        ).all()
        assert job.element_id == "Task_SaveClientCard" and "'12' is too short" in job.error
    assert stored(desk, request.id).contact_id is None
    assert count(desk, Contact, Contact.name == "Кто-то") == 0


def test_instances_of_the_old_version_keep_working_and_the_migration_page_offers_the_move(seeded, tmp_path):
    desk = seeded
    old = tmp_path / "service_request.bpmn"
    shutil.copy(OLD_DIAGRAM, old)
    with desk.app_context():
        deploy_paths([old])
        request = open_request(
            channel="email", subject="Не печатает принтер", requester_email="stranger@example.org"
        )
    assert open_elements(desk, request.number) == ["Task_Dispatch"]  # the old version has no card task
    with desk.app_context():
        deploy_paths([PROJECT / "bpmn" / "service_request.bpmn"])
    instance_id = stored(desk, request.id).instance_id
    with desk.extensions["sessions"]() as session:
        versions = {
            d.version: d.id
            for d in session.scalars(
                select(ProcessDefinition).where(ProcessDefinition.key == "service_request")
            )
        }
        instance = session.get(Instance, instance_id)
        old_id, new_id = instance.definition_id, versions[max(versions)]
        old_version = session.get(ProcessDefinition, old_id).version
    assert old_id != new_id

    client = staff_client(desk, "admin")
    page = client.get("/processes/migrate")
    assert page.status_code == 200
    assert f"source={old_id}&amp;target={new_id}".encode() in page.data
    form = {"source": old_id, "target": new_id, "action": "dry"}
    dry = post(client, "/processes/migrate", form, token_from="/processes/migrate")
    assert (
        dry.status_code == 200
        and b'id="refused"' not in dry.data
        and b'id="blocked-elements"' not in dry.data
    )

    result = desk.test_cli_runner().invoke(
        args=[
            "migrate-instances",
            "--from",
            f"service_request:{old_version}",
            "--to",
            f"service_request:{max(versions)}",
            "--instance",
            instance.id,
        ]
    )
    assert result.exit_code == 0, result.output
    with desk.extensions["sessions"]() as session:
        assert session.get(Instance, instance.id).definition_id == new_id
    dispatch = only(desk, request.number, "Task_Dispatch")
    desk.extensions["runtime"].complete(dispatch.id, "dispatcher", {"executor": "executor"})
    assert open_elements(desk, request.number) == ["Task_Resolve"]
