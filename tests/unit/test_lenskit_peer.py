"""The LensKit adapter: a clear message without LensKit; a working peer with it."""

import sys

import numpy as np
import pytest

from mfbench.errors import MfbenchError
from mfbench_datasets.synthetic import generate
from mfbench_plugins.peers.lenskit import LenskitALS


@pytest.fixture(scope="module")
def small():
    r, _ = generate(n_users=100, n_items=60, n_ratings=3000, seed=1)
    return r


def test_without_lenskit_the_message_says_what_to_install(monkeypatch, small):
    monkeypatch.setitem(sys.modules, "lenskit", None)
    with pytest.raises(MfbenchError, match=r'pip install "mfbench\[lenskit\]"'):
        LenskitALS().prepare(small)


def test_lenskit_als_trains_epoch_by_epoch(small):
    pytest.importorskip("lenskit", reason="LensKit is not installed (the lenskit extra, kept out of the test extras)")
    algo = LenskitALS(k=5, epochs=3)
    algo.prepare(small)
    assert len(list(algo.fit(small))) == 3
    pred = algo.predict(small.users, small.items)
    assert np.isfinite(pred).all() and np.sqrt(np.mean((pred - small.values) ** 2)) < 1.0
