# cython: language_level=3, boundscheck=False, wraparound=False
"""Column buffers the shipper batches rows into (compiled; twin: columns_py.py).

The value rules are documented in columns_py.py; the memory layout in columns.pxd.
Each cell is written straight into Arrow-layout C buffers, so `to_arrow` makes
no Python object per cell: it wraps the buffers with `pa.py_buffer` (which
keeps the `Buffer` alive) and `pa.Array.from_buffers`.

A row is all or nothing without any undo: row n only writes slot n (and string
bytes past offsets[n]), and `num_rows` grows only when every column took its
value, so the next row simply overwrites what a rejected one left behind.
"""

import orjson
import pyarrow as pa

from cpython.buffer cimport PyBuffer_FillInfo
from cpython.bool cimport PyBool_Check
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check
from cpython.long cimport PyLong_Check, PyLong_FromLongLong
from cpython.ref cimport PyObject
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.math cimport isfinite
from libc.stdint cimport INT32_MAX, int32_t, int64_t, uint8_t, uint64_t
from libc.stdio cimport snprintf
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset

from tracker._fast.kinds import arrow_schema, normalize_decimal
from tracker.model.tables import Kind

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    int PyUnicode_IS_ASCII(object text)
    void* PyUnicode_DATA(object text)
    long long PyLong_AsLongLongAndOverflow(object value, int* overflow) except? -1
    double PyLong_AsDouble(object value) except? -1.0

cdef extern from *:
    int __builtin_popcount(unsigned int value) nogil

cdef enum:
    MIN_CAPACITY = 64
    DECIMAL_TEXT_MAX = 64  # longer decimal text takes the Python path

cdef int64_t DECIMAL_INT_LIMIT = 100000000000000  # 10**14: DECIMAL(18,4) has 14 integer digits
cdef int64_t DECIMAL_SCALED_LIMIT = 1000000000000000000  # 10**18

_orjson_dumps = orjson.dumps
_orjson_loads = orjson.loads
_JSONEncodeError = orjson.JSONEncodeError

_KIND_CODES = {
    Kind.UUID: (COERCE_UUID, LAYOUT_STRING),
    Kind.STR: (COERCE_STR, LAYOUT_STRING),
    Kind.JSON: (COERCE_JSON, LAYOUT_STRING),
    Kind.DECIMAL: (COERCE_DECIMAL, LAYOUT_STRING),
    Kind.INT: (COERCE_INT, LAYOUT_INT64),
    Kind.TIMESTAMP_MS: (COERCE_TS, LAYOUT_INT64),
    Kind.FLOAT: (COERCE_FLOAT, LAYOUT_FLOAT64),
    Kind.BOOL: (COERCE_BOOL, LAYOUT_BOOL),
}


cdef class Buffer:
    """Growable bytes; exports a read-only buffer of its first `size` bytes."""

    def __cinit__(self, Py_ssize_t capacity=MIN_CAPACITY):
        if capacity < MIN_CAPACITY:
            capacity = MIN_CAPACITY
        self.ptr = <char*>malloc(capacity)
        if self.ptr == NULL:
            raise MemoryError()
        self.capacity = capacity
        self.size = 0
        self.exports = 0

    def __dealloc__(self):
        free(self.ptr)

    cdef int reserve(self, Py_ssize_t needed) except -1:
        cdef Py_ssize_t capacity
        cdef char* grown
        if needed <= self.capacity:
            return 0
        if self.exports:
            raise BufferError("cannot grow a buffer while it is exported")
        capacity = self.capacity * 2
        if capacity < needed:
            capacity = needed
        grown = <char*>realloc(self.ptr, capacity)
        if grown == NULL:
            raise MemoryError()
        self.ptr = grown
        self.capacity = capacity
        return 0

    cdef void shrink(self) noexcept:
        """Give back the slack of a frozen buffer (it never grows again)."""
        cdef Py_ssize_t capacity = self.size if self.size > MIN_CAPACITY else MIN_CAPACITY
        cdef char* smaller
        if capacity < self.capacity and not self.exports:
            smaller = <char*>realloc(self.ptr, capacity)
            if smaller != NULL:
                self.ptr = smaller
                self.capacity = capacity

    def __getbuffer__(self, Py_buffer* view, int flags):
        PyBuffer_FillInfo(view, self, self.ptr, self.size, 1, flags)
        self.exports += 1

    def __releasebuffer__(self, Py_buffer* view):
        self.exports -= 1

    def __len__(self):
        return self.size


