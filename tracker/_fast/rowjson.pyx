# cython: language_level=3, boundscheck=False, wraparound=False
"""A log record's JSON rows straight into column buffers (compiled; twin: rowjson_py.py).

`JsonRows(table).extend(buffer, payload)` means `buffer.extend(orjson.loads(payload))`
(see the twin for the contract) without a dict per row or an object per value:
the payload is scanned once and each value is written into its column.

The scan only takes what it can judge exactly: a JSON array of objects whose
keys are plain text, with values that are plain strings, integers of up to 18
digits, floats (for float columns), true/false/null, or, for json columns and
unknown keys, any JSON. A value it cannot judge alone (an escape in a string,
a float or a long integer where the text is not the stored form, ...) is
decoded by orjson on its own and given to `ColumnData.put`, as `extend` would.
Anything else (a duplicate column, a rejected value, invalid JSON, deep nesting)
makes the whole record start over on the twin's path: the rows appended so far
are dropped (`num_rows` goes back; see columns.pyx) and the record is decoded
with orjson and appended with `extend`, which then decides and words the errors.
"""

import orjson

from libc.math cimport isfinite
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.string cimport memcmp

from tracker._fast.columns cimport (
    COERCE_BOOL,
    COERCE_FLOAT,
    COERCE_INT,
    COERCE_JSON,
    COERCE_STR,
    COERCE_TS,
    COERCE_UUID,
    ColumnData,
    TableBuffer,
)

cdef extern from "Python.h":
    ctypedef struct PyObject
    double PyOS_string_to_double(const char* s, char** endptr, PyObject* overflow) except? -1.0

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError

cdef enum:
    MAX_COLUMNS = 64  # a row's columns are tracked in one 64-bit mask
    SLOTS = 256  # key hash table (power of two, > 2 * MAX_COLUMNS)
    MAX_DEPTH = 32  # deeper values are left to orjson
    MAX_KEYS = 32  # objects with more keys are not checked for duplicates: not "plain"
    MAX_INT_DIGITS = 18  # always within int64

# Flags a scanned value collects. PLAIN: its text is what orjson.dumps(orjson.loads(text))
# gives back (no whitespace, escapes, floats, "-0", long integers or duplicate keys).
# CHECK: only orjson can tell whether it is valid (escapes, floats, long integers).
cdef enum:
    NOT_PLAIN = 1
    CHECK = 2

cdef int BAIL = -1  # scan results: a position, or BAIL

# Bytes a string scan stops at: 1 for '"', '\\', control characters and non-ASCII.
cdef unsigned char STOP[256]
for _i in range(256):
    STOP[_i] = 1 if _i < 32 or _i >= 128 or _i == 34 or _i == 92 else 0
ROWS_AHEAD = 256  # columns get room for this many more rows at a time


cdef inline Py_ssize_t _ws(const unsigned char* s, Py_ssize_t pos) noexcept nogil:
    while s[pos] == 32 or s[pos] == 10 or s[pos] == 13 or s[pos] == 9:
        pos += 1
    return pos


cdef inline int _utf8_tail(const unsigned char* s, Py_ssize_t pos) noexcept nogil:
    """Length of the valid multi-byte UTF-8 sequence at s[pos] (lead >= 0x80), or 0."""
    cdef unsigned char c = s[pos], c1 = s[pos + 1]
    if 0xC2 <= c <= 0xDF:
        return 2 if (c1 & 0xC0) == 0x80 else 0
    if 0xE0 <= c <= 0xEF:
        if (c1 & 0xC0) != 0x80 or (s[pos + 2] & 0xC0) != 0x80:
            return 0
        if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 >= 0xA0):  # overlong, surrogate
            return 0
        return 3
    if 0xF0 <= c <= 0xF4:
        if (c1 & 0xC0) != 0x80 or (s[pos + 2] & 0xC0) != 0x80 or (s[pos + 3] & 0xC0) != 0x80:
            return 0
        if (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 >= 0x90):  # overlong, > U+10FFFF
            return 0
        return 4
    return 0


