# cython: language_level=3, boundscheck=False, wraparound=False
"""The per-event work of EventBuilder.build (compiled; twin: eventcore_py.py).

The same steps in the same order as the twin, which documents the rules and
the hooks. Compiled because it runs once per event: the field loop and the
twenty-odd dictionary steps after it were the largest cost of a request in
Python.
"""

from cpython.dict cimport PyDict_GetItem, PyDict_SetDefault
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.object cimport PyObject, PyTypeObject
from libc.math cimport isfinite

cdef extern from "Python.h":
    dict _PyDict_NewPresized(Py_ssize_t minused)
    int PyUnicode_KIND(object text)
    void* PyUnicode_DATA(object text)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)
    object PyUnicode_Substring(object text, Py_ssize_t start, Py_ssize_t end)

from tracker._fast.ids import normalize_uuid, uuid7

# Distinct (IP, User-Agent, Accept-Language) whose columns are remembered.
CLIENT_CACHE_ENTRIES = 8192
cdef Py_ssize_t _CLIENT_CACHE_ENTRIES = CLIENT_CACHE_ENTRIES

# RequestContext (tracker/events/context.py) is a NamedTuple: its fields by
# position. The first three are also the client cache key.
cdef enum:
    CLIENT_IP = 0
    USER_AGENT = 1
    ACCEPT_LANGUAGE = 2
    HOST = 3
    TLS = 4
    NOW_MS = 5
    COOKIE_VID = 6
    COOKIE_SID = 7
    COOKIE_CONSENT = 8


