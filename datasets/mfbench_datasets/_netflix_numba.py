"""A compiled parser of the Netflix Prize rating files (``MovieID:`` lines, then
``CustomerID,Rating,YYYY-MM-DD`` lines)."""

from __future__ import annotations

import numba


@numba.njit(cache=True)
def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@numba.njit(cache=True)
def _int(buf, j, end):
    """``(value, next position, digits read)`` of the unsigned integer at ``buf[j]``."""
    v = 0
    start = j
    while j < end and 48 <= buf[j] <= 57:
        v = v * 10 + (buf[j] - 48)
        j += 1
    return v, j, j - start


@numba.njit(cache=True)
def parse(buf, users, items, values, seconds, pos, movie):
    """Parse ``buf`` into the arrays from index ``pos``; ``movie`` carries the current movie id
    across files (-1 at the start of a file). Returns ``(next pos, movie, bad line, bad offset)``;
    ``bad line`` is 0 when the whole buffer parsed."""
    end = len(buf)
    i = 0
    line = 1
    while i < end:
        j = i
        if buf[j] == 10 or buf[j] == 13:  # blank line
            while j < end and (buf[j] == 10 or buf[j] == 13):
                if buf[j] == 10:
                    line += 1
                j += 1
            i = j
            continue
        a, j, n = _int(buf, j, end)
        if n == 0 or j >= end:
            return pos, movie, line, i
        if buf[j] == 58:  # "MovieID:"
            movie = a
            j += 1
        elif buf[j] == 44 and movie >= 0:  # "CustomerID,Rating,YYYY-MM-DD"
            r, j, n = _int(buf, j + 1, end)
            if n == 0 or j >= end or buf[j] != 44:
                return pos, movie, line, i
            y, j, n1 = _int(buf, j + 1, end)
            if n1 != 4 or j >= end or buf[j] != 45:
                return pos, movie, line, i
            mo, j, n2 = _int(buf, j + 1, end)
            if n2 == 0 or j >= end or buf[j] != 45:
                return pos, movie, line, i
            d, j, n3 = _int(buf, j + 1, end)
            if n3 == 0 or mo < 1 or mo > 12 or d < 1 or d > 31:
                return pos, movie, line, i
            users[pos] = a
            items[pos] = movie
            values[pos] = r
            seconds[pos] = _days_from_civil(y, mo, d) * 86400
            pos += 1
        else:
            return pos, movie, line, i
        if j < end and buf[j] == 13:
            j += 1
        if j < end and buf[j] != 10:
            return pos, movie, line, i
        i = j + 1
        line += 1
    return pos, movie, 0, 0