cdef Py_ssize_t _string(const unsigned char* s, Py_ssize_t pos, int* flags) noexcept nogil:
    """The end of the string whose quote is at s[pos], or BAIL. An escape sets
    NOT_PLAIN | CHECK; raw control characters and invalid UTF-8 are BAIL.
    (Every payload is a bytes object, so s[n] is a NUL: scans stop there.)"""
    cdef unsigned char c
    cdef int k
    pos += 1
    while True:
        while not STOP[s[pos]]:
            pos += 1
        c = s[pos]
        if c == 34:  # '"'
            return pos + 1
        if c == 92:  # '\\': skip the escaped character; orjson judges the escape
            flags[0] |= NOT_PLAIN | CHECK
            if s[pos + 1] < 32:
                return BAIL
            pos += 2
        elif c < 32:
            return BAIL
        else:
            k = _utf8_tail(s, pos)
            if k == 0:
                return BAIL
            pos += k


cdef Py_ssize_t _number(const unsigned char* s, Py_ssize_t pos, int* is_int) noexcept nogil:
    """The end of the JSON number at s[pos], or BAIL; `is_int`: no fraction or exponent."""
    is_int[0] = 1
    if s[pos] == 45:  # '-'
        pos += 1
    if s[pos] == 48:  # '0'
        pos += 1
    elif 49 <= s[pos] <= 57:
        while 48 <= s[pos] <= 57:
            pos += 1
    else:
        return BAIL
    if s[pos] == 46:  # '.'
        is_int[0] = 0
        pos += 1
        if not 48 <= s[pos] <= 57:
            return BAIL
        while 48 <= s[pos] <= 57:
            pos += 1
    if s[pos] == 101 or s[pos] == 69:  # 'e' 'E'
        is_int[0] = 0
        pos += 1
        if s[pos] == 43 or s[pos] == 45:
            pos += 1
        if not 48 <= s[pos] <= 57:
            return BAIL
        while 48 <= s[pos] <= 57:
            pos += 1
    return pos


cdef inline bint _small_int(const unsigned char* s, Py_ssize_t start, Py_ssize_t end,
                            int64_t* out) noexcept nogil:
    """Integer text (grammar checked) of at most MAX_INT_DIGITS digits, as a number."""
    cdef bint negative = s[start] == 45
    cdef int64_t value = 0
    if negative:
        start += 1
    if end - start > MAX_INT_DIGITS:
        return False
    while start < end:
        value = value * 10 + (s[start] - 48)
        start += 1
    out[0] = -value if negative else value
    return True


cdef inline bint _word(const unsigned char* s, const char* word, Py_ssize_t size) noexcept nogil:
    """s starts with `word`; byte by byte, so it never reads past the payload's NUL."""
    cdef Py_ssize_t i
    for i in range(size):
        if s[i] != <unsigned char>word[i]:
            return False
    return True


cdef Py_ssize_t _literal(const unsigned char* s, Py_ssize_t pos) noexcept nogil:
    """The end of true/false/null at s[pos], or BAIL."""
    if s[pos] == 116 and _word(s + pos, b"true", 4):
        return pos + 4
    if s[pos] == 102 and _word(s + pos, b"false", 5):
        return pos + 5
    if s[pos] == 110 and _word(s + pos, b"null", 4):
        return pos + 4
    return BAIL