cdef class EventCore:
    """The field table is {input name: (column, converter or None for text, is_alias)};
    a converter returning None means "absent"."""

    cdef dict _table
    cdef Py_ssize_t _max_chars
    cdef bint _cookieless
    cdef dict _cookie_parts
    cdef object _cookie_type
    cdef object _no_cookies
    cdef dict _clients
    cdef object _to_float
    cdef object _to_count
    cdef object _to_object
    cdef Py_ssize_t _max_params_bytes
    cdef tuple _personal_names
    # The last cookie ids given and their normal form: a batch's (or a
    # socket's) events all carry the same ones (tracking.carry_ids).
    cdef object _raw_vid, _vid, _raw_sid, _sid
    # The last context and its client's columns: a batch's events share both.
    cdef object _last_context
    cdef tuple _last_client

    def __init__(self, dict table not None, Py_ssize_t max_chars, bint cookieless,
                 dict cookie_parts not None, cookie_type, *, to_float=None, to_count=None,
                 to_object=None, Py_ssize_t max_params_bytes=0, tuple personal_names not None=()):
        self._table = table
        self._max_chars = max_chars
        self._cookieless = cookieless
        self._cookie_parts = cookie_parts
        self._cookie_type = cookie_type
        self._no_cookies = tuple.__new__(cookie_type, ((),))
        self._clients = {}
        # Shortcuts (the twin documents them): the converters whose common
        # inputs are checked inline, and what lets a small `params` object
        # skip the _finish_params hook.
        self._to_float = to_float
        self._to_count = to_count
        self._to_object = to_object
        self._max_params_bytes = max_params_bytes
        self._personal_names = personal_names

    def build(self, dict fields not None, context, cookieless_form=None,
              bint with_cookies=True):
        """The row (only non-null columns) and the cookies to set. Raises FieldError."""
        if not isinstance(context, tuple):
            raise TypeError("context must be a RequestContext")
        return self._build(fields, context, cookieless_form, with_cookies)

    def build_batch(self, list items not None, context, place, gated, carry, error_type):
        """Every event of one request: (rows, eids, rejected, cookies). See the twin."""
        if not isinstance(context, tuple):
            raise TypeError("context must be a RequestContext")
        cdef list rows = []
        cdef list eids = []
        cdef list rejected = []
        cdef tuple cookies = ()
        cdef Py_ssize_t index
        for index in range(len(items)):
            item = items[index]
            if not isinstance(item, dict):
                rejected.append({"index": index, "error": "an event must be a JSON object"})
                eids.append(None)
                continue
            try:
                if place or "country" in <dict>item:
                    row, update = gated(item, context, place, not cookies)
                else:
                    row, update = self._build(<dict>item, context, None, not cookies)
            except error_type as e:
                rejected.append({"index": index, "error": str(e)})
                eids.append(None)
                continue
            rows.append(row)
            eids.append(row["eid"])
            if not cookies and (<tuple>update)[0]:
                cookies = (<tuple>update)[0]
                context = carry(context, item, row)
        return rows, eids, rejected, cookies

    cdef tuple _build(self, dict fields, context, cookieless_form, bint with_cookies):
        cdef tuple ctx = <tuple>context  # a NamedTuple: read by position
        # Sized for a typical event: a growing dict would be rebuilt twice.
        cdef dict row = _PyDict_NewPresized(24)
        cdef dict extra = None
        cdef dict table = self._table
        cdef Py_ssize_t max_chars = self._max_chars
        cdef PyObject* found
        cdef tuple spec
        for key, value in fields.items():
            if value is None:
                continue
            found = PyDict_GetItem(table, key)
            if found is NULL:
                if type(value) is str and len(<str>value) > max_chars:
                    self._text(key, value)  # raises: too long
                if extra is None:
                    extra = {}
                extra[key] = value
                continue
            spec = <tuple>found
            convert = spec[1]
            if convert is None:  # a text column: the common case, checked inline
                if type(value) is str and len(<str>value) <= max_chars:
                    converted = value
                else:
                    converted = self._text(key, value)
            elif convert is self._to_float and type(value) is float and isfinite(<double>value):
                converted = value
            elif convert is self._to_float and type(value) is int:
                converted = float(value)
            elif convert is self._to_count and type(value) is int and _is_count(value):
                converted = value
            elif convert is self._to_object and type(value) is dict:
                converted = value
            else:
                converted = convert(key, value)
                if converted is None:
                    continue
            if spec[2]:
                PyDict_SetDefault(row, spec[0], converted)
            else:
                row[spec[0]] = converted

        row["created_at"] = ctx[NOW_MS]
        if "eid" not in row:
            row["eid"] = uuid7()
        if "ename" not in row and "content" in row:
            row["ename"] = row["content"]

        cdef tuple client_key
        cdef tuple client
        if context is self._last_context:
            client = self._last_client
        else:
            client_key = ctx[CLIENT_IP:ACCEPT_LANGUAGE + 1]
            found = PyDict_GetItem(self._clients, client_key)
            if found is NULL:
                client = self._new_client(*client_key)
                if len(self._clients) >= _CLIENT_CACHE_ENTRIES:
                    self._clients.clear()
                self._clients[client_key] = client
            else:
                client = <tuple>found
            self._last_context = context
            self._last_client = client
        stored_ip = client[0]
        if stored_ip is not None:
            row["ip"] = stored_ip
        row["iphash"] = client[1]

        if self._cookieless if cookieless_form is None else cookieless_form:
            self._cookieless_ids(row, context, stored_ip)
            cookies = self._no_cookies
        else:
            raw = ctx[COOKIE_VID]
            if raw is not self._raw_vid:
                self._raw_vid = raw
                self._vid = normalize_uuid(raw) if raw else None
            cookie_vid = self._vid
            vid = row.get("vid") or cookie_vid or uuid7()
            row["vid"] = vid
            if "sid" not in row:
                raw = ctx[COOKIE_SID]
                if raw is not self._raw_sid:
                    self._raw_sid = raw
                    self._sid = normalize_uuid(raw) if raw else None
                row["sid"] = self._sid or uuid7()
            if with_cookies:
                parts = <tuple>self._cookie_parts[ctx[TLS]]
                sid_line = ("Set-Cookie", f"{<str>parts[2]}{row['sid']}{<str>parts[3]}")
                if vid != cookie_vid:  # vid is (re)set only when the browser does not hold it
                    headers = (("Set-Cookie", f"{<str>parts[0]}{vid}{<str>parts[1]}"),
                               sid_line)
                else:
                    headers = (sid_line,)
                cookies = _new_tuple(self._cookie_type, (headers,))
            else:
                cookies = self._no_cookies

        for column, value in <tuple>client[2]:
            PyDict_SetDefault(row, column, value)  # the event's own value wins
        if "cflags" not in row:
            consent = ctx[COOKIE_CONSENT]
            if consent is not None:
                row["cflags"] = consent

        url = row.get("url")
        if url and "utm_" in url:  # campaign columns the event lacks, from the page URL
            for column, value in self._campaign(url).items():
                PyDict_SetDefault(row, column, value)
        if "host" not in row:
            host = (_host_from_url(url) if url else None) or _host_without_port(ctx[HOST])
            if host:
                row["host"] = host

        if extra is not None or "params" in row:
            if extra is not None or not self._params_as_given(row.get("params")):
                self._finish_params(row, extra)
        return row, cookies

    cdef bint _params_as_given(self, given) except -1:
        """Whether the hook would keep `params` as given: a non-empty object
        without personal fields whose JSON surely fits the limit."""
        if type(given) is not dict or not given or self._max_params_bytes <= 0:
            return False
        for name in self._personal_names:
            if name in <dict>given:
                return False
        return 0 <= _json_size_bound(<dict>given, self._max_params_bytes)

    # Hooks: see eventcore_py.

    def _text(self, name, value):
        raise NotImplementedError

    def _new_client(self, ip, user_agent, accept_language):
        raise NotImplementedError

    def _cookieless_ids(self, row, ctx, stored_ip):
        raise NotImplementedError

    def _campaign(self, url):
        raise NotImplementedError

    def _finish_params(self, row, extra):
        raise NotImplementedError


