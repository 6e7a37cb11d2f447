"""/v1/dashboards and their widgets against the real database: CRUD, visibility, rights."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from rs_helpers import Headers, widget_body

Auth = Callable[..., Headers]
Make = Callable[..., dict[str, Any]]


def _errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {".".join(map(str, e["loc"][1:])): e["msg"] for e in response.json()["detail"]}


# --- CRUD -------------------------------------------------------------------------------------


def test_dashboard_with_layout_is_created_and_read_back_in_grid_order(
    client: TestClient, auth: Auth, org: str, make_report: Make
) -> None:
    report = make_report()
    body = {
        "name": "Teaching overview",
        "description": "For deans",
        "is_public": True,
        "layout": [
            widget_body(
                report["id"], title="Lower", position={"x": 0, "y": 4, "width": 12, "height": 3}
            ),
            widget_body(
                "SELECT 1",
                data_source_type="query",
                type="metric",
                visualization="metric",
                title="Right",
                position={"x": 6, "y": 0, "width": 6, "height": 4},
                filters={"period": "30d"},
            ),
            widget_body(report["id"], title="Left", visualization="line"),
        ],
    }
    response = client.post("/v1/dashboards", json=body, headers=auth("alice"))
    assert response.status_code == 201, response.text
    dashboard = response.json()
    assert response.headers["location"] == f"/v1/dashboards/{dashboard['id']}"
    assert (dashboard["name"], dashboard["description"], dashboard["is_public"]) == (
        "Teaching overview",
        "For deans",
        True,
    )
    assert (dashboard["created_by"], dashboard["org_id"]) == ("alice", org)
    assert [w["title"] for w in dashboard["layout"]] == ["Left", "Right", "Lower"]
    left, right, _ = dashboard["layout"]
    assert left["report_id"] == report["id"] == left["data_source"]
    assert (right["data_source_type"], right["data_source"], right["report_id"]) == (
        "query",
        "SELECT 1",
        None,
    )
    assert right["position"] == {"x": 6, "y": 0, "width": 6, "height": 4}
    assert right["filters"] == {"period": "30d"}
    assert {w["dashboard_id"] for w in dashboard["layout"]} == {dashboard["id"]}
    assert client.get(f"/v1/dashboards/{dashboard['id']}", headers=auth("bob")).json() == dashboard


def test_dashboard_update_and_delete(
    client: TestClient, auth: Auth, make_dashboard: Make, make_report: Make, db: psycopg.Connection
) -> None:
    dashboard = make_dashboard()
    url, alice = f"/v1/dashboards/{dashboard['id']}", auth("alice")
    client.post(f"{url}/widgets", json=widget_body(make_report()["id"]), headers=alice)

    updated = client.patch(url, json={"name": "Renamed", "is_public": True}, headers=alice).json()
    assert (updated["name"], updated["is_public"], updated["description"]) == ("Renamed", True, "")
    assert len(updated["layout"]) == 1
    assert "valid string" in _errors(client.patch(url, json={"name": None}, headers=alice))["name"]

    assert client.delete(url, headers=alice).status_code == 204
    assert client.get(url, headers=alice).status_code == 404
    count = db.execute(
        "SELECT count(*) FROM dashboard_widgets WHERE dashboard_id = %s", (dashboard["id"],)
    ).fetchone()
    assert count == (0,)


def test_widget_crud_round_trip(
    client: TestClient, auth: Auth, make_dashboard: Make, make_report: Make
) -> None:
    dashboard, report = make_dashboard(), make_report()
    widgets, alice = f"/v1/dashboards/{dashboard['id']}/widgets", auth("alice")

    created = client.post(widgets, json=widget_body(report["id"]), headers=alice)
    assert created.status_code == 201, created.text
    widget = created.json()
    url = f"{widgets}/{widget['id']}"
    assert created.headers["location"] == url
    assert client.get(url, headers=alice).json() == widget

    moved = client.patch(
        url,
        json={"position": {"x": 2, "y": 1, "width": 3, "height": 2}, "visualization": "area"},
        headers=alice,
    ).json()
    assert moved["position"] == {"x": 2, "y": 1, "width": 3, "height": 2}
    assert (moved["visualization"], moved["title"], moved["report_id"]) == (
        "area",
        "Completions",
        report["id"],
    )
    to_query = client.patch(
        url, json={"data_source_type": "query", "data_source": "top courses"}, headers=alice
    ).json()
    assert (to_query["report_id"], to_query["data_source"]) == (None, "top courses")

    assert [w["id"] for w in client.get(widgets, headers=alice).json()] == [widget["id"]]
    assert client.delete(url, headers=alice).status_code == 204
    assert client.get(url, headers=alice).status_code == 404
    assert client.get(widgets, headers=alice).json() == []


def test_widget_of_a_deleted_report_stays_and_can_still_be_edited(
    client: TestClient, auth: Auth, make_dashboard: Make, make_report: Make
) -> None:
    dashboard, report = make_dashboard(), make_report()
    widgets, alice = f"/v1/dashboards/{dashboard['id']}/widgets", auth("alice")
    widget = client.post(widgets, json=widget_body(report["id"]), headers=alice).json()

    assert client.delete(f"/v1/reports/{report['id']}", headers=alice).status_code == 204

    orphan = client.get(f"{widgets}/{widget['id']}", headers=alice).json()
    assert (orphan["report_id"], orphan["data_source"]) == (None, report["id"])
    renamed = client.patch(f"{widgets}/{widget['id']}", json={"title": "Old"}, headers=alice)
    assert renamed.status_code == 200 and renamed.json()["title"] == "Old"
    repointed = client.patch(
        f"{widgets}/{widget['id']}", json={"data_source": report["id"]}, headers=alice
    )
    assert "does not exist in your organisation" in _errors(repointed)["data_source"]


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"type": "map"}, "type", "'chart', 'metric' or 'table'"),
        ({"visualization": "scatter"}, "visualization", "'bar', 'line', 'area', 'pie'"),
        ({"title": " "}, "title", "at least 1 character"),
        ({"position": {"x": -1, "y": 0, "width": 1, "height": 1}}, "position.x", ">= 0"),
        ({"position": {"x": 0, "y": -1, "width": 1, "height": 1}}, "position.y", ">= 0"),
        ({"position": {"x": 0, "y": 0, "width": 0, "height": 1}}, "position.width", "> 0"),
        ({"position": {"x": 0, "y": 0, "width": 1, "height": 0}}, "position.height", "> 0"),
        ({"position": {"x": 0, "y": 0}}, "position.width", "Field required"),
        ({"data_source_type": "report"}, "data_source", "must be a report id (UUID)"),
        ({"data_source_type": "sql"}, "data_source_type", "'report' or 'query'"),
    ],
)
def test_invalid_widget_is_422_naming_the_field(
    client: TestClient,
    auth: Auth,
    make_dashboard: Make,
    overrides: dict[str, Any],
    field: str,
    message: str,
) -> None:
    dashboard = make_dashboard()
    data_source = "course report" if "data_source_type" in overrides else str(uuid.uuid4())
    body = widget_body(data_source, **overrides)
    response = client.post(
        f"/v1/dashboards/{dashboard['id']}/widgets", json=body, headers=auth("alice")
    )
    errors = _errors(response)
    assert field in errors, errors
    readable = errors[field].replace("greater than or equal to 0", ">= 0")
    assert message in readable.replace("greater than 0", "> 0"), errors[field]


def test_widget_must_show_a_report_of_the_callers_organisation(
    client: TestClient, auth: Auth, make_report: Make
) -> None:
    foreign = make_report()  # in the test's org
    outsider = auth("oscar", "analyst", org_id=f"other-{uuid.uuid4().hex[:6]}")
    body = {"name": "Spy", "layout": [widget_body(foreign["id"])]}
    errors = _errors(client.post("/v1/dashboards", json=body, headers=outsider))
    assert errors["layout.0.data_source"] == (
        f"report {foreign['id']} does not exist in your organisation"
    )


# --- listing and visibility -------------------------------------------------------------------


def test_list_shows_public_dashboards_and_the_callers_private_ones(
    client: TestClient, auth: Auth, make_dashboard: Make
) -> None:
    public = make_dashboard("alice", is_public=True, name="Public")
    alices = make_dashboard("alice", name="Alice's")
    bobs = make_dashboard("bob", name="Bob's")

    def listed(sub: str, **params: Any) -> tuple[int, list[str]]:
        body = client.get("/v1/dashboards", params=params, headers=auth(sub, "viewer")).json()
        return body["total"], [item["id"] for item in body["items"]]

    assert listed("alice") == (2, [alices["id"], public["id"]])
    assert listed("bob") == (2, [bobs["id"], public["id"]])
    assert listed("carol") == (1, [public["id"]])
    assert listed("alice", limit=1, offset=1) == (2, [public["id"]])
    assert listed("carol", created_by="bob") == (0, [])


def test_private_dashboard_is_forbidden_to_everyone_but_its_creator(
    client: TestClient, auth: Auth, make_dashboard: Make
) -> None:
    dashboard = make_dashboard("alice")
    url = f"/v1/dashboards/{dashboard['id']}"
    assert client.get(url, headers=auth("alice")).status_code == 200
    for headers in (auth("bob"), auth("root", "admin"), auth("victor", "viewer")):
        for response in (
            client.get(url, headers=headers),
            client.get(f"{url}/widgets", headers=headers),
            client.patch(url, json={"name": "x"}, headers=headers),
            client.delete(url, headers=headers),
        ):
            assert response.status_code == 403
            assert response.json() == {
                "detail": f"dashboard {dashboard['id']} is private to its creator"
            }


def test_public_dashboard_is_read_by_all_changed_by_creator_or_admin(
    client: TestClient, auth: Auth, make_dashboard: Make, make_report: Make
) -> None:
    dashboard = make_dashboard("alice", is_public=True)
    url = f"/v1/dashboards/{dashboard['id']}"
    widget = widget_body(make_report()["id"])
    assert client.get(url, headers=auth("victor", "viewer")).status_code == 200

    bob = auth("bob")
    assert client.patch(url, json={"name": "Bob's now"}, headers=bob).status_code == 403
    assert client.post(f"{url}/widgets", json=widget, headers=bob).status_code == 403
    assert client.delete(url, headers=bob).status_code == 403

    admin = auth("root", "admin")
    assert client.patch(url, json={"name": "Tidied"}, headers=admin).json()["name"] == "Tidied"
    assert client.post(f"{url}/widgets", json=widget, headers=admin).status_code == 201
    assert client.delete(url, headers=admin).status_code == 204


def test_viewer_cannot_create_dashboards(client: TestClient, auth: Auth) -> None:
    response = client.post("/v1/dashboards", json={"name": "x"}, headers=auth("victor", "viewer"))
    assert response.status_code == 403
    assert response.json()["detail"].startswith("role viewer may not create dashboards")


def test_other_organisations_dashboards_do_not_exist_for_the_caller(
    client: TestClient, auth: Auth, make_dashboard: Make
) -> None:
    dashboard = make_dashboard("alice", is_public=True)
    outsider = auth("root", "admin", org_id=f"other-{uuid.uuid4().hex[:6]}")
    url = f"/v1/dashboards/{dashboard['id']}"
    assert client.get("/v1/dashboards", headers=outsider).json()["total"] == 0
    for response in (
        client.get(url, headers=outsider),
        client.get(f"{url}/widgets", headers=outsider),
        client.patch(url, json={"name": "x"}, headers=outsider),
        client.delete(url, headers=outsider),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": f"dashboard {dashboard['id']} not found"}
