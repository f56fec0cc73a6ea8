"""Dashboard users, their passwords and their sessions, kept in the store.

Accounts are documents in the store's ``meta`` table
(:mod:`minescan.serve.documents`) keyed ``serve.user.NAME`` and
``serve.session.DIGEST``. Passwords are hashed with scrypt (standard library, memory-hard);
a session's cookie value is never stored, only its SHA-256, so a copy of the
store opens no session. Each session carries its own CSRF token, which every
POST must echo in a header.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets

from minescan.kernel.errors import MinescanError
from minescan.serve import documents
from minescan.store import audit
from minescan.store.backend import Backend

ROLES = ("admin", "analyst")
USER_PREFIX = "serve.user."
SESSION_PREFIX = "serve.session."
#: How long a login lasts.
SESSION_HOURS = 12
#: scrypt cost: 2**14 rounds of 8-block mixing, about 16 MiB and 50 ms a hash.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
MIN_PASSWORD = 8


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``password`` as ``scrypt$n$r$p$salt$digest`` (base64 parts), with a fresh salt.

    Examples
    --------
    >>> stored = hash_password("correct horse", salt=b"0" * 16)
    >>> stored.split("$")[:4], check_password("correct horse", stored)
    (['scrypt', '16384', '8', '1'], True)
    """
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, maxmem=2**26, **SCRYPT)
    parts = [SCRYPT["n"], SCRYPT["r"], SCRYPT["p"], _b64(salt), _b64(digest)]
    return "scrypt$" + "$".join(str(p) for p in parts)


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    found = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=2**26,
    )
    return hmac.compare_digest(found, base64.b64decode(digest))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


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


def add_user(backend: Backend, name: str, role: str, password: str, by: str) -> dict:
    """Create or replace user ``name`` with ``role``; audited (never the password)."""
    check_name(name)
    if role not in ROLES:
        raise MinescanError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise MinescanError(f"a password needs at least {MIN_PASSWORD} characters")
    document = {"role": role, "hash": hash_password(password), "created": audit.now()}
    with backend.transaction():
        documents.put(backend, USER_PREFIX + name, document)
        audit.record(backend, "user", {"user": name, "role": role, "by": by, "change": "set"})
    return {"user": name, "role": role}


def remove_user(backend: Backend, name: str, by: str) -> dict:
    """Delete user ``name`` and end their sessions; audited."""
    with backend.transaction():
        if not backend.delete("meta", {"key": USER_PREFIX + check_name(name)}):
            raise MinescanError(f"no user {name!r}")
        ended = [
            SESSION_PREFIX + k
            for k, v in documents.prefixed(backend, SESSION_PREFIX).items()
            if v.get("user") == name
        ]
        if ended:
            backend.delete("meta", {"key": ended})
        audit.record(backend, "user", {"user": name, "by": by, "change": "removed"})
    return {"user": name, "removed": True}


def users(backend: Backend) -> list[dict]:
    """Every user with role and creation time, sorted by name (no hashes)."""
    found = documents.prefixed(backend, USER_PREFIX)
    return [
        {"user": name, "role": doc["role"], "created": doc.get("created")}
        for name, doc in sorted(found.items())
    ]


def login(backend: Backend, name: str, password: str) -> tuple[str, dict] | None:
    """A new session ``(cookie token, session)`` for the right password, else ``None``.

    A wrong name costs a hash too, so timing does not tell which names exist.
    Expired sessions are dropped on the way.
    """
    known = documents.get(backend, USER_PREFIX + name) if NAME_PATTERN.fullmatch(name) else None
    document = known or {"hash": _decoy_hash(), "role": None}
    if not check_password(password, document["hash"]) or known is None:
        return None
    token = secrets.token_urlsafe(32)
    expires = _utcnow() + dt.timedelta(hours=SESSION_HOURS)
    session = {
        "user": name,
        "role": document["role"],
        "csrf": secrets.token_urlsafe(32),
        "expires": expires.isoformat(),
    }
    with backend.transaction():
        stale = [
            SESSION_PREFIX + k
            for k, v in documents.prefixed(backend, SESSION_PREFIX).items()
            if dt.datetime.fromisoformat(v["expires"]) < _utcnow()
        ]
        if stale:
            backend.delete("meta", {"key": stale})
        documents.put(backend, SESSION_PREFIX + token_digest(token), session)
    return token, session


def session_of(backend: Backend, token: str | None) -> dict | None:
    """The live session of cookie value ``token``, or ``None``."""
    if not token:
        return None
    session = documents.get(backend, SESSION_PREFIX + token_digest(token))
    if session is None or dt.datetime.fromisoformat(session["expires"]) < _utcnow():
        return None
    return session


def logout(backend: Backend, token: str) -> None:
    """End the session of cookie value ``token``."""
    backend.delete("meta", {"key": SESSION_PREFIX + token_digest(token)})


def token_digest(token: str) -> str:
    """What the store keeps of a session token: its SHA-256.

    Examples
    --------
    >>> token_digest("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(token.encode()).hexdigest()


@functools.cache
def _decoy_hash() -> str:
    """A hash to check unknown names against, so they cost as much as known ones."""
    return hash_password(secrets.token_urlsafe(16))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
