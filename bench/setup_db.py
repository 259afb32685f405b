"""A throwaway PostgreSQL database for one benchmark run: created, migrated, seeded with users and tokens."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECTIONS_PER_USER = 4  # below WEBSOCKET_MAX_CONNECTIONS_PER_USER's default of 5: the limit stays on


def admin_url() -> str:
    """DATABASE_URL when it is PostgreSQL, else the local server."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql")) else DEFAULT_ADMIN_URL


def _sa_url(url: str) -> sa.URL:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    return make_url(url)


def create_database(env: dict[str, str]) -> str:
    """A new, migrated database; returns its URL (plain postgresql:// form)."""
    base = _sa_url(admin_url())
    name = f"pricewire_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = base.set(database=name).render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql")
    subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                   env={**env, "DATABASE_URL": url}, check=True, timeout=120, capture_output=True)
    return url


def drop_database(url: str) -> None:
    """Drop the benchmark's database (FORCE: servers may still hold a connection)."""
    target = _sa_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def issue_tokens(url: str, clients: int) -> list[str]:
    """One user per CONNECTIONS_PER_USER clients, one API token each (the same hash as models.ApiToken)."""
    users = max(1, -(-clients // CONNECTIONS_PER_USER))
    engine = sa.create_engine(_sa_url(url))
    metadata = sa.MetaData()
    users_table = sa.Table("users", metadata, autoload_with=engine)
    tokens_table = sa.Table("api_tokens", metadata, autoload_with=engine)
    plain = ["pw_" + secrets.token_urlsafe(32) for _ in range(users)]
    run, now = uuid.uuid4().hex[:6], datetime.now(UTC)
    with engine.begin() as connection:
        ids = connection.execute(
            sa.insert(users_table).returning(users_table.c.id),
            [{"username": f"bench_{run}_{i}", "password_hash": "!bench-no-login", "created_at": now}
             for i in range(users)],
        ).scalars().all()
        connection.execute(sa.insert(tokens_table), [
            {"user_id": user_id, "token_hash": hashlib.sha256(token.encode()).hexdigest(), "name": "bench",
             "created_at": now}
            for user_id, token in zip(ids, plain, strict=True)
        ])
    engine.dispose()
    return plain
