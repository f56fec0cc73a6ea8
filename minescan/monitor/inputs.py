"""Which mines to monitor: the outlines of ``--mine``, ``--candidates`` or ``--growth``.

Each input row (or ``mine_id`` group) becomes a :class:`MineJob`; a mine
beyond the web-mercator latitudes is refused before any imagery is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from minescan.kernel.errors import MinescanError
from minescan.kernel.io import read_vector

#: Web-mercator latitude limit: no source covers the poles.
MAX_LAT = 85.0511


@dataclass(frozen=True)
class MineJob:
    """One mine to monitor: its id as the input gives it and its outline in EPSG:4326."""

    mine_id: str
    geometry: object


def check_extent(job: MineJob) -> None:
    """One-line error for a mine no source can read (beyond the web-mercator latitudes)."""
    xmin, ymin, xmax, ymax = job.geometry.bounds
    if not (-180 <= xmin <= xmax <= 180 and -MAX_LAT <= ymin <= ymax <= MAX_LAT):
        raise MinescanError(
            f"mine {job.mine_id} ({xmin:.3f}, {ymin:.3f}, {xmax:.3f}, {ymax:.3f}) is outside "
            "the source's extent (longitude -180..180, latitude -85.05..85.05)"
        )


def jobs_from_frame(frame, prefix: str) -> list[MineJob]:
    """One job per ``mine_id`` (parts dissolved), else one per row named ``{prefix}{row}``."""
    if "mine_id" in frame.columns:
        groups = frame.dissolve(by=frame["mine_id"].astype(str))
        return [MineJob(str(i), g) for i, g in zip(groups.index, groups.geometry, strict=True)]
    return [MineJob(f"{prefix}{i:04d}", g) for i, g in enumerate(frame.geometry)]


def read_jobs(
    mine: str | None = None,
    mine_id: str | None = None,
    candidates: str | None = None,
    growth: str | None = None,
) -> list[MineJob]:
    """The mines of ``--mine FILE [--id ID]``, ``--candidates FILE`` or, alone, ``--growth FILE``."""
    if mine and candidates:
        raise MinescanError("give --mine FILE or --candidates FILE, not both")
    if mine:
        jobs = jobs_from_frame(read_vector(mine, what="mine file"), "mine-")
    elif candidates:
        jobs = jobs_from_frame(read_vector(candidates, what="candidates file"), "cand-")
    elif growth:
        jobs = growth_jobs(read_vector(growth, what="growth file"))
    else:
        raise MinescanError("give --mine FILE or --candidates RUNDIR/candidates.parquet")
    if mine_id is not None:
        jobs = [j for j in jobs if j.mine_id == str(mine_id)]
        if not jobs:
            raise MinescanError(f"no mine with id {mine_id!r}")
    for job in jobs:
        check_extent(job)
    return jobs


def growth_jobs(growth) -> list[MineJob]:
    """Mines of a growth file: by ``mine_id``, else groups of touching parts."""
    if "mine_id" in growth.columns:
        return jobs_from_frame(growth, "mine-")
    merged = growth.geometry.union_all()
    parts = list(getattr(merged, "geoms", [merged]))
    return [MineJob(f"mine-{i:04d}", g) for i, g in enumerate(parts)]


@dataclass(frozen=True)
class Inputs:
    """The files a monitor run reads besides the imagery: the mines and the compliance layers.

    ``mine`` (optionally only ``mine_id``), ``candidates`` or, alone,
    ``growth`` give the mines (:func:`read_jobs`); ``growth`` is also the truth
    scored in ``metrics.json``. ``lease`` and ``restricted`` (classes in
    ``class_column``) are the concessions and no-go areas.
    """

    mine: str | None = None
    mine_id: str | None = None
    candidates: str | None = None
    growth: str | None = None
    lease: str | None = None
    restricted: str | None = None
    class_column: str | None = None

    def jobs(self) -> list[MineJob]:
        """The mines to monitor (see :func:`read_jobs`)."""
        return read_jobs(self.mine, self.mine_id, self.candidates, self.growth)
