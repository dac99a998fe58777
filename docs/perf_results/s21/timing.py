"""One interleaved CPU-time loop for this session's probes: each function in turn, ``calls`` calls per timing,
``rounds`` rounds; µs per call, every round kept."""

import time
from collections.abc import Callable


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, calls: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            start = time.process_time()
            for _ in range(calls):
                fn()
            times[key].append((time.process_time() - start) / calls * 1e6)
    return times
