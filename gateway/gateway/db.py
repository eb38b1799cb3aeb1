"""The gateway schema: API keys. Nothing else of the platform lives here."""

from sqlalchemy.orm import DeclarativeBase

from servicekit.db import schema_metadata

SCHEMA = "gateway"
metadata = schema_metadata(SCHEMA)


class Base(DeclarativeBase):
    metadata = metadata
