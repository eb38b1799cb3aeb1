"""The campaigns schema: every table of this service lives in it, and only this service touches it."""

from sqlalchemy.orm import DeclarativeBase

from servicekit.db import schema_metadata

SCHEMA = "campaigns"
metadata = schema_metadata(SCHEMA)


class Base(DeclarativeBase):
    metadata = metadata
