"""Synthetic ratings with planted low-rank structure, generated deterministically from a seed.

The generative model is the one matrix factorization assumes::

    r_ui = clip(round_to_step(mu + b_u + b_i + p_u . q_i + eps), low, high)

with the entries of ``p_u`` and ``q_i`` drawn i.i.d. normal with variance
``factor_std / sqrt(rank)``, so that ``p_u . q_i`` has standard deviation ``factor_std``,
biases ``N(0, bias_std^2)`` and noise ``eps ~ N(0, noise^2)``.

Who rates what is heavy-tailed, as in MovieLens: each user rates ``min_user_ratings`` items
(MovieLens keeps users with at least 20) plus a share of the rest drawn by log-normal activity
weights (``user_sigma``), at most the whole catalogue; each user's items are distinct and drawn by
log-normal popularity (``item_sigma``; 0 is uniform). The defaults give ratings-per-user and
per-item distributions close to ml-latest-small's (a test compares quantiles and Gini).

``device="gpu"`` draws the ratings on the GPU with array code (``_fill_array``; cupy there, numpy
in the tests): the same degrees, planted factors and biases as on the CPU for a seed, other
draws of the items and the noise. The 100M-rating Netflix shape takes about 40 s with the CPU's
compiled loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mfbench import devices
from mfbench.data import Dataset, Ratings
from mfbench.errors import MfbenchError

__all__ = ["generate", "load_synthetic", "load_synthetic_ml20m", "load_synthetic_netflix", "PRESETS"]


def _popularity(n: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Log-normal weights ``exp(sigma * N(0, 1))``, normalized; ``sigma=0`` is uniform."""
    w = np.exp(sigma * rng.standard_normal(n))
    return w / w.sum()


