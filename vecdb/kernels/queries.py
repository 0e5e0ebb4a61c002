"""Query preparation: the value check and the unit length of cosine queries, one arithmetic for every path.

The matrix path (prepare_rows) and the single-query graph kernel (graph.search_one) share _prepare_row, so a 1-D
query and the same query as a (1, dim) matrix are bit-identical and rank near-ties the same way.
"""

from __future__ import annotations

import numpy as np

from ..jit import inline_helper, kernel

# Below this sum of squares every element is within vectors.MAX_ABS, so no element check is needed; above it (or
# NaN / inf, which fail the comparison) the caller runs the full check, which names the bad row.
MAX_SQUARED = 1e30

OK = 0
NEEDS_CHECK = 1
ZERO = 2  # a zero vector under cosine, which has no direction


@inline_helper
def _prepare_row(q, out, cosine):
    """q -> out (divided by its norm when cosine); returns OK, NEEDS_CHECK (out untouched) or ZERO."""
    s = np.float32(0.0)
    for j in range(q.shape[0]):
        s += q[j] * q[j]
    if not s <= MAX_SQUARED:
        return NEEDS_CHECK
    if not cosine:
        for j in range(q.shape[0]):
            out[j] = q[j]
        return OK
    if s == 0:
        return ZERO
    norm = np.sqrt(s)
    for j in range(q.shape[0]):
        out[j] = q[j] / norm
    return OK


@kernel
def prepare_rows(Q, out, cosine):
    """Every row of Q prepared into out. Returns -1, or 4 * row + status of the first row that is not OK."""
    for i in range(Q.shape[0]):
        st = _prepare_row(Q[i], out[i], cosine)
        if st != OK:
            return 4 * i + st
    return -1
