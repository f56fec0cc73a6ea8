"""The admin side: login, runs and publishing, jobs, alert triage, boundaries, users, audit.

Every route needs a session of the right role (:func:`minescan.serve.app.needs`, checked before the body is read);
every POST also its CSRF token. ``analyst`` may read everything here and
triage alerts and name mines; ``admin`` may also publish, run jobs, import
boundaries and manage users. Pages without a session redirect to the login.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from minescan.serve import accounts
from minescan.serve.app import (
    CSRF_HEADER,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    needs,
    same_token,
    server_of,
    session_of,
)
from minescan.store import accounts as store_accounts
from minescan.store import reviews
from minescan.store.audit import verify
from minescan.store.boundaries import import_boundaries
from minescan.store.query import runs_table
from minescan.store.runs import publish, unpublish

router = APIRouter(prefix="/admin")
ANY = ("admin", "analyst")
ADMIN = ("admin",)
AUDIT_ROWS = 500
#: A session of either role; for POSTs, with its CSRF token; the same for admins only.
Reader = Annotated[dict, Depends(needs(ANY))]
Reviewer = Annotated[dict, Depends(needs(ANY, post=True))]
AdminReader = Annotated[dict, Depends(needs(ADMIN))]
Admin = Annotated[dict, Depends(needs(ADMIN, post=True))]
COOKIE = {"httponly": True, "samesite": "strict", "path": "/"}


class Login(BaseModel):
    user: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class Verdict(BaseModel):
    state: str
    note: str = Field("", max_length=2000)


class MineName(BaseModel):
    name: str = Field(max_length=200)


class NewUser(BaseModel):
    user: str = Field(max_length=64)
    role: str
    password: str = Field(max_length=1024)


class Boundaries(BaseModel):
    kind: str
    name_column: str = Field(max_length=200)
    #: A GeoJSON FeatureCollection, or None for the shipped Natural Earth countries.
    geojson: dict | None = None


class NewJob(BaseModel):
    kind: str
    args: list[str] = Field(default_factory=list, max_length=50)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    token = secrets.token_urlsafe(32)
    response = request.app.state.templates.TemplateResponse(request, "login.html", {"csrf": token})
    response.set_cookie(LOGIN_COOKIE, token, **COOKIE)
    return response


@router.post("/api/login")
def login(request: Request, body: Login):
    if not same_token(request.headers.get(CSRF_HEADER), request.cookies.get(LOGIN_COOKIE)):
        raise HTTPException(403, "missing or wrong CSRF token")
    opened = accounts.login(server_of(request).backend(), body.user, body.password)
    if opened is None:
        raise HTTPException(401, "wrong user name or password")
    token, session = opened
    response = JSONResponse({"user": session["user"], "role": session["role"]})
    response.set_cookie(SESSION_COOKIE, token, max_age=accounts.SESSION_HOURS * 3600, **COOKIE)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/api/logout")
def logout(request: Request, _session: Reviewer):
    accounts.logout(server_of(request).backend(), request.cookies[SESSION_COOKIE])
    response = JSONResponse({"logged_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("", response_class=HTMLResponse)
def admin_page(request: Request):
    session = session_of(request)
    if session is None:
        return RedirectResponse("/admin/login", status_code=303)
    context = {"user": session["user"], "role": session["role"], "csrf": session["csrf"]}
    return request.app.state.templates.TemplateResponse(request, "admin.html", context)


@router.get("/api/me")
def me(request: Request, session: Reader):
    return {"user": session["user"], "role": session["role"]}


@router.get("/api/runs")
def runs(request: Request, _session: Reader):
    return json.loads(runs_table(server_of(request).backend()).to_json(orient="records"))


@router.post("/api/runs/{run_id}/publish")
def publish_run(request: Request, run_id: str, session: Admin):
    return publish(server_of(request).backend(), run_id, actor=session["user"])


@router.post("/api/runs/{run_id}/unpublish")
def unpublish_run(request: Request, run_id: str, session: Admin):
    return unpublish(server_of(request).backend(), run_id, actor=session["user"])


@router.get("/api/alerts")
def alerts(request: Request, _session: Reader):
    return reviews.alerts(server_of(request).backend())


@router.post("/api/alerts/{alert_id}/triage")
def triage_alert(request: Request, alert_id: int, body: Verdict, session: Reviewer):
    return reviews.triage(
        server_of(request).backend(), alert_id, body.state, session["user"], body.note
    )


@router.post("/api/mines/{mine_id}/name")
def rename_mine(request: Request, mine_id: int, body: MineName, session: Reviewer):
    return reviews.name_mine(server_of(request).backend(), mine_id, body.name, session["user"])


@router.post("/api/boundaries")
def boundaries(request: Request, body: Boundaries, session: Admin):
    """Import a boundary layer sent as GeoJSON (or Natural Earth's countries)."""
    backend = server_of(request).backend()
    with tempfile.TemporaryDirectory() as folder:
        path = "natural-earth"
        if body.geojson is not None:
            path = Path(folder) / "boundaries.geojson"
            path.write_text(json.dumps(body.geojson))
        result = import_boundaries(
            backend, path, body.kind, body.name_column, actor=session["user"]
        )
    return {k: v for k, v in result.items() if k != "file"}


@router.get("/api/users")
def users(request: Request, _session: AdminReader):
    return store_accounts.users(server_of(request).backend())


@router.post("/api/users")
def add_user(request: Request, body: NewUser, session: Admin):
    backend = server_of(request).backend()
    return accounts.add_user(backend, body.user, body.role, body.password, session["user"])


@router.post("/api/users/{name}/remove")
def remove_user(request: Request, name: str, session: Admin):
    if name == session["user"]:
        raise HTTPException(400, "you cannot remove yourself")
    return store_accounts.remove_user(server_of(request).backend(), name, session["user"])


@router.get("/api/audit")
def audit_log(request: Request, _session: Reader):
    backend = server_of(request).backend()
    try:
        intact, problem = verify(backend), None
    except Exception as exc:  # a broken chain is news for the page, not a server error
        intact, problem = None, str(exc)
    rows = backend.select("audit", order_by=["seq"])[-AUDIT_ROWS:]
    return {"rows": rows[::-1], "verified_rows": intact, "problem": problem}


@router.get("/api/jobs")
def jobs(request: Request, _session: Reader):
    return server_of(request).jobs.jobs()


@router.post("/api/jobs")
def start_job(request: Request, body: NewJob, session: Admin):
    return server_of(request).jobs.submit(body.kind, body.args, session["user"]).public()
