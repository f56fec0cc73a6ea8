"""The on-disk chip cache: keys, atomic round trip, corrupt entries."""

from __future__ import annotations

import mercantile
import numpy as np
import pytest

from minescan.datasets.sources.cache import ChipCache, ChipKey, default_cache_dir, settings_digest
from minescan.kernel.chip import Chip
from minescan.kernel.mercator import tile_transform

TILE = mercantile.Tile(100, 200, 13)


def make_chip(valid=True) -> Chip:
    rng = np.random.default_rng(0)
    data = rng.random((3, 16, 16), dtype=np.float32)
    data[0, 0, 0] = np.nan
    mask = rng.random((16, 16)) > 0.2 if valid else None
    return Chip(
        data=data,
        bands=("B02", "B03", "B04"),
        transform=tile_transform(TILE, 16, 0),
        period="2019",
        tile=TILE,
        valid=mask,
        meta={"all_cloud": False, "items": 3},
    )


def key(**kw) -> ChipKey:
    base = dict(tile=TILE, size_px=16, margin_px=0, period="2019", bands=("B02", "B03", "B04"))
    return ChipKey(**{**base, **kw})


@pytest.mark.parametrize("valid", [True, False])
def test_round_trip(tmp_path, valid):
    cache = ChipCache(tmp_path, "stac-abc")
    chip = make_chip(valid)
    assert cache.get(key()) is None
    cache.put(key(), chip)
    got = cache.get(key())
    np.testing.assert_array_equal(got.data, chip.data)
    assert got.bands == chip.bands and got.period == "2019" and got.tile == TILE
    assert got.transform.almost_equals(chip.transform)
    assert (got.valid is None) == (chip.valid is None)
    if valid:
        np.testing.assert_array_equal(got.valid, chip.valid)
    assert got.meta == chip.meta
    assert not list(tmp_path.rglob("*.tmp*"))  # atomic: no temp left behind


@pytest.mark.parametrize(
    "change",
    [
        dict(tile=mercantile.Tile(101, 200, 13)),
        dict(size_px=32),
        dict(margin_px=8),
        dict(period="2020"),
        dict(bands=("B02", "B03")),
    ],
)
def test_every_key_field_matters(tmp_path, change):
    cache = ChipCache(tmp_path, "stac-abc")
    cache.put(key(), make_chip())
    assert cache.get(key(**change)) is None


def test_namespaces_separate_settings(tmp_path):
    a = settings_digest("stac", "1", {"url": "a"})
    assert a != settings_digest("stac", "1", {"url": "b"})
    assert a != settings_digest("stac", "2", {"url": "a"})
    assert a != settings_digest("earthengine", "1", {"url": "a"})
    ChipCache(tmp_path, f"stac-{a}").put(key(), make_chip())
    assert ChipCache(tmp_path, "stac-other").get(key()) is None


@pytest.mark.parametrize("garbage", [b"", b"not a zip", b"PK\x03\x04truncated"])
def test_corrupt_entry_is_discarded_and_refetched(tmp_path, garbage):
    cache = ChipCache(tmp_path, "stac-abc")
    cache.put(key(), make_chip())
    path = cache.path(key())
    path.write_bytes(garbage)
    assert cache.get(key()) is None
    assert not path.exists()
    calls = []

    def fetch():
        calls.append(1)
        return make_chip()

    chip = cache.get_or_fetch(key(), fetch)
    assert calls == [1] and chip.meta["cached"] is False
    again = cache.get_or_fetch(key(), fetch)
    assert calls == [1] and again.meta["cached"] is True


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MINESCAN_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "sources"
    monkeypatch.delenv("MINESCAN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "minescan" / "sources"
