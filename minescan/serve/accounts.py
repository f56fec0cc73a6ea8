"""Dashboard users, their passwords and their sessions: what logging in means.

The rows live in the store's ``users`` and ``sessions`` tables
(:mod:`minescan.store.accounts`); this module decides what goes in them.
Passwords are hashed with scrypt (standard library, memory-hard);
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
import secrets

from minescan.kernel.errors import MinescanError
from minescan.store import accounts as store_accounts
from minescan.store.backend import Backend

#: How long a login lasts.
SESSION_HOURS = 12
#: scrypt cost: 2**14 rounds of 8-block mixing, about 16 MiB and 50 ms a hash.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
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


def add_user(backend: Backend, name: str, role: str, password: str, by: str) -> dict:
    """Create or replace user ``name`` with ``role``; audited under ``by`` (never the password)."""
    store_accounts.check_user(name, role)  # before the hash, which costs 50 ms
    if len(password) < MIN_PASSWORD:
        raise MinescanError(f"a password needs at least {MIN_PASSWORD} characters")
    return store_accounts.set_user(backend, name, role, hash_password(password), actor=by)


def login(backend: Backend, name: str, password: str) -> tuple[str, dict] | None:
    """A new session ``(cookie token, session)`` for the right password, else ``None``.

    A wrong name costs a hash too, so timing does not tell which names exist.
    """
    known = store_accounts.user(backend, name)
    password_hash = known["password_hash"] if known else _decoy_hash()
    if not check_password(password, password_hash) or known is None:
        return None
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=SESSION_HOURS)
    store_accounts.open_session(backend, token_digest(token), name, known["role"], csrf, expires)
    return token, {
        "user": name,
        "role": known["role"],
        "csrf": csrf,
        "expires": expires.isoformat(),
    }


def session_of(backend: Backend, token: str | None) -> dict | None:
    """The live session of cookie value ``token`` (user, role, csrf, expires), or ``None``."""
    row = store_accounts.session(backend, token_digest(token)) if token else None
    if row is None:
        return None
    return {"user": row["user_name"], **{k: row[k] for k in ("role", "csrf", "expires")}}


def logout(backend: Backend, token: str) -> None:
    """End the session of cookie value ``token``."""
    store_accounts.end_session(backend, token_digest(token))


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
