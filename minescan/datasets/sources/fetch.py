"""A bounded, retrying fetch loop shared by the network sources (earthengine, stac).

Remote imagery APIs fail in two ways: transiently (rate limits, 5xx, timeouts,
dropped connections), where waiting and asking again works, and permanently
(bad request, missing band, no credentials), where it never will. The loop
retries the first kind with exponential backoff and jitter, fails fast on the
second, and always ends in a one-line :class:`~minescan.kernel.errors.MinescanError`
that names the job (the tile or date) so a scan can report it and resume.

:class:`TileFetcher` gives both network sources the same ``read`` (cached,
retried), ``read_tiles`` (a batch: cached tiles from the cache, the rest
fetched in clusters of neighbours) and ``read_many`` (bounded concurrency)
around their own fetch.
"""

from __future__ import annotations

import random
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

import mercantile

from minescan.datasets.sources.cache import ChipCache, ChipKey
from minescan.datasets.sources.extent import Grid, tile_grid
from minescan.datasets.sources.windows import clusters
from minescan.kernel.bands import S2_BANDS
from minescan.kernel.chip import Chip
from minescan.kernel.errors import MinescanError
from minescan.kernel.period import DEFAULT_PERIOD, Period

K = TypeVar("K")
V = TypeVar("V")

#: HTTP statuses worth asking again for: rate limits and server-side failures.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

#: Messages of transient failures from clients that only give text (Earth Engine, GDAL).
_TRANSIENT_TEXT = re.compile(
    r"\b(429|500|502|503|504)\b|too many (concurrent )?(requests|aggregations)|rate limit|quota exceeded"
    r"|service unavailable|temporarily|deadline exceeded|timed? ?out|connection (reset|refused|aborted)",
    re.IGNORECASE,
)