def host_from_url(str url not None):
    """The host of an absolute URL, case kept, without user info or port; None if none."""
    return _host_from_url(url)


cdef object _host_from_url(str url):
    """host_from_url (a C call from build).

    The twin's steps as index arithmetic: after "://" (or a leading "//"), up
    to the first "/", "?" or "#", after the last "@", then host_without_port.
    """
    cdef Py_ssize_t size = len(url)
    cdef int kind = PyUnicode_KIND(url)
    cdef void* data = PyUnicode_DATA(url)
    cdef Py_ssize_t start = url.find("://")
    cdef Py_ssize_t end, i
    cdef Py_UCS4 c
    if start >= 0:
        start += 3
    elif size >= 2 and PyUnicode_READ(kind, data, 0) == 47 and PyUnicode_READ(kind, data, 1) == 47:
        start = 2
    else:
        return None
    end = start
    while end < size:
        c = PyUnicode_READ(kind, data, end)
        if c == 47 or c == 63 or c == 35:  # '/', '?', '#'
            break
        end += 1
    i = end
    while i > start:
        if PyUnicode_READ(kind, data, i - 1) == 64:  # '@'
            start = i
            break
        i -= 1
    host = _without_port(url, kind, data, start, end)
    return host if host else None


def host_without_port(str authority not None):
    """'example.com:8080' -> 'example.com', '[2001:db8::1]:80' -> '2001:db8::1'."""
    return _host_without_port(authority)


cdef str _host_without_port(str authority):
    return _without_port(authority, PyUnicode_KIND(authority), PyUnicode_DATA(authority),
                         0, len(authority))


cdef str _without_port(str text, int kind, void* data, Py_ssize_t start, Py_ssize_t end):
    """host_without_port(text[start:end])."""
    cdef Py_ssize_t i
    cdef Py_UCS4 stop = 58  # ':'
    if start < end and PyUnicode_READ(kind, data, start) == 91:  # '['
        start += 1
        stop = 93  # ']'
    i = start
    while i < end and PyUnicode_READ(kind, data, i) != stop:
        i += 1
    if start == 0 and i == len(text):
        return text
    return PyUnicode_Substring(text, start, i)


cdef bint _is_count(value) except -1:
    """0 <= value <= 2**63 - 1, for an int."""
    cdef int overflow = 0
    cdef long long number = PyLong_AsLongLongAndOverflow(value, &overflow)
    return overflow == 0 and number >= 0


cdef Py_ssize_t _json_size_bound(dict obj, Py_ssize_t limit) except -2:
    """At least the size of orjson.dumps(obj), or -1 when over `limit` or when
    `obj` holds anything but str keys and str, int, float, bool or None values
    (those, and text beyond Latin-1, which may hold a surrogate orjson refuses,
    are left to the exact check)."""
    cdef Py_ssize_t total = 1  # "{"
    cdef int overflow = 0
    for key, value in obj.items():
        if type(key) is not str or PyUnicode_KIND(key) != 1:
            return -1
        # The key quoted, each character escaped at worst (\u00XX), then ":" and "," or "}".
        total += 6 * len(<str>key) + 4
        if type(value) is str:
            if PyUnicode_KIND(value) != 1:
                return -1
            total += 6 * len(<str>value) + 2
        elif type(value) is int:
            PyLong_AsLongLongAndOverflow(value, &overflow)
            if overflow:
                return -1
            total += 20  # "-9223372036854775808"
        elif type(value) is float:
            total += 24  # the longest shortest-repr of a double, e.g. -2.2250738585072014e-308
        elif value is None or type(value) is bool:
            total += 5
        else:
            return -1
        if total > limit:
            return -1
    return total


cdef inline object _new_tuple(type cls, tuple items):
    """tuple.__new__(cls, items) for a tuple subclass, without looking "__new__" up."""
    cdef tuple args = (items,)
    return (<PyTypeObject*>tuple).tp_new(cls, <PyObject*>args, NULL)
