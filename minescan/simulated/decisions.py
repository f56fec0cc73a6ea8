"""The land-cover rule: yes/no tests on smooth noise fields, packed into a signature.

A pixel's class follows from a few thresholds on smooth noise fields (climate, farming,
towns, burns, lakes, roads, rivers, sand) and on the crop-field and clearing lattices
(:mod:`.plots`). Each test is one bit of a signature, and one lookup table maps every
signature to its class, so full grids, point samples and the sub-pixels of coarse grids
(:mod:`.coarse`) are all classified by the same rule.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from minescan.simulated import seeds
from minescan.simulated.seeds import field_seed
from minescan.simulated.spectra import CODE

#: Half width of rivers, in units of the river noise field (about 20-30 m).
RIVER_HALF_WIDTH = np.float32(0.0017)
#: Coarsest sub-pixel (map metres) at which rivers and roads, zero-contours of smooth noise,
#: are drawn; on coarser grids they would be sampled as noise (a z5 tile and above).
THIN_FEATURES_MAX_RES = 2000.0

#: The bits of a signature, one per test.
(ABOVE_FOREST, ABOVE_CROP, ABOVE_BARE, FARM, RIVER_PLAIN, ROAD_TOWN, URBAN, BURN, LAKE,
 ROAD_LO, ROAD_HI, RIVER_LO, RIVER_HI, BANK_LO, BANK_HI, SAND,
 FIELD_BARE, HEDGE, CLEARED) = range(19)  # fmt: skip
_BITS = 19

#: (decision field, threshold, True if the bit means "above the threshold", bit).
TESTS = (
    ("above", np.float32(0), True, ABOVE_FOREST),
    ("above", np.float32(0.1), False, ABOVE_CROP),
    ("above", np.float32(-0.35), False, ABOVE_BARE),
    ("agri", np.float32(0), True, FARM),
    ("agri", np.float32(-0.15), True, RIVER_PLAIN),
    ("town", np.float32(-0.1), True, ROAD_TOWN),
    ("town", np.float32(0.5), True, URBAN),
    ("burn", np.float32(0.62), True, BURN),
    ("lake", np.float32(0), False, LAKE),
    ("road", np.float32(-0.0004), True, ROAD_LO),
    ("road", np.float32(0.0004), False, ROAD_HI),
    ("river", -RIVER_HALF_WIDTH, True, RIVER_LO),
    ("river", RIVER_HALF_WIDTH, False, RIVER_HI),
    ("river", -RIVER_HALF_WIDTH * 2.2, True, BANK_LO),
    ("river", RIVER_HALF_WIDTH * 2.2, False, BANK_HI),
    ("sand", np.float32(0.1), True, SAND),
)
#: Bits of the tests on each decision field.
FIELD_BITS = {
    name: sum(1 << bit for field, _, _, bit in TESTS if field == name)
    for name in dict.fromkeys(t[0] for t in TESTS)
}
#: Tests of thin features (roads, rivers): left unset on grids too coarse to draw them.
THIN_BITS = (1 << ROAD_HI) | (1 << RIVER_HI) | (1 << BANK_HI)


def has_bit(sig: np.ndarray, bit: int) -> np.ndarray:
    return (sig & np.uint32(1 << bit)) != 0


def classify(sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class codes and river flags of signatures (the rule, applied in this order)."""
    has = functools.partial(has_bit, sig)
    codes = np.full(sig.shape, CODE["grassland"], np.uint8)
    codes[has(ABOVE_FOREST)] = CODE["forest"]
    codes[has(FARM) & has(ABOVE_CROP)] = CODE["cropland"]
    codes[has(ABOVE_BARE)] = CODE["bare_soil"]
    crop = codes == CODE["cropland"]
    codes[crop & has(FIELD_BARE)] = CODE["bare_field"]  # fallow or ploughed fields
    codes[crop & has(HEDGE)] = CODE["grassland"]
    codes[has(URBAN)] = CODE["urban"]
    green = (codes == CODE["grassland"]) | (codes == CODE["forest"])
    codes[has(BURN) & green] = CODE["burn_scar"]
    codes[has(CLEARED) & (codes == CODE["forest"])] = CODE["clearing"]
    codes[has(ROAD_LO) & has(ROAD_HI) & has(ROAD_TOWN)] = CODE["road"]
    river = has(RIVER_PLAIN) & has(RIVER_LO) & has(RIVER_HI)
    bank = has(RIVER_PLAIN) & ~river & has(BANK_LO) & has(BANK_HI)
    codes[bank & has(SAND)] = CODE["sandbar"]
    codes[has(LAKE) | river] = CODE["water"]
    return codes, river


