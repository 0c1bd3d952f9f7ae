"""MovieLens loaders against the local copies (MFBENCH_DATA_DIR; CI points it at ../shared/data)."""

import numpy as np
import pytest

from mfbench.errors import DataError
from mfbench_datasets.movielens import load_ml100k, load_ml_latest_small, locate

pytestmark = pytest.mark.realdata


def test_ml100k_shape_and_folds(ml100k):
    r = ml100k.ratings
    assert (len(r), r.n_users, r.n_items) == (100_000, 943, 1682)
    assert r.rating_scale == (1.0, 5.0) and r.timestamps is not None
    assert len(ml100k.folds) == 5
    # the official test folds partition the ratings
    allidx = np.sort(np.concatenate(ml100k.folds))
    np.testing.assert_array_equal(allidx, np.arange(len(r)))
    assert all(len(f) == 20_000 for f in ml100k.folds)
    assert ml100k.item_meta["genres"].shape == (1682, 19)


def test_ml100k_fold1_matches_u1_base(ml100k, data_dir):
    import pandas as pd

    base = pd.read_csv(data_dir / "ml-100k" / "u1.base", sep="\t", header=None)
    r = ml100k.ratings
    train = np.setdiff1d(np.arange(len(r)), ml100k.folds[0])
    got = set(zip(r.user_ids[r.users[train]].tolist(), r.item_ids[r.items[train]].tolist()))
    assert got == set(zip(base[0].tolist(), base[1].tolist()))


def test_ml_latest_small(data_dir):
    ds = load_ml_latest_small(None, data_dir)
    r = ds.ratings
    assert (len(r), r.n_users, r.n_items) == (100_836, 610, 9724)
    assert r.rating_scale == (0.5, 5.0)
    assert "Comedy" in ds.item_meta["genre_names"]


def test_damaged_local_copy_is_refused(tmp_path, data_dir):
    import shutil

    copy = tmp_path / "ml-100k"
    shutil.copytree(data_dir / "ml-100k", copy)
    with open(copy / "u.data", "a") as fh:
        fh.write("1\t1\t5\t0\n")
    with pytest.raises(DataError, match="SHA-256"):
        locate("ml-100k", tmp_path)


def test_missing_local_copy_says_where_it_looked(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path)):
        load_ml100k(None, tmp_path)
