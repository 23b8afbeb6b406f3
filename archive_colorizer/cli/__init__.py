"""The ``archcolor`` command line: presentation only.

Each command turns its options into one call of :mod:`archive_colorizer.services.api` and
prints the result (rich tables and progress, or one JSON document with ``--json``); ``app``
registers the commands and turns any exception into one line and an exit status
(:mod:`.context` names them). It may import ``services.api``, ``config`` and ``errors`` (and
services' types for type checking), never ``catalog``, ``imaging``, ``inference``,
``provenance`` or torch.
"""
