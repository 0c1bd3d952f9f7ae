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


def test_byte_order_mark_does_not_break_the_header(tmp_path):
    """Spreadsheet programs write a UTF-8 byte-order mark; the header's first name once kept it
    and the user column was not found."""
    p = tmp_path / "excel.csv"
    p.write_bytes("\ufeffuserId,movieId,rating\n1,10,4\n2,10,3\n".encode())
    r = load_file(str(p), cache=False).ratings
    assert len(r) == 2 and r.user_ids.tolist() == [1, 2]


def test_ids_beyond_int64_stay_text_never_wrapped(tmp_path):
    """``99999999999999999999`` was wrapped into int64 with a RuntimeWarning: two distinct users
    could share a code. Ids that are not plain integers within int64 are kept as text."""
    p = write(tmp_path, "big.csv", "user,item,rating\n99999999999999999999,1,3\n-8,1,4\n18446744073709551615,2,5\n")
    r = load_file(str(p), cache=False).ratings
    assert sorted(r.user_ids.tolist()) == sorted(["99999999999999999999", "-8", "18446744073709551615"])
    p = write(tmp_path, "fit.csv", "user,item,rating\n9223372036854775807,1,3\n-9223372036854775808,1,4\n")
    assert load_file(str(p), cache=False).ratings.user_ids.tolist() == [-9223372036854775808, 9223372036854775807]
    p = write(tmp_path, "frac.csv", "user,item,rating\n1.0,1,3\n1,1,4\n1e3,2,5\n")
    assert sorted(load_file(str(p), cache=False).ratings.user_ids.tolist()) == ["1", "1.0", "1e3"]


def test_declared_scale_is_enforced_with_file_line_and_value(tmp_path):
    p = write(tmp_path, "r.csv", "user,item,rating\n1,1,4\n\n2,1,7.5\n3,2,1\n")
    with pytest.raises(DataError, match=r"r.csv:4: rating 7.5 is outside the declared scale 1 .. 5"):
        load_file(str(p), scale="1,5", cache=False)
    ds = load_file(str(p), scale="0,10", cache=False)
    assert ds.ratings.rating_scale == (0.0, 10.0) and not any("inferred" in n for n in ds.notes)
    with pytest.raises(MfbenchError, match="file.scale: expected LOW,HIGH"):
        load_file(str(p), scale="5,1", cache=False)


def test_inferred_scale_is_noted(tmp_path):
    ds = load_file(str(write(tmp_path, "r.csv", "user,item,rating\n1,1,4\n2,1,2\n")), cache=False)
    assert ds.ratings.rating_scale == (2.0, 4.0)
    assert any("rating scale 2 .. 4 inferred" in n and "file.scale=LOW,HIGH" in n for n in ds.notes)


def test_semicolon_separated_csv_is_detected(tmp_path):
    """A ``.csv`` written by a spreadsheet in a locale with decimal commas uses ``;``: it was read
    with ``,`` and failed with "cannot tell which column holds the user"."""
    p = write(tmp_path, "r.csv", "userId;movieId;rating\n1;10;4\n2;10;3\n")
    assert load_file(str(p), cache=False).ratings.values.tolist() == [4.0, 3.0]
    p = write(tmp_path, "comma.csv", "userId;movieId;rating\n1;10;4,5\n")
    with pytest.raises(DataError, match=r"comma.csv:2: rating '4,5'.*decimal commas"):
        load_file(str(p), cache=False)
    p = write(tmp_path, "one.csv", "a b\n1 2\n")
    with pytest.raises(DataError, match=r"file.sep="):
        load_file(str(p), cache=False)


def test_binary_and_misnamed_files_are_named_for_what_they_are(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match="not a text ratings file"):
        load_file(str(p), cache=False)
    p.write_bytes("user,item,rating\n1,2,3\n".encode("utf-16"))
    with pytest.raises(DataError, match="UTF-16"):
        load_file(str(p), cache=False)
    import gzip

    p.write_bytes(gzip.compress(b"user,item,rating\n1,2,3\n"))
    with pytest.raises(DataError, match=r"gzip-compressed.*\.gz"):
        load_file(str(p), cache=False)
    p.write_bytes("user,item,rating\nJos\xe9,2,3\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"r.csv:2: not UTF-8 text"):
        load_file(str(p), cache=False)


def test_a_quote_left_open_is_an_error_not_lost_lines(tmp_path):
    p = write(tmp_path, "q.csv", 'user,item,rating,comment\n1,2,3,fine\n2,2,4,"open\n3,2,5,x\n4,2,1,y\n')
    with pytest.raises(DataError, match=r"q.csv:3: a quoted field starts on this line"):
        load_file(str(p), cache=False)
