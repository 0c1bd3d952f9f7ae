"""Property test of the ``file:`` loader: for any bytes it returns a dataset or raises one
``MfbenchError`` (never another exception), and a dataset holds one rating per data line of the
file, less the duplicates its notes count."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfbench.errors import MfbenchError
from mfbench_datasets.files import load_file

NUMBERS = st.integers(-3, 40).map(str)
FIELDS = st.one_of(
    NUMBERS,
    NUMBERS,
    NUMBERS,
    NUMBERS,
    NUMBERS,
    NUMBERS,  # mostly numbers, so that many files load
    st.sampled_from(
        [
            "",
            "a",
            "b7",
            "4.5",
            "1e3",
            "1.0",
            '"',
            '"x"',
            '"1"',
            " ",
            "nan",
            "inf",
            "-",
            "3,5",
            "\ufeff",
            "é",
            "99999999999999999999",
            "18446744073709551615",
            "user",
            "rating",
            "#",
        ]
    ),
    st.text(max_size=3),
)
SEPARATORS = st.sampled_from([",", ";", "\t", "::", " ", "|"])
NEWLINES = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def text_files(draw) -> str:
    sep, newline = draw(SEPARATORS), draw(NEWLINES)
    width = draw(st.sampled_from([3, 3, 3, 4, 4, 1, 2, 5]))
    lines = draw(st.lists(st.lists(FIELDS, min_size=width, max_size=width + draw(st.integers(0, 1))), max_size=8))
    head = draw(
        st.sampled_from(["", "user,item,rating", "userId;movieId;rating;timestamp", "\ufeffuser\titem\trating"])
    )
    body = [sep.join(fields) for fields in lines]
    return newline.join(([head] if head else []) + body) + draw(st.sampled_from(["", newline]))


TEXT = text_files()
CONTENT = st.one_of(
    st.binary(max_size=200),
    TEXT.map(lambda t: t.encode("utf-8")),
    TEXT.map(lambda t: t.encode("utf-8")),
    TEXT.map(lambda t: t.encode("utf-8")),
    TEXT.map(lambda t: t.encode("latin-1", errors="replace")),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    content=CONTENT,
    name=st.sampled_from(["r.csv", "r.tsv", "r.dat", "r.txt"]),
    header=st.sampled_from([None, True, False]),
)
def test_any_bytes_give_a_dataset_or_one_mfbench_error(tmp_path_factory, content, name, header):
    path = tmp_path_factory.mktemp("prop") / name
    path.write_bytes(content)
    try:
        ds = load_file(str(path), header=header, cache=False)
    except MfbenchError:
        return
    text = content.decode("utf-8-sig")
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    dup = next((int(m.group(1)) for n in ds.notes if (m := re.match(r"(\d+) duplicate", n))), 0)
    rows = len(ds.ratings) + dup
    if header is None:
        assert rows in (len(lines), len(lines) - 1), (rows, lines)
    else:
        assert rows == len(lines) - int(header), (rows, lines)
    assert len(ds.ratings) > 0
