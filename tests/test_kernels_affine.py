"""The affine kernel (drift maps at query time) against its numpy twin, on both of its paths."""

from __future__ import annotations

import numpy as np
import pytest
import reference

from vecdb.errors import InvalidArgument
from vecdb.kernels.affine import BLAS_MIN_QUERIES, affine


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 9, BLAS_MIN_QUERIES - 1, BLAS_MIN_QUERIES, 70])
@pytest.mark.parametrize("d_in,d_out", [(384, 384), (32, 48), (7, 3)])
def test_matches_reference(rng, n, d_in, d_out):
    Q = rng.standard_normal((n, d_in)).astype(np.float32)
    W = rng.standard_normal((d_in, d_out)).astype(np.float32)
    b = rng.standard_normal(d_out).astype(np.float32)
    got = affine(Q, W, b)
    assert got.shape == (n, d_out) and got.dtype == np.float32
    assert np.allclose(got, reference.affine(Q, W, b), rtol=1e-4, atol=1e-3 * np.sqrt(d_in))


def test_no_bias_zero_vectors_and_coercion(rng):
    W = rng.standard_normal((16, 8))  # float64 in: coerced
    Q = np.zeros((3, 16))
    assert np.array_equal(affine(Q, W), np.zeros((3, 8), np.float32))
    Q = rng.standard_normal((2, 16))
    Qs = Q[:, ::1].T.copy().T  # a Fortran-ordered view: made contiguous by the wrapper
    assert np.allclose(affine(Qs, W), reference.affine(Q, W), atol=1e-4)


def test_bad_inputs():
    W = np.ones((4, 2), np.float32)
    with pytest.raises(InvalidArgument, match="dimension 3"):
        affine(np.ones((1, 3)), W)
    with pytest.raises(InvalidArgument, match="2-D"):
        affine(np.ones(4), W)
    with pytest.raises(InvalidArgument, match="bias"):
        affine(np.ones((1, 4)), W, np.ones(3))
    with pytest.raises(InvalidArgument, match="NaN"):
        affine(np.array([[1, np.nan, 0, 0]]), W)
    out = affine(np.array([[1, np.nan, 0, 0]]), W, check_finite=False)  # caller validated: NaN propagates
    assert np.isnan(out).all()