cdef inline int _reserve(Buffer buf, Py_ssize_t needed) except -1:
    if needed > buf.capacity:
        return buf.reserve(needed)
    return 0


cdef inline void _set_bit(Buffer buf, Py_ssize_t i, bint on) noexcept:
    cdef uint8_t* bits = <uint8_t*>buf.ptr
    if on:
        bits[i >> 3] |= <uint8_t>(1 << (i & 7))
    else:
        bits[i >> 3] &= <uint8_t>~(1 << (i & 7))


# UUID text bytes: hex digits lowercased, '-' kept, anything else 0.
cdef char UUID_TEXT[256]
for _i in range(256):
    UUID_TEXT[_i] = (
        _i if 48 <= _i <= 57 or 97 <= _i <= 102 or _i == 45 else _i + 32 if 65 <= _i <= 70 else 0
    )


cdef inline bint _uuid_lower(const unsigned char* s, char* out) noexcept:
    """Check 36 bytes of canonical 8-4-4-4-12 hex text (any case) and write them
    lowercase to out (partly written when they are not a UUID)."""
    cdef int i, dashes = 0
    cdef char c
    cdef bint bad = False
    for i in range(36):  # no early exit: a loop the compiler can keep branch-free
        c = UUID_TEXT[s[i]]
        out[i] = c
        bad |= c == 0
        dashes += c == 45
    return not bad and dashes == 4 and s[8] == 45 and s[13] == 45 and s[18] == 45 and s[23] == 45


cdef inline bint _get_bit(Buffer buf, Py_ssize_t i) noexcept:
    return ((<uint8_t*>buf.ptr)[i >> 3] >> (i & 7)) & 1


cdef Py_ssize_t _freeze_bitmap(Buffer buf, Py_ssize_t num_rows) noexcept:
    """Set the size, zero the padding bits; returns the number of set bits."""
    cdef Py_ssize_t nbytes = (num_rows + 7) >> 3, i, ones = 0
    cdef uint8_t* bits = <uint8_t*>buf.ptr
    buf.size = nbytes
    if num_rows & 7:
        bits[nbytes - 1] &= <uint8_t>((1 << (num_rows & 7)) - 1)
    for i in range(nbytes):
        ones += __builtin_popcount(bits[i])
    return ones


cdef int _copy_bits(Buffer dst, Buffer src, Py_ssize_t start, Py_ssize_t n) except -1:
    cdef Py_ssize_t i
    _reserve(dst, (n + 7) >> 3)
    memset(dst.ptr, 0, (n + 7) >> 3)
    for i in range(n):
        if _get_bit(src, start + i):
            _set_bit(dst, i, True)
    return 0


