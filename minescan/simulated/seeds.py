"""One stream of the world seed per noise field of the land cover.

Each noise field (climate, patches, rivers, crop fields, textures...) draws from its own
seed, derived from the world seed, the field's id and, for things that change yearly, the
year: fields never share random numbers, and changing one leaves the others as they were.
The ids live together here so that no two fields get the same one.
"""

from __future__ import annotations

from minescan.simulated.noise import mix32

# One id per noise field, so each field has its own stream of the world seed.
CLIMATE, PATCH, EDGE, AGRI, URBAN, LAKE, RIVER = range(1, 8)
MEANDER, SAND, ROAD, FIELD, BURN, CLEARING, FINE, COARSE = range(9, 17)


def field_seed(seed: int, field: int, year: int = 0) -> int:
    """The seed of one noise field of a world (and year, for things that change yearly)."""
    return int(mix32(seed, field, year)) & 0x7FFFFFFF
