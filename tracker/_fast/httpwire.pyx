# cython: language_level=3, boundscheck=False, wraparound=False
"""Response header lines on the wire (compiled; twin: httpwire_py.py).

One pass over each name and value checks for CR, LF and NUL and copies the
latin-1 text into the result: per response this replaced a dozen Python
calls and scans.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memchr, memcpy

cdef extern from "Python.h":
    int PyUnicode_KIND(object text)
    void* PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    Py_ssize_t PyUnicode_FindChar(object text, Py_UCS4 ch, Py_ssize_t start,
                                  Py_ssize_t end, int direction) except -2
    int PyUnicode_1BYTE_KIND


cdef bint _unsafe(str text) except -1:
    cdef Py_ssize_t size = PyUnicode_GET_LENGTH(text)
    cdef const unsigned char* data
    if PyUnicode_KIND(text) == PyUnicode_1BYTE_KIND:
        # libc's memchr scans a word or a vector at a time: three of them beat
        # one loop over the bytes for the usual 10-100 characters.
        data = <const unsigned char*>PyUnicode_DATA(text)
        return (memchr(data, 13, size) != NULL or memchr(data, 10, size) != NULL
                or memchr(data, 0, size) != NULL)
    return (PyUnicode_FindChar(text, 13, 0, size, 1) >= 0
            or PyUnicode_FindChar(text, 10, 0, size, 1) >= 0
            or PyUnicode_FindChar(text, 0, 0, size, 1) >= 0)


def header_lines(headers) -> bytes:
    """``b"name: value\\r\\n"`` for each header, in latin-1 (see the twin)."""
    cdef list texts = []
    cdef Py_ssize_t total = 0
    cdef bint wide = False
    cdef str name, value
    for pair in headers:
        raw_name, raw_value = pair
        name = raw_name if type(raw_name) is str else f"{raw_name}"
        value = raw_value if type(raw_value) is str else f"{raw_value}"
        if _unsafe(name) or _unsafe(value):
            raise ValueError(f"control character in response header {name!r}")
        wide = wide or PyUnicode_KIND(name) != PyUnicode_1BYTE_KIND \
            or PyUnicode_KIND(value) != PyUnicode_1BYTE_KIND
        texts.append(name)
        texts.append(value)
        total += PyUnicode_GET_LENGTH(name) + PyUnicode_GET_LENGTH(value) + 4
    if wide:  # beyond latin-1: let the codec raise its own error
        return "".join([f"{texts[i]}: {texts[i + 1]}\r\n"
                        for i in range(0, len(texts), 2)]).encode("latin-1")
    cdef bytes out = PyBytes_FromStringAndSize(NULL, total)
    cdef char* pos = PyBytes_AS_STRING(out)
    cdef Py_ssize_t i, size
    for i in range(0, len(texts), 2):
        name = texts[i]
        value = texts[i + 1]
        size = PyUnicode_GET_LENGTH(name)
        memcpy(pos, PyUnicode_DATA(name), size)
        pos += size
        pos[0] = 58  # ':'
        pos[1] = 32  # ' '
        pos += 2
        size = PyUnicode_GET_LENGTH(value)
        memcpy(pos, PyUnicode_DATA(value), size)
        pos += size
        pos[0] = 13
        pos[1] = 10
        pos += 2
    return out
