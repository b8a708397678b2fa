"""An admin deploys a new version through the deploy page and migrates a running instance to it.

Screenshots of each page go to tests/artifacts/.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.store import Instance, ProcessDefinition, UserTask
from tests.browser.helpers import login, screenshot
from tests.test_migration import END, START, diagram, user_task

pytestmark = pytest.mark.browser

KEY = "browser_approval"
V1 = diagram(KEY, [START, user_task("review"), END], name="Browser approval")
V2 = diagram(
    KEY, [START, user_task("review"), user_task("approve", "approvers"), END], name="Browser approval"
)
BROKEN = diagram(
    KEY, [START, ("call", "serviceTask", 'camunda:type="external">'), END], name="Browser approval"
)


def _deploy(page, base_url: str, path) -> None:
    page.goto(f"{base_url}/processes/deploy")
    page.set_input_files("input[name=files]", str(path))
    with page.expect_navigation():
        page.click("main form button.primary")


def _definition_ids(live_app) -> list[str]:
    with live_app.extensions["sessions"]() as session:
        return list(
            session.scalars(
                select(ProcessDefinition.id)
                .where(ProcessDefinition.key == KEY)
                .order_by(ProcessDefinition.version)
            )
        )


def test_admin_deploys_a_second_version_and_migrates_an_instance(live_server, live_app, page, tmp_path):
    login(page, live_server, "admin")
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "v1" / f"{KEY}.bpmn").write_bytes(V1)
    (tmp_path / "v2" / f"{KEY}.bpmn").write_bytes(V2)
    (tmp_path / "broken" / f"{KEY}.bpmn").write_bytes(BROKEN)

    _deploy(page, live_server, tmp_path / "v1" / f"{KEY}.bpmn")
    assert "Browser approval v1" in page.locator("#deploy-report").inner_text()
    [v1] = _definition_ids(live_app)

    page.goto(f"{live_server}/processes/definitions/{v1}/start")
    page.fill("input[name=business_key]", "BROWSER-1")
    with page.expect_navigation():
        page.click("#start-form button.primary")
    instance_id = page.url.rsplit("/", 1)[1]
    assert "BROWSER-1" in page.locator("h1").inner_text()

    _deploy(page, live_server, tmp_path / "broken" / f"{KEY}.bpmn")
    assert "call" in page.locator("#deploy-problems code").all_inner_texts()
    screenshot(page, "deploy_refused")
    assert len(_definition_ids(live_app)) == 1

    _deploy(page, live_server, tmp_path / "v2" / f"{KEY}.bpmn")
    assert "Browser approval v2" in page.locator("#deploy-report").inner_text()
    screenshot(page, "deploy_report_v2")
    v1, v2 = _definition_ids(live_app)

    page.goto(f"{live_server}/processes/migrate?source={v1}")
    page.select_option("select[name=target]", v2)
    with page.expect_navigation():
        page.click("button[value=dry]")
    assert "1" in page.locator("#dry-run h2").inner_text()
    screenshot(page, "migration_dry_run")
    with page.expect_navigation():
        page.click("button[value=run]")
    page.locator("#batch-status", has_text="finished").wait_for()
    assert page.locator("#batch-done").inner_text() == "1"
    assert page.locator("#batch-failed").inner_text() == "0"
    screenshot(page, "migration_batch_finished")

    page.goto(f"{live_server}/processes/instances/{instance_id}")
    assert "v2" in page.locator("h1").inner_text()
    assert page.locator(".diagram svg").count() == 1
    screenshot(page, "instance_after_migration")
    runtime = live_app.extensions["runtime"]
    with live_app.extensions["sessions"]() as session:
        assert session.get(Instance, instance_id).definition_id == v2
        review = session.scalars(select(UserTask.id).where(UserTask.instance_id == instance_id)).one()
    runtime.complete(review, "admin", {})
    with live_app.extensions["sessions"]() as session:
        open_elements = session.scalars(
            select(UserTask.element_id).where(UserTask.instance_id == instance_id, UserTask.status == "open")
        ).all()
    assert open_elements == ["approve"]  # the step version 2 added
