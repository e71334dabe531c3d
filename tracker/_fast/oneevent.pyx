# cython: language_level=3, boundscheck=False, wraparound=False
"""One tracking event, sent by GET or as one JSON object by POST: from the
request to its log row and its answer in one compiled call.

Single events on `/tr/v1/tr/` and `/tr/v1/img/` are the most frequent
requests. The general path (tracker/routes) turns one into a dict of fields,
a RequestContext, a row dict, its JSON and a PrebuiltResponse, over a dozen
Python calls. Here the fields go into one C slot per column (GET: percent-
decoded from the URL; POST: read from the parsed object), and the row's JSON
and the answer's bytes are written from the slots: no Python object per
field, one Python call per request (the log append).

There is no twin: the general path is the oracle. This class answers only the
common case, decided before anything changes; for anything else it returns
the general path's answer (`fallback`, handed the posted body when it was
parsed here), so a request outside its scope is answered exactly as before. In scope:
- HTTP/1.1, kept alive, an ASCII target, no Cookie header (a returning
  visitor's ids and consent are the general path's), ASCII Host,
  User-Agent and Accept-Language;
- GET /tr/v1/tr/... or /tr/v1/img/...: every field a text column or a text
  alias; valid keys, escapes and UTF-8; at most MAX_PAIRS pairs in the path
  and in the query; values within the length limit;
- POST to /tr/v1/tr/ or /tr/v1/img/ without a query, a JSON (or text/plain)
  body without Content-Encoding holding one object, or a batch (an array, or
  {"batch": array}) of 1 to MAX_EVENTS_PER_REQUEST such objects, whose
  fields are text
  (strings within the limit), numbers (score, revenue, amt: finite floats or
  integers within 64 bits), counts (vp_w, vp_h, cflags: integers from 0
  to 2^63-1) or `params` (a non-empty object without personal fields, whose
  JSON is within its limit), or null;
- and never a `country` field (the consent gate decides those).
The application builds one only where the general path's outcome depends on
nothing else: no rate limit, no GeoIP, constant CORS headers, not cookieless,
and a log written in groups (TrackingRoutes.one_event_path).

The row has the same columns and values as the general path's; the keys
come in another order (the log's readers parse them into dicts).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.object cimport PyObject
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.math cimport isfinite
from libc.string cimport memcmp, memcpy, memset, strlen
from posix.time cimport CLOCK_MONOTONIC, CLOCK_REALTIME, clock_gettime, timespec

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    int PyUnicode_IS_ASCII(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    void* PyUnicode_DATA(object text)
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)

cdef extern from "Python.h":
    char* PyOS_double_to_string(double value, char format_code, int precision, int flags,
                                int* type) except NULL
    int Py_DTSF_ADD_DOT_0
    double PyFloat_AS_DOUBLE(object value)
    void PyMem_Free(void* p)

cdef extern from "string.h" nogil:
    void* memmem(const void* haystack, size_t hlen, const void* needle, size_t nlen)

from orjson import JSONDecodeError, JSONEncodeError, dumps, loads

from tracker._fast.ids cimport uuid7_at
from tracker._fast.percent cimport is_key_byte, next_pair, percent_decode
from tracker._fast.request cimport Request

cdef enum:
    MAX_NAMES = 64  # text field names (columns and aliases)
    MAX_SLOTS = 64  # text columns
    MAX_KEY_LENGTH = 64  # as the URL decoder (pathpairs)
    MAX_PAIRS_C = 256  # per path and per query, as the URL decoder
    UNSET = 0
    BY_ALIAS = 1
    BY_NAME = 2
    TEXT = 0
    COUNT = 1
    OBJECT = 2
    FLOAT = 3
    KIND_TR = 0
    KIND_IMG = 1
    CLIENT_CACHE_ENTRIES = 8192
    BUCKETS = 15  # the latency histogram's, +Inf included

MAX_PAIRS = MAX_PAIRS_C
PREFIXES = (b"/tr/v1/tr/", b"/tr/v1/img/")


cdef class ClientColumns:
    """One client's columns as JSON pieces, each starting with ",": those the
    event cannot set (ip, iphash, bot) joined, and the text ones it may set
    (device, os, browser, lang) by slot, written only when it did not."""
    cdef bytes fixed
    cdef tuple by_slot  # ((slot, piece), ...)


cdef class OneEventPath:
    # Field names: entry i's bytes, its column's slot, alias or not.
    cdef int _name_count
    cdef tuple _name_bytes  # keeps the buffers _name_ptr points into
    cdef dict _entry_of  # name -> entry, for the keys of a posted object
    cdef const char* _name_ptr[MAX_NAMES]
    cdef int _name_len[MAX_NAMES]
    cdef int _name_slot[MAX_NAMES]
    cdef bint _name_alias[MAX_NAMES]
    # Columns: slot i's kind and key as JSON (',"name":"' for text, else
    # ',"name":'), and the slots named by the rules.
    cdef int _slot_count
    cdef tuple _slot_keys
    cdef unsigned char _slot_kind[MAX_SLOTS]
    cdef dict _slot_of  # column name -> slot
    cdef int _url, _host, _ename, _content, _country
    cdef Py_ssize_t _max_chars, _max_params_bytes
    cdef tuple _personal_names
    # Per request: where each slot's value is (a count's in _count), how it
    # was set, which names were seen; the posted params' JSON.
    cdef const unsigned char* _ptr[MAX_SLOTS]
    cdef Py_ssize_t _len[MAX_SLOTS]
    cdef long long _count_value[MAX_SLOTS]
    cdef double _float_value[MAX_SLOTS]
    cdef unsigned char _how[MAX_SLOTS]
    cdef unsigned char _seen[MAX_NAMES]
    cdef bytes _params_json
    # Decoded values and the row's JSON, grown as needed, never shrunk: bounded
    # by the URL limit, which the HTTP layer enforces before this runs.
    cdef unsigned char* _values
    cdef Py_ssize_t _values_size
    cdef char* _out
    cdef Py_ssize_t _out_size
    # The application's parts.
    cdef object _new_client, _campaign, _resolve, _append, _fallback, _clock
    cdef object _wal_full_error, _full_answer, _counters
    cdef int _table_id
    cdef dict _clients
    cdef dict _peer_ips  # socket peer -> client address, for requests without proxy headers
    cdef object _last_ip_key, _last_ua, _last_al
    cdef ClientColumns _last_client
    # Answers: per kind the bytes before the cookies and after the date line;
    # per TLS flag the cookie lines around the ids.
    cdef tuple _heads, _tails, _cookies
    cdef tuple _cookie_text  # per TLS flag: the Set-Cookie values around the ids, as text
    cdef object _append_array, _batch_answer
    cdef Py_ssize_t _max_batch_events
    cdef long long _date_second
    cdef bytes _date_line
    # Metrics not yet handed to the RouteCounters: requests per kind, latency.
    cdef long long _answered[2]
    cdef double _bounds[BUCKETS - 1]
    cdef long long _bucket_counts[BUCKETS]
    cdef double _latency_sum
    cdef tuple _routes
    cdef tuple _statuses
    cdef readonly long long taken  # requests this path answered
    # A posted body parsed here and left to the general path, as its
    # (events, is_batch): it is not parsed again.
    cdef object _parsed

    def __init__(self, dict fields not None, Py_ssize_t max_chars, *,
                 Py_ssize_t max_params_bytes, tuple personal_names not None,
                 new_client, campaign, resolve_ip, append, append_array, int table_id,
                 batch_answer, Py_ssize_t max_batch_events,
                 tuple answers not None, dict cookie_parts not None, clock,
                 wal_full_error, full_answer, counters, tuple latency_bounds not None,
                 fallback):
        """`fields`: {input name: (column, kind, is_alias)}, kind "text",
        "count" or "object" (params); `max_chars`, `max_params_bytes` and
        `personal_names` (not taken inside params) are the builder's limits
        and rules; `new_client(ip, ua,
        al)` -> (stored ip, iphash, ((column, value), ...)) and `campaign(url)`
        -> {column: value} are the event builder's hooks; `resolve_ip(peer,
        x-forwarded-for, x-real-ip)`; `append(table_id, rows, row JSON)` adds to
        the turn's group append, `append_array(table_id, rows, JSON array)`
        the same for a batch's rows; both raise `wal_full_error` at the quota,
        when `full_answer` is returned; `batch_answer(route, accepted,
        cookies)` is the general path's answer to a batch of `accepted`
        events, at most `max_batch_events`; `answers`: the PrebuiltResponse for /tr/
        and for /img/; `cookie_parts`: {tls: (before vid, after vid, before
        sid, after sid)}; `clock`: the HttpDate whose line goes in answers;
        `counters`: RouteCounters, given this path's counts by flush_metrics;
        `fallback(request, parsed)`: the general path, given the posted events
        this path parsed as (events, is_batch), or None."""
        cdef int i
        kinds = {"text": TEXT, "count": COUNT, "object": OBJECT, "float": FLOAT}
        if len(fields) > MAX_NAMES:
            raise ValueError("too many fields")
        column_kind = {}
        for name, (column, kind, alias) in fields.items():
            if column_kind.setdefault(column, kinds[kind]) != kinds[kind]:
                raise ValueError(f"column {column!r} has two kinds")
        columns = sorted(column_kind)
        if len(columns) > MAX_SLOTS:
            raise ValueError("too many columns")
        self._slot_count = len(columns)
        self._slot_of = {column: i for i, column in enumerate(columns)}
        self._slot_keys = tuple([(f',"{column}":"' if column_kind[column] == TEXT
                                  else f',"{column}":').encode() for column in columns])
        for i in range(len(columns)):
            self._slot_kind[i] = column_kind[columns[i]]
        names = []
        for name, (column, kind, alias) in fields.items():
            raw = name.encode()
            if not 0 < len(raw) <= MAX_KEY_LENGTH:
                raise ValueError(f"field name {name!r} cannot be a URL key")
            names.append((raw, self._slot_of[column], bool(alias)))
        self._entry_of = {name: i for i, name in enumerate(fields)}
        self._name_bytes = tuple([raw for raw, _, _ in names])
        self._name_count = len(names)
        for i in range(len(names)):
            raw = self._name_bytes[i]
            self._name_ptr[i] = PyBytes_AS_STRING(raw)
            self._name_len[i] = len(raw)
            self._name_slot[i] = names[i][1]
            self._name_alias[i] = names[i][2]
        self._max_params_bytes = max_params_bytes
        self._personal_names = personal_names
        self._url = self._slot_of.get("url", -1)
        self._host = self._slot_of.get("host", -1)
        self._ename = self._slot_of.get("ename", -1)
        self._content = self._slot_of.get("content", -1)
        self._country = self._slot_of.get("country", -1)
        self._max_chars = max_chars
        self._new_client = new_client
        self._campaign = campaign
        self._resolve = resolve_ip
        self._append = append
        self._append_array = append_array
        self._batch_answer = batch_answer
        self._max_batch_events = max_batch_events
        self._table_id = table_id
        self._fallback = fallback
        self._clock = clock
        self._wal_full_error = wal_full_error
        self._full_answer = full_answer
        self._counters = counters
        self._clients = {}
        self._peer_ips = {}
        self._heads = tuple([answer.split()[0] for answer in answers])
        self._tails = tuple([answer.split()[1] for answer in answers])
        cookies = []
        for tls in (False, True):
            before_vid, after_vid, before_sid, after_sid = cookie_parts[tls]
            cookies.append((b"Set-Cookie: " + before_vid.encode("latin-1"),
                            after_vid.encode("latin-1") + b"\r\n",
                            b"Set-Cookie: " + before_sid.encode("latin-1"),
                            after_sid.encode("latin-1") + b"\r\n"))
        self._cookies = tuple(cookies)
        self._cookie_text = tuple([tuple(cookie_parts[tls]) for tls in (False, True)])
        if len(latency_bounds) != BUCKETS - 1:
            raise ValueError(f"expected {BUCKETS - 1} latency bounds")
        for i in range(BUCKETS - 1):
            self._bounds[i] = latency_bounds[i]
        self._routes = ("tr", "img")
        self._statuses = tuple([answer.status for answer in answers])
        self._date_second = -1

    def __dealloc__(self):
        free(self._values)
        free(self._out)

    # -- the request ------------------------------------------------------

    def handle(self, request):
        """The answer to `request`: this path's bytes, or the general path's answer."""
        cdef timespec started
        clock_gettime(CLOCK_MONOTONIC, &started)
        self._parsed = None
        if type(request) is not Request:  # a twin's Request (tests): the general path's
            return self._fallback(request, None)
        answer = self._answer(<Request>request, &started)
        if answer is None:
            parsed, self._parsed = self._parsed, None
            return self._fallback(request, parsed)
        self.taken += 1
        return answer

    cdef object _answer(self, Request request, timespec* started):
        """The answer's bytes, or None when the request is outside this path's scope."""
        cdef int kind
        cdef Py_ssize_t path_size, query_size, prefix
        cdef const char* raw
        cdef bint is_get
        if not request.keep_alive or request.http_version != "1.1":
            return None
        method = request.method
        if method == "GET":
            is_get = True
        elif method == "POST":
            is_get = False
        else:
            return None
        path = request.path
        query = request.query
        if not PyUnicode_IS_ASCII(path) or not PyUnicode_IS_ASCII(query):
            return None
        path_size = PyUnicode_GET_LENGTH(path)
        query_size = PyUnicode_GET_LENGTH(query)
        raw = <const char*>PyUnicode_DATA(path)
        if path_size >= 10 and memcmp(raw, b"/tr/v1/tr/", 10) == 0:
            kind = KIND_TR
            prefix = 10
        elif path_size >= 11 and memcmp(raw, b"/tr/v1/img/", 11) == 0:
            kind = KIND_IMG
            prefix = 11
        else:
            return None
        headers = request.headers
        if type(headers) is not dict or "cookie" in <dict>headers:
            return None
        if is_get:
            if not self._decode_fields(<const unsigned char*>raw + prefix, path_size - prefix,
                                       <const unsigned char*>PyUnicode_DATA(query), query_size):
                return None
            if self._country >= 0 and self._how[self._country] != UNSET:
                return None
            return self._take_events(request, kind, None, False, <dict>headers, started)
        if query_size or path_size != prefix:
            return None  # fields in the URL too: the general path merges them
        posted = self._posted_document(request, <dict>headers)
        if posted is None:
            return None
        if type(posted) is dict:
            events = [posted]
            self._parsed = (events, False)
            return self._take_events(request, kind, events, False, <dict>headers, started)
        if not 0 < len(<list>posted) <= self._max_batch_events:
            return None  # no event, or too many: the general path's 400 or 413
        self._parsed = (posted, True)
        return self._take_events(request, kind, <list>posted, True, <dict>headers, started)

    cdef object _take_events(self, Request request, int kind, list posted, bint is_batch,
                             dict headers, timespec* started):
        """The rows of a request's events, appended, and the answer; None when
        an event is out of scope (nothing is changed then). `posted`: a POST's
        event objects; None for a GET, whose fields are in the slots already.
        A batch's events share one visitor and one session, as the general
        path's first event gets and hands on (tracking.carry_ids)."""
        client_of = self._client_of(request, headers)
        if client_of is None:
            return None
        cdef ClientColumns client = <ClientColumns>(<tuple>client_of)[0]
        host_header = (<tuple>client_of)[1]
        cdef timespec now
        clock_gettime(CLOCK_REALTIME, &now)
        cdef long long now_ms = <long long>now.tv_sec * 1000 + now.tv_nsec // 1000000
        vid = uuid7_at(now_ms)
        sid = uuid7_at(now_ms)
        cdef list rows = []
        if posted is None:
            self._params_json = None
            row = self._event_row(client, host_header, now_ms, vid, sid)
            if row is None:
                return None
            rows.append(row)
        else:
            for item in posted:
                self._params_json = None
                if type(item) is not dict or not self._object_fields(<dict>item):
                    return None
                row = self._event_row(client, host_header, now_ms, vid, sid)
                if row is None:
                    return None
                rows.append(row)
        # Within scope: from here on the events are taken.
        route = self._routes[kind]
        try:
            if is_batch:
                self._append_array(self._table_id, len(rows), b"[" + b",".join(rows) + b"]")
            else:
                self._append(self._table_id, 1, rows[0])
        except self._wal_full_error:
            self._counters.record(route, self._full_answer.status, _seconds_since(started))
            return self._full_answer
        if not is_batch:
            answer = self._answer_bytes(kind, bool(request.tls), vid, sid, now.tv_sec)
            self._count(kind, started)
            return answer
        tls = 1 if request.tls else 0
        cookies = (("Set-Cookie", self._cookie_text[tls][0] + vid + self._cookie_text[tls][1]),
                   ("Set-Cookie", self._cookie_text[tls][2] + sid + self._cookie_text[tls][3]))
        answer = self._batch_answer(route, len(rows), cookies)
        self._counters.record(route, answer.status, _seconds_since(started))
        return answer

    # -- fields -----------------------------------------------------------

    cdef bint _decode_fields(self, const unsigned char* path, Py_ssize_t path_size,
                             const unsigned char* query, Py_ssize_t query_size) except -1:
        """Path pairs, then query pairs, into the slots. False: out of scope."""
        cdef Py_ssize_t needed = path_size + query_size
        cdef unsigned char* grown
        if needed > self._values_size:
            grown = <unsigned char*>realloc(self._values, needed)
            if grown == NULL:
                raise MemoryError()
            self._values = grown
            self._values_size = needed
        memset(self._how, UNSET, self._slot_count)
        memset(self._seen, 0, self._name_count)
        cdef Py_ssize_t used = 0
        used = self._pairs(path, path_size, False, used)
        if used < 0:
            return False
        return self._pairs(query, query_size, True, used) >= 0

    cdef Py_ssize_t _pairs(self, const unsigned char* raw, Py_ssize_t size, bint is_query,
                           Py_ssize_t used):
        """Like pathpairs._pairs; decoded values are appended to _values from
        `used`. Returns the new `used`, or -1: out of scope."""
        cdef Py_ssize_t pos = 0, key_start, key_end, value_start, value_end
        cdef Py_ssize_t key_length, value_length, chars
        cdef int number = 0, entry
        cdef unsigned char key[MAX_KEY_LENGTH]
        cdef const unsigned char* value
        while next_pair(raw, size, is_query, &pos, &key_start, &key_end, &value_start,
                        &value_end):
            number += 1
            if number > MAX_PAIRS_C:
                return -1
            key_length = _unescape_key(raw + key_start, key_end - key_start, key, is_query)
            if key_length < 0:
                return -1
            entry = self._entry(key, key_length)
            if entry < 0 or self._slot_kind[self._name_slot[entry]] != TEXT:
                return -1  # not a text field: the general path's
            value_length = percent_decode(raw + value_start, value_end - value_start,
                                          self._values + used, is_query, &value)
            if value_length < 0:
                return -1
            chars = _utf8_chars(value, value_length)
            if chars < 0:
                return -1
            if value != raw + value_start:
                used += value_length  # decoded into _values
            if self._seen[entry]:
                continue  # a repeated key: the first one counts
            self._seen[entry] = 1
            if chars > self._max_chars:
                return -1  # the general path's 400
            self._take(entry, value, value_length)
        return used

    cdef object _event_row(self, ClientColumns client, str host_header, long long now_ms,
                           str vid, str sid):
        """The row's JSON from the slots of one event, with its own eid; None
        when the page URL's campaign fields are out of scope."""
        if self._host >= 0 and self._how[self._host] == UNSET:
            self._fill_host(host_header)
        if (self._ename >= 0 and self._content >= 0 and self._how[self._ename] == UNSET
                and self._how[self._content] != UNSET):
            self._set(self._ename, self._ptr[self._content], self._len[self._content], BY_NAME)
        found = None  # holds the campaign values the slots point into
        if self._url >= 0 and self._how[self._url] != UNSET and self._len[self._url] >= 4 \
                and memmem(self._ptr[self._url], self._len[self._url], b"utm_", 4) != NULL:
            found = self._campaign(PyUnicode_DecodeUTF8(<const char*>self._ptr[self._url],
                                                        self._len[self._url], NULL))
            if not self._fill_campaign(found):
                return None
        return self._row_json(now_ms, uuid7_at(now_ms), vid, sid, client)

    cdef object _posted_document(self, Request request, dict headers):
        """The posted body parsed (the general path's rules): a dict for one
        event, a list for a batch; None: out of scope."""
        content_type = headers.get("content-type", "")
        if not (content_type == "application/json" or content_type == "text/plain"
                or content_type == ""):
            return None  # maybe with parameters: the general path normalizes
        if headers.get("content-encoding"):
            return None
        body = request.body
        if type(body) is not bytes or not _looks_like_json(<bytes>body):
            return None
        try:
            posted = loads(body)
        except JSONDecodeError:
            return None
        if type(posted) is dict and "batch" in <dict>posted and len(<dict>posted) == 1:
            posted = (<dict>posted)["batch"]
            return posted if type(posted) is list else None  # else the general path's 400
        return posted if type(posted) is dict or type(posted) is list else None

    cdef bint _object_fields(self, dict posted) except -1:
        """A posted object's fields into the slots. False: out of scope."""
        cdef PyObject* found
        cdef int entry, slot
        cdef Py_ssize_t size
        cdef const char* text
        cdef int overflow = 0, kind
        cdef long long number
        cdef double real
        if "country" in posted:  # even null: the consent gate decides
            return False
        memset(self._how, UNSET, self._slot_count)
        for key, value in posted.items():
            if value is None:
                continue  # as absent
            found = PyDict_GetItem(self._entry_of, key)
            if found is NULL:
                return False  # unknown: params, or a field with a converter
            entry = <int><object>found
            slot = self._name_slot[entry]
            kind = self._slot_kind[slot]
            if kind == TEXT:
                if type(value) is not str or PyUnicode_GET_LENGTH(value) > self._max_chars:
                    return False
                try:
                    text = PyUnicode_AsUTF8AndSize(value, &size)
                except UnicodeEncodeError:
                    return False
                self._take(entry, <const unsigned char*>text, size)
            elif kind == COUNT:
                if type(value) is not int:
                    return False
                number = PyLong_AsLongLongAndOverflow(value, &overflow)
                if overflow or number < 0:
                    return False
                self._count_value[slot] = number
                self._how[slot] = BY_NAME
            elif kind == FLOAT:
                if type(value) is float:
                    real = PyFloat_AS_DOUBLE(value)
                    if not isfinite(real):
                        return False
                elif type(value) is int:
                    number = PyLong_AsLongLongAndOverflow(value, &overflow)
                    if overflow:
                        return False
                    real = <double>number
                else:
                    return False  # text or anything else: the general path converts or refuses
                if not self._name_alias[entry] or self._how[slot] == UNSET:
                    self._float_value[slot] = real
                    self._how[slot] = BY_ALIAS if self._name_alias[entry] else BY_NAME
            elif not self._take_params(slot, value):
                return False
        return True

    cdef bint _take_params(self, int slot, value) except -1:
        if type(value) is not dict or not value or self._max_params_bytes <= 0:
            return False
        for name in self._personal_names:
            if name in <dict>value:
                return False  # hashed out into columns: the general path's
        try:
            encoded = dumps(value)
        except JSONEncodeError:
            return False
        if len(<bytes>encoded) > self._max_params_bytes:
            return False
        self._params_json = encoded
        self._set(slot, <const unsigned char*>PyBytes_AS_STRING(encoded), len(<bytes>encoded),
                  BY_NAME)
        return True

    cdef void _take(self, int entry, const unsigned char* value, Py_ssize_t length):
        """A text field's value: a name wins over its aliases, the first alias over later ones."""
        cdef int slot = self._name_slot[entry]
        if not self._name_alias[entry]:
            self._set(slot, value, length, BY_NAME)
        elif self._how[slot] == UNSET:
            self._set(slot, value, length, BY_ALIAS)

    cdef int _entry(self, const unsigned char* key, Py_ssize_t length):
        cdef int i
        for i in range(self._name_count):
            if self._name_len[i] == length and memcmp(self._name_ptr[i], key, length) == 0:
                return i
        return -1

    cdef inline void _set(self, int slot, const unsigned char* value, Py_ssize_t length,
                          unsigned char how):
        self._ptr[slot] = value
        self._len[slot] = length
        self._how[slot] = how

    cdef void _fill_host(self, str host_header):
        """The page URL's host, else the Host header's, without the port
        (eventcore's host rules, on bytes)."""
        cdef const unsigned char* text
        cdef Py_ssize_t start, end, size
        if self._url >= 0 and self._how[self._url] != UNSET and self._len[self._url] > 0:
            text = self._ptr[self._url]
            size = self._len[self._url]
            if _url_host(text, size, &start, &end) and end > start:
                self._set(self._host, text + start, end - start, BY_NAME)
                return
        text = <const unsigned char*>PyUnicode_DATA(host_header)
        _without_port(text, 0, PyUnicode_GET_LENGTH(host_header), &start, &end)
        if end > start:
            self._set(self._host, text + start, end - start, BY_NAME)

    cdef bint _fill_campaign(self, found) except -1:
        """The page URL's campaign columns the event lacks. False: out of scope."""
        cdef Py_ssize_t size
        cdef const char* text
        cdef PyObject* slot
        if type(found) is not dict:
            return False
        for column, value in (<dict>found).items():
            slot = PyDict_GetItem(self._slot_of, column)
            if slot is NULL or type(value) is not str:
                return False
            if self._how[<int><object>slot] != UNSET:
                continue
            try:
                text = PyUnicode_AsUTF8AndSize(value, &size)
            except UnicodeEncodeError:
                return False
            self._set(<int><object>slot, <const unsigned char*>text, size, BY_NAME)
        return True

    # -- the client ---------------------------------------------------------

    cdef object _client_of(self, Request request, dict headers):
        """(the client's columns, the Host header), or None when the headers
        they come from are out of scope (not ASCII)."""
        user_agent = headers.get("user-agent", "")
        language = headers.get("accept-language", "")
        host_header = headers.get("host", "")
        if (type(user_agent) is not str or type(language) is not str
                or type(host_header) is not str or not PyUnicode_IS_ASCII(user_agent)
                or not PyUnicode_IS_ASCII(language) or not PyUnicode_IS_ASCII(host_header)):
            return None
        ip = self._client_ip(request, headers)
        return self._client(ip, user_agent, language), host_header

    cdef object _client_ip(self, Request request, dict headers):
        forwarded = headers.get("x-forwarded-for")
        real_ip = headers.get("x-real-ip")
        peer = request.peer_ip
        if forwarded is not None or real_ip is not None:
            return self._resolve(peer, forwarded, real_ip)
        cdef PyObject* found = PyDict_GetItem(self._peer_ips, peer)
        if found is not NULL:
            return <object>found
        ip = self._resolve(peer, None, None)  # depends on the peer alone
        if len(self._peer_ips) >= CLIENT_CACHE_ENTRIES:
            self._peer_ips.clear()
        self._peer_ips[peer] = ip
        return ip

    cdef ClientColumns _client(self, ip, user_agent, language):
        if ip is self._last_ip_key and user_agent is self._last_ua and language is self._last_al:
            return self._last_client
        key = (ip, user_agent, language)
        cdef PyObject* found = PyDict_GetItem(self._clients, key)
        cdef ClientColumns client
        if found is NULL:
            client = self._encode_client(ip, user_agent, language)
            if len(self._clients) >= CLIENT_CACHE_ENTRIES:
                self._clients.clear()
            self._clients[key] = client
        else:
            client = <ClientColumns>found
        self._last_ip_key = ip
        self._last_ua = user_agent
        self._last_al = language
        self._last_client = client
        return client

    cdef ClientColumns _encode_client(self, ip, user_agent, language):
        stored_ip, iphash, defaults = self._new_client(ip, user_agent, language)
        fixed = []
        by_slot = []
        if stored_ip is not None:
            fixed.append(_json_member("ip", stored_ip))
        fixed.append(_json_member("iphash", iphash))
        for column, value in defaults:
            piece = _json_member(column, value)
            slot = self._slot_of.get(column)
            if slot is None:
                fixed.append(piece)
            else:
                by_slot.append((slot, piece))
        cdef ClientColumns client = ClientColumns.__new__(ClientColumns)
        client.fixed = b"".join(fixed)
        client.by_slot = tuple(by_slot)
        return client

    # -- output -----------------------------------------------------------

    cdef bytes _row_json(self, long long now_ms, str eid, str vid, str sid,
                         ClientColumns client):
        cdef Py_ssize_t bound = 256 + len(client.fixed)
        cdef int slot
        cdef bytes piece, key
        for slot in range(self._slot_count):
            if self._how[slot] != UNSET:
                bound += len(<bytes>self._slot_keys[slot]) + 6 * self._len[slot] + 40
        for slot, piece in client.by_slot:
            bound += len(piece)
        cdef char* grown
        if bound > self._out_size:
            grown = <char*>realloc(self._out, bound)
            if grown == NULL:
                raise MemoryError()
            self._out = grown
            self._out_size = bound
        cdef char* out = self._out
        cdef Py_ssize_t n = _put(out, 0, b'{"created_at":', 14)
        n += _put_int(out + n, now_ms)
        n = _put(out, n, b',"eid":"', 8)
        n = _put(out, n, <const char*>PyUnicode_DATA(eid), 36)
        n = _put(out, n, b'","vid":"', 9)
        n = _put(out, n, <const char*>PyUnicode_DATA(vid), 36)
        n = _put(out, n, b'","sid":"', 9)
        n = _put(out, n, <const char*>PyUnicode_DATA(sid), 36)
        out[n] = 34  # '"'
        n += 1
        n = _put(out, n, PyBytes_AS_STRING(client.fixed), len(client.fixed))
        for slot, piece in client.by_slot:
            if self._how[slot] == UNSET:
                n = _put(out, n, PyBytes_AS_STRING(piece), len(piece))
        for slot in range(self._slot_count):
            if self._how[slot] == UNSET:
                continue
            key = <bytes>self._slot_keys[slot]
            n = _put(out, n, PyBytes_AS_STRING(key), len(key))
            if self._slot_kind[slot] == TEXT:
                n += _escape(out + n, self._ptr[slot], self._len[slot])
                out[n] = 34
                n += 1
            elif self._slot_kind[slot] == COUNT:
                n += _put_int(out + n, self._count_value[slot])
            elif self._slot_kind[slot] == FLOAT:
                n += _put_float(out + n, self._float_value[slot])
            else:  # JSON already
                n = _put(out, n, <const char*>self._ptr[slot], self._len[slot])
        out[n] = 125  # '}'
        n += 1
        return PyBytes_FromStringAndSize(out, n)

    cdef bytes _answer_bytes(self, int kind, bint tls, str vid, str sid, long long second):
        if second != self._date_second:
            self._date_line = self._clock.line()
            self._date_second = second
        cdef bytes head = <bytes>self._heads[kind]
        cdef bytes tail = <bytes>self._tails[kind]
        cdef bytes date = self._date_line
        cdef tuple cookie = <tuple>self._cookies[1 if tls else 0]
        cdef bytes vid_before = <bytes>cookie[0], vid_after = <bytes>cookie[1]
        cdef bytes sid_before = <bytes>cookie[2], sid_after = <bytes>cookie[3]
        cdef Py_ssize_t size = (len(head) + len(vid_before) + len(vid_after) + len(sid_before)
                                + len(sid_after) + 72 + len(date) + len(tail))
        cdef bytes answer = PyBytes_FromStringAndSize(NULL, size)
        cdef char* out = PyBytes_AS_STRING(answer)
        cdef Py_ssize_t n = _put(out, 0, PyBytes_AS_STRING(head), len(head))
        n = _put(out, n, PyBytes_AS_STRING(vid_before), len(vid_before))
        n = _put(out, n, <const char*>PyUnicode_DATA(vid), 36)
        n = _put(out, n, PyBytes_AS_STRING(vid_after), len(vid_after))
        n = _put(out, n, PyBytes_AS_STRING(sid_before), len(sid_before))
        n = _put(out, n, <const char*>PyUnicode_DATA(sid), 36)
        n = _put(out, n, PyBytes_AS_STRING(sid_after), len(sid_after))
        n = _put(out, n, PyBytes_AS_STRING(date), len(date))
        _put(out, n, PyBytes_AS_STRING(tail), len(tail))
        return answer

    # -- metrics ------------------------------------------------------------

    cdef void _count(self, int kind, timespec* started):
        cdef double seconds = _seconds_since(started)
        cdef int i = 0
        while i < BUCKETS - 1 and self._bounds[i] < seconds:  # bisect_left
            i += 1
        self._bucket_counts[i] += 1
        self._latency_sum += seconds
        self._answered[kind] += 1

    def flush_metrics(self):
        """Hand the counts since the last call to the RouteCounters."""
        cdef int i
        for i in range(2):
            if self._answered[i]:
                self._counters.add(self._routes[i], self._statuses[i], self._answered[i])
                self._answered[i] = 0
        counts = [self._bucket_counts[i] for i in range(BUCKETS)]
        if any(counts):
            self._counters.latency.merge(counts, self._latency_sum)
        memset(self._bucket_counts, 0, sizeof(self._bucket_counts))
        self._latency_sum = 0.0


cdef bint _looks_like_json(bytes body):
    """Whether a posted body may be a JSON object or array: it starts with one
    (after blanks). Checked before parsing, so that anything else is left to
    the general path unparsed."""
    cdef Py_ssize_t size = len(body), i = 0
    cdef const char* data = PyBytes_AS_STRING(body)
    while i < size and (data[i] == 32 or data[i] == 9 or data[i] == 10 or data[i] == 13):
        i += 1
    return i < size and (data[i] == 123 or data[i] == 91)  # '{' '['


cdef bytes _json_member(str name, value):
    """',"name":<value as JSON>' (what a row's JSON holds for the column)."""
    cdef bytes whole = dumps({name: value})  # {"name":...}
    return b"," + whole[1:len(whole) - 1]


cdef double _seconds_since(timespec* started):
    cdef timespec now
    clock_gettime(CLOCK_MONOTONIC, &now)
    return (now.tv_sec - started.tv_sec) + (now.tv_nsec - started.tv_nsec) * 1e-9


cdef inline Py_ssize_t _put(char* out, Py_ssize_t n, const char* data, Py_ssize_t size):
    memcpy(out + n, data, size)
    return n + size


cdef Py_ssize_t _put_int(char* out, long long value):
    cdef char digits[24]
    cdef int count = 0, i
    cdef bint negative = value < 0
    cdef unsigned long long rest = -value if negative else value
    while True:
        digits[count] = 48 + rest % 10
        rest //= 10
        count += 1
        if rest == 0:
            break
    cdef Py_ssize_t n = 0
    if negative:
        out[0] = 45
        n = 1
    for i in range(count):
        out[n + i] = digits[count - 1 - i]
    return n + count


cdef Py_ssize_t _put_float(char* out, double value) except -1:
    """A finite double as JSON: Python's repr, the shortest text that reads back
    as the same double ("1.0", "1e+16"), at most 24 bytes."""
    cdef char* text = PyOS_double_to_string(value, b"r", 0, Py_DTSF_ADD_DOT_0, NULL)
    if text == NULL:
        raise MemoryError()
    cdef Py_ssize_t size = strlen(text)
    memcpy(out, text, size)
    PyMem_Free(text)
    return size


cdef const char* HEX = b"0123456789abcdef"


# Bytes a JSON string cannot hold as they are: control characters, '"' and '\'.
cdef unsigned char NEEDS_ESCAPE[256]
for _byte in range(256):
    NEEDS_ESCAPE[_byte] = _byte < 32 or _byte == 34 or _byte == 92


cdef Py_ssize_t _escape(char* out, const unsigned char* text, Py_ssize_t size):
    """`text` (valid UTF-8) as the inside of a JSON string; at most 6 bytes per byte."""
    cdef Py_ssize_t i, n = 0
    cdef unsigned char c
    for i in range(size):
        c = text[i]
        if not NEEDS_ESCAPE[c]:
            out[n] = c
            n += 1
        elif c == 34 or c == 92:  # '"' '\'
            out[n] = 92
            out[n + 1] = c
            n += 2
        else:
            out[n] = 92
            out[n + 1] = 117  # 'u'
            out[n + 2] = 48
            out[n + 3] = 48
            out[n + 4] = HEX[c >> 4]
            out[n + 5] = HEX[c & 15]
            n += 6
    return n


cdef Py_ssize_t _unescape_key(const unsigned char* s, Py_ssize_t n, unsigned char* out,
                              bint plus_is_space):
    """A key decoded into `out` (MAX_KEY_LENGTH bytes): its length, or -1 when
    it is not a valid key (the URL decoder's 400)."""
    cdef unsigned char decoded[3 * MAX_KEY_LENGTH]
    cdef const unsigned char* text
    cdef Py_ssize_t length, i
    if n > 3 * MAX_KEY_LENGTH:  # even all escaped, too long
        return -1
    length = percent_decode(s, n, decoded, plus_is_space, &text)
    if not 0 < length <= MAX_KEY_LENGTH:
        return -1
    for i in range(length):
        if not is_key_byte(text[i]):
            return -1
    memcpy(out, text, length)
    return length


cdef Py_ssize_t _utf8_chars(const unsigned char* s, Py_ssize_t n):
    """The number of characters of strict UTF-8 text (as Python decodes it:
    no overlong forms, no surrogates, nothing past U+10FFFF), or -1."""
    cdef Py_ssize_t i = 0, chars = 0
    cdef unsigned char c, lo, hi
    cdef int follow, j
    cdef uint64_t word
    while i + 8 <= n:  # ASCII, eight bytes at a time
        memcpy(&word, s + i, 8)
        if word & 0x8080808080808080ULL:
            break
        i += 8
    chars = i
    while i < n:
        c = s[i]
        chars += 1
        if c < 0x80:
            i += 1
            continue
        lo = 0x80
        hi = 0xBF
        if 0xC2 <= c <= 0xDF:
            follow = 1
        elif 0xE0 <= c <= 0xEF:
            follow = 2
            if c == 0xE0:
                lo = 0xA0
            elif c == 0xED:
                hi = 0x9F
        elif 0xF0 <= c <= 0xF4:
            follow = 3
            if c == 0xF0:
                lo = 0x90
            elif c == 0xF4:
                hi = 0x8F
        else:
            return -1
        if i + follow >= n:
            return -1
        if not lo <= s[i + 1] <= hi:
            return -1
        for j in range(2, follow + 1):
            if not 0x80 <= s[i + j] <= 0xBF:
                return -1
        i += follow + 1
    return chars


cdef bint _url_host(const unsigned char* url, Py_ssize_t size, Py_ssize_t* start,
                    Py_ssize_t* end):
    """Where the host of an absolute URL is (eventcore._host_from_url on bytes):
    after "://" (or a leading "//"), up to "/", "?" or "#", after the last "@",
    without the port. False when the URL has no authority."""
    cdef const void* found = memmem(url, size, b"://", 3)
    cdef Py_ssize_t begin, stop, i
    if found != NULL:
        begin = <const unsigned char*>found - url + 3
    elif size >= 2 and url[0] == 47 and url[1] == 47:
        begin = 2
    else:
        return False
    stop = begin
    while stop < size and url[stop] != 47 and url[stop] != 63 and url[stop] != 35:
        stop += 1
    i = stop
    while i > begin:
        if url[i - 1] == 64:  # '@'
            begin = i
            break
        i -= 1
    _without_port(url, begin, stop, start, end)
    return True


cdef void _without_port(const unsigned char* text, Py_ssize_t begin, Py_ssize_t stop,
                        Py_ssize_t* start, Py_ssize_t* end):
    """'example.com:8080' -> 'example.com', '[2001:db8::1]:80' -> '2001:db8::1'."""
    cdef unsigned char until = 58  # ':'
    if begin < stop and text[begin] == 91:  # '['
        begin += 1
        until = 93  # ']'
    cdef Py_ssize_t i = begin
    while i < stop and text[i] != until:
        i += 1
    start[0] = begin
    end[0] = i
