import os
from pathlib import Path

import pytest

pytest.register_assert_rewrite("mfbench.testing")

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path | None:
    env = os.environ.get("MFBENCH_DATA_DIR")
    if env:
        return Path(env)
    local = REPO.parent / "shared" / "data"
    return local if local.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder with the MovieLens copies. Missing data fails in CI and skips elsewhere."""
    d = _data_dir()
    if d is None or not (d / "ml-100k" / "u.data").exists():
        msg = f"MovieLens copies not found (MFBENCH_DATA_DIR={os.environ.get('MFBENCH_DATA_DIR')!r})"
        if os.environ.get("CI"):
            pytest.fail(msg + "; CI must point MFBENCH_DATA_DIR at ../shared/data", pytrace=False)
        pytest.skip(msg)
    return d


@pytest.fixture(scope="session")
def ml100k(data_dir):
    from mfbench_datasets.movielens import load_ml100k

    return load_ml100k(None, data_dir)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never read or write the user's cache: MFBENCH_CACHE_DIR points at a fresh folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MFBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()
