import numpy as np
import pytest

from mfbench.errors import DataError, MfbenchError
from mfbench_datasets.files import load_file


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_with_header_finds_columns(tmp_path):
    p = write(tmp_path, "r.csv", "userId,movieId,rating,timestamp\n1,10,4.5,100\n2,10,3,200\n1,20,2,300\n")
    ds = load_file(str(p))
    r = ds.ratings
    assert len(r) == 3 and r.n_users == 2 and r.n_items == 2
    assert r.timestamps is not None and r.rating_scale == (2.0, 4.5)


def test_headerless_tsv_is_positional(tmp_path):
    p = write(tmp_path, "r.tsv", "1\t10\t4\n2\t10\t3\n")
    r = load_file(str(p)).ratings
    assert r.values.tolist() == [4.0, 3.0] and r.timestamps is None


def test_named_columns_and_text_ids(tmp_path):
    p = write(tmp_path, "r.csv", "who,what,stars\nalice,book,5\nbob,book,1\n")
    r = load_file(str(p), user="who", item="what", rating="stars").ratings
    assert list(r.user_ids) == ["alice", "bob"]


def test_non_numeric_rating_names_file_line_and_value(tmp_path):
    p = write(tmp_path, "bad.csv", "user,item,rating\n1,2,4\n3,4,five\n5,6,3\n")
    with pytest.raises(DataError) as err:
        load_file(str(p))
    msg = str(err.value)
    assert "bad.csv:3" in msg and "'five'" in msg and "rating" in msg


def test_wrong_field_count_names_the_line(tmp_path):
    p = write(tmp_path, "bad.tsv", "1\t2\t3\n4\t5\t6\t7\t8\n")
    with pytest.raises(DataError, match=r"bad.tsv:2: expected 3 fields, found 5"):
        load_file(str(p))


def test_missing_column_lists_the_header(tmp_path):
    p = write(tmp_path, "r.csv", "user,item,score\n1,2,3\n")
    with pytest.raises(DataError, match="no column 'stars'.*user, item, score"):
        load_file(str(p), rating="stars")


def test_unguessable_column_says_how_to_name_it(tmp_path):
    p = write(tmp_path, "r.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="--data-param file.user="):
        load_file(str(p))


def test_empty_file(tmp_path):
    p = write(tmp_path, "empty.csv", "")
    with pytest.raises(DataError, match="empty"):
        load_file(str(p))


def test_missing_file_and_missing_arg(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_file(str(tmp_path / "nope.csv"))
    with pytest.raises(MfbenchError, match="file:PATH"):
        load_file(None)


def test_duplicates_keep_latest_and_are_reported(tmp_path):
    p = write(tmp_path, "d.csv", "user,item,rating,timestamp\n1,1,5,300\n1,1,2,100\n2,1,4,1\n")
    ds = load_file(str(p))
    assert len(ds.ratings) == 2
    assert ds.ratings.values[ds.ratings.users == 0].tolist() == [5.0]
    assert ds.notes and "1 duplicate" in ds.notes[0]


def test_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow", reason="Parquet needs the parquet extra (pyarrow)")
    p = tmp_path / "r.parquet"
    pd.DataFrame({"user_id": [1, 2], "item_id": [5, 6], "rating": [3.0, 4.0]}).to_parquet(p)
    r = load_file(str(p)).ratings
    assert len(r) == 2 and r.values.dtype == np.float32
