"""The catalog: the database of volumes, scans, events, derivatives, hints and the job queue.

Owns the SQLAlchemy schema, the Alembic migrations, engine set-up (SQLite or PostgreSQL, database
errors turned into :class:`~archive_colorizer.errors.CatalogError`), the repository queries and all
of the queue's SQL (:mod:`.queue`). It stores what the other rooms produce but never produces it:
it may import ``config``, ``errors``, ``shipped`` and ``provenance`` (its vocabulary), never
``imaging``, ``inference``, ``services`` or ``cli``.
"""