cdef Py_ssize_t _value(const unsigned char* s, Py_ssize_t pos, int depth, int* flags) noexcept nogil:
    """The end of any JSON value at s[pos] (no whitespace before it), or BAIL."""
    cdef unsigned char c = s[pos]
    cdef int is_int = 1
    cdef Py_ssize_t start = pos
    cdef int64_t ignored
    if c == 34:
        return _string(s, pos, flags)
    if c == 123 or c == 91:  # '{' '['
        if depth >= MAX_DEPTH:
            return BAIL
        return _object(s, pos, depth + 1, flags) if c == 123 else _array(s, pos, depth + 1, flags)
    if c == 45 or 48 <= c <= 57:
        pos = _number(s, pos, &is_int)
        if pos == BAIL:
            return BAIL
        if not is_int or not _small_int(s, start, pos, &ignored):
            flags[0] |= NOT_PLAIN | CHECK  # orjson may refuse it (infinity) or reformat it
        elif s[start] == 45 and s[start + 1] == 48:  # "-0" comes back as "0"
            flags[0] |= NOT_PLAIN
        return pos
    return _literal(s, pos)


cdef Py_ssize_t _array(const unsigned char* s, Py_ssize_t pos, int depth, int* flags) noexcept nogil:
    cdef Py_ssize_t after
    after = _ws(s, pos + 1)
    if after != pos + 1:
        flags[0] |= NOT_PLAIN
    pos = after
    if s[pos] == 93:  # ']'
        return pos + 1
    while True:
        pos = _value(s, pos, depth, flags)
        if pos == BAIL:
            return BAIL
        after = _ws(s, pos)
        if after != pos:
            flags[0] |= NOT_PLAIN
        pos = after
        if s[pos] == 93:
            return pos + 1
        if s[pos] != 44:  # ','
            return BAIL
        after = _ws(s, pos + 1)
        if after != pos + 1:
            flags[0] |= NOT_PLAIN
        pos = after


cdef Py_ssize_t _object(const unsigned char* s, Py_ssize_t pos, int depth, int* flags) noexcept nogil:
    cdef Py_ssize_t after, key
    cdef Py_ssize_t starts[MAX_KEYS]
    cdef Py_ssize_t ends[MAX_KEYS]
    cdef int keys = 0, i
    after = _ws(s, pos + 1)
    if after != pos + 1:
        flags[0] |= NOT_PLAIN
    pos = after
    if s[pos] == 125:  # '}'
        return pos + 1
    while True:
        if s[pos] != 34:
            return BAIL
        key = pos
        pos = _string(s, pos, flags)
        if pos == BAIL:
            return BAIL
        if keys < MAX_KEYS:  # a duplicate key collapses in orjson.loads: not plain
            for i in range(keys):
                if ends[i] - starts[i] == pos - key and \
                        memcmp(s + starts[i], s + key, pos - key) == 0:
                    flags[0] |= NOT_PLAIN
            starts[keys] = key
            ends[keys] = pos
            keys += 1
        else:
            flags[0] |= NOT_PLAIN
        after = _ws(s, pos)
        if after != pos:
            flags[0] |= NOT_PLAIN
        if s[after] != 58:  # ':'
            return BAIL
        pos = _ws(s, after + 1)
        if pos != after + 1:
            flags[0] |= NOT_PLAIN
        pos = _value(s, pos, depth, flags)
        if pos == BAIL:
            return BAIL
        after = _ws(s, pos)
        if after != pos:
            flags[0] |= NOT_PLAIN
        pos = after
        if s[pos] == 125:
            return pos + 1
        if s[pos] != 44:
            return BAIL
        after = _ws(s, pos + 1)
        if after != pos + 1:
            flags[0] |= NOT_PLAIN
        pos = after


