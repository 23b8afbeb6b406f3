"""The use cases: ingest, colorize (a file or a queued job), the worker pool, export, verify,
hints, evaluate, train, health — each a function that takes settings and plain options and
returns plain results, reporting progress through callbacks.

Services combine the rooms below them: they may import ``catalog``, ``imaging``, ``inference``,
``provenance``, ``config`` and ``errors``, never ``cli``. The command line reaches them only
through :mod:`.api`, whose imports are lazy so that ``archcolor --help`` loads neither the
database libraries nor torch.
"""
