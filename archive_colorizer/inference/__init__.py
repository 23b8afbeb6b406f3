"""The networks and everything that runs them: architectures by name (:mod:`.networks`), model
cards and the registry of installed models, device choice, tiled inference (:mod:`.inferer`)
and the trainer (:mod:`.training`).

The only room that imports torch. It may import ``config``, ``errors`` and ``imaging`` (colour
conversions and image helpers), never ``catalog``, ``services`` or ``cli``.
"""
