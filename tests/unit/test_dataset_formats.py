"""Every dataset parser on small fixture files written in the real formats (never the real data):
MovieLens .dat and .csv releases, the download path, Netflix Prize layouts, large and compressed
files with the binary cache."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mfbench.errors import DataError, MfbenchError
from mfbench_datasets import movielens
from mfbench_datasets._download import fetch_zip
from mfbench_datasets.files import load_file
from mfbench_datasets.netflix import load_netflix

ML1M_RATINGS = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n2::3408::4::978299000\n"
# ml-1m's movies.dat is Latin-1 (a title with an accented letter below)
ML1M_MOVIES = (
    "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::James and the Giant Peach (1996)::"
    "Animation|Children's|Musical\n3408::Erin Brockovich (2000)::Drama\n4000::Caf\xe9 (2001)::Comedy\n"
)
ML10M_RATINGS = "1::122::5::838985046\n1::185::4.5::838983525\n2::122::0.5::868245777\n"
ML10M_MOVIES = "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action|Crime|Thriller\n"
CSV_RATINGS = "userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,3.5,1112484676\n2,2,4.0,974820889\n"
CSV_MOVIES = (
    'movieId,title,genres\n2,Jumanji (1995),Adventure|Children|Fantasy\n29,"City of Lost Children, The (1995)",'
    "Adventure|Drama|Fantasy|Mystery|Sci-Fi\n30,Empty (2000),(no genres listed)\n"
)


def _release(tmp_path: Path, monkeypatch, name: str, files: dict[str, bytes], n_ratings: int) -> Path:
    rel = dataclasses.replace(movielens.RELEASES[name], n_ratings=n_ratings)
    monkeypatch.setitem(movielens.RELEASES, name, rel)
    folder = tmp_path / "data" / rel.folder
    folder.mkdir(parents=True)
    for fname, data in files.items():
        (folder / fname).write_bytes(data)
    return tmp_path / "data"


def test_ml1m_dat_format(tmp_path, monkeypatch):
    data = _release(
        tmp_path,
        monkeypatch,
        "ml-1m",
        {"ratings.dat": ML1M_RATINGS.encode(), "movies.dat": ML1M_MOVIES.encode("latin-1")},
        4,
    )
    ds = movielens.loader("ml-1m")(None, data)
    r = ds.ratings
    assert (len(r), r.n_users, r.n_items) == (4, 2, 3)
    assert r.item_ids.tolist() == [661, 1193, 3408] and r.rating_scale == (1.0, 5.0)
    assert r.timestamps.tolist()[0] == 978300760
    assert ds.item_meta["title"][1] == "One Flew Over the Cuckoo's Nest (1975)"
    names = ds.item_meta["genre_names"].tolist()
    assert ds.item_meta["genres"][0, names.index("Musical")] == 1


def test_ml10m_folder_and_half_stars(tmp_path, monkeypatch):
    data = _release(
        tmp_path, monkeypatch, "ml-10m", {"ratings.dat": ML10M_RATINGS.encode(), "movies.dat": ML10M_MOVIES.encode()}, 3
    )
    ds = movielens.loader("ml-10m")(None, data)  # found in data/ml-10M100K/
    assert ds.ratings.values.tolist() == [5.0, 4.5, 0.5]
    assert ds.item_meta["title"].tolist() == ["Boomerang (1992)", "Net, The (1995)"]


@pytest.mark.parametrize("name", ["ml-20m", "ml-25m", "ml-32m"])
def test_csv_releases(tmp_path, monkeypatch, name):
    data = _release(
        tmp_path, monkeypatch, name, {"ratings.csv": CSV_RATINGS.encode(), "movies.csv": CSV_MOVIES.encode()}, 3
    )
    ds = movielens.loader(name)(None, data, cache=False)
    assert ds.ratings.item_ids.tolist() == [2, 29]
    assert ds.item_meta["title"][1] == "City of Lost Children, The (1995)"
    assert "(no genres listed)" not in ds.item_meta["genre_names"].tolist()


def test_a_release_with_missing_ratings_is_refused(tmp_path, monkeypatch):
    data = _release(
        tmp_path,
        monkeypatch,
        "ml-20m",
        {"ratings.csv": CSV_RATINGS.encode(), "movies.csv": CSV_MOVIES.encode()},
        20_000_263,
    )
    with pytest.raises(DataError, match="3 ratings where ml-20m has 20,000,263"):
        movielens.loader("ml-20m")(None, data, cache=False)


def test_malformed_movies_dat_names_the_line(tmp_path, monkeypatch):
    data = _release(
        tmp_path,
        monkeypatch,
        "ml-1m",
        {"ratings.dat": ML1M_RATINGS.encode(), "movies.dat": b"1193::Title::Drama\nno separators here\n"},
        4,
    )
    with pytest.raises(DataError, match=r"movies.dat:2: expected MovieID::Title::Genres"):
        movielens.loader("ml-1m")(None, data)


# -- download -----------------------------------------------------------------------------------
class _Server:
    """A folder served over HTTP on loopback; the first ``fail`` requests get a 503."""

    def __init__(self, root: Path):
        import functools
        import http.server
        import threading

        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server name)
                server.requests += 1
                if server.fail > 0:
                    server.fail -= 1
                    self.send_error(503, "flaky")
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.requests, self.fail = 0, 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()
    srv = _Server(root)
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _zip(tmp_path: Path, folder: str, files: dict[str, str], server=None) -> tuple[str, dict[str, str]]:
    archive = tmp_path / "srv" / f"{folder}.zip"
    archive.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"{folder}/{name}", text)
    raw = archive.read_bytes()
    return f"{server.url}/{archive.name}", {
        "md5": hashlib.md5(raw).hexdigest(),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }


def test_download_checks_both_digests_and_unpacks(tmp_path, server):
    url, digests = _zip(tmp_path, "ml-1m", {"ratings.dat": ML1M_RATINGS}, server)
    target = tmp_path / "cache" / "ml-1m"
    sha = {"ratings.dat": hashlib.sha256(ML1M_RATINGS.encode()).hexdigest()}
    assert fetch_zip(url, digests, "ml-1m", target, sha) == target
    assert (target / "ratings.dat").read_text() == ML1M_RATINGS
    assert [p.name for p in target.parent.iterdir()] == ["ml-1m"]  # no temporary left behind


@pytest.mark.parametrize("alg", ["md5", "sha256"])
def test_a_wrong_checksum_deletes_the_download(tmp_path, server, monkeypatch, alg):
    from mfbench_datasets import _download

    monkeypatch.setattr(_download, "RETRIES", 0)  # pooch retries a damaged transfer too; once is enough here
    url, digests = _zip(tmp_path, "ml-1m", {"ratings.dat": ML1M_RATINGS}, server)
    digests[alg] = "0" * len(digests[alg])
    target = tmp_path / "cache" / "ml-1m"
    with pytest.raises(DataError, match=f"{alg.upper()} .* does not match .* the download was deleted"):
        fetch_zip(url, digests, "ml-1m", target, {})
    assert list(target.parent.iterdir()) == []  # nothing partial looks complete


def test_a_flaky_connection_is_retried(tmp_path, server):
    url, digests = _zip(tmp_path, "ml-1m", {"ratings.dat": ML1M_RATINGS}, server)
    server.fail = 1
    target = tmp_path / "cache" / "ml-1m"
    assert fetch_zip(url, digests, "ml-1m", target, {}) == target and server.requests == 2
    assert (target / "ratings.dat").read_text() == ML1M_RATINGS


def test_an_unreachable_server_says_how_to_do_without(tmp_path, server, monkeypatch):
    from mfbench_datasets import _download

    monkeypatch.setattr(_download, "RETRIES", 0)
    with pytest.raises(MfbenchError, match="cannot download .*--data-dir"):
        fetch_zip(f"{server.url}/missing.zip", {"md5": "0" * 32}, "ml-1m", tmp_path / "cache" / "ml-1m", {})
    assert list((tmp_path / "cache").iterdir()) == []


def test_an_unreadable_archive_is_reported(tmp_path, server):
    bad = tmp_path / "srv" / "ml-1m.zip"
    bad.write_bytes(b"this is not a zip archive")
    digest = {"md5": hashlib.md5(bad.read_bytes()).hexdigest()}
    with pytest.raises(DataError, match="not a readable zip archive"):
        fetch_zip(f"{server.url}/ml-1m.zip", digest, "ml-1m", tmp_path / "cache" / "ml-1m", {})
    assert not (tmp_path / "cache" / "ml-1m").exists()


def test_the_cache_is_the_platforms_and_an_old_one_moves_once(tmp_path, monkeypatch):
    from mfbench_datasets import _download

    monkeypatch.delenv("MFBENCH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("platformdirs.user_cache_dir", lambda *a, **k: str(tmp_path / "platform" / "mfbench"))
    old = tmp_path / "xdg" / "mfbench" / "ml-1m"
    old.mkdir(parents=True)
    (old / "ratings.dat").write_text(ML1M_RATINGS)
    assert _download.cache_dir() == tmp_path / "platform" / "mfbench"
    assert (tmp_path / "platform" / "mfbench" / "ml-1m" / "ratings.dat").read_text() == ML1M_RATINGS
    assert not (tmp_path / "xdg" / "mfbench").exists()
    assert _download.cache_dir() == tmp_path / "platform" / "mfbench"  # nothing left to move


def test_locate_downloads_into_the_cache(tmp_path, monkeypatch, server):
    url, digests = _zip(
        tmp_path, "ml-1m", {"ratings.dat": ML1M_RATINGS, "movies.dat": "1193::A (1975)::Drama\n"}, server
    )
    monkeypatch.setattr(movielens, "BASE_URL", url.rsplit("/", 1)[0])
    monkeypatch.setitem(
        movielens.RELEASES, "ml-1m", dataclasses.replace(movielens.RELEASES["ml-1m"], n_ratings=4, **digests)
    )
    monkeypatch.setenv("MFBENCH_CACHE_DIR", str(tmp_path / "cache"))
    ds = movielens.loader("ml-1m")(None, None)
    assert len(ds.ratings) == 4 and (tmp_path / "cache" / "ml-1m" / "ratings.dat").exists()


# -- Netflix Prize ----------------------------------------------------------------------------
NETFLIX_1 = "1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n2:\n1488844,4,2004-01-31\n"
NETFLIX_2 = "3:\r\n5,1,1999-12-31\r\n"


def test_netflix_combined_files(tmp_path):
    (tmp_path / "combined_data_1.txt").write_text(NETFLIX_1)
    (tmp_path / "combined_data_2.txt").write_bytes(NETFLIX_2.encode())
    (tmp_path / "movie_titles.csv").write_bytes(b"1,2003,Dinosaur Planet\n2,NULL,Isle of Man, TT\n3,1999,Caf\xe9\n")
    ds = load_netflix(str(tmp_path))
    r = ds.ratings
    assert r.user_ids[r.users].tolist() == [1488844, 822109, 1488844, 5]
    assert r.item_ids[r.items].tolist() == [1, 1, 2, 3]
    assert r.values.tolist() == [3, 5, 4, 1]
    assert r.timestamps.tolist() == [1125964800, 1115942400, 1075507200, 946598400]  # UTC midnights
    assert ds.item_meta["title"].tolist() == ["Dinosaur Planet", "Isle of Man, TT", "Café"]
    assert ds.item_meta["year"].tolist() == [2003, 0, 1999]


def test_netflix_training_set_layout_equals_combined(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "combined_data_1.txt").write_text(NETFLIX_1)
    ts = tmp_path / "b" / "training_set"
    ts.mkdir(parents=True)
    (ts / "mv_0000001.txt").write_text("1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n")
    (ts / "mv_0000002.txt").write_text("2:\n1488844,4,2004-01-31\n")
    a, b = load_netflix(str(tmp_path / "a")).ratings, load_netflix(str(tmp_path / "b")).ratings
    for field in ("users", "items", "values", "timestamps", "user_ids", "item_ids"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


@pytest.mark.parametrize(
    "text, line",
    [
        ("1:\n1488844,3,2005-09-06\n822109,five,2005-05-13\n", 3),
        ("1488844,3,2005-09-06\n", 1),  # no MovieID: line first
        ("1:\n1488844,3,05-09-06\n", 2),
    ],
)
def test_netflix_bad_line_is_named(tmp_path, text, line):
    (tmp_path / "combined_data_1.txt").write_text(text)
    with pytest.raises(DataError, match=rf"combined_data_1.txt:{line}: expected 'MovieID:'"):
        load_netflix(str(tmp_path), cache=False)


def test_netflix_folder_without_files(tmp_path):
    with pytest.raises(DataError, match="no Netflix Prize rating files"):
        load_netflix(str(tmp_path))


# -- large and compressed files, binary cache --------------------------------------------------
def _big_csv(n: int, seed: int = 0) -> tuple[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    u = rng.integers(1, 500, n)
    i = rng.integers(1, 300, n) * 10
    r = rng.integers(1, 11, n) / 2
    t = np.arange(n) + 1_000_000
    rows = "".join(f"{a},{b},{c:g},{d}\n" for a, b, c, d in zip(u, i, r, t))
    return "userId,movieId,rating,timestamp\n" + rows, np.stack([u, i, r, t], 1)


def test_chunked_parse_keeps_every_row_and_the_latest_duplicate(tmp_path):
    from mfbench_datasets._tables import read_ratings

    text, rows = _big_csv(5000)
    path = tmp_path / "r.csv"
    path.write_text(text)
    whole, dup_a = read_ratings(
        path, sep=",", header=True, user="userId", item="movieId", rating="rating", timestamp="timestamp"
    )
    chunked, dup_b = read_ratings(
        path, sep=",", header=True, user="userId", item="movieId", rating="rating", timestamp="timestamp", chunksize=333
    )
    assert dup_a == dup_b > 0
    for field in ("users", "items", "values", "timestamps"):
        np.testing.assert_array_equal(getattr(whole, field), getattr(chunked, field))
    # the rule: a duplicated pair keeps its latest rating (timestamps increase down the file)
    latest = {}
    for u, i, r, _ in rows:
        latest[(u, i)] = r
    got = dict(
        zip(zip(whole.user_ids[whole.users].tolist(), whole.item_ids[whole.items].tolist()), whole.values.tolist())
    )
    assert got == latest and len(whole) + dup_a == len(rows)


def test_bad_value_in_a_later_chunk_names_its_line(tmp_path):
    from mfbench_datasets._tables import read_ratings

    text, _ = _big_csv(2000)
    lines = text.splitlines()
    lines[1500] = "7,20,lots,1234"
    path = tmp_path / "r.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"r.csv:1501: rating 'lots' in column 'rating' is not a number"):
        read_ratings(path, sep=",", header=True, user="userId", item="movieId", rating="rating", chunksize=256)


def test_gzip_and_zstd_files(tmp_path):
    text, _ = _big_csv(300)
    plain = tmp_path / "r.csv"
    plain.write_text(text)
    with gzip.open(tmp_path / "r.csv.gz", "wt") as fh:
        fh.write(text)
    import zstandard

    (tmp_path / "r.csv.zst").write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    base = load_file(str(plain), cache=False).ratings
    for name in ("r.csv.gz", "r.csv.zst"):
        r = load_file(str(tmp_path / name), cache=False).ratings
        np.testing.assert_array_equal(r.values, base.values)
        np.testing.assert_array_equal(r.user_ids[r.users], base.user_ids[base.users])


def test_binary_cache_hits_by_content_and_misses_after_an_edit(tmp_path):
    text, _ = _big_csv(400)
    path = tmp_path / "r.csv"
    path.write_text(text)
    first = load_file(str(path))
    second = load_file(str(path))
    assert not any("binary cache" in n for n in first.notes)
    assert any("binary cache" in n for n in second.notes)
    for field in ("users", "items", "values", "timestamps", "user_ids", "item_ids"):
        np.testing.assert_array_equal(getattr(first.ratings, field), getattr(second.ratings, field))
    copy = tmp_path / "copy.csv"  # the same bytes under another name: still a hit
    copy.write_text(text)
    assert any("binary cache" in n for n in load_file(str(copy)).notes)
    path.write_text(text + "9999,10,5,1\n")
    edited = load_file(str(path))
    assert not any("binary cache" in n for n in edited.notes) and len(edited.ratings) > len(first.ratings) - 1


@pytest.mark.parametrize("damage", ["truncated", "overwritten", "emptied"])
def test_a_damaged_cache_entry_is_rebuilt_with_a_note(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("MFBENCH_CACHE_DIR", str(tmp_path / "cache"))
    text, _ = _big_csv(400)
    path = tmp_path / "r.csv"
    path.write_text(text)
    first = load_file(str(path))
    (entry,) = (tmp_path / "cache" / "ratings").glob("*.npz")
    data = entry.read_bytes()
    entry.write_bytes({"truncated": data[: len(data) // 2], "overwritten": b"\0" * len(data), "emptied": b""}[damage])
    again = load_file(str(path))
    note = next(n for n in again.notes if "was damaged" in n)
    assert note.startswith(str(entry)) and note.endswith(": parsed again and rewritten")
    np.testing.assert_array_equal(again.ratings.values, first.ratings.values)
    assert any("binary cache" in n for n in load_file(str(path)).notes)  # rewritten: a hit again


def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: the file is empty"):
        load_file(str(tmp_path / "empty.csv"))
    (tmp_path / "head.csv").write_text("userId,movieId,rating\n")
    with pytest.raises(DataError, match="head.csv: no ratings"):
        load_file(str(tmp_path / "head.csv"))
