"""Storage: the database engine, the shared declarative base and migrations."""

from console.store.db import Base, UTCDateTime, fetch_rows, make_engine, make_sessionmaker, transaction, utcnow

__all__ = ["Base", "UTCDateTime", "fetch_rows", "make_engine", "make_sessionmaker", "transaction", "utcnow"]
