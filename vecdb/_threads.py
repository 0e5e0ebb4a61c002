"""The shared worker pool that runs nogil kernels in parallel (created on first use, never at import).

We parallelise with our own threads over nogil kernels instead of Numba's `parallel=True`: Numba's default
threading layer aborts when two threads enter a parallel region at once, which a gRPC server does all the time.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_inflight = 0  # fan-outs running right now (a plain counter: a stale read only costs a missed split)


_CPUS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def n_threads() -> int:
    """Threads for one kernel call: VECDB_THREADS if set (read each call so tests and benchmarks can change it),
    else the CPUs this process may use; 1 while another call already has the pool split, since under concurrent
    load (a server) splitting one query only adds hand-offs: the other callers keep the cores busy."""
    env = os.environ.get("VECDB_THREADS")
    threads = max(1, int(env)) if env else _CPUS
    return 1 if _inflight else threads


def executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=n_threads(), thread_name_prefix="vecdb-kernel")
    return _pool


def fan_out(fn, arg_list: list[tuple]) -> list:
    """fn(*args) for each args, the first on the calling thread (one hand-off fewer), the rest on the pool."""
    global _inflight
    _inflight += 1
    try:
        futures = [executor().submit(fn, *args) for args in arg_list[1:]]
        first = fn(*arg_list[0])
        return [first] + [f.result() for f in futures]
    finally:
        _inflight -= 1
