"""Password checks that neither stall the event loop nor tell by their timing whether an account exists."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import cache
from typing import TypeVar

import gevent
import gevent.monkey
from werkzeug.security import check_password_hash, generate_password_hash

from models import User

T = TypeVar("T")


@cache
def dummy_hash() -> str:
    """A hash of a random password made like real ones (same method and cost), checked for unknown users."""
    return generate_password_hash(secrets.token_hex(16))


def off_the_loop(function: Callable[..., T], *args: object) -> T:
    """Run CPU-heavy `function` in gevent's threadpool under gevent, else call it.

    Hashing releases the GIL, so one login no longer stalls every socket of the worker.
    """
    if gevent.monkey.is_module_patched("socket"):
        return gevent.get_hub().threadpool.apply(function, args)  # type: ignore[no-any-return]
    return function(*args)


def verify_password(user: User | None, password: str) -> bool:
    """True when `user` exists and `password` matches; an unknown user costs the same hash check."""
    stored = user.password_hash if user is not None else dummy_hash()
    matches = off_the_loop(check_password_hash, stored, password)
    return user is not None and bool(matches)
