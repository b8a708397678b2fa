"""The desk's own rules as decision tables: bpmn/routing.dmn, sla_policy.dmn and approval.dmn drive
service_request.bpmn through business rule tasks; without a deployed table the admin rules decide.

The end-to-end case is the analyst's: change routing.dmn in Camunda Modeler (a new category ->
group row), deploy it over /engine-rest as the Modeler does, and the next e-mail request routes
by it while a request already running keeps what it was routed by. SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import io
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from desk.models import Contact, Request
from engine.decisions import DecisionNotFoundError, deployed_keys, find_definition
from engine.store import DecisionDefinition, DecisionInstance, Deployment, Instance
from engine.tasklist import TaskQuery, query_tasks
from tests.conftest import MONDAY_10, Clock, seed_desk
from tests.web_helpers import staff_client
from web.cli import deploy_paths
from web.demo import DEMO_PASSWORD, seed_demo
from web.intake import open_request
from web.mail_in import mail_ingester

BPMN = Path(__file__).parents[1] / "bpmn"
NEW_ROW = """      <rule id="Rule_Printer">
        <description>Принтеры ведёт своя группа</description>
        <inputEntry id="UnaryTests_Printer">
          <text>"printer"</text>
        </inputEntry>
        <outputEntry id="LiteralExpression_Printer_Group">
          <text>"printers"</text>
        </outputEntry>
        <outputEntry id="LiteralExpression_Printer_Executor">
          <text>"executor2"</text>
        </outputEntry>
      </rule>
"""


def basic(username: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{DEMO_PASSWORD}".encode()).decode()}


def email(app: Flask, subject: str, body: str, n: int) -> Request:
    message = EmailMessage()
    message["From"] = f"Client {n} <client{n}@example.org>"
    message["To"] = "support@desk.example.ru"
    message["Subject"] = subject
    message["Message-ID"] = f"<printer-{n}@romashka.example.ru>"
    message.set_content(body)
    with app.app_context():
        [(_, result)] = list(mail_ingester(app).ingest_all([("api", message.as_bytes())], "api"))
    assert result.action == "new", result
    with app.extensions["sessions"]() as session:
        return session.scalars(select(Request).where(Request.number == result.request)).one()


def dispatch_groups(app: Flask, request: Request) -> list[str]:
    with app.extensions["sessions"]() as session:
        [task] = query_tasks(
            session, TaskQuery(everything=True, business_key=request.number, element_id="Task_Dispatch")
        ).tasks
        return task.candidate_groups


def evaluations(app: Flask, request: Request) -> dict[str, tuple[int, list[str]]]:
    with app.extensions["sessions"]() as session:
        rows = session.execute(
            select(DecisionInstance, DecisionDefinition.version)
            .join(DecisionDefinition, DecisionDefinition.id == DecisionInstance.decision_definition_id)
            .where(DecisionInstance.instance_id == request.instance_id)
        ).all()
        return {row.decision_key: (version, [r["id"] for r in row.matched_rules]) for row, version in rows}


def variables(app: Flask, request: Request) -> dict:
    return app.extensions["runtime"].variables(request.instance_id)


@pytest.fixture
def desk(any_app: Flask) -> Flask:
    """The demo desk, with the two clients who write in as known contacts: a new client's
    request would first wait for a manager's card task instead of reaching dispatch."""
    app = seed_desk(any_app)
    with app.extensions["sessions"]() as session, session.begin():
        for n in (1, 2):
            now = app.extensions["runtime"].now()
            session.add(
                Contact(name=f"Client {n}", email=f"client{n}@example.org", created_at=now, updated_at=now)
            )
    return app


def test_a_changed_routing_table_deployed_like_the_modeler_routes_the_next_email(desk):
    first = email(desk, "Не печатает принтер", "Принтер HP не печатает, замятие бумаги.", 1)
    assert dispatch_groups(desk, first) == ["dispatchers"]
    assert evaluations(desk, first)["routing"] == (1, ["Rule_Other"])

    changed = (
        (BPMN / "routing.dmn")
        .read_text()
        .replace('      <rule id="Rule_Other">', NEW_ROW + '      <rule id="Rule_Other">')
    )
    reply = desk.test_client().post(
        "/engine-rest/deployment/create",
        data={
            "deployment-name": "routing",
            "deployment-source": "Camunda Modeler",
            "enable-duplicate-filtering": "true",
            "routing.dmn": (io.BytesIO(changed.encode()), "routing.dmn"),
        },
        headers=basic("analyst"),
    )
    assert reply.status_code == 200, reply.json
    [routing] = reply.json["deployedDecisionDefinitions"].values()
    assert (routing["key"], routing["version"]) == ("routing", 2)

    second = email(desk, "Принтер снова не печатает", "Принтер в бухгалтерии не печатает.", 2)
    assert dispatch_groups(desk, second) == ["printers"]
    assert variables(desk, second)["suggested_executor"] == "executor2"
    assert evaluations(desk, second)["routing"] == (2, ["Rule_Printer"])

    # The running request keeps its routing, its evaluation and its process version.
    assert dispatch_groups(desk, first) == ["dispatchers"]
    assert evaluations(desk, first)["routing"] == (1, ["Rule_Other"])
    with desk.extensions["sessions"]() as session:
        assert (
            session.get(Instance, first.instance_id).definition_id
            == session.get(Instance, second.instance_id).definition_id
        )


