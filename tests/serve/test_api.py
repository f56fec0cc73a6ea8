"""Every endpoint of the dashboards through FastAPI's test client."""

from __future__ import annotations

import json
import time
import warnings

import pytest

from minescan.serve.app import CSRF_HEADER, LOGIN_COOKIE, SESSION_COOKIE, create_app
from minescan.store import open_store
from minescan.store.audit import verify
from tests.serve.conftest import PASSWORDS, XSS_NAME

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BOX = "0,5,0.3,5.3"


@pytest.fixture
def client(store, tmp_path):
    return TestClient(create_app(str(store), tmp_path / "work"))


def log_in(client, user: str) -> str:
    """Log ``user`` in through the login page; the session's CSRF token."""
    page = client.get("/admin/login")
    token = page.cookies[LOGIN_COOKIE]
    assert token in page.text
    reply = client.post(
        "/admin/api/login",
        json={"user": user, "password": PASSWORDS[user]},
        headers={CSRF_HEADER: token},
    )
    assert reply.status_code == 200, reply.text
    admin = client.get("/admin")
    return admin.text.split('name="csrf-token" content="')[1].split('"')[0]


def test_pages_render_without_external_assets(client):
    for path in ("/", "/mine/1", "/admin/login"):
        page = client.get(path)
        assert page.status_code == 200
        assert "http" not in page.text.replace("http-equiv", "")  # nothing from another host
        assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/vendor/leaflet/leaflet.js").status_code == 200
    assert client.get("/static/map.js").status_code == 200


def test_periods_summary_and_extent(client):
    assert [p["period"] for p in client.get("/api/periods").json()] == ["2019", "2020", "2021"]
    first, last = (client.get(f"/api/summary?period={p}").json() for p in ("2019", "2021"))
    assert (first["cumulative"], first["new"]) == (10, 10)
    assert last["cumulative"] == 30 and last["area_ha"] > first["area_ha"] > 0
    assert client.get("/api/summary").json() == last
    assert client.get("/api/summary?period=1999").status_code == 400
    west, south, east, north = client.get("/api/extent").json()
    assert west < east and south < north


def test_map_points_at_low_zoom_outlines_when_zoomed_in(client):
    points = client.get(f"/api/map?bbox={BOX}&zoom=6&period=2020&layer=new").json()
    assert points["mode"] == "points" and points["count"] == 10
    assert sum(f["properties"]["count"] for f in points["features"]) == 10
    outlines = client.get(f"/api/map?bbox={BOX}&zoom=14&layer=provisional").json()
    assert outlines["mode"] == "outlines"
    assert {f["geometry"]["type"] for f in outlines["features"]} == {"Polygon"}
    assert len(outlines["features"]) == outlines["count"] == 20
    assert client.get("/api/map?bbox=1,2,3&zoom=3").status_code == 400
    assert client.get(f"/api/map?bbox={BOX}&layer=everything").status_code == 400


def test_boundaries_mine_search_and_jurisdictions(client):
    layer = client.get(f"/api/boundaries?kind=province&bbox={BOX}").json()
    assert sorted(f["properties"]["name"] for f in layer["features"]) == ["East", "West"]
    assert client.get(f"/api/boundaries?kind=moon&bbox={BOX}").status_code == 400
    page = client.get("/api/mines/1").json()
    assert page["mine"]["mine_id"] == 1 and page["outline"]["type"] == "Polygon"
    assert page["alerts"][0]["category"] == 3 and page["area_profile"]
    assert client.get("/api/mines/9999").status_code == 400
    assert client.get("/api/search?q=obuasi").json() == [{"mine_id": 2, "name": XSS_NAME}]
    assert client.get("/api/search?q=3").json()[0]["mine_id"] == 3
    kinds = {j["kind"]: j["names"] for j in client.get("/api/jurisdictions").json()}
    assert kinds["province"] == ["East", "West"]


def test_stats_follow_the_date_filter_and_download(client):
    everything = client.get("/api/stats?kind=province&name=West").json()
    assert [r["period"] for r in everything["rows"]] == ["2019", "2020", "2021"]
    ranged = client.get("/api/stats?kind=province&name=West&from=2020&to=2020").json()
    assert [r["period"] for r in ranged["rows"]] == ["2020"]
    share = ranged["compliance"]
    assert share["category_1"] + share["category_3"] == pytest.approx(ranged["rows"][0]["area_ha"])
    csv = client.get("/api/stats.csv?from=2020")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("kind,jurisdiction,period")
    assert len(csv.text.splitlines()) == 3  # total for 2020 and 2021
    assert client.get("/api/stats?kind=province&name=Nowhere").status_code == 400


