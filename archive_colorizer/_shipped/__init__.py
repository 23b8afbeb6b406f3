"""In an installed wheel: the repository's ``migrations/`` and ``models/`` (see ``shipped``)."""
