# cython: language_level=3
"""Column buffers in Arrow layout, declared for other Cython modules (e.g. a Native encoder).

A frozen `ColumnData` of n rows holds:
- `validity`: bitmap, bit i set when row i is not NULL (LSB first, Arrow order);
  `null_count` counts the clear bits among the first n;
- strings (uuid/str/json/decimal): `values` = n + 1 int32 offsets, `data` = UTF-8 bytes;
- int and ts: `values` = n int64;  float: `values` = n float64;
- bool: `values` = bitmap of the values (bits of NULL rows are 0).
`Buffer.size` is the number of bytes in use; padding bits past row n are 0.
"""

from libc.stdint cimport int32_t, int64_t, uint64_t


cdef class Buffer:
    cdef char* ptr
    cdef Py_ssize_t size
    cdef Py_ssize_t capacity
    cdef Py_ssize_t exports
    cdef int reserve(self, Py_ssize_t needed) except -1
    cdef void shrink(self) noexcept


cdef enum Layout:
    LAYOUT_STRING = 0
    LAYOUT_INT64 = 1
    LAYOUT_FLOAT64 = 2
    LAYOUT_BOOL = 3


cdef enum Coerce:
    COERCE_UUID = 0
    COERCE_STR = 1
    COERCE_INT = 2
    COERCE_FLOAT = 3
    COERCE_BOOL = 4
    COERCE_TS = 5
    COERCE_JSON = 6
    COERCE_DECIMAL = 7


cdef class ColumnData:
    cdef readonly object column
    cdef readonly str name
    cdef Coerce coerce
    cdef readonly Layout layout
    cdef readonly bint nullable
    cdef readonly Buffer validity
    cdef readonly Buffer values
    cdef readonly Buffer data
    cdef readonly Py_ssize_t null_count
    cdef readonly bint frozen

    cdef int put(self, Py_ssize_t row, object value) except -1
    cdef int put_bytes(self, Py_ssize_t row, const char* text, Py_ssize_t size) except -1
    cdef int freeze(self, Py_ssize_t num_rows) except -1
    cdef Py_ssize_t layout_nbytes(self, Py_ssize_t num_rows) noexcept
    cdef object value_at(self, Py_ssize_t row)
    cdef int _put_str(self, Py_ssize_t row, object value) except -1
    cdef int _put_uuid(self, Py_ssize_t row, object value) except -1
    cdef int _put_int64(self, Py_ssize_t row, object value) except -1
    cdef int _put_float(self, Py_ssize_t row, object value) except -1
    cdef int _put_json(self, Py_ssize_t row, object value) except -1
    cdef int _put_decimal(self, Py_ssize_t row, object value) except -1
    # Typed writes of one row, for parsers that do not make Python values
    # (rowjson.pyx): `prepare(row)` first, then one set_* per column.
    cdef int prepare(self, Py_ssize_t row) except -1
    cdef void set_null(self, Py_ssize_t row) noexcept
    cdef int set_bytes(self, Py_ssize_t row, const char* text, Py_ssize_t size) except -1
    cdef int set_uuid(self, Py_ssize_t row, const unsigned char* text, Py_ssize_t size) except -1
    cdef void set_int64(self, Py_ssize_t row, int64_t number) noexcept
    cdef void set_double(self, Py_ssize_t row, double number) noexcept
    cdef void set_flag(self, Py_ssize_t row, bint value) noexcept


cdef class ColumnBatch:
    cdef readonly object table
    cdef readonly tuple column_data  # frozen ColumnData, in table.columns order
    cdef Py_ssize_t _num_rows
    cdef object _schema

    @staticmethod
    cdef ColumnBatch _make(object table, object schema, tuple column_data, Py_ssize_t num_rows)


cdef class TableBuffer:
    cdef readonly object table
    cdef list _columns
    cdef Py_ssize_t _num_rows
    cdef object _schema
    cdef int _append(self, object row) except -1
    # For parsers that write cells with ColumnData.set_* (rowjson.pyx).
    cdef int reserve_rows(self, Py_ssize_t rows) except -1
    cdef int end_row(self, uint64_t present) except -1