@pytest.mark.parametrize("fmt", ["geojson", "csv", "gpkg"])
def test_export_of_the_selection(client, fmt):
    reply = client.get(f"/api/export?format={fmt}&period=2019&bbox={BOX}")
    assert reply.status_code == 200
    assert "attachment" in reply.headers["content-disposition"]
    if fmt == "geojson":
        assert len(json.loads(reply.content)["features"]) == 10


def test_downloads_cannot_leave_their_folder(client):
    for name in ("..%2Fstore.gpkg", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "nothing.csv"):
        assert client.get(f"/downloads/{name}").status_code == 404


def test_admin_refuses_visitors_without_a_session(client):
    assert client.get("/admin", follow_redirects=False).status_code == 303
    for path in ("runs", "alerts", "users", "audit", "jobs", "me"):
        assert client.get(f"/admin/api/{path}").status_code == 401
    assert client.post("/admin/api/runs/x/publish").status_code == 401


def test_login_needs_its_csrf_token_and_the_right_password(client):
    client.get("/admin/login")
    body = {"user": "ada", "password": PASSWORDS["ada"]}
    assert client.post("/admin/api/login", json=body).status_code == 403
    token = client.cookies[LOGIN_COOKIE]
    wrong = {"user": "ada", "password": "not-it-at-all"}
    assert (
        client.post("/admin/api/login", json=wrong, headers={CSRF_HEADER: token}).status_code == 401
    )
    reply = client.post("/admin/api/login", json=body, headers={CSRF_HEADER: token})
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert PASSWORDS["ada"] not in reply.text


def test_forged_post_without_csrf_is_refused(client, store):
    csrf = log_in(client, "ada")
    assert (
        client.post(
            "/admin/api/users", json={"user": "eve", "role": "admin", "password": "x" * 12}
        ).status_code
        == 403
    )
    headers = {CSRF_HEADER: "forged"}
    assert client.post("/admin/api/runs/x/unpublish", headers=headers).status_code == 403
    assert client.get("/admin/api/me").json() == {"user": "ada", "role": "admin"}
    with open_store(store) as backend:
        assert "eve" not in {r["user_name"] for r in backend.select("users")}
        assert csrf not in json.dumps(backend.select("audit"))


def test_analyst_triages_but_cannot_publish(client, store):
    csrf = log_in(client, "ana")
    headers = {CSRF_HEADER: csrf}
    alert = client.get("/admin/api/alerts").json()[0]
    verdict = {"state": "confirmed", "note": "seen on site"}
    done = client.post(f"/admin/api/alerts/{alert['id']}/triage", json=verdict, headers=headers)
    assert done.json()["reviewer"] == "ana"
    assert client.get("/admin/api/alerts").json()[0]["triage"]["state"] == "confirmed"
    assert client.get("/api/mines/1").json()["alerts"][0]["triage"]["note"] == "seen on site"
    bad = client.post(
        f"/admin/api/alerts/{alert['id']}/triage", json={"state": "maybe"}, headers=headers
    )
    assert bad.status_code == 400
    run = client.get("/admin/api/runs").json()[0]["run_id"]
    assert client.post(f"/admin/api/runs/{run}/unpublish", headers=headers).status_code == 403
    assert client.get("/admin/api/users").status_code == 403
    named = client.post("/admin/api/mines/3/name", json={"name": "Akyem"}, headers=headers)
    assert named.json()["name"] == "Akyem"
    with open_store(store) as backend:
        assert "triage" in {r["action"] for r in backend.select("audit")}


