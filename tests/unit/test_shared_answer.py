"""The shared overview answer: served without waiting while one rebuild runs, never older than
``max_age`` as fresh, cleared by writes (``api/shared_answer.py``). A fake monotonic clock; the
background rebuild is held on an event, so nothing sleeps."""

from __future__ import annotations

import json
import threading

import pytest

from coinpilot.api.shared_answer import (
    Built,
    Served,
    SharedAnswer,
    age_headers,
    encode_json,
    json_response,
    packed,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Builds:
    """compute(): numbered answers; ``hold`` keeps a background build waiting until released."""

    def __init__(self) -> None:
        self.count = 0
        self.hold: threading.Event | None = None
        self.started = threading.Event()
        self.done = threading.Event()

    def __call__(self) -> Built:
        self.count += 1
        n = self.count
        self.started.set()
        if self.hold is not None:
            assert self.hold.wait(5)
        self.done.set()
        return Built(encode_json({"n": n}), {"n": n})


def n_of(served: Served | None) -> int:
    assert served is not None
    return int(json.loads(served.built.body)["n"])


def test_one_computation_is_shared_within_the_ttl() -> None:
    clock, builds = Clock(), Builds()
    shared = SharedAnswer(ttl=1.0, max_age=2.0, monotonic=clock)
    assert shared.peek(builds) is None  # nothing yet: the caller computes (off the event loop)
    assert n_of(shared.get(builds)) == 1
    clock.now += 0.9
    served = shared.peek(builds)
    assert n_of(served) == 1 and served is not None and served.age_seconds == pytest.approx(0.9)
    assert builds.count == 1


def test_past_the_ttl_the_last_answer_is_served_while_one_rebuild_runs() -> None:
    clock, builds = Clock(), Builds()
    shared = SharedAnswer(ttl=1.0, max_age=2.0, monotonic=clock)
    shared.get(builds)
    builds.hold = threading.Event()
    builds.started.clear()
    clock.now += 1.5
    assert n_of(shared.peek(builds)) == 1  # not waited for
    assert builds.started.wait(5)
    assert n_of(shared.peek(builds)) == 1  # a second poller: no second rebuild
    clock.now += 1.0  # 2.5 s old while the rebuild still runs: served, marked stale
    stale = shared.peek(builds)
    assert stale is not None and stale.stale and n_of(stale) == 1
    builds.done.clear()
    builds.hold.set()
    assert builds.done.wait(5)
    assert builds.count == 2  # one rebuild for every poller
    clock.now -= 0.5  # (the new answer is then 0.5 s old: fresh, nothing more to rebuild)
    for _ in range(1000):  # the rebuild thread stores its answer just after compute returns
        fresh = shared.peek(builds)
        if fresh is not None and n_of(fresh) == 2:
            break
        threading.Event().wait(0.005)
    assert n_of(fresh) == 2 and fresh is not None and not fresh.stale
    assert fresh.age_seconds == pytest.approx(0.5)  # as old as the reads it started with
    assert builds.count == 2


def test_an_old_answer_with_no_rebuild_running_is_never_served() -> None:
    clock, builds = Clock(), Builds()
    shared = SharedAnswer(ttl=1.0, max_age=2.0, monotonic=clock)
    shared.get(builds)
    clock.now += 2.0
    assert shared.peek(builds) is None  # a quiet server: the next request computes
    assert n_of(shared.get(builds)) == 2


def test_a_stale_answer_has_a_limit_even_while_a_rebuild_runs() -> None:
    clock, builds = Clock(), Builds()
    shared = SharedAnswer(ttl=1.0, max_age=2.0, stale_limit=10.0, monotonic=clock)
    shared.get(builds)
    builds.hold = threading.Event()
    clock.now += 1.5
    shared.peek(builds)  # starts the (held) rebuild
    assert builds.started.wait(5)
    clock.now += 9.0
    assert shared.peek(builds) is None
    builds.hold.set()


def test_without_background_rebuilds_the_request_past_the_ttl_computes() -> None:
    clock, builds = Clock(), Builds()
    shared = SharedAnswer(ttl=1.0, max_age=2.0, monotonic=clock, background=False)
    shared.get(builds)
    clock.now += 1.2
    assert shared.peek(builds) is None
    assert n_of(shared.get(builds)) == 2


def test_an_answer_computed_across_a_write_is_not_kept() -> None:
    clock = Clock()
    shared = SharedAnswer(ttl=1.0, max_age=2.0, monotonic=clock)

    def compute_then_a_write_lands() -> Built:
        shared.invalidate()
        return Built(encode_json({"n": 1}))

    assert n_of(shared.get(compute_then_a_write_lands)) == 1  # this request gets it ...
    assert shared.peek(compute_then_a_write_lands) is None  # ... nobody else does


def test_the_age_goes_in_the_headers_and_the_body_is_gzipped_once_per_build() -> None:
    import gzip

    body = encode_json({"rows": [{"price": "101.25", "n": n} for n in range(400)]})
    built = packed(body)
    assert built.gzipped is not None and gzip.decompress(built.gzipped) == body
    served = Served(built, 0.25)
    assert age_headers(served) == {"X-Answer-Age-Seconds": "0.250", "X-Answer-Stale": "false"}
    assert age_headers(Served(built, 3.0, stale=True))["X-Answer-Stale"] == "true"
    zipped = json_response("gzip, deflate", built)
    assert zipped.body is built.gzipped and zipped.headers["content-encoding"] == "gzip"
    assert json_response("identity", built).body == body
    assert packed(b"{}").gzipped is None  # small answers go as they are


def test_slow_rebuilds_serve_the_last_answer_marked_stale_instead_of_making_pollers_wait() -> None:
    clock = Clock()
    built = threading.Event()
    count = [0]

    def slow() -> Built:  # each build takes 2.5 s of the (fake) clock: a loaded machine
        count[0] += 1
        clock.now += 2.5
        built.set()
        return Built(encode_json({"n": count[0]}))

    shared = SharedAnswer(ttl=1.0, max_age=2.0, monotonic=clock)
    shared.get(slow)  # already 2.5 s old when stored
    built.clear()
    stale = shared.peek(slow)
    assert stale is not None and stale.stale and stale.age_seconds == pytest.approx(2.5)
    assert built.wait(5)  # ... and the next rebuild was started, not waited for
    for _ in range(1000):
        if n_of(shared.peek(slow) or shared.get(slow)) >= 2:
            break
        threading.Event().wait(0.005)
    clock.now += 20  # then nobody asks for a while: an old answer is not served
    assert shared.peek(slow) is None
