# cython: language_level=3
"""The URL decoder's rules shared by pathpairs.pyx and oneevent.pyx (inline:
no runtime import); tracker/_fast/pathpairs_py.py documents them.

Pairs: path parts (split on "/") are key, value, key, value...; query parts
(split on "&") are key[=value]; empty parts are skipped. Escapes: "%XX" with
two hex digits of either case, "+" a space in a query, anything else as it is.
"""

from libc.string cimport memcpy


cdef inline int hex_value(unsigned char c) noexcept nogil:
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


cdef inline bint is_key_byte(unsigned char c) noexcept nogil:
    """A byte a field name may have: A-Z a-z 0-9 _ . -"""
    return (
        (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)
        or c == 95 or c == 46 or c == 45
    )


cdef inline Py_ssize_t percent_decode(const unsigned char* s, Py_ssize_t n, unsigned char* out,
                                      bint plus_is_space,
                                      const unsigned char** result) noexcept nogil:
    """Percent-decode s[:n]: its length, and in `result` s itself when nothing
    is escaped, else `out` (at least n bytes); -1 on a bad escape."""
    cdef Py_ssize_t i = 0, j = 0
    cdef int hi, lo
    cdef unsigned char c
    while i < n and s[i] != 37 and not (plus_is_space and s[i] == 43):  # '%' '+'
        i += 1
    result[0] = s
    if i == n:
        return n
    result[0] = out
    memcpy(out, s, i)
    j = i
    while i < n:
        c = s[i]
        if c == 37:
            if i + 2 >= n:
                return -1
            hi = hex_value(s[i + 1])
            lo = hex_value(s[i + 2])
            if hi < 0 or lo < 0:
                return -1
            out[j] = <unsigned char>(hi * 16 + lo)
            i += 3
        else:
            out[j] = 32 if (plus_is_space and c == 43) else c
            i += 1
        j += 1
    return j


cdef inline bint next_pair(const unsigned char* raw, Py_ssize_t size, bint is_query,
                           Py_ssize_t* pos, Py_ssize_t* key_start, Py_ssize_t* key_end,
                           Py_ssize_t* value_start, Py_ssize_t* value_end) noexcept nogil:
    """The next pair of raw[:size] from pos[0] on, as byte ranges, pos[0]
    moved past it; False when there is none. A missing value is an empty range."""
    cdef unsigned char sep = 38 if is_query else 47  # '&' '/'
    cdef Py_ssize_t at = pos[0], start, stop
    while at < size and raw[at] == sep:
        at += 1
    if at >= size:
        pos[0] = at
        return False
    start = at
    while at < size and raw[at] != sep:
        at += 1
    stop = at
    key_start[0] = start
    if is_query:
        while start < stop and raw[start] != 61:  # '='
            start += 1
        key_end[0] = start
        value_start[0] = start + 1 if start < stop else stop
        value_end[0] = stop
    else:
        key_end[0] = stop
        while at < size and raw[at] == sep:
            at += 1
        value_start[0] = at
        while at < size and raw[at] != sep:
            at += 1
        value_end[0] = at
    pos[0] = at
    return True