def test_the_shipped_tables_decide_as_the_default_rules_did(desk):
    with desk.app_context():
        purchase = open_request(
            channel="web", subject="Закупка ноутбуков", body="Купить 3 ноутбука", priority="high"
        )
    assert evaluations(desk, purchase) == {
        "sla_policy": (1, ["Rule_High"]),
        "routing": (1, ["Rule_Purchases"]),
        "approval": (1, ["Rule_Purchases_First", "Rule_Purchases_Second"]),
    }
    shown = variables(desk, purchase)
    assert shown["category"] == "purchases"
    assert (shown["suggested_executor"], shown["approvers"], shown["needs_approval"]) == (
        "executor2",
        ["approver", "approver2"],
        True,
    )
    with desk.extensions["sessions"]() as session:
        stored = session.get(Request, purchase.id)
        assert stored.resolve_by is not None and shown["sla_rule"] == {
            "resolve_within": "24h",
            "calendar": "workdays",
        }


def test_a_large_purchase_also_needs_the_manager_by_the_approval_table(desk):
    with desk.app_context():
        purchase = open_request(
            channel="web", subject="Закупка серверов", body="Купить сервер", variables={"amount": 750000}
        )
    assert variables(desk, purchase)["approvers"] == ["approver", "approver2", "manager"]


def test_without_deployed_tables_the_admin_rules_decide(any_app):
    any_app.extensions["runtime"].clock = Clock(MONDAY_10)
    with any_app.app_context():
        deploy_paths([BPMN / "service_request.bpmn"])
        seed_demo()
        purchase = open_request(channel="web", subject="Закупка ноутбуков", body="Купить 3 ноутбука")
    shown = variables(any_app, purchase)
    assert shown["decision_tables"] == [] and evaluations(any_app, purchase) == {}
    assert (shown["suggested_executor"], shown["approvers"]) == ("executor2", ["approver", "approver2"])
    with any_app.extensions["sessions"]() as session:
        assert session.get(Request, purchase.id).resolve_by is not None


def test_admin_pages_show_the_deployed_tables_read_only_with_the_file_for_the_modeler(desk):
    admin = staff_client(desk, "admin")
    routing = admin.get("/admin/routing").get_data(as_text=True)
    assert 'data-decision="routing" data-version="1"' in routing and 'data-decision="approval"' in routing
    assert 'data-rule="Rule_Purchases"' in routing and "<code>&#34;executor2&#34;</code>" in routing
    table = routing.split('id="table-routing"', 1)[1].split("</section>", 1)[0]
    assert "Camunda Modeler" in table and "<form" not in table and "<input" not in table
    sla_page = admin.get("/admin/sla").get_data(as_text=True)
    assert 'data-decision="sla_policy"' in sla_page and 'id="sla-table-note"' in sla_page
    download = admin.get("/admin/decisions/routing.dmn")
    assert download.status_code == 200 and download.data == (BPMN / "routing.dmn").read_bytes()
    assert admin.get("/admin/decisions/nope.dmn").status_code == 404
    assert staff_client(desk, "dispatcher").get("/admin/routing").status_code == 403


def test_a_table_deployed_or_deleted_from_another_process_counts_for_the_next_request(any_app):
    """What the steps keep of the deployed definitions is dropped by a deploy through the CLI and by
    a definition deleted with plain SQL (read tokens, renewed by the table's triggers)."""
    any_app.extensions["runtime"].clock = Clock(MONDAY_10)
    with any_app.app_context():
        deploy_paths([BPMN / "service_request.bpmn"])
        seed_demo()
        before = open_request(channel="web", subject="Закупка ноутбуков", body="Купить 3 ноутбука")
        deploy_paths([BPMN / "routing.dmn"])
        routed = open_request(channel="web", subject="Закупка ноутбуков", body="Купить 3 ноутбука")
    assert variables(any_app, before)["decision_tables"] == []
    assert variables(any_app, routed)["decision_tables"] == ["routing"]
    assert evaluations(any_app, routed)["routing"] == (1, ["Rule_Purchases"])

    engine = create_engine(any_app.config["DATABASE_URL"], poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM decision_instance")
        conn.exec_driver_sql("DELETE FROM decision_definition")
    engine.dispose()
    with any_app.extensions["sessions"]() as session, session.begin():
        assert deployed_keys(session, ["routing"]) == set()
        with pytest.raises(DecisionNotFoundError):
            find_definition(session, "routing")

        # A definition this transaction adds counts before it is flushed, as a query's autoflush
        # made it count: the kept "none deployed" above is not served again.
        deployment_id = session.scalars(select(Deployment.id)).first()
        session.add(
            DecisionDefinition(
                id="routing:9:same-transaction",
                key="routing",
                version=9,
                deployment_id=deployment_id,
                resource_name="routing.dmn",
                sha256="0" * 64,
                deployed_at=MONDAY_10,
            )
        )
        assert deployed_keys(session, ["routing"]) == {"routing"}
        assert find_definition(session, "routing").id == "routing:9:same-transaction"
