"""The synthetic generator at scale: presets, distinct pairs, heavy users, MovieLens-like degrees."""

from __future__ import annotations

import numpy as np
import pytest

from mfbench.data import Dataset, _gini
from mfbench.plugins import get_registry
from mfbench_datasets.synthetic import PRESETS, generate


def test_presets_are_registered_with_the_published_shapes():
    reg = get_registry()
    assert (PRESETS["synthetic-netflix"]["n_users"], PRESETS["synthetic-netflix"]["n_items"],
            PRESETS["synthetic-netflix"]["n_ratings"]) == (480_189, 17_770, 100_480_507)
    assert (PRESETS["synthetic-ml20m"]["n_users"], PRESETS["synthetic-ml20m"]["n_items"],
            PRESETS["synthetic-ml20m"]["n_ratings"]) == (138_493, 26_744, 20_000_263)
    for name in PRESETS:
        assert reg.dataset(name).options == {"rank": 10, "noise": 0.5, "seed": 0}


def test_a_scaled_down_netflix_shape_has_distinct_pairs_and_exact_counts():
    shape = dict(PRESETS["synthetic-netflix"])
    shape.update(n_users=shape["n_users"] // 100, n_ratings=shape["n_ratings"] // 100)
    r, truth = generate(**shape, seed=3)
    assert len(r) == shape["n_ratings"]
    keys = r.pair_keys()
    assert len(np.unique(keys)) == len(keys)
    assert r.users.min() == 0 and np.all(np.diff(r.users) >= 0)  # written user by user
    assert set(np.unique(r.values)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    clean = truth["mu"] + truth["user_bias"][r.users] + truth["item_bias"][r.items] + \
        np.einsum("nk,nk->n", truth["P"][r.users], truth["Q"][r.items])
    np.testing.assert_allclose(truth["clean"], clean, rtol=1e-5, atol=1e-5)


def test_users_who_rate_almost_everything_get_distinct_items():
    r, _ = generate(n_users=30, n_items=50, n_ratings=1400, min_user_ratings=40, seed=1)
    counts = r.user_counts()
    assert counts.max() == 50 and len(np.unique(r.pair_keys())) == 1400


@pytest.mark.realdata
def test_degree_distributions_are_close_to_ml_latest_small(data_dir):
    """Same shape as ml-latest-small: ratings per user and per item have close quantiles and Gini."""
    from mfbench_datasets.movielens import load_ml_latest_small

    real = load_ml_latest_small(None, data_dir).ratings
    syn, _ = generate(n_users=real.n_users, n_items=real.n_items, n_ratings=len(real), seed=0)
    for counts in ("user_counts", "item_counts"):
        a = getattr(real, counts)()
        b = getattr(syn, counts)()
        a, b = a[a > 0], b[b > 0]
        assert abs(_gini(a) - _gini(b)) < 0.06, counts
        for q in (0.1, 0.5, 0.9):
            qa, qb = np.quantile(a, q), np.quantile(b, q)
            assert 0.5 <= (qb + 1) / (qa + 1) <= 2.0, (counts, q, qa, qb)
    assert Dataset("s", syn).describe()["ratings_per_user"]["min"] == 20
