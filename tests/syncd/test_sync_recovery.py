"""A daemon finds a server that comes back promptly: while the server does not answer it
asks again at short, jittered, bounded intervals however long the outage lasts, and
delivers what was logged meanwhile within seconds of the server's return.

The daemon talks to the real server through a forwarding FaultProxy (faultproxy.py)
that only times its requests; the server is SIGKILLed and restarted on the same port and
data directory.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from pathlib import Path

from faultproxy import FaultProxy
from flightlog.syncd.retry import Reachability
from syncd_helpers import Proc, Server, assert_exact, records, wait_until

#: Attempts watched while the server is down: the old policy (full-jitter exponential
#: backoff to 10 s) is many seconds apart by the 6th; the probe is 0.5 s apart at most.
ATTEMPTS = 12
#: The largest gap allowed between two attempts while down: the probe's cap (0.5 s) plus
#: room for a busy machine (the old policy passes this with a probability near 0.001).
MAX_GAP_S = 3.0
#: After the first few attempts, gaps under this would be hammering a dead server.
MIN_GAP_S = 0.1
#: From the restarted server's first /healthz answer to everything being delivered: a
#: probe (<= 0.5 s) and a cold server's first commits, on a machine that may be busy.
DELIVERY_S = 8.0


def _shipped(server: Server, run_dir: Path) -> bool:
    return server.next_seq("p", run_dir.name) == len(records(run_dir))


def test_a_restarted_server_is_found_within_a_probe_interval(
        server: Server, root: Path, trainer: Callable[..., Proc],
        start_syncd: Callable[..., Proc]) -> None:
    run_dir = root / "p" / "live"
    with FaultProxy(server.port) as proxy:  # forwards every request; records when
        daemon = start_syncd(root, server=proxy.url)
        live = trainer("interactive", root, "p", "live")
        live.wait_line("ready")
        live.send("log 10")
        live.wait_line("logged 10")
        wait_until(lambda: _shipped(server, run_dir), timeout=60, what="the first 10 steps")

        server.kill()
        down_since = time.monotonic()
        live.send("log 10")  # something to deliver: the daemon has to ask
        live.wait_line("logged 20")

        def attempts() -> list[float]:
            return [t for t in list(proxy.times) if t > down_since]

        wait_until(lambda: len(attempts()) >= ATTEMPTS, timeout=120,
                   what=f"{ATTEMPTS} attempts of the daemon while the server is down")
        tried = attempts()[:ATTEMPTS]
        # Each one met a dead server (the proxy counts a failure after it records the
        # attempt: the last one may still be failing).
        wait_until(lambda: proxy.stats["upstream-failed"] >= ATTEMPTS, timeout=30,
                   what="each attempt failed upstream")
        gaps = [b - a for a, b in itertools.pairwise(tried)]
        assert max(gaps) <= MAX_GAP_S, [round(g, 2) for g in gaps]
        assert min(gaps[4:]) >= MIN_GAP_S, [round(g, 2) for g in gaps]

        server.start()  # same port, same data: returns at its first /healthz answer
        wait_until(lambda: _shipped(server, run_dir), timeout=DELIVERY_S,
                   what=f"the steps logged while down, within {DELIVERY_S:g} s of the "
                        f"server's return")

        live.send("finish")
        live.wait_line("finished")
        assert live.wait() == 0
        wait_until(lambda: _shipped(server, run_dir), timeout=60, what="the finish")
        assert daemon.terminate() == 0, daemon.text()
    assert_exact(server.data, run_dir, 20)


def test_the_probe_delay_stays_short_bounded_and_jittered() -> None:
    """However many probes went unanswered, the next one is at most ``cap`` away and at
    least ``cap / 2`` once grown; an answer resets it."""
    reach = Reachability(rng=random.Random(9))
    now = 1000.0
    delays = []
    for _ in range(200):  # an outage of any length
        delays.append(reach.failed(now))
        assert reach.down and not reach.ready(now)
        now = reach.not_before
        assert reach.ready(now)
    assert max(delays) <= reach.cap
    assert min(delays[4:]) >= reach.cap / 2  # a dead server sees <= 2 / cap tries a second
    assert len(set(delays)) == len(delays)  # jittered: daemons do not probe in step
    reach.answered()
    assert not reach.down and reach.ready(0.0)
    assert reach.failed(now) <= reach.base  # the first retry after an answer is quick
