"""Dashboard accounts in the store: users with their role and password hash, and live sessions.

The store keeps what the dashboard (:mod:`minescan.serve.accounts`) decides:
a user's password hash (never the password) in ``users`` and, per login, the
SHA-256 of its cookie token (never the token) in ``sessions``, so a copy of
the store opens no session. Adding, resetting and removing users is audited;
logins are not (they change no results).
"""

from __future__ import annotations

import datetime as dt
import re

from minescan.kernel.errors import MinescanError
from minescan.store import audit
from minescan.store.backend import Backend, Row

ROLES = ("admin", "analyst")
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def check_name(name: str) -> str:
    """A user name as stored: letters, digits and ``_.@-``, at most 64 characters.

    Examples
    --------
    >>> check_name("ana.lyst")
    'ana.lyst'
    >>> check_name("<b>")
    Traceback (most recent call last):
    ...
    minescan.kernel.errors.MinescanError: a user name is 1-64 letters, digits or _.@- characters
    """
    if not NAME_PATTERN.fullmatch(name or ""):
        raise MinescanError("a user name is 1-64 letters, digits or _.@- characters")
    return name


def check_user(name: str, role: str) -> None:
    """Refuse a name :func:`check_name` refuses or a role outside :data:`ROLES`."""
    check_name(name)
    if role not in ROLES:
        raise MinescanError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")


def set_user(
    backend: Backend, name: str, role: str, password_hash: str, actor: str | None = None
) -> dict:
    """Create or replace user ``name`` with ``role`` and ``password_hash``; audited (no hash)."""
    check_user(name, role)
    row = {"user_name": name, "role": role, "password_hash": password_hash}
    with backend.transaction():
        backend.delete("users", {"user_name": name})
        backend.insert("users", [{**row, "created": audit.now()}])
        audit.record(backend, "user", {"user": name, "role": role, "change": "set"}, actor)
    return {"user": name, "role": role}


def remove_user(backend: Backend, name: str, actor: str | None = None) -> dict:
    """Delete user ``name`` and end their sessions; audited."""
    with backend.transaction():
        if not backend.delete("users", {"user_name": check_name(name)}):
            raise MinescanError(f"no user {name!r}")
        backend.delete("sessions", {"user_name": name})
        audit.record(backend, "user", {"user": name, "change": "removed"}, actor)
    return {"user": name, "removed": True}


def user(backend: Backend, name: str) -> Row | None:
    """User ``name`` with role and password hash, ``None`` when there is none."""
    if not NAME_PATTERN.fullmatch(name or ""):
        return None
    rows = backend.select("users", {"user_name": name})
    return rows[0] if rows else None


def users(backend: Backend) -> list[dict]:
    """Every user with role and creation time, sorted by name (no hashes)."""
    rows = backend.select("users", columns=["user_name", "role", "created"], order_by=["user_name"])
    return [{"user": r["user_name"], "role": r["role"], "created": r["created"]} for r in rows]


def open_session(
    backend: Backend, token_hash: str, name: str, role: str, csrf: str, expires: dt.datetime
) -> None:
    """Record a login under the hash of its token; expired sessions are dropped on the way."""
    with backend.transaction():
        rows = backend.select("sessions", columns=["token_hash", "expires"])
        stale = [r["token_hash"] for r in rows if _expired(r, _utcnow())]
        if stale:
            backend.delete("sessions", {"token_hash": stale})
        row = {"token_hash": token_hash, "user_name": name, "role": role, "csrf": csrf}
        backend.insert("sessions", [{**row, "expires": expires.isoformat()}])


def session(backend: Backend, token_hash: str) -> Row | None:
    """The live session stored under ``token_hash``, ``None`` when missing or expired."""
    rows = backend.select("sessions", {"token_hash": token_hash})
    if not rows or _expired(rows[0], _utcnow()):
        return None
    return rows[0]


def end_session(backend: Backend, token_hash: str) -> None:
    """Forget the session stored under ``token_hash`` (a logout)."""
    with backend.transaction():
        backend.delete("sessions", {"token_hash": token_hash})


def _expired(row: Row, now: dt.datetime) -> bool:
    return dt.datetime.fromisoformat(row["expires"]) < now


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
