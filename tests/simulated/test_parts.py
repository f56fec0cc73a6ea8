"""Building blocks of the simulated world: noise, seasons, spectra, mine layouts."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from minescan.kernel.bands import S2_BANDS
from minescan.kernel.period import Period
from minescan.simulated import catalogue, components
from minescan.simulated import mines as minelib
from minescan.simulated.coarse import _stencil
from minescan.simulated.noise import Grid, fbm, fbm_many, fbm_points, mix32
from minescan.simulated.periods import season_terms
from minescan.simulated.reflectance import supersample
from minescan.simulated.spectra import CLASSES, CODE, LOW, SPAN

B = {b: i for i, b in enumerate(S2_BANDS)}


def _index(spectrum, a, b):
    return (spectrum[B[a]] - spectrum[B[b]]) / (spectrum[B[a]] + spectrum[B[b]])


# ------------------------------------------------------------------------------ noise
def test_hash_is_deterministic_and_spread():
    keys = np.arange(-50_000, 50_000)
    h = mix32(7, keys)
    assert np.array_equal(h, mix32(7, keys))
    assert len(np.unique(h)) > 99_990
    bits = (h[:, None] >> np.arange(32, dtype=np.uint32)) & 1
    assert np.allclose(bits.mean(axis=0), 0.5, atol=0.01)


def test_fbm_is_smooth_bounded_and_matches_point_evaluation():
    grid = Grid(123_456, 654_321, 64, 48, 9.55)
    field = fbm(grid, 400, 3, seed=11)
    assert field.shape == (48, 64) and field.dtype == np.float32
    assert np.abs(field).max() <= 1
    assert np.abs(np.diff(field, axis=1)).max() < 0.2  # smooth at 10 m for a 400 m lattice
    ys, xs = np.meshgrid(grid.ys, grid.xs, indexing="ij")
    points = fbm_points(xs.ravel(), ys.ravel(), 400, 3, seed=11).reshape(field.shape)
    assert np.allclose(points, field, atol=1e-5)
    assert not np.allclose(fbm(grid, 400, 3, seed=12), field)


@pytest.mark.parametrize("factor", [2, 4])
def test_averaged_fbm_is_the_block_mean_of_the_sub_pixel_field(factor):
    grid = Grid(98_765, 43_210, 40, 24, 9.55 * factor)
    for spacing, octaves in [(40, 2), (150, 2), (4000, 4)]:
        sub = fbm(grid.refine(factor), spacing, octaves, seed=3)
        mean = sub.reshape(24, factor, 40, factor).mean(axis=(1, 3))
        np.testing.assert_allclose(fbm(grid, spacing, octaves, 3, average=factor), mean, atol=1e-6)


def test_fbm_many_gives_each_field_as_fbm_does():
    grid = Grid(2_000_000, 1_900_000, 70, 50, 19.1)
    specs = [(64000, 2, 1), (4000, 4, 2), (150, 2, 3), (600, 2, 4), (8.0, 2, 5)]
    for field, (spacing, octaves, seed) in zip(fbm_many(grid, specs), specs, strict=True):
        assert np.array_equal(field, fbm(grid, spacing, octaves, seed))
    assert not fbm_many(grid, specs)[-1].any()  # an 8 m lattice averages out on 19 m pixels


@pytest.mark.parametrize("factor", [2, 4])
def test_sub_pixel_stencil_reproduces_quadratic_fields(factor):
    weights = _stencil(factor)  # (9 neighbours, factor**2 sub-pixels)
    assert weights.shape == (9, factor * factor)
    d = np.array([-1, 0, 1])
    dy, dx = np.meshgrid(d, d, indexing="ij")
    u = (np.arange(factor) + 0.5) / factor - 0.5
    uy, ux = np.meshgrid(u, u, indexing="ij")
    field = lambda y, x: 0.3 + 0.5 * x - 0.2 * y + 0.7 * x * y - 0.4 * x * x + 0.1 * y * y  # noqa: E731
    np.testing.assert_allclose(field(dy, dx).ravel() @ weights, field(uy, ux).ravel(), atol=1e-6)


def test_refined_grid_covers_the_same_ground():
    grid = Grid(10, 20, 4, 3, 40.0)
    fine = grid.refine(4)
    assert fine.bounds == pytest.approx(grid.bounds)
    assert fine.xs[:4].mean() == pytest.approx(grid.xs[0])


@pytest.mark.parametrize(
    ("res", "factor"), [(2.4, 1), (9.55, 1), (12.0, 1), (19.1, 2), (38.2, 4), (300.0, 4)]
)
def test_supersampling_keeps_sub_pixels_near_10_m(res, factor):
    assert supersample(res) == factor


# ---------------------------------------------------------------------------- seasons
def test_a_year_averages_the_season_out_and_a_day_does_not():
    c, s = season_terms(Period.parse("2019"))
    assert abs(c) < 0.01 and abs(s) < 0.01
    c, s = season_terms(Period.parse("2019-07-24"))
    assert np.hypot(c, s) == pytest.approx(1, abs=1e-6)


# ---------------------------------------------------------------------------- spectra
def _extremes(name):
    i = CODE[name]
    return LOW[:, i], LOW[:, i] + SPAN[:, i]


def test_every_class_spectrum_is_a_reflectance():
    assert LOW.shape == (12, len(CLASSES))
    for f in (0.0, 1.0):
        spectra = LOW + f * SPAN
        assert (spectra > 0).all() and (spectra < 0.7).all()


def test_confusers_overlap_excavated_ground_in_ndvi_but_differ_elsewhere():
    dug = [
        _index(s, "B08", "B04")
        for c in ("gold", "coal", "copper")
        for s in _extremes(f"mine_{c}_bench")
    ]
    low, high = min(dug) - 0.1, max(dug) + 0.1
    for name in ("bare_field", "sandbar", "road", "bare_soil"):
        for spectrum in _extremes(name):
            assert low < _index(spectrum, "B08", "B04") < high, name
    pit_nbr = min(_index(s, "B08", "B12") for s in _extremes("mine_gold_pit"))
    assert max(_index(s, "B08", "B12") for s in _extremes("burn_scar")) < pit_nbr - 0.1


def test_tailings_are_turbid_water():
    for commodity in ("gold", "coal", "bauxite", "copper", "other"):
        for spectrum in _extremes(f"mine_{commodity}_tailings"):
            assert _index(spectrum, "B03", "B08") > 0.2
            assert spectrum[B["B04"]] > _extremes("water")[0][B["B04"]]  # more sediment


# ------------------------------------------------------------------------------ mines
def test_layout_partitions_the_footprint_and_adds_a_road():
    rng = np.random.default_rng(1)
    outline = catalogue._blob(rng, (1_000_000.0, 700_000.0), 300.0)
    mine = minelib.Mine("x", "copper", False, 0, outline, (1_000_000.0, 700_000.0), 600.0, 365)
    parts = dict(components.layout(mine, seed=0))
    assert {"pit", "bench", "dump", "tailings", "road"} <= set(parts)
    solid = shapely.union_all([parts[k] for k in ("pit", "bench", "dump", "tailings")])
    assert solid.symmetric_difference(outline).area < 1e-6 * outline.area
    assert parts["pit"].area > 0.1 * outline.area
    assert parts["road"].difference(outline).area > 0  # the haul road leads out
    artisanal = dict(components.layout(mine._replace(artisanal=True, commodity="gold"), seed=0))
    assert "pond" in artisanal and "pit" not in artisanal
    assert artisanal["pond"].within(outline.buffer(1e-6))


def test_drawn_footprints_grow_from_the_start_date():
    rng = np.random.default_rng(2)
    outline = catalogue._blob(rng, (0.0, 0.0), 300.0)
    mine = minelib.Mine(
        "y",
        "coal",
        False,
        1000,
        outline,
        (0.0, 0.0),
        float(shapely.hausdorff_distance(shapely.Point(0, 0), outline)),
        730,
    )
    assert minelib.footprint_at(mine, 999).is_empty
    areas = [minelib.footprint_at(mine, d).area for d in (1000, 1200, 1500, 1730, 5000)]
    assert np.all(np.diff(areas) > -1e-6) and areas[0] > 0
    assert areas[-1] == pytest.approx(outline.area)
