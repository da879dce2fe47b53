"""The erasure's doors (issue 21): ``casetrail customers erase`` and ``POST /v1/admin/customers/{id}/erase``.

Admins only; a clear problem or one stderr line for bad input, unknown and
already-erased customers; nothing recorded then.
"""

from __future__ import annotations

from click.testing import CliRunner
from starlette.testclient import TestClient

from api.app import create_app
from domain.storage.sealing import ERASED
from scripts.cli import cli
from tests.integration.test_projections import catch_up
from tests.support import World

CUSTOMER = {"id": "C-31", "name": "诸葛亮", "phone": "13611112222", "tier": "regular"}


def test_admin_endpoint(sqlite_url: str) -> None:
    world = World(sqlite_url)
    case = world.open("complaint", customer=CUSTOMER)
    admin, agent = world.app.issue_token("admin"), world.app.issue_token("agent")
    with TestClient(create_app(app=world.app)) as client:
        url = "/v1/admin/customers/C-31/erase"

        def post(token: str, body: object, path: str = url) -> object:
            return client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})

        catch_up(world.app)
        listed = client.get("/v1/cases", params={"phone": "136 1111 2222"},
                            headers={"Authorization": f"Bearer {agent}"})
        assert listed.status_code == 200, listed.text
        assert [c["id"] for c in listed.json()["items"]] == [str(case.id)]
        assert client.get("/v1/cases", params={"phone": "none"},
                          headers={"Authorization": f"Bearer {agent}"}).status_code == 422
        head = world.app.recorder.max_notification_id()
        assert post(agent, {"reason": "asked"}).status_code == 403
        bad = post(admin, {"reason": ""})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        assert post(admin, {"why": "x"}).status_code == 422
        assert post(admin, {"reason": "x"}, "/v1/admin/customers/C-404/erase").status_code == 404
        assert head == world.app.recorder.max_notification_id()  # nothing recorded by the refusals
        done = post(admin, {"reason": "consent withdrawn"})
        assert done.status_code == 200, done.text
        assert done.json()["cases"] == [str(case.id)] and "X-Casetrail-Position" in done.headers
        again = post(admin, {"reason": "again"})
        assert again.status_code == 409 and again.json()["type"].endswith("already-erased")
        view = client.get(f"/v1/cases/{case.id}", headers={"Authorization": f"Bearer {agent}"}).json()
        assert view["customer"]["name"] == ERASED and view["customer"]["phone"] == ERASED


def test_cli(sqlite_url: str) -> None:
    world = World(sqlite_url)
    case = world.open("complaint", customer=CUSTOMER)
    world.app.close()
    runner = CliRunner()
    env = {"CASETRAIL_DATABASE_URL": sqlite_url}
    result = runner.invoke(cli, ["customers", "erase", "C-31", "--reason", "consent withdrawn", "--by", "admin"],
                           env=env)
    assert result.exit_code == 0, result.output
    assert str(case.id) in result.output
    again = runner.invoke(cli, ["customers", "erase", "C-31", "--reason", "again"], env=env)
    assert again.exit_code == 2 and "erased already" in again.output
    unknown = runner.invoke(cli, ["customers", "erase", "C-404", "--reason", "x"], env=env)
    assert unknown.exit_code == 2 and "no personal data" in unknown.output
    neither = runner.invoke(cli, ["customers", "erase", "--reason", "x"], env=env)
    assert neither.exit_code == 2