cdef class JsonRows:
    """Appends the rows of one table's records; holds that table's column names."""

    cdef readonly object table
    cdef list _names  # bytes, in table.columns order
    cdef const char* _name_ptr[MAX_COLUMNS]
    cdef Py_ssize_t _name_len[MAX_COLUMNS]
    cdef uint8_t _slots[SLOTS]  # column index + 1, 0 = empty
    cdef int _ncols
    cdef bint _fast  # False for tables wider than MAX_COLUMNS: always the twin's path

    def __init__(self, table):
        cdef int i, slot
        cdef bytes name
        self.table = table
        self._names = [c.name.encode("utf-8") for c in table.columns]
        self._ncols = len(self._names)
        self._fast = self._ncols <= MAX_COLUMNS
        for slot in range(SLOTS):
            self._slots[slot] = 0
        if not self._fast:
            return
        for i in range(self._ncols):
            name = self._names[i]
            self._name_ptr[i] = name
            self._name_len[i] = len(name)
            slot = _hash(<const unsigned char*><const char*>name, len(name))
            while self._slots[slot]:
                slot = (slot + 1) & (SLOTS - 1)
            self._slots[slot] = i + 1

    cdef inline int _column(self, const unsigned char* key, Py_ssize_t size) noexcept nogil:
        """The index of the column named by these bytes, or -1."""
        cdef int slot = _hash(key, size), i
        while self._slots[slot]:
            i = self._slots[slot] - 1
            if self._name_len[i] == size and _same(self._name_ptr[i], key, size):
                return i
            slot = (slot + 1) & (SLOTS - 1)
        return -1

    def extend(self, TableBuffer buffer, bytes payload):
        """`buffer.extend(orjson.loads(payload))`; None, appending nothing, when the
        payload is not a JSON array."""
        cdef Py_ssize_t start = buffer._num_rows
        if buffer.table is not self.table:
            raise ValueError("the buffer holds another table")
        if self._fast and self._rows(buffer, payload):
            return []
        buffer._num_rows = start  # drop what the scan appended: extend() decides
        try:
            rows = _loads(payload)
        except _JSONDecodeError:
            return None
        if not isinstance(rows, list):
            return None
        return buffer.extend(rows)

    cdef bint _rows(self, TableBuffer buffer, bytes payload) except -1:
        """Append every row of the array; False as soon as something needs the twin's path."""
        cdef const unsigned char* s = <const unsigned char*><const char*>payload
        cdef Py_ssize_t n = len(payload)
        cdef Py_ssize_t pos = _ws(s, 0)
        cdef Py_ssize_t room = buffer._num_rows  # rows the columns have room for
        if s[pos] != 91:  # '['
            return False
        pos = _ws(s, pos + 1)
        if s[pos] == 93:
            return _ws(s, pos + 1) == n
        while True:
            if s[pos] != 123:  # a row that is not an object: extend() rejects it
                return False
            if buffer._num_rows >= room:
                room = buffer._num_rows + ROWS_AHEAD
                buffer.reserve_rows(room)
            pos = self._row(buffer, s, pos, payload)
            if pos == BAIL:
                return False
            pos = _ws(s, pos)
            if s[pos] == 93:
                return _ws(s, pos + 1) == n
            if s[pos] != 44:
                return False
            pos = _ws(s, pos + 1)

    cdef Py_ssize_t _row(self, TableBuffer buffer, const unsigned char* s, Py_ssize_t pos,
                         bytes payload) except -2:
        """Append the object at s[pos] as row `num_rows`; its end, or BAIL."""
        cdef Py_ssize_t row = buffer._num_rows, key, after
        cdef uint64_t seen = 0, bit
        cdef int index, flags
        cdef list columns = buffer._columns
        pos = _ws(s, pos + 1)
        if s[pos] != 125:
            while True:
                if s[pos] != 34:
                    return BAIL
                key = pos
                flags = 0
                pos = _string(s, pos, &flags)
                if pos == BAIL or flags:  # an escaped key: the twin's path
                    return BAIL
                index = self._column(s + key + 1, pos - key - 2)
                pos = _ws(s, pos)
                if s[pos] != 58:  # ':'
                    return BAIL
                pos = _ws(s, pos + 1)
                if index < 0:
                    pos = _skip(s, pos, payload)
                else:
                    bit = (<uint64_t>1) << index
                    if seen & bit:  # orjson keeps the last of duplicate keys
                        return BAIL
                    seen |= bit
                    pos = _put(<ColumnData>columns[index], row, s, pos, payload)
                if pos == BAIL:
                    return BAIL
                pos = _ws(s, pos)
                if s[pos] == 125:
                    break
                if s[pos] != 44:
                    return BAIL
                pos = _ws(s, pos + 1)
        if not buffer.end_row(seen):  # a NOT NULL column is missing: extend() words it
            return BAIL
        return pos + 1


