# cython: language_level=3, boundscheck=False, wraparound=False
"""Tracking fields from URL path pairs and query strings (compiled; twin: pathpairs_py.py).

Works on the UTF-8 bytes of the text: '/' '&' '=' '%' '+' are ASCII, so they
never occur inside a multi-byte sequence. A segment without escapes is decoded
straight from the input; escaped ones go through a scratch buffer.
"""

from cpython.dict cimport PyDict_SetDefault
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp

from tracker._fast.percent cimport is_key_byte, next_pair, percent_decode

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    void* PyUnicode_DATA(object text)

cdef enum:
    MAX_PAIRS_C = 256
    MAX_KEY_LENGTH_C = 64
    STACK_SCRATCH = 1024

MAX_PAIRS = MAX_PAIRS_C
MAX_KEY_LENGTH = MAX_KEY_LENGTH_C


def decode_path_pairs(str path not None, Py_ssize_t prefix_len) -> dict:
    """Decode `path[prefix_len:]` as `key/value/key/value...` (see pathpairs_py)."""
    cdef Py_ssize_t size
    cdef const unsigned char* raw
    if prefix_len < 0:
        raise ValueError("prefix_len must not be negative")
    if prefix_len >= len(path):
        return {}
    cdef object rest = path[prefix_len:] if prefix_len else path
    raw = <const unsigned char*>_utf8(rest, "path", &size)
    return _pairs(raw, size, False, {}, None)


def decode_query(str query not None) -> dict:
    """Decode an application/x-www-form-urlencoded string (see pathpairs_py)."""
    cdef Py_ssize_t size
    cdef const unsigned char* raw = <const unsigned char*>_utf8(query, "query", &size)
    return _pairs(raw, size, True, {}, None)


def known_keys(names) -> tuple:
    """The ASCII key names among `names`, grouped by length (see pathpairs_py)."""
    cdef list groups = [[] for _ in range(MAX_KEY_LENGTH_C + 1)]
    for name in names:
        if type(name) is str and name.isascii() and 0 < len(name) <= MAX_KEY_LENGTH_C:
            groups[len(name)].append(name)
    return tuple([tuple(group) for group in groups])


def decode_url_fields(str path not None, Py_ssize_t prefix_len, str query not None,
                      tuple known=None) -> dict:
    """Path pairs, then the query's fields the path did not give (see pathpairs_py).

    A key equal to one of `known` (from known_keys) is that very string object:
    its hash is already computed, and a lookup in a dict keyed by those names
    finds it by identity."""
    cdef Py_ssize_t size
    cdef const unsigned char* raw
    cdef dict fields = {}
    cdef object rest  # holds the slice alive while `raw` points into it
    if prefix_len < 0:
        raise ValueError("prefix_len must not be negative")
    if prefix_len < len(path):
        rest = path[prefix_len:] if prefix_len else path
        raw = <const unsigned char*>_utf8(rest, "path", &size)
        _pairs(raw, size, False, fields, known)
    if query:
        raw = <const unsigned char*>_utf8(query, "query", &size)
        _pairs(raw, size, True, fields, known)
    return fields


cdef const char* _utf8(object text, str what, Py_ssize_t* size) except NULL:
    # For ASCII text this is the string's own storage: no copy.
    try:
        return PyUnicode_AsUTF8AndSize(text, size)
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode text (unpaired surrogate)") from None


cdef dict _pairs(const unsigned char* raw, Py_ssize_t size, bint is_query, dict pairs,
                 tuple known):
    """The path's or the query's pairs (percent.next_pair) into `pairs`, where a
    key already present keeps its value."""
    cdef unsigned char stack_scratch[STACK_SCRATCH]
    cdef unsigned char* scratch = stack_scratch
    cdef Py_ssize_t pos = 0, key_start, key_end, value_start, value_end
    cdef int number = 0
    cdef object key, value
    if size > STACK_SCRATCH:
        scratch = <unsigned char*>malloc(size)
        if scratch == NULL:
            raise MemoryError()
    try:
        while next_pair(raw, size, is_query, &pos, &key_start, &key_end, &value_start,
                        &value_end):
            number += 1
            if number > MAX_PAIRS_C:
                raise ValueError(_too_many())
            key = _decode_key(raw + key_start, key_end - key_start, scratch, number, is_query,
                              known)
            value = _decode(raw + value_start, value_end - value_start, scratch, number,
                            is_query)
            PyDict_SetDefault(pairs, key, value)
    finally:
        if scratch != stack_scratch:
            free(scratch)
    return pairs


cdef object _decode_key(
    const unsigned char* s, Py_ssize_t n, unsigned char* scratch, int number, bint plus_is_space,
    tuple known,
):
    cdef Py_ssize_t length = 0, i
    cdef const unsigned char* text = _unescape(s, n, scratch, &length, number, plus_is_space)
    cdef bint valid = 0 < length <= MAX_KEY_LENGTH_C
    if valid:
        for i in range(length):
            if not is_key_byte(text[i]):
                valid = False
                break
    if valid:
        if known is not None:
            for name in <tuple>known[length]:
                if memcmp(PyUnicode_DATA(name), text, length) == 0:
                    return name
        # key bytes are ASCII: decoding cannot fail
        return PyUnicode_DecodeUTF8(<const char*>text, length, NULL)
    # Same order of checks as the twin: bad UTF-8 is reported before a bad key.
    raise ValueError(_bad_key(_utf8_text(text, length, number)))


cdef object _decode(
    const unsigned char* s, Py_ssize_t n, unsigned char* scratch, int number, bint plus_is_space
):
    cdef Py_ssize_t length = 0
    cdef const unsigned char* text = _unescape(s, n, scratch, &length, number, plus_is_space)
    return _utf8_text(text, length, number)


cdef object _utf8_text(const unsigned char* text, Py_ssize_t length, int number):
    try:
        return PyUnicode_DecodeUTF8(<const char*>text, length, NULL)
    except UnicodeDecodeError:
        raise ValueError(f"pair {number}: not valid UTF-8 after percent-decoding") from None


cdef const unsigned char* _unescape(
    const unsigned char* s, Py_ssize_t n, unsigned char* scratch, Py_ssize_t* length,
    int number, bint plus_is_space,
) except NULL:
    """Percent-decode s[:n]; returns s itself when there is nothing to decode."""
    cdef const unsigned char* text
    cdef Py_ssize_t size = percent_decode(s, n, scratch, plus_is_space, &text)
    if size < 0:
        raise ValueError(f"pair {number}: invalid percent-escape")
    length[0] = size
    return text


def _bad_key(str key) -> str:
    shown = key if len(key) <= MAX_KEY_LENGTH_C else key[:MAX_KEY_LENGTH_C] + "..."
    return f"invalid key {shown!r}: expected 1-64 characters of A-Z a-z 0-9 _ . -"


def _too_many() -> str:
    return f"too many pairs (at most {MAX_PAIRS_C})"