class TransientError(Exception):
    """A failure that may succeed when tried again (raise it from a fetch to force a retry)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to ask again.

    Attempt ``k`` (0-based) that fails transiently waits
    ``min(max_backoff_s, backoff_s * 2**k) * uniform(1 - jitter, 1)`` seconds.
    """

    retries: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based).

        Examples
        --------
        >>> RetryPolicy(backoff_s=1.0, jitter=0.0).delay(3, random.Random(0))
        8.0
        """
        base = min(self.max_backoff_s, self.backoff_s * 2.0**attempt)
        return base * rng.uniform(1.0 - self.jitter, 1.0)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries (requests, pystac-client, googleapiclient), if any."""
    for attr in ("status_code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None) or getattr(exc, "resp", None)
    for attr in ("status_code", "status"):
        value = getattr(response, attr, None)
        if isinstance(value, int):
            return value
    return None


def is_transient(exc: BaseException) -> bool:
    """True for rate limits, 5xx, timeouts and dropped connections; False otherwise."""
    if isinstance(exc, MinescanError):
        return False
    if isinstance(exc, TransientError | TimeoutError | ConnectionError | socket.timeout):
        return True
    status = http_status(exc)
    if status is not None:
        return status in RETRY_STATUSES
    name = type(exc).__name__
    if name in {
        "ConnectionError",
        "Timeout",
        "ReadTimeout",
        "ConnectTimeout",
        "ChunkedEncodingError",
    }:
        return True
    return bool(_TRANSIENT_TEXT.search(str(exc)))


def describe(exc: BaseException) -> str:
    """One line about ``exc``: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def call_with_retry(
    fn: Callable[[], V],
    label: str,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> V:
    """Call ``fn`` until it succeeds, retrying transient failures per ``policy``.

    Raises
    ------
    MinescanError
        One line naming ``label``: after the last retry of a transient failure,
        or at once for a permanent one. A ``MinescanError`` from ``fn`` passes
        through with ``label`` prefixed.
    """
    rng = rng or random.Random()
    for attempt in range(policy.retries + 1):
        try:
            return fn()
        except MinescanError as exc:
            raise MinescanError(f"{label}: {exc}") from None
        except Exception as exc:  # classified below: network clients raise anything
            if not is_transient(exc):
                raise MinescanError(f"{label}: {describe(exc)}") from exc
            if attempt == policy.retries:
                raise MinescanError(
                    f"{label}: failed after {policy.retries + 1} attempts: {describe(exc)}"
                ) from exc
            sleep(policy.delay(attempt, rng))
    raise AssertionError("unreachable")


def fetch_all(
    jobs: Iterable[K],
    fetch: Callable[[K], V],
    label: Callable[[K], str] = str,
    max_concurrency: int = 8,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    seed: int | None = None,
) -> Iterator[tuple[K, V]]:
    """Run ``fetch(job)`` for every job, at most ``max_concurrency`` at a time, with retries.

    Yields ``(job, result)`` in completion order. Only ``max_concurrency``
    jobs are ever in flight (the rest are not even submitted), so a huge job
    list costs no memory. The first job that fails for good stops the loop and
    raises its one-line :class:`MinescanError`; results already yielded stay
    valid (callers cache them, so a rerun resumes).
    """
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be >= 1")
    rng = random.Random(seed)
    pending: dict[Future, K] = {}
    todo = iter(jobs)
    with ThreadPoolExecutor(max_workers=max_concurrency) as pool:
        try:
            while True:
                while len(pending) < max_concurrency:
                    job = next(todo, _END)
                    if job is _END:
                        break
                    job_rng = random.Random(rng.random())
                    pending[
                        pool.submit(
                            call_with_retry, _bind(fetch, job), label(job), policy, sleep, job_rng
                        )
                    ] = job
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    job = pending.pop(future)
                    yield job, future.result()
        finally:
            for future in pending:
                future.cancel()


_END = object()


def _bind(fetch: Callable[[K], V], job: K) -> Callable[[], V]:
    return lambda: fetch(job)


def tile_label(tile: mercantile.Tile, neighbours: int = 0) -> str:
    """How errors name a tile (and the neighbours fetched with it).

    Examples
    --------
    >>> tile_label(mercantile.Tile(3, 5, 4)), tile_label(mercantile.Tile(3, 5, 4), 3)
    ('tile 4/3/5', 'tile 4/3/5 and 3 neighbours')
    """
    label = f"tile {tile.z}/{tile.x}/{tile.y}"
    return f"{label} and {neighbours} neighbours" if neighbours else label


class TileFetcher:
    """``read``, ``read_tiles`` and ``read_many`` of a network source, around its ``_fetch_chips``.

    A subclass sets ``name``, ``cache`` (a :class:`ChipCache`, or None for no
    cache), ``policy``, ``sleep`` and ``max_concurrency``, and implements
    ``_fetch_chips(tiles, grids, period, start, end, bands, margin_px) -> list[Chip]``
    (the uncached chips of a cluster of neighbours, retried with :meth:`_retry`
    where it talks to the network).
    """

    name: str
    cache: ChipCache | None
    policy: RetryPolicy
    sleep: Callable[[float], None]
    max_concurrency: int

    def read(
        self,
        tile: mercantile.Tile,
        size_px: int = 256,
        period: str = DEFAULT_PERIOD,
        bands: tuple[str, ...] | None = None,
        margin_px: int = 0,
    ) -> Chip:
        """The clear-sky median of ``period`` on the tile's grid; all-NaN and flagged if all cloud."""
        return self.read_tiles([tile], size_px, period, bands, margin_px)[0]

    def read_tiles(
        self,
        tiles: Iterable[mercantile.Tile],
        size_px: int = 256,
        period: str = DEFAULT_PERIOD,
        bands: tuple[str, ...] | None = None,
        margin_px: int = 0,
    ) -> list[Chip]:
        """:meth:`read` of every tile, in order; the uncached ones fetched together.

        Cached chips come from the cache; the rest go to ``_fetch_chips`` in
        clusters of neighbours (:func:`~minescan.datasets.sources.windows.clusters`),
        which a source answers with fewer, larger requests than one per tile.
        Each fetched chip is cached on its own, so a resumed scan refetches nothing.
        """
        bands = tuple(bands or S2_BANDS)
        start, end = Period.parse(period).inclusive
        tiles = [mercantile.Tile(*map(int, t)) for t in tiles]
        keys = [ChipKey(t, size_px, margin_px, period, bands) for t in tiles]
        chips: list[Chip | None] = [None if self.cache is None else self.cache.get(k) for k in keys]
        for chip in chips:
            if chip is not None:
                chip.meta["cached"] = True
        todo = [i for i, chip in enumerate(chips) if chip is None]
        for rows in clusters([list(tiles[i]) for i in todo]):
            group = [todo[r] for r in rows]
            grids = [tile_grid(tiles[i], size_px, margin_px) for i in group]
            fetched = self._fetch_chips(
                [tiles[i] for i in group], grids, period, start, end, bands, margin_px
            )
            for i, chip in zip(group, fetched, strict=True):
                if self.cache is not None:
                    self.cache.put(keys[i], chip)
                chip.meta["cached"] = False
                chips[i] = chip
        return chips  # type: ignore[return-value]

    def read_many(
        self,
        tiles: Iterable[mercantile.Tile],
        size_px: int = 256,
        period: str = DEFAULT_PERIOD,
        bands: tuple[str, ...] | None = None,
        margin_px: int = 0,
    ) -> Iterator[tuple[mercantile.Tile, Chip]]:
        """``(tile, chip)`` for every tile, ``max_concurrency`` at a time, in completion order.

        Each ``read`` retries its own requests, so the loop itself does not retry.
        """
        yield from fetch_all(
            tiles,
            lambda t: self.read(t, size_px, period, bands, margin_px),
            label=tile_label,
            max_concurrency=self.max_concurrency,
            policy=RetryPolicy(retries=0),
        )

    def _fetch_chips(
        self,
        tiles: list[mercantile.Tile],
        grids: list[Grid],
        period: str,
        start: str,
        end: str,
        bands: tuple[str, ...],
        margin_px: int,
    ) -> list[Chip]:
        """Uncached chips of a cluster of neighbouring tiles, in order (the source's own fetch)."""
        raise NotImplementedError

    def _retry(self, fn: Callable[[], V], label: str) -> V:
        return call_with_retry(fn, label, self.policy, self.sleep)