cdef inline bint _same(const char* a, const unsigned char* b, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(size):
        if <unsigned char>a[i] != b[i]:
            return False
    return True


cdef inline int _hash(const unsigned char* key, Py_ssize_t size) noexcept nogil:
    if size == 0:
        return 0
    return <int>((size * 131 + key[0] * 31 + key[size - 1] * 7 + key[size >> 1]) & (SLOTS - 1))


cdef Py_ssize_t _skip(const unsigned char* s, Py_ssize_t pos, bytes payload) except -2:
    """The end of the value of an unknown key (not stored, but it must be valid JSON)."""
    cdef int flags = 0
    cdef Py_ssize_t end = _value(s, pos, 0, &flags)
    if end != BAIL and flags & CHECK:
        try:
            _loads(payload[pos:end])
        except _JSONDecodeError:
            return BAIL
    return end


cdef Py_ssize_t _put(ColumnData column, Py_ssize_t row, const unsigned char* s,
                     Py_ssize_t pos, bytes payload) except -2:
    """Write the value at s[pos] into row `row` of `column` (which has room for
    the row: TableBuffer.reserve_rows); its end, or BAIL."""
    cdef int flags = 0, is_int = 1
    cdef Py_ssize_t end
    cdef int64_t number
    cdef double real
    cdef char* stop
    cdef unsigned char c = s[pos]
    cdef int coerce = column.coerce
    if c == 110:  # 'n'
        end = _literal(s, pos)
        if end == BAIL or not column.nullable:
            return BAIL
        column.set_null(row)
        return end
    if coerce == COERCE_JSON:
        end = _value(s, pos, 0, &flags)
        if end == BAIL:
            return BAIL
        if not flags:
            column.set_bytes(row, <const char*>s + pos, end - pos)
            return end
        return _put_decoded(column, row, payload, pos, end)
    if c == 34:
        end = _string(s, pos, &flags)
        if end == BAIL:
            return BAIL
        if flags:
            return _put_decoded(column, row, payload, pos, end)
        if coerce == COERCE_STR:
            column.set_bytes(row, <const char*>s + pos + 1, end - pos - 2)
            return end
        if coerce == COERCE_UUID:
            return end if column.set_uuid(row, s + pos + 1, end - pos - 2) else BAIL
        return _put_decoded(column, row, payload, pos, end)
    if c == 45 or 48 <= c <= 57:
        end = _number(s, pos, &is_int)
        if end == BAIL:
            return BAIL
        if coerce == COERCE_INT or coerce == COERCE_TS:
            if is_int and _small_int(s, pos, end, &number):
                column.set_int64(row, number)
                return end
        elif coerce == COERCE_FLOAT:
            if is_int and _small_int(s, pos, end, &number):
                column.set_double(row, <double>number)
                return end
            if not is_int:
                real = PyOS_string_to_double(<const char*>s + pos, &stop, NULL)
                if stop == <char*>s + end and isfinite(real):
                    column.set_double(row, real)
                    return end
                return BAIL
        return _put_decoded(column, row, payload, pos, end)
    if c == 116 or c == 102:  # 't' 'f'
        end = _literal(s, pos)
        if end == BAIL or coerce != COERCE_BOOL:
            return BAIL
        column.set_flag(row, c == 116)
        return end
    return BAIL


cdef Py_ssize_t _put_decoded(ColumnData column, Py_ssize_t row, bytes payload,
                             Py_ssize_t start, Py_ssize_t end) except -2:
    """The general path for one value: decode it alone and `put` it, as extend() would."""
    try:
        value = _loads(payload[start:end])
        column.put(row, value)
    except (_JSONDecodeError, ValueError):
        return BAIL
    return end
