# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""A ColumnBatch as one ClickHouse Native block (compiled; twin: native_py.py).

The wire format is documented in native_py.py, the supported types in
native_types.py. This module reads the batch's column buffers (columns.pxd)
directly and writes each column with a C loop into one growing buffer: no
Python object per cell. It only takes the compiled ColumnBatch.
"""

import sys

cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.math cimport isinf
from libc.stdint cimport (
    INT64_MAX, INT64_MIN, int8_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t,
)
from libc.string cimport memcmp, memcpy, memset

from tracker._fast.columns cimport ColumnBatch, ColumnData
from tracker._fast.native_types import (
    DATETIME_MAX,
    INTEGER_TYPES,
    LC_FLAGS,
    LC_KEYS_VERSION,
    lc_index_width,
    plan_block,
)
from tracker.model.tables import Kind

if sys.byteorder != "little":  # numbers are copied as they lie in memory
    raise ImportError("tracker._fast.native needs a little-endian machine")

cdef enum Scaling:
    SCALE_NONE = 0
    SCALE_MULTIPLY = 1
    SCALE_FLOOR_DIVIDE = 2

cdef enum DecimalError:
    DECIMAL_OK = 0
    DECIMAL_INVALID = 1
    DECIMAL_TOO_PRECISE = 2
    DECIMAL_TOO_LARGE = 3


cdef class _Out:
    """The block being written: a growable byte buffer."""

    cdef char* ptr
    cdef Py_ssize_t size
    cdef Py_ssize_t capacity

    def __cinit__(self, Py_ssize_t capacity):
        self.capacity = capacity if capacity > 1024 else 1024
        self.ptr = <char*>PyMem_Malloc(self.capacity)
        if self.ptr == NULL:
            raise MemoryError()
        self.size = 0

    def __dealloc__(self):
        PyMem_Free(self.ptr)

    cdef char* reserve(self, Py_ssize_t extra) except NULL:
        """Room for `extra` more bytes; returns where they go (commit by setting `size`)."""
        cdef Py_ssize_t needed = self.size + extra, capacity
        cdef char* grown
        if needed > self.capacity:
            capacity = self.capacity * 2
            if capacity < needed:
                capacity = needed
            grown = <char*>PyMem_Realloc(self.ptr, capacity)
            if grown == NULL:
                raise MemoryError()
            self.ptr = grown
            self.capacity = capacity
        return self.ptr + self.size

    cdef void commit(self, char* end) noexcept:
        self.size = end - self.ptr

    cdef int write_string(self, bytes data) except -1:
        cdef Py_ssize_t size = len(data)
        cdef char* p = self.reserve(10 + size)
        p = _varint(p, size)
        memcpy(p, <const char*>data, size)
        self.commit(p + size)
        return 0


cdef inline char* _varint(char* p, uint64_t value) noexcept:
    while value >= 0x80:
        p[0] = <char>((value & 0x7F) | 0x80)
        p += 1
        value >>= 7
    p[0] = <char>value
    return p + 1


cdef inline char* _u64(char* p, uint64_t value) noexcept:
    memcpy(p, &value, 8)
    return p + 8


cdef inline bint _is_null(const uint8_t* validity, Py_ssize_t i) noexcept:
    return not ((validity[i >> 3] >> (i & 7)) & 1)


cdef inline uint64_t _hash(const unsigned char* s, Py_ssize_t size) noexcept:
    """A fast 64-bit hash of short strings, eight bytes at a time (for the LC dictionary)."""
    cdef uint64_t h = 0x9E3779B97F4A7C15ULL ^ <uint64_t>size, word
    while size >= 8:
        memcpy(&word, s, 8)
        h = (h ^ word) * 0xFF51AFD7ED558CCDULL
        h ^= h >> 29
        s += 8
        size -= 8
    if size:
        word = 0
        memcpy(&word, s, size)
        h = (h ^ word) * 0xFF51AFD7ED558CCDULL
    h ^= h >> 33
    h *= 0xC4CEB9FE1A85EC53ULL
    h ^= h >> 33
    return h


cdef int _write_null_map(ColumnData col, Py_ssize_t n, _Out out) except -1:
    cdef char* p = out.reserve(n)
    cdef const uint8_t* validity = <const uint8_t*>col.validity.ptr
    cdef Py_ssize_t i
    if col.null_count == 0:
        memset(p, 0, n)
    else:
        for i in range(n):
            p[i] = _is_null(validity, i)
    out.commit(p + n)
    return 0


cdef int _write_strings(ColumnData col, Py_ssize_t n, _Out out) except -1:
    cdef const int32_t* offsets = <const int32_t*>col.values.ptr
    cdef const char* data = col.data.ptr
    cdef const uint8_t* validity = <const uint8_t*>col.validity.ptr
    cdef bint nulls = col.null_count > 0
    cdef Py_ssize_t i, size
    cdef char* p = out.reserve(5 * n + (offsets[n] - offsets[0]))
    for i in range(n):
        size = offsets[i + 1] - offsets[i]
        if nulls and _is_null(validity, i):
            size = 0
        p = _varint(p, size)
        memcpy(p, data + offsets[i], size)
        p += size
    out.commit(p)
    return 0


cdef int8_t _HEX_VALUE[256]  # constant after import: hex digit -> value, else -1


cdef void _fill_hex_table() noexcept:
    cdef int c
    for c in range(256):
        _HEX_VALUE[c] = -1
    for c in range(10):
        _HEX_VALUE[48 + c] = c
    for c in range(6):
        _HEX_VALUE[65 + c] = 10 + c
        _HEX_VALUE[97 + c] = 10 + c


_fill_hex_table()


cdef bint _uuid_bytes(const unsigned char* s, char* out) noexcept:
    """Canonical UUID text to ClickHouse's 16 bytes: each 64-bit half as a little-endian UInt64.

    Byte k of the text's 16 is byte 7 - k of the first half, or 23 - k of the second.
    """
    cdef int k, pos, high, low, bad = 0
    if s[8] != 45 or s[13] != 45 or s[18] != 45 or s[23] != 45:  # '-'
        return False
    for k in range(16):
        pos = 2 * k + (k >= 4) + (k >= 6) + (k >= 8) + (k >= 10)
        high = _HEX_VALUE[s[pos]]
        low = _HEX_VALUE[s[pos + 1]]
        bad |= high | low  # -1 for a non-hex character
        out[(7 - k) if k < 8 else (23 - k)] = <char>((high << 4) | low)
    return bad >= 0


cdef int _write_uuids(ColumnData col, Py_ssize_t n, _Out out, str name) except -1:
    cdef const int32_t* offsets = <const int32_t*>col.values.ptr
    cdef const unsigned char* data = <const unsigned char*>col.data.ptr
    cdef const uint8_t* validity = <const uint8_t*>col.validity.ptr
    cdef bint nulls = col.null_count > 0
    cdef Py_ssize_t i
    cdef char* p = out.reserve(16 * n)
    for i in range(n):
        if nulls and _is_null(validity, i):
            memset(p, 0, 16)
        elif (
            offsets[i + 1] - offsets[i] != 36
            or not _uuid_bytes(data + offsets[i], p)
        ):
            raise ValueError(f"{name}: not a valid UUID")
        p += 16
    out.commit(p)
    return 0


cdef int _write_bools(ColumnData col, Py_ssize_t n, _Out out) except -1:
    cdef const uint8_t* bits = <const uint8_t*>col.values.ptr
    cdef const uint8_t* validity = <const uint8_t*>col.validity.ptr
    cdef bint nulls = col.null_count > 0
    cdef Py_ssize_t i
    cdef char* p = out.reserve(n)
    for i in range(n):
        p[i] = ((bits[i >> 3] >> (i & 7)) & 1) and not (nulls and _is_null(validity, i))
    out.commit(p + n)
    return 0


cdef int _write_floats(ColumnData col, Py_ssize_t n, _Out out, bint single, str name) except -1:
    cdef const double* values = <const double*>col.values.ptr
    cdef const uint8_t* validity = <const uint8_t*>col.validity.ptr
    cdef bint nulls = col.null_count > 0
    cdef Py_ssize_t i
    cdef double value
    cdef float narrow
    cdef char* p = out.reserve((4 if single else 8) * n)
    if not single and not nulls:
        memcpy(p, values, 8 * n)
        out.commit(p + 8 * n)
        return 0
    for i in range(n):
        value = 0.0 if nulls and _is_null(validity, i) else values[i]
        if single:
            narrow = <float>value
            if isinf(narrow):
                raise ValueError(f"{name}: {value!r} is out of range for Float32")
            memcpy(p, &narrow, 4)
            p += 4
        else:
            memcpy(p, &value, 8)
            p += 8
    out.commit(p)
    return 0


cdef int _write_ints(
    ColumnData col, Py_ssize_t n, _Out out, int width, Scaling scaling, int64_t factor,
    int64_t lowest, int64_t highest, str name, str type_text,
) except -1:
    """int64 cells (int or ts) scaled, range-checked and cut to `width` bytes."""
    cdef const int64_t* values = <const int64_t*>col.values.ptr
    cdef const uint8_t* validity = <const uint8_t*>col.validity.ptr
    cdef bint nulls = col.null_count > 0
    cdef Py_ssize_t i
    cdef int64_t value, scaled
    cdef char* p = out.reserve(width * n)
    if width == 8 and scaling == SCALE_NONE and lowest == INT64_MIN and not nulls:
        memcpy(p, values, 8 * n)
        out.commit(p + 8 * n)
        return 0
    for i in range(n):
        if nulls and _is_null(validity, i):
            scaled = 0
        else:
            value = values[i]
            scaled = value
            if scaling == SCALE_MULTIPLY:
                if value > INT64_MAX / factor or value < INT64_MIN / factor:
                    raise ValueError(f"{name}: {value} is out of range for {type_text}")
                scaled = value * factor
            elif scaling == SCALE_FLOOR_DIVIDE:
                scaled = value / factor
                if value % factor != 0 and value < 0:
                    scaled -= 1
            if scaled < lowest or scaled > highest:
                raise ValueError(f"{name}: {value} is out of range for {type_text}")
        memcpy(p, &scaled, width)  # the low bytes: little-endian two's complement
        p += width
    out.commit(p)
    return 0


cdef DecimalError _parse_decimal(
    const unsigned char* s, Py_ssize_t size, int scale, int precision, int64_t* result
) noexcept:
    """Exact [+-]digits[.digits] text to the integer value * 10^scale."""
    cdef Py_ssize_t i = 0, whole_start, whole_stop, fraction_start, fraction_stop, k
    cdef bint negative = False
    cdef int64_t value = 0
    if size > 0 and (s[0] == 43 or s[0] == 45):  # '+' '-'
        negative = s[0] == 45
        i = 1
    whole_start = i
    while i < size and 48 <= s[i] <= 57:
        i += 1
    whole_stop = i
    if whole_stop == whole_start:
        return DECIMAL_INVALID
    fraction_start = fraction_stop = i
    if i < size:
        if s[i] != 46:  # '.'
            return DECIMAL_INVALID
        fraction_start = i + 1
        i += 1
        while i < size and 48 <= s[i] <= 57:
            i += 1
        fraction_stop = i
        if fraction_stop == fraction_start or i != size:
            return DECIMAL_INVALID
    for k in range(fraction_start + scale, fraction_stop):
        if s[k] != 48:
            return DECIMAL_TOO_PRECISE
    while whole_start < whole_stop and s[whole_start] == 48:
        whole_start += 1
    # value >= 10^(digits - 1 + scale): it fits 10^precision only with digits + scale <= precision
    if (whole_stop - whole_start) + scale > precision:
        return DECIMAL_TOO_LARGE
    for k in range(whole_start, whole_stop):
        value = value * 10 + (s[k] - 48)
    for k in range(scale):
        value *= 10
        if fraction_start + k < fraction_stop:
            value += s[fraction_start + k] - 48
    result[0] = -value if negative else value
    return DECIMAL_OK


cdef int _write_decimals(
    ColumnData col, Py_ssize_t n, _Out out, int width, int scale, int precision,
    str name, str type_text,
) except -1:
    cdef const int32_t* offsets = <const int32_t*>col.values.ptr
    cdef const unsigned char* data = <const unsigned char*>col.data.ptr
    cdef const uint8_t* validity = <const uint8_t*>col.validity.ptr
    cdef bint nulls = col.null_count > 0
    cdef Py_ssize_t i
    cdef int64_t value
    cdef int32_t narrow
    cdef DecimalError error
    cdef char* p = out.reserve(width * n)
    for i in range(n):
        value = 0
        if not (nulls and _is_null(validity, i)):
            error = _parse_decimal(
                data + offsets[i], offsets[i + 1] - offsets[i], scale, precision, &value
            )
            if error != DECIMAL_OK:
                text = (<const char*>data + offsets[i])[:offsets[i + 1] - offsets[i]].decode()
                if error == DECIMAL_INVALID:
                    raise ValueError(f"{name}: not a valid decimal")
                if error == DECIMAL_TOO_PRECISE:
                    raise ValueError(f"{name}: {text} has more decimals than {type_text}")
                raise ValueError(f"{name}: {text} is out of range for {type_text}")
        if width == 4:
            narrow = <int32_t>value
            memcpy(p, &narrow, 4)
        else:
            memcpy(p, &value, 8)
        p += width
    out.commit(p)
    return 0


@cython.final
cdef class _Dictionary:
    """Distinct strings of one column in order of first appearance (open addressing).

    Entries point into the column's data; the table of slots doubles when half full.
    """

    cdef const unsigned char* data
    cdef Py_ssize_t first  # entries before it are not in the table (the NULL entry)
    cdef Py_ssize_t count
    cdef Py_ssize_t nbytes  # of all entries
    cdef Py_ssize_t capacity
    cdef int32_t* slots  # entry number, -1 when empty
    cdef Py_ssize_t* entry_start
    cdef Py_ssize_t* entry_size
    cdef uint64_t* entry_hash

    def __cinit__(self, ColumnData col, Py_ssize_t max_entries):
        self.data = <const unsigned char*>col.data.ptr
        self.capacity = 64
        self.slots = <int32_t*>PyMem_Malloc(self.capacity * sizeof(int32_t))
        self.entry_start = <Py_ssize_t*>PyMem_Malloc(max_entries * sizeof(Py_ssize_t))
        self.entry_size = <Py_ssize_t*>PyMem_Malloc(max_entries * sizeof(Py_ssize_t))
        self.entry_hash = <uint64_t*>PyMem_Malloc(max_entries * sizeof(uint64_t))
        if not (self.slots and self.entry_start and self.entry_size and self.entry_hash):
            raise MemoryError()
        memset(self.slots, 0xFF, self.capacity * sizeof(int32_t))

    def __dealloc__(self):
        PyMem_Free(self.slots)
        PyMem_Free(self.entry_start)
        PyMem_Free(self.entry_size)
        PyMem_Free(self.entry_hash)

    cdef void add_null(self) noexcept:
        """Entry 0: an empty string standing for NULL, which no lookup finds."""
        self._append(0, 0)
        self.first = 1

    cdef inline Py_ssize_t _append(self, Py_ssize_t start, Py_ssize_t size) noexcept:
        cdef Py_ssize_t entry = self.count
        self.entry_start[entry] = start
        self.entry_size[entry] = size
        self.nbytes += size
        self.count += 1
        return entry

    cdef inline Py_ssize_t key(self, Py_ssize_t start, Py_ssize_t size) except -1:
        """The entry of these bytes, added when new."""
        cdef uint64_t h = _hash(self.data + start, size)
        cdef uint64_t mask = <uint64_t>(self.capacity - 1)
        cdef Py_ssize_t slot = <Py_ssize_t>(h & mask), entry
        while True:
            entry = self.slots[slot]
            if entry < 0:
                break
            if (
                self.entry_hash[entry] == h
                and self.entry_size[entry] == size
                and memcmp(self.data + self.entry_start[entry], self.data + start, size) == 0
            ):
                return entry
            slot = <Py_ssize_t>((slot + 1) & mask)
        entry = self._append(start, size)
        self.entry_hash[entry] = h
        self.slots[slot] = <int32_t>entry
        if 2 * self.count >= self.capacity:
            self._grow()
        return entry

    cdef int _grow(self) except -1:
        cdef Py_ssize_t capacity = 2 * self.capacity, entry, slot
        cdef uint64_t mask = <uint64_t>(capacity - 1)
        cdef int32_t* slots = <int32_t*>PyMem_Malloc(capacity * sizeof(int32_t))
        if slots == NULL:
            raise MemoryError()
        memset(slots, 0xFF, capacity * sizeof(int32_t))
        for entry in range(self.first, self.count):
            slot = <Py_ssize_t>(self.entry_hash[entry] & mask)
            while slots[slot] >= 0:
                slot = <Py_ssize_t>((slot + 1) & mask)
            slots[slot] = <int32_t>entry
        PyMem_Free(self.slots)
        self.slots = slots
        self.capacity = capacity
        return 0


cdef int _write_low_cardinality(ColumnData col, Py_ssize_t n, _Out out, bint nullable) except -1:
    """Dictionary of distinct strings in order of first appearance, then one index per row."""
    cdef const int32_t* offsets = <const int32_t*>col.values.ptr
    cdef const uint8_t* validity = <const uint8_t*>col.validity.ptr
    cdef bint nulls = col.null_count > 0
    cdef _Dictionary dictionary = _Dictionary(col, n + 1)
    cdef Py_ssize_t i, start, size, entry, previous = -1
    cdef uint32_t* keys = <uint32_t*>PyMem_Malloc(n * sizeof(uint32_t))
    cdef char* p
    cdef int width
    cdef uint8_t key8
    cdef uint16_t key16
    if keys == NULL:
        raise MemoryError()
    try:
        if nullable:
            dictionary.add_null()
        for i in range(n):
            start = offsets[i]
            size = offsets[i + 1] - start
            if nulls and _is_null(validity, i):
                if nullable:
                    keys[i] = 0
                    continue
                size = 0
            # Runs of one value are common (one site, one browser): check the last one first.
            if (
                previous >= 0
                and dictionary.entry_size[previous] == size
                and memcmp(dictionary.data + dictionary.entry_start[previous],
                           dictionary.data + start, size) == 0
            ):
                keys[i] = <uint32_t>previous
                continue
            previous = dictionary.key(start, size)
            keys[i] = <uint32_t>previous

        code, width = lc_index_width(dictionary.count)
        p = out.reserve(32 + 10 * dictionary.count + dictionary.nbytes + width * n)
        p = _u64(p, LC_KEYS_VERSION)
        p = _u64(p, LC_FLAGS | code)
        p = _u64(p, dictionary.count)
        for entry in range(dictionary.count):
            size = dictionary.entry_size[entry]
            p = _varint(p, size)
            memcpy(p, dictionary.data + dictionary.entry_start[entry], size)
            p += size
        p = _u64(p, n)
        for i in range(n):
            if width == 1:
                key8 = <uint8_t>keys[i]
                p[0] = <char>key8
            elif width == 2:
                key16 = <uint16_t>keys[i]
                memcpy(p, &key16, 2)
            else:
                memcpy(p, &keys[i], 4)
            p += width
        out.commit(p)
    finally:
        PyMem_Free(keys)
    return 0


cdef int _write_column(ColumnData col, Py_ssize_t n, _Out out, plan) except -1:
    """One column's data as `plan` (a native_types.PlannedColumn) says."""
    cdef str name = plan.name
    cdef str type_text = plan.type.text
    cdef int64_t factor = 1, lowest, highest
    cdef int width
    cdef Scaling scaling = SCALE_NONE
    native = plan.type
    kind = plan.column.kind
    base = native.base
    if native.low_cardinality:
        return _write_low_cardinality(col, n, out, native.nullable)
    if native.nullable:
        _write_null_map(col, n, out)
    if base == "String":
        return _write_strings(col, n, out)
    if base == "UUID":
        return _write_uuids(col, n, out, name)
    if kind is Kind.BOOL:
        return _write_bools(col, n, out)
    if kind is Kind.FLOAT:
        return _write_floats(col, n, out, native.width == 4, name)
    if kind is Kind.DECIMAL:
        return _write_decimals(
            col, n, out, native.width, native.scale, native.precision, name, type_text
        )
    if base == "DateTime":
        width, scaling, factor, lowest, highest = 4, SCALE_FLOOR_DIVIDE, 1000, 0, DATETIME_MAX
    elif base == "DateTime64":
        width, lowest, highest = 8, INT64_MIN, INT64_MAX
        if native.scale > 3:
            scaling, factor = SCALE_MULTIPLY, 10 ** (native.scale - 3)
        elif native.scale < 3:
            scaling, factor = SCALE_FLOOR_DIVIDE, 10 ** (3 - native.scale)
    else:
        width, lowest, highest = INTEGER_TYPES[base]
    return _write_ints(col, n, out, width, scaling, factor, lowest, highest, name, type_text)


def encode_block(batch, columns) -> bytes:
    """`batch` (a compiled ColumnBatch) as a Native block of `columns` (name, ClickHouse type)."""
    cdef ColumnBatch compiled
    cdef ColumnData col
    cdef Py_ssize_t n
    cdef _Out out
    cdef char* p
    if not isinstance(batch, ColumnBatch):
        raise TypeError(
            f"expected a tracker._fast.columns.ColumnBatch, got {type(batch).__name__}"
        )
    compiled = <ColumnBatch>batch
    planned = plan_block(compiled.table, columns)
    n = compiled.num_rows
    out = _Out(compiled.nbytes + 64 * len(planned))
    p = out.reserve(20)
    p = _varint(p, len(planned))
    out.commit(_varint(p, n))
    for plan in planned:
        out.write_string(plan.name.encode("utf-8"))
        out.write_string(plan.type.text.encode("utf-8"))
        if n:  # zero rows: no data at all
            col = <ColumnData>compiled.column_data[plan.index]
            _write_column(col, n, out, plan)
    return PyBytes_FromStringAndSize(out.ptr, out.size)
