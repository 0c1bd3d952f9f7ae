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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mfbench.data import Dataset, Ratings
from mfbench.errors import MfbenchError

from ._synthetic_numba import fill_ratings

__all__ = ["generate", "load_synthetic", "load_synthetic_ml20m", "load_synthetic_netflix", "PRESETS"]


def _popularity(n: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Log-normal weights ``exp(sigma * N(0, 1))``, normalized; ``sigma=0`` is uniform."""
    w = np.exp(sigma * rng.standard_normal(n))
    return w / w.sum()


def _user_degrees(n_users: int, n_items: int, n_ratings: int, sigma: float, floor: int,
                  rng: np.random.Generator) -> np.ndarray:
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
) -> tuple[Ratings, dict[str, np.ndarray]]:
    """Ratings and the planted truth (``P``, ``Q``, ``user_bias``, ``item_bias``, ``mu``, and the
    noiseless ratings ``clean``).

    A compiled loop writes the ratings user by user straight into the result's arrays, so the
    memory it needs is the result's (16 bytes a rating with ``clean``) plus one mark per item.
    """
    if min(n_users, n_items, n_ratings, rank) < 1:
        raise MfbenchError("synthetic: n_users, n_items, n_ratings and rank must all be at least 1")
    rng = np.random.default_rng(seed)
    deg = _user_degrees(n_users, n_items, n_ratings, user_sigma, min_user_ratings, rng)
    cdf = np.cumsum(_popularity(n_items, item_sigma, rng))

    sd = np.sqrt(factor_std / np.sqrt(rank))  # var(p_u . q_i) = rank * sd^4 = factor_std^2
    P = rng.normal(0, sd, (n_users, rank)).astype(np.float32)
    Q = rng.normal(0, sd, (n_items, rank)).astype(np.float32)
    bu = rng.normal(0, bias_std, n_users).astype(np.float32)
    bi = rng.normal(0, bias_std, n_items).astype(np.float32)

    users = np.empty(n_ratings, np.int32)
    items = np.empty(n_ratings, np.int32)
    values = np.empty(n_ratings, np.float32)
    clean = np.empty(n_ratings, np.float32)
    fill_ratings(deg, cdf, P, Q, bu, bi, mean, noise, step, scale[0], scale[1], int(rng.integers(2**31)),
                 users, items, values, clean)
    ratings = Ratings(users, items, values, np.arange(n_users), np.arange(n_items), None, scale)
    truth = {"P": P, "Q": Q, "user_bias": bu, "item_bias": bi, "mu": np.float32(mean), "clean": clean}
    return ratings, truth


#: Presets of the shapes the literature benchmarks on (``--dataset synthetic-netflix``).
PRESETS = {
    "synthetic-ml20m": dict(n_users=138_493, n_items=26_744, n_ratings=20_000_263, min_user_ratings=20, step=0.5,
                            scale=(0.5, 5.0)),
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
) -> Dataset:
    """The ``synthetic`` dataset: ml-100k-sized by default; ``--data-param synthetic.KEY=VALUE``."""
    ratings, _ = generate(n_users=n_users, n_items=n_items, n_ratings=n_ratings, rank=rank, noise=noise, seed=seed)
    return Dataset("synthetic", ratings, licence="generated by mfbench; no restrictions")


def _preset_loader(name: str):
    shape = PRESETS[name]

    def load(arg: str | None = None, data_dir: Path | None = None, rank: int = 10, noise: float = 0.5,
             seed: int = 0) -> Dataset:
        ratings, _ = generate(**shape, rank=rank, noise=noise, seed=seed)
        return Dataset(name, ratings, licence="generated by mfbench; no restrictions")

    load.__doc__ = f"The {name} preset: {shape['n_users']:,} users x {shape['n_items']:,} items, {shape['n_ratings']:,} ratings."
    return load


load_synthetic_ml20m = _preset_loader("synthetic-ml20m")
load_synthetic_netflix = _preset_loader("synthetic-netflix")
