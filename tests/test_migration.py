"""Migrating running instances between definition versions, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine.deploy import deploy
from engine.migration import (
    InstanceNotMigratableError,
    MigrationMappingError,
    batch_status,
    create_batch,
    dry_run,
    migrate_instance,
    parse_mapping,
    plan,
    run_batch,
)
from engine.runtime import Engine
from engine.store import HistoryEvent, Instance, Job, Timer, UserTask
from tests.conftest import Clock

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def diagram(key: str, steps: list[tuple[str, str, str]], extra: str = "", name: str = "Approval") -> bytes:
    """A straight-line process with BPMN DI: steps are (element id, bpmn tag, inner XML).

    Tasks get their id capitalised as a name; `extra` is appended inside the process
    (boundary events and their flows).
    """
    nodes, flows, shapes, edges = [], [], [], []
    for i, (element_id, tag, inner) in enumerate(steps):
        incoming = f"<bpmn:incoming>f{i}</bpmn:incoming>" if i else ""
        outgoing = f"<bpmn:outgoing>f{i + 1}</bpmn:outgoing>" if i < len(steps) - 1 else ""
        label = element_id.replace("_", " ").capitalize()
        nodes.append(f'<bpmn:{tag} id="{element_id}" name="{label}" {inner}{incoming}{outgoing}</bpmn:{tag}>')
        event = tag.endswith("Event")
        w, h = (36, 36) if event else (100, 80)
        x, y = 100 + i * 160, 100 if not event else 122
        shapes.append(
            f'<bpmndi:BPMNShape id="{element_id}_di" bpmnElement="{element_id}">'
            f'<dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}"/></bpmndi:BPMNShape>'
        )
        if i < len(steps) - 1:
            target = steps[i + 1][0]
            flows.append(f'<bpmn:sequenceFlow id="f{i + 1}" sourceRef="{element_id}" targetRef="{target}"/>')
            edges.append(
                f'<bpmndi:BPMNEdge id="f{i + 1}_di" bpmnElement="f{i + 1}">'
                f'<di:waypoint x="{x + w}" y="140"/><di:waypoint x="{100 + (i + 1) * 160}" y="140"/>'
                "</bpmndi:BPMNEdge>"
            )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<bpmn:definitions xmlns:bpmn="{BPMN}" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
        'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">'
        f'<bpmn:process id="{key}" name="{name}" isExecutable="true">{"".join(nodes)}{"".join(flows)}{extra}'
        f'</bpmn:process><bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="p" bpmnElement="{key}">'
        f"{''.join(shapes)}{''.join(edges)}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>"
    ).encode()


START = ("start", "startEvent", ">")
END = ("end", "endEvent", ">")


def user_task(element_id: str, group: str = "reviewers") -> tuple[str, str, str]:
    return element_id, "userTask", f'camunda:candidateGroups="{group}">'


def reminder(attached_to: str, duration: str = "PT4H") -> str:
    """A non-interrupting boundary timer on `attached_to` that leads to its own end event."""
    return (
        f'<bpmn:boundaryEvent id="remind" attachedToRef="{attached_to}" cancelActivity="false">'
        "<bpmn:outgoing>fr</bpmn:outgoing><bpmn:timerEventDefinition>"
        f"<bpmn:timeDuration>{duration}</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        '<bpmn:endEvent id="reminded"><bpmn:incoming>fr</bpmn:incoming></bpmn:endEvent>'
        '<bpmn:sequenceFlow id="fr" sourceRef="remind" targetRef="reminded"/>'
    )


V1 = diagram("approval", [START, user_task("review"), END], reminder("review"))
V2_ADDED = diagram(
    "approval", [START, user_task("review"), user_task("approve", "approvers"), END], reminder("review")
)
V_RENAMED = diagram("approval", [START, user_task("check"), END], reminder("check"))
V_REMOVED = diagram("approval", [START, user_task("approve", "approvers"), END])
V_TWO_STEPS = diagram("approval", [START, user_task("review"), user_task("approve", "approvers"), END])


@pytest.fixture
def engine(any_app) -> Engine:
    runtime: Engine = any_app.extensions["runtime"]
    runtime.clock = Clock(T0)
    return runtime


def put(engine: Engine, content: bytes, name: str = "approval.bpmn"):
    report = deploy(engine.session_factory, {name: content}, known_topics=engine.handlers.topics())
    return report.definitions[0].id


def loaded(engine: Engine, definition_id: str):
    with engine.session_factory() as session:
        return engine.definition(session, definition_id)


def open_task(engine: Engine, instance_id: str) -> UserTask:
    with engine.session_factory() as session:
        return session.scalars(
            select(UserTask).where(UserTask.instance_id == instance_id, UserTask.status == "open")
        ).one()


def row(engine: Engine, instance_id: str) -> Instance:
    with engine.session_factory() as session:
        return session.get(Instance, instance_id)


def test_instance_waiting_on_a_user_task_runs_the_path_added_in_the_new_version(engine):
    v1, v2 = put(engine, V1), put(engine, V2_ADDED)
    started = engine.start(definition_id=v1, business_key="A-1", variables={"amount": 5})
    engine.set_variables(started.id, {"note": "edited before migration"}, user="admin")
    before = row(engine, started.id)
    with engine.session_factory() as session:
        timer_before = session.scalars(select(Timer).where(Timer.instance_id == started.id)).one()

    moved = migrate_instance(engine, plan(loaded(engine, v1), loaded(engine, v2)), started.id, user="admin")

    assert moved == {"review": "review", "remind": "remind"}
    after = row(engine, started.id)
    assert after.definition_id == v2 and after.version > before.version
    review = open_task(engine, started.id)
    assert review.definition_id == v2 and review.element_id == "review"
    with engine.session_factory() as session:
        timer_after = session.scalars(select(Timer).where(Timer.instance_id == started.id)).one()
        migrated = session.scalars(
            select(HistoryEvent).where(
                HistoryEvent.instance_id == started.id, HistoryEvent.kind == "instance_migrated"
            )
        ).one()
    assert (timer_after.id, timer_after.status, timer_after.due_at) == (
        timer_before.id,
        "pending",
        timer_before.due_at,
    )
    assert (
        migrated.user == "admin" and migrated.data["from_version"] == 1 and migrated.data["to_version"] == 2
    )

    engine.complete(review.id, "reviewer", {})
    approve = open_task(engine, started.id)
    assert approve.element_id == "approve" and approve.candidate_groups == ["approvers"]
    assert engine.variables(started.id)["note"] == "edited before migration"
    engine.complete(approve.id, "approver", {})
    assert row(engine, started.id).status == "completed"


def test_migrated_timer_still_fires_at_its_original_moment(engine):
    v1, v2 = put(engine, V1), put(engine, V2_ADDED)
    started = engine.start(definition_id=v1)
    engine.clock.now = T0 + timedelta(hours=1)
    migrate_instance(engine, plan(loaded(engine, v1), loaded(engine, v2)), started.id)
    assert engine.fire_due_timers(now=T0 + timedelta(hours=3, minutes=59)) == 0
    engine.clock.now = T0 + timedelta(hours=4, minutes=1)
    assert engine.fire_due_timers() == 1
    with engine.session_factory() as session:
        assert session.scalars(select(Timer.status).where(Timer.instance_id == started.id)).one() == "fired"
    engine.complete(open_task(engine, started.id).id, "reviewer", {})
    engine.complete(open_task(engine, started.id).id, "approver", {})
    assert row(engine, started.id).status == "completed"


def test_renamed_task_migrates_through_an_explicit_mapping(engine):
    v1, v3 = put(engine, V1), put(engine, V_RENAMED)
    started = engine.start(definition_id=v1, business_key="R-1")
    old_task = open_task(engine, started.id)
    engine.claim(old_task.id, "reviewer")

    automatic = plan(loaded(engine, v1), loaded(engine, v3))
    with engine.session_factory() as session:
        refused = dry_run(session, automatic, [started.id]).instances[0]
    assert [(i.element_id, i.reason) for i in refused.issues] == [
        ("review", "has no counterpart in version 2; map it to an element of version 2 (old=new)")
    ]

    mapped = plan(loaded(engine, v1), loaded(engine, v3), parse_mapping(["review=check", ""]))
    assert migrate_instance(engine, mapped, started.id)["review"] == "check"
    task = open_task(engine, started.id)
    assert (task.id, task.element_id, task.name, task.assignee) == (old_task.id, "check", "Check", "reviewer")
    engine.complete(task.id, "reviewer", {})
    assert row(engine, started.id).status == "completed"


def test_unknown_ids_in_an_explicit_mapping_are_refused_with_suggestions(engine):
    v1, v3 = put(engine, V1), put(engine, V_RENAMED)
    with pytest.raises(MigrationMappingError) as err:
        plan(loaded(engine, v1), loaded(engine, v3), {"reveiw": "chek"})
    assert "'reveiw' is not an element of approval v1 (did you mean review?)" in str(err.value)
    assert "'chek' is not an element of approval v2 (did you mean check?)" in str(err.value)
    with pytest.raises(MigrationMappingError, match="is not old_id=new_id"):
        parse_mapping(["review"])


def test_dry_run_reports_removed_active_element_and_the_batch_skips_it_intact(engine):
    v1, v2 = put(engine, V_TWO_STEPS), put(engine, V_REMOVED)
    at_review = engine.start(definition_id=v1, business_key="AT-REVIEW")
    at_approve = engine.start(definition_id=v1, business_key="AT-APPROVE")
    engine.complete(open_task(engine, at_approve.id).id, "reviewer", {})
    migration = plan(loaded(engine, v1), loaded(engine, v2))

    with engine.session_factory() as session:
        report = dry_run(session, migration)
    assert [r.instance_id for r in report.migratable] == [at_approve.id]
    [refused] = report.refused
    assert refused.instance_id == at_review.id
    assert [(i.element_id, i.reason) for i in refused.issues] == [
        ("review", "has no counterpart in version 2; map it to an element of version 2 (old=new)")
    ]
    assert "AT-REVIEW: review: has no counterpart" in "\n".join(report.lines())

    untouched = row(engine, at_review.id)
    batch_id = create_batch(engine.session_factory, migration, [at_review.id, at_approve.id], user="admin")
    run_batch(engine, batch_id)

    with engine.session_factory() as session:
        status = batch_status(session, batch_id)
    assert (status["total"], status["done"], status["skipped"], status["failed"]) == (2, 1, 1, 0)
    assert status["finished"] and status["problems"][0]["instance_id"] == at_review.id
    assert "review: has no counterpart" in status["problems"][0]["reason"]
    still = row(engine, at_review.id)
    assert (still.state, still.version, still.definition_id) == (untouched.state, untouched.version, v1)
    assert open_task(engine, at_review.id).definition_id == v1

    moved = open_task(engine, at_approve.id)
    assert moved.definition_id == v2 and row(engine, at_approve.id).definition_id == v2
    engine.complete(moved.id, "approver", {})
    assert row(engine, at_approve.id).status == "completed"


def test_dry_run_reports_a_timer_the_target_would_lose(engine):
    v1, v2 = put(engine, V1), put(engine, V_TWO_STEPS)
    started = engine.start(definition_id=v1)
    with engine.session_factory() as session:
        [report] = dry_run(session, plan(loaded(engine, v1), loaded(engine, v2))).instances
    assert [(i.element_id, i.reason) for i in report.issues] == [
        ("remind", "waits on a timer that version 2 does not have; the instance would lose its timer")
    ]
    with pytest.raises(InstanceNotMigratableError, match="would lose its timer"):
        migrate_instance(engine, plan(loaded(engine, v1), loaded(engine, v2)), started.id)
    assert row(engine, started.id).definition_id == v1


def test_changed_element_type_is_reported(engine):
    v1 = put(engine, V_TWO_STEPS)
    v2 = put(
        engine,
        diagram(
            "approval", [START, ("review", "serviceTask", 'camunda:type="external" camunda:topic="x">'), END]
        ),
    )
    started = engine.start(definition_id=v1)
    with engine.session_factory() as session:
        [report] = dry_run(session, plan(loaded(engine, v1), loaded(engine, v2)), [started.id]).instances
    assert report.issues[0].element_id == "review"
    assert report.issues[0].reason.startswith("is a User Task but its target 'review' is a ")


def test_service_task_waiting_for_its_job_takes_the_new_path_when_the_job_completes(engine):
    external = ("call", "serviceTask", 'camunda:type="external" camunda:topic="billing">')
    v1 = put(engine, diagram("billing", [START, external, END]), "billing.bpmn")
    v2 = put(engine, diagram("billing", [START, external, user_task("review"), END]), "billing.bpmn")
    started = engine.start(definition_id=v1)
    migrate_instance(engine, plan(loaded(engine, v1), loaded(engine, v2)), started.id)
    with engine.session_factory() as session:
        job = session.scalars(select(Job).where(Job.instance_id == started.id)).one()
    assert job.status == "pending" and job.element_id == "call"
    engine.complete_job(job.id, {"paid": True})
    review = open_task(engine, started.id)
    assert review.element_id == "review" and engine.variables(started.id)["paid"] is True


def test_cli_migrates_instances_and_prints_a_dry_run_report(any_app, engine):
    v1, v2 = put(engine, V_TWO_STEPS), put(engine, V_REMOVED)
    at_review = engine.start(definition_id=v1, business_key="AT-REVIEW")
    at_approve = engine.start(definition_id=v1, business_key="AT-APPROVE")
    engine.complete(open_task(engine, at_approve.id).id, "reviewer", {})
    runner = any_app.test_cli_runner()

    dry = runner.invoke(
        args=["migrate-instances", "--from", "approval:1", "--to", "approval:2", "--dry-run", "--json"]
    )
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.output)
    assert (report["total"], report["migratable"], report["refused"]) == (2, 1, 1)
    by_id = {r["instance_id"]: r for r in report["instances"]}
    assert by_id[at_review.id]["issues"][0]["element_id"] == "review" and by_id[at_approve.id]["migratable"]
    assert row(engine, at_approve.id).definition_id == v1

    text = runner.invoke(args=["migrate-instances", "--from", "approval:1", "--to", "approval:2"])
    assert text.exit_code == 0, text.output
    assert "1 migrated, 0 failed, 1 skipped of 2" in text.output
    assert f"{at_review.id} skipped: review: has no counterpart" in text.output
    assert row(engine, at_approve.id).definition_id == v2

    bad = runner.invoke(args=["migrate-instances", "--from", "approval:1", "--to", "approval:9"])
    assert bad.exit_code != 0 and "approval:9" in bad.output
    mapped = runner.invoke(
        args=["migrate-instances", "--from", "approval:1", "--to", "approval:2", "--map", "nope=approve"]
    )
    assert mapped.exit_code != 0 and "'nope' is not an element of approval v1" in mapped.output
    with engine.session_factory() as session:
        assert (
            session.scalar(select(func.count()).select_from(Instance).where(Instance.definition_id == v2))
            == 1
        )


def test_interrupting_boundary_timer_still_interrupts_after_migration(engine):
    late = reminder("review").replace('cancelActivity="false"', 'cancelActivity="true"')
    v1 = put(engine, diagram("approval", [START, user_task("review"), END], late))
    v2 = put(engine, diagram("approval", [START, user_task("review"), user_task("approve"), END], late))
    started = engine.start(definition_id=v1)
    migrate_instance(engine, plan(loaded(engine, v1), loaded(engine, v2)), started.id)
    engine.clock.now = T0 + timedelta(hours=5)
    assert engine.fire_due_timers() == 1
    assert row(engine, started.id).status == "completed"
    with engine.session_factory() as session:
        assert session.scalars(select(UserTask.status).where(UserTask.instance_id == started.id)).all() == [
            "cancelled"
        ]


def test_camunda_rest_generates_and_executes_a_migration_plan(any_app, engine):
    import base64

    from web.demo import create_user

    with any_app.app_context():
        create_user("analyst", "pw", roles=["analyst"])
        create_user("operator", "pw", roles=["operator"])

    def auth(user: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:pw".encode()).decode()}

    v1, v2 = put(engine, V_TWO_STEPS), put(engine, V_REMOVED)
    at_review = engine.start(definition_id=v1)
    at_approve = engine.start(definition_id=v1)
    engine.complete(open_task(engine, at_approve.id).id, "reviewer", {})
    client = any_app.test_client()
    ids = {"sourceProcessDefinitionId": v1, "targetProcessDefinitionId": v2}

    assert (
        client.post("/engine-rest/migration/generate", json=ids, headers=auth("operator")).status_code == 403
    )
    generated = client.post("/engine-rest/migration/generate", json=ids, headers=auth("analyst"))
    assert generated.status_code == 200
    migration_plan = generated.get_json()
    sources = {i["sourceActivityIds"][0] for i in migration_plan["instructions"]}
    assert "approve" in sources and "review" not in sources

    both = {"migrationPlan": migration_plan, "processInstanceIds": [at_review.id, at_approve.id]}
    refused = client.post("/engine-rest/migration/execute", json=both, headers=auth("analyst"))
    assert refused.status_code == 400
    assert refused.get_json()["type"] == "MigratingProcessInstanceValidationException"
    assert "review: has no counterpart" in refused.get_json()["message"]
    assert row(engine, at_approve.id).definition_id == v1  # all or nothing, as in Camunda

    one = {"migrationPlan": migration_plan, "processInstanceIds": [at_approve.id]}
    assert client.post("/engine-rest/migration/execute", json=one, headers=auth("analyst")).status_code == 204
    assert row(engine, at_approve.id).definition_id == v2
    bad = client.post(
        "/engine-rest/migration/execute",
        json={
            "migrationPlan": {**ids, "instructions": [{"sourceActivityIds": ["x", "y"]}]},
            "processInstanceIds": ["a"],
        },
        headers=auth("analyst"),
    )
    assert bad.status_code == 400 and "one sourceActivityIds entry" in bad.get_json()["message"]
