"""Pixels and files, without a database or a network: reading and checking TIFF masters
(:mod:`.tiff_facts`, :mod:`.tiff_read`, one table of TIFF codes in :mod:`.tiff_tags`), colour
and resampling arithmetic, writing derivatives (tiled TIFF, pyramids, access copies) atomically,
hashing, metrics and synthetic test material.

Pure functions and streaming readers/writers over numpy, Pillow and tifffile. It may import
``config`` and ``errors`` only: never ``catalog``, ``inference`` (no torch), ``services`` or
``cli``; the services combine it with the others.
"""