#: Flag bit of :func:`_lookup` entries: the pixel is a river (lakes are plain water).
_RIVER_FLAG = np.uint8(0x80)


@functools.cache
def _lookup() -> np.ndarray:
    """:func:`classify` of every signature: ``(2**19,)`` uint8 codes, river flag in bit 7."""
    codes, river = classify(np.arange(1 << _BITS, dtype=np.uint32))
    return codes | (river.astype(np.uint8) << 7)


def lookup(sig: np.ndarray) -> np.ndarray:
    """Class codes of signatures with the river flag in bit 7 (see :func:`split`)."""
    return np.take(_lookup(), sig)


def split(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class codes (uint8) and river flags of :func:`lookup` entries."""
    return entries & np.uint8(0x7F), entries >= _RIVER_FLAG


def signature_codes(sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class codes (uint8) and river flags of signatures, by table lookup."""
    return split(lookup(sig))


class Decisions(NamedTuple):
    """The smooth noise fields whose thresholds decide the class (see :data:`TESTS`)."""

    above: np.ndarray  # height above the forest line
    agri: np.ndarray  # farming
    town: np.ndarray
    burn: np.ndarray
    lake: np.ndarray  # below zero: lake
    road: np.ndarray  # roads run along its zero contours
    river: np.ndarray  # rivers too
    sand: np.ndarray | None  # sandbars on river banks (None: no bank in sight)


def decisions(noises, seed: int, year: int) -> Decisions:
    """The decision fields from ``noises([(spacing, octaves, seed), ...])`` (on a grid or
    at points), which returns one noise field per request."""
    fs = lambda field: field_seed(seed, field)  # noqa: E731
    wet, above, edge, lake, river, meander, agri, town, burn, road = noises(
        [
            (64000, 2, fs(seeds.CLIMATE)),
            (4000, 4, fs(seeds.PATCH)),
            (150, 2, fs(seeds.EDGE)),
            (6000, 3, fs(seeds.LAKE)),
            (15000, 3, fs(seeds.RIVER)),
            (600, 2, fs(seeds.MEANDER)),
            (9000, 2, fs(seeds.AGRI)),
            (7000, 2, fs(seeds.URBAN)),
            (1800, 2, field_seed(seed, seeds.BURN, year)),
            (25000, 2, fs(seeds.ROAD)),
        ]
    )
    wet *= np.float32(1 / 0.22)
    # Height above the forest line: wetter places grow forest lower down, dry ones lie bare.
    edge *= np.float32(0.2)
    above += edge
    above += np.float32(0.12) * wet
    above -= np.float32(0.05)
    # Lakes in low spots; rivers on zero-contours, where most land is farmed (alluvial plains).
    lake -= np.float32(-0.56) + np.float32(0.04) * wet
    river += np.float32(0.02) * meander
    return Decisions(above, agri, town, burn, lake, road, river, sand=None)


def signature(d: Decisions, thin: bool = True) -> np.ndarray:
    """uint32 signature of the noise tests; thin features only when ``thin``."""
    sig = np.zeros(d.above.shape, np.uint32)
    test = np.empty(d.above.shape, bool)
    skip = 0 if thin else THIN_BITS
    for name, threshold, above, bit in TESTS:
        values = getattr(d, name)
        if values is None or (1 << bit) & skip:
            continue
        (np.greater if above else np.less)(values, threshold, out=test)
        np.bitwise_or(sig, np.uint32(1 << bit), out=sig, where=test)
    return sig


def with_sand(d: Decisions, sig: np.ndarray, noise, seed: int) -> tuple[Decisions, np.ndarray]:
    """Add the sand test where a river bank is in sight (sand is drawn only on banks)."""
    banks = (1 << RIVER_PLAIN) | (1 << BANK_LO) | (1 << BANK_HI)
    if not ((sig & np.uint32(banks)) == banks).any():
        return d, sig
    d = d._replace(sand=noise(400, 2, field_seed(seed, seeds.SAND)))
    np.bitwise_or(sig, np.uint32(1 << SAND), out=sig, where=d.sand > np.float32(0.1))
    return d, sig
