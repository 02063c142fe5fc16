"""Storage: the database engine, the shared declarative base and migrations."""

from console.store.db import Base, UTCDateTime, make_engine, make_sessionmaker, transaction, utcnow

__all__ = ["Base", "UTCDateTime", "make_engine", "make_sessionmaker", "transaction", "utcnow"]
