"""The declarative base every model derives from, with naming rules that keep migrations stable."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The largest row id: ids are INTEGER columns (32 bits on PostgreSQL). A larger number cannot be
# bound or compared by the database (SQLite overflows past 64 bits), so callers that take an id
# from a user (a URL path, a command-line argument) refuse it up front, naming the parameter.
ROW_ID_MAX = 2**31 - 1


class Base(DeclarativeBase):
    """Base of all tables; explicit constraint names so SQLite and PostgreSQL agree."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
