"""Users and the API tokens that let non-browser clients in."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from models.base import db, utcnow

if TYPE_CHECKING:
    from models.portfolio import Portfolio


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    """A person who logs in and owns portfolios."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Part of every session cookie (see get_id); bumping it ends every session of the user at once.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    portfolios: Mapped[list[Portfolio]] = relationship(back_populates="owner")

    def set_password(self, password: str) -> None:
        """Store a salted hash, never the password; a changed password ends every existing session."""
        if self.password_hash is not None:
            self.end_sessions()
        self.password_hash = generate_password_hash(password)

    def end_sessions(self) -> None:
        """Every session cookie issued so far stops working (logout, password change, logout-everywhere)."""
        self.session_version = (self.session_version or 0) + 1

    def get_id(self) -> str:
        """The session's user reference: id and session version, so a bumped version voids old cookies."""
        return f"{self.id}:{self.session_version or 0}"

    @staticmethod
    def parse_session_id(value: str) -> tuple[int, int] | None:
        """(user id, session version) of a get_id() value; None for anything else (old or forged)."""
        user_id, sep, version = value.partition(":")
        if not (sep and user_id.isdigit() and version.isdigit() and len(user_id) < 11 and len(version) < 11):
            return None
        return int(user_id), int(version)

    def check_password(self, password: str) -> bool:
        """True when `password` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    def to_dict(self) -> dict[str, object]:
        """The public view of a user."""
        return {"id": self.id, "username": self.username}


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()

    @staticmethod
    def hash_token(token: str) -> str:
        """The stored form of a token."""
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def owner_id(cls, token: str) -> int | None:
        """The id of the user a plain token belongs to, or None."""
        return db.session.scalar(select(cls.user_id).where(cls.token_hash == cls.hash_token(token)))

    @classmethod
    def issue(cls, user: User, name: str = "") -> tuple[ApiToken, str]:
        """A new token row and the plain token, shown once."""
        plain = "pw_" + secrets.token_urlsafe(32)
        return cls(user=user, token_hash=cls.hash_token(plain), name=name), plain