cdef int _decimal_text(const unsigned char* s, Py_ssize_t n, char* out, Py_ssize_t* size):
    """C path for decimal text of the form [+-]digits[.digits] (see kinds.normalize_decimal).

    Returns 1 when `out` holds the normalized text, 0 when the text is of another
    form (the Python path decides), -1 when it is out of range.
    """
    cdef Py_ssize_t i = 0, int_start, int_stop, frac_start, frac_stop = 0, k
    cdef bint negative = False
    cdef int64_t scaled = 0
    if n == 0 or n > DECIMAL_TEXT_MAX:
        return 0
    if s[0] == 43 or s[0] == 45:  # '+' '-'
        negative = s[0] == 45
        i = 1
    int_start = i
    while i < n and 48 <= s[i] <= 57:
        i += 1
    int_stop = i
    if int_stop == int_start:
        return 0
    frac_start = frac_stop = i
    if i < n:
        if s[i] != 46:  # '.'
            return 0
        i += 1
        frac_start = i
        while i < n and 48 <= s[i] <= 57:
            i += 1
        frac_stop = i
        if frac_stop == frac_start or i != n:
            return 0
    while int_start < int_stop and s[int_start] == 48:
        int_start += 1
    if int_stop - int_start > 14:
        return -1
    for k in range(int_start, int_stop):
        scaled = scaled * 10 + (s[k] - 48)
    for k in range(4):
        scaled *= 10
        if frac_start + k < frac_stop:
            scaled += s[frac_start + k] - 48
    if frac_start + 4 < frac_stop and s[frac_start + 4] >= 53:  # ties away from zero
        scaled += 1
    if scaled >= DECIMAL_SCALED_LIMIT:
        return -1
    if scaled == 0:
        negative = False
    size[0] = snprintf(
        out, 32, "%s%lld.%04lld",
        <const char*>("-" if negative else ""),
        <long long>(scaled // 10000), <long long>(scaled % 10000),
    )
    return 1


cdef class ColumnData:
    """One column's buffers; see columns.pxd for the layout."""

    def __cinit__(self, column, Py_ssize_t rows_hint=0, Py_ssize_t bytes_hint=0):
        self.column = column
        self.name = column.name
        self.nullable = column.nullable
        self.coerce, self.layout = _KIND_CODES[column.kind]
        self.validity = Buffer((rows_hint >> 3) + 1)
        self.data = Buffer(bytes_hint if self.layout == LAYOUT_STRING else 0)
        if self.layout == LAYOUT_STRING:
            self.values = Buffer(4 * (rows_hint + 2))
            (<int32_t*>self.values.ptr)[0] = 0
        elif self.layout == LAYOUT_BOOL:
            self.values = Buffer((rows_hint >> 3) + 1)
        else:
            self.values = Buffer(8 * rows_hint)
        self.null_count = 0
        self.frozen = False

    cdef int prepare(self, Py_ssize_t row) except -1:
        """Make room for row `row` (the next one); the set_* methods then write it."""
        cdef Layout layout = self.layout
        if self.frozen:
            raise RuntimeError("column is frozen")
        _reserve(self.validity, (row >> 3) + 1)
        if layout == LAYOUT_STRING:
            _reserve(self.values, 4 * (row + 2))
        elif layout == LAYOUT_BOOL:
            _reserve(self.values, (row >> 3) + 1)
        else:
            _reserve(self.values, 8 * (row + 1))
        return 0

    cdef void set_null(self, Py_ssize_t row) noexcept:
        """Row `row` is NULL (the caller checked `nullable`)."""
        _null_cell(self, row)

    cdef int set_bytes(self, Py_ssize_t row, const char* text, Py_ssize_t size) except -1:
        """Row `row` of a string column is these UTF-8 bytes (already checked)."""
        _set_bit(self.validity, row, True)
        return _put_bytes(self, row, text, size)

    cdef int set_uuid(self, Py_ssize_t row, const unsigned char* text, Py_ssize_t size) except -1:
        """Row `row` is UUID text, stored lowercase; returns 0 when it is not a UUID."""
        cdef int32_t* offsets = <int32_t*>self.values.ptr
        cdef Py_ssize_t start = offsets[row]
        if start > INT32_MAX - 36:
            raise OverflowError(f"{self.name}: column data over 2 GiB; take() batches sooner")
        _reserve(self.data, start + 36)
        if size != 36 or not _uuid_lower(text, self.data.ptr + start):
            return 0
        _set_bit(self.validity, row, True)
        offsets[row + 1] = <int32_t>(start + 36)
        return 1

    cdef void set_int64(self, Py_ssize_t row, int64_t number) noexcept:
        _set_bit(self.validity, row, True)
        (<int64_t*>self.values.ptr)[row] = number

    cdef void set_double(self, Py_ssize_t row, double number) noexcept:
        """Row `row` of a float column (the caller checked the number is finite)."""
        _set_bit(self.validity, row, True)
        (<double*>self.values.ptr)[row] = number

    cdef void set_flag(self, Py_ssize_t row, bint value) noexcept:
        _set_bit(self.validity, row, True)
        _set_bit(self.values, row, value)

    cdef int put(self, Py_ssize_t row, object value) except -1:
        """Write row `row` (the next one); raises ValueError("<column>: <reason>")."""
        self.prepare(row)
        if value is None:
            if not self.nullable:
                raise ValueError(f"{self.name}: missing (column is NOT NULL)")
            self.set_null(row)
            return 0
        _set_bit(self.validity, row, True)

        cdef Coerce coerce = self.coerce
        if coerce == COERCE_STR:
            return self._put_str(row, value)
        if coerce == COERCE_UUID:
            return self._put_uuid(row, value)
        if coerce == COERCE_INT or coerce == COERCE_TS:
            return self._put_int64(row, value)
        if coerce == COERCE_FLOAT:
            return self._put_float(row, value)
        if coerce == COERCE_BOOL:
            if value is True or value is False:
                self.set_flag(row, value is True)
                return 0
            raise ValueError(f"{self.name}: expected a boolean, got {type(value).__name__}")
        if coerce == COERCE_JSON:
            return self._put_json(row, value)
        return self._put_decimal(row, value)

    cdef int put_bytes(self, Py_ssize_t row, const char* text, Py_ssize_t size) except -1:
        return _put_bytes(self, row, text, size)

    cdef int _put_str(self, Py_ssize_t row, object value) except -1:
        cdef const char* text
        cdef Py_ssize_t size
        if not isinstance(value, str):
            raise ValueError(f"{self.name}: expected a string, got {type(value).__name__}")
        try:
            text = PyUnicode_AsUTF8AndSize(value, &size)
        except UnicodeEncodeError:
            raise ValueError(f"{self.name}: not valid UTF-8 text (unpaired surrogate)") from None
        return self.put_bytes(row, text, size)

    cdef int _put_uuid(self, Py_ssize_t row, object value) except -1:
        if not isinstance(value, str):
            raise ValueError(f"{self.name}: expected a UUID string, got {type(value).__name__}")
        if (
            PyUnicode_GET_LENGTH(value) != 36
            or not PyUnicode_IS_ASCII(value)
            or not self.set_uuid(row, <const unsigned char*>PyUnicode_DATA(value), 36)
        ):
            raise ValueError(f"{self.name}: not a valid UUID")
        return 0

    cdef int _put_int64(self, Py_ssize_t row, object value) except -1:
        cdef int overflow = 0
        cdef long long number
        if not PyLong_Check(value) or PyBool_Check(value):
            expected = "an integer" if self.coerce == COERCE_INT else "integer milliseconds"
            raise ValueError(f"{self.name}: expected {expected}, got {type(value).__name__}")
        number = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow:
            raise ValueError(f"{self.name}: out of int64 range")
        self.set_int64(row, number)
        return 0

    cdef int _put_float(self, Py_ssize_t row, object value) except -1:
        cdef double number
        if PyFloat_Check(value):
            number = PyFloat_AS_DOUBLE(value)
        elif PyLong_Check(value) and not PyBool_Check(value):
            try:
                number = PyLong_AsDouble(value)
            except OverflowError:
                raise ValueError(f"{self.name}: out of float64 range") from None
        else:
            raise ValueError(f"{self.name}: expected a number, got {type(value).__name__}")
        if not isfinite(number):
            raise ValueError(f"{self.name}: must be finite")
        self.set_double(row, number)
        return 0

    cdef int _put_json(self, Py_ssize_t row, object value) except -1:
        cdef bytes encoded
        try:
            encoded = _orjson_dumps(value)
        except _JSONEncodeError as exc:
            raise ValueError(f"{self.name}: not JSON-serializable ({exc})") from None
        return self.put_bytes(row, PyBytes_AS_STRING(encoded), PyBytes_GET_SIZE(encoded))

    cdef int _put_decimal(self, Py_ssize_t row, object value) except -1:
        cdef char text[32]
        cdef Py_ssize_t size = 0
        cdef int done = 0, overflow = 0
        cdef long long number
        if isinstance(value, str) and PyUnicode_IS_ASCII(value):
            done = _decimal_text(
                <const unsigned char*>PyUnicode_DATA(value), PyUnicode_GET_LENGTH(value),
                text, &size,
            )
        elif PyLong_Check(value) and not PyBool_Check(value):
            number = PyLong_AsLongLongAndOverflow(value, &overflow)
            if overflow or not -DECIMAL_INT_LIMIT < number < DECIMAL_INT_LIMIT:
                done = -1
            else:
                size = snprintf(text, 32, "%lld.0000", number)
                done = 1
        if done == 1:
            return self.put_bytes(row, text, size)
        if done == -1:
            raise ValueError(f"{self.name}: out of DECIMAL(18,4) range")
        try:
            normalized = normalize_decimal(value)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None
        return self._put_str(row, normalized)

    cdef int freeze(self, Py_ssize_t num_rows) except -1:
        """Fix the sizes for `num_rows` rows, count NULLs and stop accepting writes."""
        self.null_count = num_rows - _freeze_bitmap(self.validity, num_rows)
        if self.layout == LAYOUT_STRING:
            self.values.size = 4 * (num_rows + 1)
            self.data.size = (<int32_t*>self.values.ptr)[num_rows]
        elif self.layout == LAYOUT_BOOL:
            _freeze_bitmap(self.values, num_rows)
        else:
            self.values.size = 8 * num_rows
        self.validity.shrink()
        self.values.shrink()
        self.data.shrink()
        self.frozen = True
        return 0

    cdef Py_ssize_t layout_nbytes(self, Py_ssize_t num_rows) noexcept:
        cdef Py_ssize_t bitmap = (num_rows + 7) >> 3
        if self.layout == LAYOUT_STRING:
            return bitmap + 4 * (num_rows + 1) + (<int32_t*>self.values.ptr)[num_rows]
        if self.layout == LAYOUT_BOOL:
            return 2 * bitmap
        return bitmap + 8 * num_rows

    cdef object value_at(self, Py_ssize_t row):
        """The Python value of a non-NULL cell (json parsed)."""
        cdef int32_t* offsets
        if self.layout == LAYOUT_STRING:
            offsets = <int32_t*>self.values.ptr
            if self.coerce == COERCE_JSON:
                return _orjson_loads(PyBytes_FromStringAndSize(
                    self.data.ptr + offsets[row], offsets[row + 1] - offsets[row]
                ))
            return PyUnicode_DecodeUTF8(
                self.data.ptr + offsets[row], offsets[row + 1] - offsets[row], NULL
            )
        if self.layout == LAYOUT_INT64:
            return PyLong_FromLongLong((<int64_t*>self.values.ptr)[row])
        if self.layout == LAYOUT_FLOAT64:
            return (<double*>self.values.ptr)[row]
        return bool(_get_bit(self.values, row))

    def to_arrow(self, data_type, Py_ssize_t num_rows):
        """This frozen column as an Arrow array of `data_type` (no copy)."""
        if not self.frozen:
            raise RuntimeError("column is not frozen")
        validity = pa.py_buffer(self.validity) if self.null_count else None
        if self.layout == LAYOUT_STRING:
            buffers = [validity, pa.py_buffer(self.values), pa.py_buffer(self.data)]
        else:
            buffers = [validity, pa.py_buffer(self.values)]
        return pa.Array.from_buffers(data_type, num_rows, buffers, null_count=self.null_count)


cdef inline void _null_cell(ColumnData column, Py_ssize_t row) noexcept:
    cdef Layout layout = column.layout
    _set_bit(column.validity, row, False)
    if layout == LAYOUT_STRING:
        (<int32_t*>column.values.ptr)[row + 1] = (<int32_t*>column.values.ptr)[row]
    elif layout == LAYOUT_BOOL:
        _set_bit(column.values, row, False)
    else:
        (<int64_t*>column.values.ptr)[row] = 0


cdef inline int _put_bytes(ColumnData column, Py_ssize_t row, const char* text,
                           Py_ssize_t size) except -1:
    cdef int32_t* offsets = <int32_t*>column.values.ptr
    cdef Py_ssize_t start = offsets[row]
    if size > INT32_MAX - start:
        raise OverflowError(f"{column.name}: column data over 2 GiB; take() batches sooner")
    _reserve(column.data, start + size)
    memcpy(column.data.ptr + start, text, size)
    offsets[row + 1] = <int32_t>(start + size)
    return 0


cdef ColumnData _slice_column(ColumnData src, Py_ssize_t start, Py_ssize_t stop):
    cdef Py_ssize_t n = stop - start, i, base, end
    cdef int32_t* src_offsets
    cdef int32_t* dst_offsets
    cdef ColumnData dst
    if src.layout == LAYOUT_STRING:
        src_offsets = <int32_t*>src.values.ptr
        base = src_offsets[start]
        end = src_offsets[stop]
        dst = ColumnData(src.column, n, end - base)
        _reserve(dst.values, 4 * (n + 1))
        _reserve(dst.data, end - base)
        dst_offsets = <int32_t*>dst.values.ptr
        for i in range(n + 1):
            dst_offsets[i] = src_offsets[start + i] - <int32_t>base
        memcpy(dst.data.ptr, src.data.ptr + base, end - base)
    elif src.layout == LAYOUT_BOOL:
        dst = ColumnData(src.column, n, 0)
        _copy_bits(dst.values, src.values, start, n)
    else:
        dst = ColumnData(src.column, n, 0)
        _reserve(dst.values, 8 * n)
        memcpy(dst.values.ptr, src.values.ptr + 8 * start, 8 * n)
    _copy_bits(dst.validity, src.validity, start, n)
    dst.freeze(n)
    return dst


cdef class ColumnBatch:
    """A frozen set of rows of one table (implements tracker.sinks.base.Batch)."""

    def __init__(self):
        raise TypeError("ColumnBatch is made by TableBuffer.take() or ColumnBatch.slice()")

    @staticmethod
    cdef ColumnBatch _make(object table, object schema, tuple column_data, Py_ssize_t num_rows):
        cdef ColumnBatch batch = ColumnBatch.__new__(ColumnBatch)
        batch.table = table
        batch._schema = schema
        batch.column_data = column_data
        batch._num_rows = num_rows
        return batch

    @property
    def num_rows(self) -> int:
        return self._num_rows

    @property
    def nbytes(self) -> int:
        cdef ColumnData column
        cdef Py_ssize_t total = 0
        for column in self.column_data:
            total += column.layout_nbytes(self._num_rows)
        return total

    def to_arrow(self):
        """Columns in `table.columns` order, wrapping the buffers without copying."""
        cdef ColumnData column
        arrays = [
            column.to_arrow(field.type, self._num_rows)
            for column, field in zip(self.column_data, self._schema)
        ]
        return pa.Table.from_arrays(arrays, schema=self._schema)

    def slice(self, start, stop):
        """Rows [start, stop) (Python slice rules) as a new batch."""
        cdef Py_ssize_t first, last
        cdef ColumnData column
        first, last, _ = slice(start, stop).indices(self._num_rows)
        if last < first:
            last = first
        sliced = tuple([_slice_column(column, first, last) for column in self.column_data])
        return ColumnBatch._make(self.table, self._schema, sliced, last - first)

    def rows(self):
        """The rows as dicts; NULLs are left out, json comes back parsed."""
        cdef Py_ssize_t i
        cdef ColumnData column
        cdef dict row
        cdef list out = []
        for i in range(self._num_rows):
            row = {}
            for column in self.column_data:
                if _get_bit(column.validity, i):
                    row[column.name] = column.value_at(i)
            out.append(row)
        return out


cdef class TableBuffer:
    """Rows of one table, appended one at a time; `take()` freezes them into a batch."""

    def __init__(self, table):
        self.table = table
        self._schema = arrow_schema(table)
        self._columns = [ColumnData(column) for column in table.columns]
        self._num_rows = 0

    @property
    def num_rows(self) -> int:
        return self._num_rows

    @property
    def nbytes(self) -> int:
        cdef ColumnData column
        cdef Py_ssize_t total = 0
        for column in self._columns:
            total += column.layout_nbytes(self._num_rows)
        return total

    cdef int _append(self, object row) except -1:
        cdef ColumnData column
        cdef PyObject* found
        cdef Py_ssize_t n = self._num_rows
        if not isinstance(row, dict):
            raise ValueError(f"row: expected a dict, got {type(row).__name__}")
        for column in self._columns:
            found = PyDict_GetItem(row, column.name)
            column.put(n, <object>found if found != NULL else None)
        self._num_rows = n + 1
        return 0

    def append(self, row) -> None:
        """Add one row, or raise ValueError("<column>: <reason>") and add nothing."""
        self._append(row)

    cdef int reserve_rows(self, Py_ssize_t rows) except -1:
        """Make room in every column for rows up to `rows` (exclusive), so that a
        parser can write cells with the set_* methods without `prepare`."""
        cdef ColumnData column
        for column in self._columns:
            column.prepare(rows - 1)
        return 0

    cdef int end_row(self, uint64_t present) except -1:
        """Finish row `num_rows`, whose cells of the columns in the `present` mask
        (bit i: column i < 64) were set: the others become NULL. Returns 0, adding
        nothing, when one of them is NOT NULL (the row is then for `append` to
        refuse with its message)."""
        cdef ColumnData column
        cdef Py_ssize_t row = self._num_rows, i = 0
        for column in self._columns:
            if i >= 64 or not (present >> i) & 1:
                if not column.nullable:
                    return 0
                _null_cell(column, row)
            i += 1
        self._num_rows = row + 1
        return 1

    def extend(self, rows) -> list:
        """Append every row; returns (index, error) for each row that was rejected."""
        cdef list rejected = []
        cdef Py_ssize_t index = 0
        for row in rows:
            try:
                self._append(row)
            except ValueError as exc:
                rejected.append((index, str(exc)))
            index += 1
        return rejected

    def take(self, limit=None) -> ColumnBatch:
        """Freeze the buffered rows, or the first `limit` of them, into a batch; the
        rest stay buffered (as the first rows of the next batch).

        The new buffers start with the sizes of this batch, as the next batch is
        likely alike.
        """
        cdef ColumnData column, fresh
        cdef Py_ssize_t n = self._num_rows, size = n
        cdef list columns = []
        if limit is not None:
            if limit < 0:
                raise ValueError("limit must not be negative")
            if limit < n:
                size = limit
        for column in self._columns:
            fresh = ColumnData(column.column, size, _data_bytes(column, size))
            if size < n:
                _move_rows(fresh, column, size, n)
            column.freeze(size)
            columns.append(fresh)
        batch = ColumnBatch._make(self.table, self._schema, tuple(self._columns), size)
        self._columns = columns
        self._num_rows = n - size
        return batch


cdef inline Py_ssize_t _data_bytes(ColumnData column, Py_ssize_t rows) noexcept:
    """The string bytes of the first `rows` rows (0 for other layouts)."""
    if column.layout == LAYOUT_STRING:
        return (<int32_t*>column.values.ptr)[rows]
    return 0


cdef int _move_rows(ColumnData dst, ColumnData src, Py_ssize_t start, Py_ssize_t stop) except -1:
    """Write rows [start, stop) of `src` (not frozen) as the first rows of the empty `dst`."""
    cdef Py_ssize_t i, row
    cdef int32_t* offsets = <int32_t*>src.values.ptr
    for i in range(start, stop):
        row = i - start
        dst.prepare(row)
        if not _get_bit(src.validity, i):
            _null_cell(dst, row)
            continue
        _set_bit(dst.validity, row, True)
        if src.layout == LAYOUT_STRING:
            _put_bytes(dst, row, src.data.ptr + offsets[i], offsets[i + 1] - offsets[i])
        elif src.layout == LAYOUT_BOOL:
            _set_bit(dst.values, row, _get_bit(src.values, i))
        else:
            (<int64_t*>dst.values.ptr)[row] = (<int64_t*>src.values.ptr)[i]
    return 0