def test_unpublish_and_publish_switch_the_view_atomically(client, store):
    headers = {CSRF_HEADER: log_in(client, "ada")}
    run = next(r for r in client.get("/admin/api/runs").json() if r["kind"] == "periods")["run_id"]
    assert client.post(f"/admin/api/runs/{run}/unpublish", headers=headers).status_code == 200
    assert client.get("/api/periods").json() == []
    assert client.get(f"/api/map?bbox={BOX}").status_code == 400
    assert client.post(f"/admin/api/runs/{run}/unpublish", headers=headers).status_code == 400
    assert client.post(f"/admin/api/runs/{run}/publish", headers=headers).status_code == 200
    assert client.get("/api/summary").json()["cumulative"] == 30
    audit = client.get("/admin/api/audit").json()
    assert audit["problem"] is None and audit["verified_rows"] == len(audit["rows"])
    newest = [(r["action"], r["actor"]) for r in audit["rows"][:2]]
    assert newest == [("publish", "ada"), ("unpublish", "ada")]  # once each, under the web user
    with open_store(store) as backend:
        assert verify(backend) > 0


def test_users_boundaries_and_logout(client, store):
    headers = {CSRF_HEADER: log_in(client, "ada")}
    new = {"user": "bo", "role": "analyst", "password": "bo-password"}
    assert client.post("/admin/api/users", json=new, headers=headers).json() == {
        "user": "bo",
        "role": "analyst",
    }
    short = {**new, "password": "short"}
    assert client.post("/admin/api/users", json=short, headers=headers).status_code == 400
    assert "bo" in [u["user"] for u in client.get("/admin/api/users").json()]
    assert "hash" not in client.get("/admin/api/users").text
    assert client.post("/admin/api/users/bo/remove", headers=headers).json()["removed"]
    assert client.post("/admin/api/users/ada/remove", headers=headers).status_code == 400
    layer = {
        "kind": "protected_area",
        "name_column": "name",
        "geojson": {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"name": "Reserve"},
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [[[0, 5], [0.1, 5], [0.1, 5.1], [0, 5.1], [0, 5]]],
                    },
                }
            ],
        },
    }
    assert (
        client.post("/admin/api/boundaries", json=layer, headers=headers).json()["boundaries"] == 1
    )
    assert "protected_area" in [j["kind"] for j in client.get("/api/jurisdictions").json()]
    assert client.post("/admin/api/logout", headers=headers).status_code == 200
    assert client.get("/admin/api/me").status_code == 401
    assert SESSION_COOKIE not in client.cookies


def test_jobs_are_queued_and_refuse_bad_arguments(client, monkeypatch):
    from minescan.serve import jobs

    monkeypatch.setattr(jobs, "minescan_command", lambda: ["false"])
    headers = {CSRF_HEADER: log_in(client, "ada")}
    assert (
        client.post("/admin/api/jobs", json={"kind": "rm", "args": []}, headers=headers).status_code
        == 400
    )
    out = {"kind": "scan", "args": ["--out", "/tmp/x"]}
    assert client.post("/admin/api/jobs", json=out, headers=headers).status_code == 400
    job = client.post(
        "/admin/api/jobs", json={"kind": "scan", "args": ["--aoi", "x"]}, headers=headers
    ).json()
    assert job["state"] in ("queued", "running", "failed")
    for _ in range(100):
        state = client.get("/admin/api/jobs").json()[0]["state"]
        if state == "failed":
            break
        time.sleep(0.05)
    assert state == "failed"


def test_mine_page_shows_the_imagery_previews_of_a_simulated_scan(client, store, tmp_path):
    from minescan.config import section
    from minescan.store.ingest import ingest_scan
    from tests.store.builders import scan_run, square

    simulated = section("source", kind="simulated").model_dump()
    run = scan_run(tmp_path, "scan-a", "2022", [square(0.25, 5.25, 0.002)], source=simulated)
    with open_store(store) as backend:
        assert ingest_scan(backend, run)["previews"] == 1
        (obs,) = backend.select("observations", {"run_id": "scan-a"}, columns=["obs_id", "mine_id"])
    page = client.get(f"/api/mines/{obs['mine_id']}").json()
    assert page["previews"] == [{"obs_id": obs["obs_id"], "run_id": "scan-a", "period": "2022"}]
    assert f'src="/api/previews/{obs["obs_id"]}.png"' in client.get(f"/mine/{obs['mine_id']}").text
    image = client.get(f"/api/previews/{obs['obs_id']}.png")
    assert image.headers["content-type"] == "image/png" and image.content[:4] == b"\x89PNG"
    assert client.get("/api/previews/9999.png").status_code == 400
    assert "no imagery previews" in client.get("/mine/1").text