def _user_degrees(
    n_users: int, n_items: int, n_ratings: int, sigma: float, floor: int, rng: np.random.Generator
) -> np.ndarray:
    """Ratings per user: ``floor`` each, the rest multinomial over log-normal weights, capped at
    the catalogue (the excess goes to users below the cap)."""
    floor = min(floor, n_ratings // n_users, n_items)
    if n_ratings > n_users * n_items:
        raise MfbenchError(f"synthetic: n_ratings={n_ratings:,} exceeds n_users*n_items={n_users * n_items:,}")
    w = _popularity(n_users, sigma, rng)
    deg = floor + rng.multinomial(n_ratings - floor * n_users, w)
    while (excess := int(np.maximum(deg - n_items, 0).sum())) > 0:
        np.minimum(deg, n_items, out=deg)
        room = np.where(deg < n_items, w, 0.0)
        deg += rng.multinomial(excess, room / room.sum())
    return deg.astype(np.int64)


def generate(
    n_users: int = 943,
    n_items: int = 1682,
    n_ratings: int = 100_000,
    rank: int = 10,
    noise: float = 0.5,
    mean: float = 3.5,
    factor_std: float = 0.8,
    bias_std: float = 0.4,
    user_sigma: float = 1.5,
    item_sigma: float = 2.0,
    min_user_ratings: int = 20,
    scale: tuple[float, float] = (1.0, 5.0),
    step: float = 1.0,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[Ratings, dict[str, np.ndarray]]:
    """Ratings and the planted truth (``P``, ``Q``, ``user_bias``, ``item_bias``, ``mu``, and the
    noiseless ratings ``clean``), as host arrays.

    On the CPU a compiled loop writes the ratings user by user straight into the result's arrays,
    so the memory it needs is the result's (16 bytes a rating with ``clean``) plus one mark per
    item. ``device="gpu"`` draws them with ``_fill_array`` on the GPU and copies them back.
    """
    devices.require(device)
    if min(n_users, n_items, n_ratings, rank) < 1:
        raise MfbenchError("synthetic: n_users, n_items, n_ratings and rank must all be at least 1")
    if n_ratings > n_users * n_items:
        raise MfbenchError(f"synthetic: n_ratings={n_ratings:,} exceeds n_users*n_items={n_users * n_items:,}")
    # the result (16 bytes a rating with clean), each user's degree and the factors
    devices.ensure_memory(
        "cpu",
        16 * n_ratings + 8 * n_users + 4 * rank * (n_users + n_items),
        f"synthetic: n_ratings={n_ratings:,}, n_users={n_users:,}, n_items={n_items:,}",
        "ask for fewer (--data-param synthetic.n_ratings=N)",
    )
    rng = np.random.default_rng(seed)
    deg = _user_degrees(n_users, n_items, n_ratings, user_sigma, min_user_ratings, rng)
    cdf = np.cumsum(_popularity(n_items, item_sigma, rng))

    sd = np.sqrt(factor_std / np.sqrt(rank))  # var(p_u . q_i) = rank * sd^4 = factor_std^2
    P = rng.normal(0, sd, (n_users, rank)).astype(np.float32)
    Q = rng.normal(0, sd, (n_items, rank)).astype(np.float32)
    bu = rng.normal(0, bias_std, n_users).astype(np.float32)
    bi = rng.normal(0, bias_std, n_items).astype(np.float32)

    fill_seed = int(rng.integers(2**31))
    if device == "cpu":
        from ._synthetic_numba import fill_ratings

        users = np.empty(n_ratings, np.int32)
        items = np.empty(n_ratings, np.int32)
        values = np.empty(n_ratings, np.float32)
        clean = np.empty(n_ratings, np.float32)
        fill_ratings(
            deg, cdf, P, Q, bu, bi, mean, noise, step, scale[0], scale[1], fill_seed, users, items, values, clean
        )
    else:
        xp = devices.array_namespace(device)
        drawn = _fill_array(
            xp, deg, cdf, *(xp.asarray(a) for a in (P, Q, bu, bi)), mean, noise, step, scale[0], scale[1], fill_seed
        )
        users, items, values, clean = (devices.to_numpy(a) for a in drawn)
        del drawn
    ratings = Ratings(users, items, values, np.arange(n_users), np.arange(n_items), None, scale)
    truth = {"P": P, "Q": Q, "user_bias": bu, "item_bias": bi, "mu": np.float32(mean), "clean": clean}
    return ratings, truth


def _draw_items(xp: Any, rs: Any, cdf: Any, n: int) -> Any:
    """``n`` item indices drawn with probabilities ``diff(cdf)``."""
    x = rs.random_sample(n) * cdf[-1]
    return xp.minimum(xp.searchsorted(cdf, x, side="right"), len(cdf) - 1)


def _fill_array(
    xp: Any,
    deg: np.ndarray,
    cdf: np.ndarray,
    P: Any,
    Q: Any,
    bu: Any,
    bi: Any,
    mean: float,
    noise: float,
    step: float,
    low: float,
    high: float,
    seed: int,
    dense_share: float = 0.125,
    chunk: int = 1 << 24,
) -> tuple[Any, Any, Any, Any]:
    """``fill_ratings`` in array code: ``(users, items, values, clean)`` in user order, in ``xp``.

    As on the CPU, user ``u`` takes the first ``deg[u]`` distinct items of a stream drawn by
    popularity, here a stream of ``3 deg[u] + 16`` draws made at once, for groups of users of
    about ``chunk`` draws in all. Users whose stream falls short, and those who rate more than
    ``dense_share`` of the catalogue, take their items by exponential keys instead
    (``_exponential_keys``). Both are weighted sampling without replacement. Deterministic for
    ``seed`` on a given namespace.
    """
    n_users, n_items = len(deg), len(cdf)
    rs = xp.random.RandomState(seed)
    cdf_x, deg_x = xp.asarray(cdf), xp.asarray(deg)
    offsets = np.zeros(n_users + 1, np.int64)
    offsets[1:] = np.cumsum(deg)
    n = int(offsets[-1])
    offsets_x = xp.asarray(offsets)
    stream = np.where(deg > dense_share * n_items, 0, 3 * deg + 16)
    soff = np.zeros(n_users + 1, np.int64)
    soff[1:] = np.cumsum(stream)
    items = xp.empty(n, xp.int32)
    got = xp.zeros(n_users, xp.int64)  # distinct items found in each user's stream
    a = 0
    while a < n_users:
        b = min(n_users, max(a + 1, int(np.searchsorted(soff, soff[a] + chunk, side="right")) - 1))
        m = int(soff[b] - soff[a])
        if m:
            local = xp.asarray(soff[a + 1 : b + 1] - soff[a])
            su = xp.searchsorted(local, xp.arange(m, dtype=xp.int64), side="right")
            si = _draw_items(xp, rs, cdf_x, m)
            key = su * n_items + si
            order = xp.lexsort(xp.stack([xp.arange(m, dtype=xp.int64), key]))  # by pair, then by draw
            key = key[order]
            first = xp.ones(m, bool)
            first[1:] = key[1:] != key[:-1]
            keep = xp.sort(order[first])  # each pair's first draw, in stream order
            del key, order, first
            ku = su[keep]
            cnt = xp.bincount(ku, minlength=b - a)
            start = xp.zeros(b - a + 1, xp.int64)
            start[1:] = xp.cumsum(cnt)
            rank = xp.arange(len(keep), dtype=xp.int64) - start[ku]
            take = rank < deg_x[a:b][ku]
            items[offsets_x[a:b][ku[take]] + rank[take]] = si[keep[take]]
            got[a:b] = cnt
        a = b
    short = xp.flatnonzero(got < deg_x)
    if len(short):
        _exponential_keys(xp, rs, cdf_x, deg_x, offsets_x, short, items, chunk)
    users = xp.searchsorted(offsets_x[1:], xp.arange(n, dtype=xp.int64), side="right").astype(xp.int32)
    clean = xp.empty(n, xp.float32)
    values = xp.empty(n, xp.float32)
    for start in range(0, n, chunk):
        u, i = users[start : start + chunk], items[start : start + chunk]
        c = mean + bu[u] + bi[i] + (P[u] * Q[i]).sum(1)
        clean[start : start + chunk] = c
        v = xp.round((c + noise * rs.standard_normal(len(u))) / step) * step
        values[start : start + chunk] = xp.clip(v, low, high)
    return users, items, values, clean


def _exponential_keys(xp: Any, rs: Any, cdf: Any, deg: Any, offsets: Any, who: Any, items: Any, chunk: int) -> None:
    """Write the items of users ``who``: each takes the ``deg[u]`` items of smallest ``E_i / w_i``
    with ``E_i`` standard exponential (Efraimidis & Spirakis 2006), one dense row per user."""
    n_items = len(cdf)
    w = xp.diff(cdf, prepend=xp.zeros(1, cdf.dtype))
    rows = max(1, chunk // n_items)
    for start in range(0, len(who), rows):
        u = who[start : start + rows]
        d = deg[u]
        width = int(d.max())
        keys = rs.standard_exponential((len(u), n_items)) / w[None, :]
        best = xp.argsort(keys, axis=1)[:, :width].astype(xp.int32)
        col = xp.arange(width)[None, :]
        take = col < d[:, None]
        items[(offsets[u][:, None] + col)[take]] = best[take]


#: Presets of the shapes the literature benchmarks on (``--dataset synthetic-netflix``).
PRESETS = {
    "synthetic-ml20m": dict(
        n_users=138_493, n_items=26_744, n_ratings=20_000_263, min_user_ratings=20, step=0.5, scale=(0.5, 5.0)
    ),
    "synthetic-netflix": dict(n_users=480_189, n_items=17_770, n_ratings=100_480_507, min_user_ratings=1),
}


def load_synthetic(
    arg: str | None = None,
    data_dir: Path | None = None,
    n_users: int = 943,
    n_items: int = 1682,
    n_ratings: int = 100_000,
    rank: int = 10,
    noise: float = 0.5,
    seed: int = 0,
    device: str = "cpu",
) -> Dataset:
    """The ``synthetic`` dataset: ml-100k-sized by default; ``--data-param synthetic.KEY=VALUE``
    (``device=gpu`` draws it on the GPU)."""
    ratings, _ = generate(
        n_users=n_users, n_items=n_items, n_ratings=n_ratings, rank=rank, noise=noise, seed=seed, device=device
    )
    return Dataset("synthetic", ratings, licence="generated by mfbench; no restrictions")


def _preset_loader(name: str):
    shape = PRESETS[name]

    def load(
        arg: str | None = None,
        data_dir: Path | None = None,
        rank: int = 10,
        noise: float = 0.5,
        seed: int = 0,
        device: str = "cpu",
    ) -> Dataset:
        ratings, _ = generate(**shape, rank=rank, noise=noise, seed=seed, device=device)
        return Dataset(name, ratings, licence="generated by mfbench; no restrictions")

    load.__doc__ = (
        f"The {name} preset: {shape['n_users']:,} users x {shape['n_items']:,} items, {shape['n_ratings']:,} ratings."
    )
    return load


load_synthetic_ml20m = _preset_loader("synthetic-ml20m")
load_synthetic_netflix = _preset_loader("synthetic-netflix")
