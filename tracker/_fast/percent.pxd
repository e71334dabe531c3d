# cython: language_level=3
"""Percent-decoding shared by pathpairs.pyx and oneevent.pyx (inline: no runtime import).

The rules of the URL decoder (tracker/_fast/pathpairs_py.py documents them):
"%XX" with two hex digits of either case, "+" a space in a query, anything
else as it is.
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
