"""The explicit vector passes of the per-rating kernels (``_simd``) against numpy, for every
remainder of a row's length over the 8-lane chunks, and with guard values around each row that
a masked tail must neither read into the sums nor overwrite. Each case runs with the length
known only at run time (a loop over the chunks) and known when compiling (unrolled; up to 8
chunks, ``update2`` holds them all before it stores any)."""

import numpy as np
import pytest
from numba import literally, njit

from mfbench_plugins.algorithms.kernels.simd import WIDTH, dot3, update2


@njit(cache=True)
def _dot3(p, q, n):
    return dot3(p, q, n)


@njit(cache=True)
def _update2(p, q, n, a, b, c, d):
    update2(p, q, n, a, b, c, d)


@njit(cache=True)
def _dot3_literal(p, q, n):
    literally(n)
    return dot3(p, q, n)


@njit(cache=True)
def _update2_literal(p, q, n, a, b, c, d):
    literally(n)
    update2(p, q, n, a, b, c, d)


LENGTHS = [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 65, 100, 128]
KNOWN = pytest.mark.parametrize("known", ["run time", "compile time"])


def _rows(n, seed):
    """Two rows of length ``n`` inside larger buffers whose other elements are huge guards."""
    rng = np.random.default_rng(seed)
    guard = np.float32(1e30)
    buf = np.full((2, n + 2 * WIDTH + 3), guard, np.float32)
    start = 3  # not at a chunk boundary of the buffer
    rows = buf[:, start : start + n]
    rows[...] = rng.standard_normal((2, n)).astype(np.float32)
    return buf, rows[0], rows[1], start


@KNOWN
@pytest.mark.parametrize("n", LENGTHS)
def test_dot3_matches_numpy(n, known):
    _, p, q, _ = _rows(n, seed=n)
    got = np.array((_dot3 if known == "run time" else _dot3_literal)(p, q, n), np.float64)
    p64, q64 = p.astype(np.float64), q.astype(np.float64)
    want = np.array([p64 @ q64, p64 @ p64, q64 @ q64])
    # float32 sums of n products of unit normals: error of order sqrt(n) * eps * sum |terms|
    scale = np.array([np.abs(p64 * q64).sum(), p64 @ p64, q64 @ q64]) + 1.0
    np.testing.assert_allclose(got, want, atol=float(4 * np.sqrt(max(n, 1)) * np.finfo(np.float32).eps) * scale.max())


@KNOWN
@pytest.mark.parametrize("n", LENGTHS)
def test_update2_updates_the_rows_and_nothing_else(n, known):
    buf, p, q, start = _rows(n, seed=100 + n)
    before = buf.copy()
    a, b, c, d = (np.float32(x) for x in (-0.01, 0.3, -0.02, -0.25))
    p0, q0 = p.astype(np.float64), q.astype(np.float64)
    (_update2 if known == "run time" else _update2_literal)(p, q, n, a, b, c, d)
    np.testing.assert_allclose(p, p0 + a * p0 + b * q0, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(q, q0 + c * q0 + d * p0, rtol=1e-6, atol=1e-6)
    outside = np.ones(buf.shape, bool)
    outside[:, start : start + n] = False
    np.testing.assert_array_equal(buf[outside], before[outside])
