"""The dashboards' web application: one FastAPI app over one store.

:func:`create_app` wires the user side (:mod:`minescan.serve.public`), the
admin side (:mod:`minescan.serve.admin`), the static files and the shared
pieces both use, held by :class:`Server`: a store connection per thread
(SQLite connections stay in their thread), the map's mine index rebuilt when
the runs change, the job queue, and the security rules:

- the session cookie is ``HttpOnly`` and ``SameSite=Strict``; every POST
  carries the session's CSRF token in the ``X-CSRF-Token`` header (the login
  form a pre-session token, double-submitted against its own cookie);
- every page is sent with a Content-Security-Policy that allows scripts and
  styles only from this server, so no injected markup can run;
- downloads resolve inside their folder or are refused (:func:`inside`).
"""

from __future__ import annotations

import hmac
import threading
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from minescan.kernel.errors import MinescanError
from minescan.kernel.webmap import LEAFLET
from minescan.serve import accounts
from minescan.serve.jobs import Job, JobQueue
from minescan.serve.view import MineIndex, view_key
from minescan.store import open_store
from minescan.store.backend import Backend

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "minescan_session"
LOGIN_COOKIE = "minescan_login"
CSRF_HEADER = "X-CSRF-Token"
#: Basemap tiles are the one thing a page may fetch from elsewhere.
TILES = "https://tile.openstreetmap.org"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    f"img-src 'self' data: {TILES}; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)


class Server:
    """What every request shares: the store target, per-thread connections, index, jobs."""

    def __init__(self, target: str, work: Path):
        self.target = str(target)
        self.work = Path(work)
        self.exports = self.work / "exports"
        self._local = threading.local()
        self._index_lock = threading.Lock()
        self._index: tuple[tuple, MineIndex] | None = None
        self.jobs = JobQueue(self.work / "jobs", self._ingest_job)

    def backend(self) -> Backend:
        """This thread's connection to the store (opened once per thread)."""
        backend = getattr(self._local, "backend", None)
        if backend is None:
            backend = self._local.backend = open_store(self.target, create=False)
        return backend

    def index(self) -> MineIndex:
        """The map's index of published mines, rebuilt when the runs changed."""
        key = view_key(self.backend())
        cached = self._index
        if cached is not None and cached[0] == key:
            return cached[1]
        with self._index_lock:
            if self._index is None or self._index[0] != key:
                self._index = (key, MineIndex.build(self.backend()))
            return self._index[1]

    def _ingest_job(self, job: Job) -> dict:
        from minescan.store.ingest import ingest_scan
        from minescan.store.monitor import ingest_monitor

        if job.kind == "scan":
            return ingest_scan(self.backend(), job.out, draft=True, actor=job.user)
        return ingest_monitor(self.backend(), job.out, actor=job.user)


def inside(folder: Path, name: str) -> Path:
    """``folder / name`` when that is a file inside ``folder``; a 404 otherwise.

    Examples
    --------
    >>> import tempfile; folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.csv").write_text("x")
    >>> inside(folder, "a.csv").name
    'a.csv'
    >>> inside(folder, "../etc/passwd")
    Traceback (most recent call last):
    ...
    fastapi.exceptions.HTTPException: 404: no such download
    """
    root = folder.resolve()
    path = (root / name).resolve()
    if path.parent != root or not path.is_file():
        raise HTTPException(404, "no such download")
    return path


def server_of(request: Request) -> Server:
    return request.app.state.server


def session_of(request: Request) -> dict | None:
    """The visitor's live session, ``None`` for a visitor without one."""
    token = request.cookies.get(SESSION_COOKIE)
    return accounts.session_of(server_of(request).backend(), token)


def require(request: Request, roles: tuple[str, ...], post: bool = False) -> dict:
    """The session, when it has one of ``roles`` (and, for a POST, its CSRF token); else 401/403."""
    session = session_of(request)
    if session is None:
        raise HTTPException(401, "log in first")
    if post and not same_token(request.headers.get(CSRF_HEADER), session["csrf"]):
        raise HTTPException(403, "missing or wrong CSRF token")
    if session["role"] not in roles:
        raise HTTPException(403, f"this needs the role {' or '.join(roles)}")
    return session


def needs(roles: tuple[str, ...], post: bool = False):
    """A route dependency: :func:`require` checked before the request body is read."""

    def dependency(request: Request) -> dict:
        return require(request, roles, post)

    return dependency


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time token comparison; a missing token never matches.

    Examples
    --------
    >>> same_token("a", "a"), same_token(None, "a"), same_token("", "")
    (True, False, False)
    """
    return bool(given) and bool(expected) and hmac.compare_digest(given, expected)


def create_app(target: str, work: Path | None = None) -> FastAPI:
    """The dashboards over the store at ``target``; jobs and exports go under ``work``."""
    from minescan.serve import admin, public

    with open_store(target, create=False):
        pass  # refuse a missing or foreign store now, with the store's own message
    work = Path(work) if work is not None else Path("runs") / "serve"
    app = FastAPI(title="minescan", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = Server(target, work)
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount("/vendor/leaflet", StaticFiles(directory=LEAFLET), name="leaflet")
    app.include_router(public.router)
    app.include_router(admin.router)

    @app.exception_handler(MinescanError)
    async def bad_request(request: Request, exc: MinescanError):
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    return app
