"""The one jit policy for every Numba kernel in vecdb.

- fastmath without `nnan`/`ninf`: reductions may be reassociated (so they vectorise), but NaN/inf checks still work.
- `cache` is on unless VECDB_JIT_CACHE=0; compiled kernels land in NUMBA_CACHE_DIR when that is set.
- `nogil=True` on every kernel, so server threads and our own thread pool run them side by side.
Numba is imported lazily by the kernel modules only, so `import vecdb` stays fast.
"""

from __future__ import annotations

import os

FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})
CACHE = os.environ.get("VECDB_JIT_CACHE", "1") != "0"


def kernel(fn=None, *, cache: bool = CACHE, inline: str = "never"):
    """Decorate a module-level leaf kernel with the project's jit policy."""
    from numba import njit

    def wrap(f):
        return njit(fastmath=set(FASTMATH), cache=cache, nogil=True, inline=inline)(f)

    return wrap(fn) if fn is not None else wrap


def inline_helper(fn):
    """A small helper inlined into kernels (never cached on its own, never called from Python)."""
    from numba import njit

    return njit(fastmath=set(FASTMATH), nogil=True, inline="always")(fn)
