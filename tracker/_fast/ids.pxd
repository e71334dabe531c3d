# cython: language_level=3
"""C-level UUID text check shared by ids.pyx and columns.pyx (inline: no runtime
import), and ids.pyx's uuid7_at for the compiled single-event path."""

from libc.stdint cimport uint64_t


cdef str uuid7_at(uint64_t now_ms)


cdef inline int _hex_lower(unsigned char c) noexcept nogil:
    """The lowercase hex digit for c, or 0 when c is not a hex digit."""
    if (48 <= c <= 57) or (97 <= c <= 102):
        return c
    if 65 <= c <= 70:
        return c + 32
    return 0


cdef inline bint uuid_to_lower(const unsigned char* s, Py_ssize_t n, char* out) noexcept nogil:
    """Check canonical 8-4-4-4-12 hex text (any case); write 36 lowercase bytes to out.

    Returns False (out partly written) when s is not a canonical UUID.
    """
    cdef Py_ssize_t i
    cdef int c
    if n != 36:
        return False
    for i in range(36):
        if i == 8 or i == 13 or i == 18 or i == 23:
            if s[i] != 45:  # '-'
                return False
            out[i] = 45
        else:
            c = _hex_lower(s[i])
            if c == 0:
                return False
            out[i] = <char>c
    return True
