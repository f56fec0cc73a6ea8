"""The retrying, bounded fetch loop: concurrency, backoff, failure classification."""

from __future__ import annotations

import random
import threading
import time

import pytest

from minescan.datasets.sources.fetch import (
    RetryPolicy,
    TransientError,
    call_with_retry,
    fetch_all,
    is_transient,
)
from minescan.kernel.errors import MinescanError


class HttpError(Exception):
    def __init__(self, status):
        super().__init__(f"HTTP {status}")
        self.status_code = status


class Flaky:
    """Fails with ``errors`` in turn, then returns ``value``."""

    def __init__(self, errors, value="ok"):
        self.errors = list(errors)
        self.value = value
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.value


@pytest.mark.parametrize(
    "exc, transient",
    [
        (HttpError(429), True),
        (HttpError(503), True),
        (HttpError(500), True),
        (HttpError(404), False),
        (HttpError(400), False),
        (TimeoutError("read timed out"), True),
        (ConnectionRefusedError("refused"), True),
        (TransientError("x"), True),
        (Exception("Too many concurrent aggregations"), True),
        (Exception("Image.select: band 'B99' not found"), False),
        (MinescanError("bad"), False),
        (ValueError("bad value"), False),
    ],
)
def test_is_transient(exc, transient):
    assert is_transient(exc) is transient


def test_retries_then_succeeds_with_exponential_backoff():
    waits = []
    fn = Flaky([HttpError(429), HttpError(503), TimeoutError("t")])
    policy = RetryPolicy(retries=5, backoff_s=2.0, jitter=0.0)
    assert call_with_retry(fn, "tile 14/1/2", policy, sleep=waits.append) == "ok"
    assert fn.calls == 4
    assert waits == [2.0, 4.0, 8.0]


def test_backoff_is_capped_and_jittered():
    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=10.0, jitter=0.5)
    rng = random.Random(1)
    delays = [policy.delay(k, rng) for k in range(8)]
    assert all(d <= 10.0 for d in delays)
    assert 0.5 <= delays[0] <= 1.0 and 5.0 <= delays[-1] <= 10.0
    assert len(set(delays)) == len(delays)  # jitter: no two clients in lockstep


def test_gives_up_with_one_line_error_naming_the_job():
    waits = []
    fn = Flaky([HttpError(429)] * 10)
    with pytest.raises(MinescanError) as err:
        call_with_retry(fn, "tile 14/8/9", RetryPolicy(retries=3, jitter=0), sleep=waits.append)
    message = str(err.value)
    assert message.startswith("tile 14/8/9: failed after 4 attempts: HttpError: HTTP 429")
    assert "\n" not in message
    assert fn.calls == 4 and len(waits) == 3


def test_permanent_error_fails_at_once():
    fn = Flaky([HttpError(404)])
    with pytest.raises(MinescanError, match="tile a: HttpError: HTTP 404"):
        call_with_retry(fn, "tile a", sleep=lambda s: pytest.fail("slept"))
    assert fn.calls == 1


def test_minescan_error_passes_through_with_label():
    def fn():
        raise MinescanError("band B99 missing")

    with pytest.raises(MinescanError, match="^tile a: band B99 missing$"):
        call_with_retry(fn, "tile a")


def test_fetch_all_bounds_concurrency_and_returns_every_result():
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def fetch(job):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
        return job * job

    results = dict(fetch_all(range(40), fetch, max_concurrency=3))
    assert results == {j: j * j for j in range(40)}
    assert state["peak"] == 3


def test_fetch_all_retries_each_job_and_is_deterministic_with_a_seed():
    def run():
        failures = {j: [HttpError(503)] * (j % 3) for j in range(9)}
        waits = []
        lock = threading.Lock()

        def fetch(job):
            if failures[job]:
                raise failures[job].pop()
            return job

        def sleep(s):
            with lock:
                waits.append(round(s, 9))

        out = dict(fetch_all(range(9), fetch, max_concurrency=1, sleep=sleep, seed=7))
        return out, waits

    (out1, waits1), (out2, waits2) = run(), run()
    assert out1 == out2
    assert out1 == {j: j for j in range(9)}
    assert len(waits1) == sum(j % 3 for j in range(9))
    assert waits1 == waits2


def test_fetch_all_stops_on_first_permanent_failure_naming_the_job():
    started = []

    def fetch(job):
        started.append(job)
        if job == 2:
            raise HttpError(403)
        return job

    got = []
    with pytest.raises(MinescanError, match="^tile 2: HttpError: HTTP 403$"):
        for _job, value in fetch_all(
            range(1000), fetch, label=lambda j: f"tile {j}", max_concurrency=2
        ):
            got.append(value)
    assert len(started) < 10  # the rest were never submitted
    assert 2 not in got


def test_fetch_all_rejects_zero_concurrency():
    with pytest.raises(ValueError):
        list(fetch_all([1], lambda j: j, max_concurrency=0))
