"""Real Camunda Modeler files and the BPMN MIWG suite, read from ../shared/peers (skipped when absent)."""

from __future__ import annotations

import json

import pytest

from engine.deploy import DeployError, deploy
from tests.conftest import peers

pytestmark = pytest.mark.conformance


def test_every_camunda_example_deploys(app):
    folder = peers("camunda-examples")
    forms = {p.name: p.read_bytes() for p in folder.glob("*.form")}
    sessions = app.extensions["sessions"]
    for path in sorted(folder.glob("*.bpmn")):
        report = deploy(sessions, {path.name: path.read_bytes(), **forms})
        assert report.definitions, f"{path.name} deployed no process"


def test_miwg_files_deploy_or_are_refused_with_element_and_reason(app):
    sessions = app.extensions["sessions"]
    outcomes = {}
    for folder in ("miwg/reference", "miwg/camunda-modeler-18.6.1"):
        for path in sorted(peers(folder).glob("*.bpmn")):
            try:
                deploy(sessions, {path.name: path.read_bytes()}, allow_scripts=True)
                outcomes[f"{folder}/{path.name}"] = "deployed"
            except DeployError as err:
                assert err.problems, path
                for problem in err.problems:
                    assert problem.resource == path.name and problem.message
                outcomes[f"{folder}/{path.name}"] = "refused: " + "; ".join(str(p) for p in err.problems[:2])
    deployed = sum(1 for v in outcomes.values() if v == "deployed")
    print(f"\nMIWG: {deployed} of {len(outcomes)} files deploy")
    assert deployed > 0


def test_every_peer_file_deploys_or_is_refused_naming_an_element_and_a_line(app):
    """What cannot run is refused at deploy with file, line and element id (DESIGN §8b), never bare."""
    sessions = app.extensions["sessions"]
    unlocated = []
    for folder in ("miwg/reference", "miwg/camunda-modeler-18.6.1", "camunda-examples"):
        path_folder = peers(folder)
        forms = {p.name: p.read_bytes() for p in path_folder.glob("*.form")}
        for path in sorted(path_folder.glob("*.bpmn")):
            try:
                deploy(sessions, {path.name: path.read_bytes(), **forms}, allow_scripts=True)
            except DeployError as err:
                unlocated += [f"{folder}/{p}" for p in err.problems if not (p.element_id and p.line)]
    assert unlocated == []


def run(cli, *args: str) -> str:
    result = cli.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_invoice_approval_runs_to_completion_through_the_cli(app):
    folder = peers("camunda-examples")
    cli = app.test_cli_runner()
    run(cli, "deploy", str(folder / "invoiceApproval.bpmn"))
    bad = cli.invoke(
        args=["start", "camundaFormsQuickstart", "--var", "creditor=ACME", "--var", "amount=12x"]
    )
    assert bad.exit_code != 0 and "amount" in bad.output
    started = json.loads(
        run(
            cli,
            "start",
            "camundaFormsQuickstart",
            "--var",
            "creditor=ACME",
            "--var",
            "amount=250",
            "--var",
            "invoiceNumber=C-123",
            "--var",
            "approved=false",
            "--json",
        )
    )
    [task] = json.loads(run(cli, "tasks", "--user", "demo", "--json"))
    assert task["name"] == "Approve Invoice" and task["assignee"] == "demo"
    run(
        cli,
        "complete",
        task["id"],
        "--user",
        "demo",
        "--var",
        "approved=true",
        "--var",
        "creditor=ACME",
        "--var",
        "amount=250",
    )
    shown = json.loads(run(cli, "instance", started["id"], "--json"))
    assert shown["status"] == "completed"
    assert shown["variables"]["approved"] == "true"


def test_loan_approval_runs_to_completion_through_the_cli(app):
    folder = peers("camunda-examples")
    cli = app.test_cli_runner()
    run(cli, "deploy", str(folder / "loanApproval.bpmn"))
    started = json.loads(run(cli, "start", "embeddedFormsQuickstart", "--business-key", "LOAN-1", "--json"))
    [task] = json.loads(run(cli, "tasks", "--user", "demo", "--json"))
    run(cli, "claim", task["id"], "--user", "demo")
    run(cli, "complete", task["id"], "--user", "demo", "--var", "approved=true")
    shown = json.loads(run(cli, "instance", started["id"], "--json"))
    assert shown["status"] == "completed" and shown["business_key"] == "LOAN-1"
    assert [h["kind"] for h in shown["history"]][-1] == "instance_ended"
