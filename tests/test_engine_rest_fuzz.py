"""A property-based fuzz run over every operation of web/engine_rest/openapi.json on the live app,
as demo users: no 5xx, and every response matches the document (status, content type, body).

Bounded to a few examples per operation so the suite stays fast; bench/fuzz_rest.py runs more.
"""

from __future__ import annotations

import pytest

from tests.web_helpers import seeded_fixture  # noqa: F401  (fixture "seeded")
from web.demo import DEMO_PASSWORD
from web.engine_rest.fuzz import basic_auth, fuzz_engine_rest

pytest.importorskip("schemathesis")


@pytest.mark.slow
def test_every_documented_operation_survives_generated_input(seeded):
    report = fuzz_engine_rest(seeded, [("admin", DEMO_PASSWORD), ("operator", DEMO_PASSWORD)], max_examples=4)

    assert report.operations >= 49
    assert report.examples >= report.operations * 2
    assert not report.failures, (
        report.summary()
        + "\n"
        + "\n".join(f"{key}\n    {detail}" for key, detail in sorted(report.failures.items()))
    )


def test_a_deployment_part_without_a_name_is_refused_not_a_500(seeded):
    """Found by the fuzz run: a multipart part with no name crashed the deploy's envelope check."""
    boundary = "fuzzboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\n<definitions/>\r\n--{boundary}--\r\n"
    ).encode()
    reply = seeded.test_client().post(
        "/engine-rest/deployment/create",
        data=body,
        headers={
            **basic_auth("admin", DEMO_PASSWORD),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert reply.status_code == 400, reply.get_data(as_text=True)
    assert "(unnamed)" in reply.get_data(as_text=True)
