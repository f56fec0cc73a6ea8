import mercantile
import numpy as np

from minescan.grid import land


def test_land_tiles():
    kumasi = mercantile.tile(-1.62, 6.69, 15)
    atlantic = mercantile.tile(-30.0, 0.0, 15)
    coast_sea = mercantile.tile(-0.2, 5.3, 15)  # just off Accra
    coast_land = mercantile.tile(-0.2, 5.62, 15)  # central Accra
    got = land.land_tiles(np.array([kumasi, atlantic, coast_sea, coast_land, (31, 31, 6)]))
    assert got.tolist() == [True, False, False, True, True]
