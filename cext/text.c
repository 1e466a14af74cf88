/* Text files: the hot half of aiofiles_c's AsyncTextIOWrapper.
 *
 * TextBase keeps the state io.TextIOWrapper keeps (decoded characters, the
 * tell() snapshot, the codec objects, the newline settings) and runs
 * read(n), readline(), async iteration and write() on the loop thread,
 * decoding and encoding over the native buffered file's memory. A call that
 * finds what it needs in memory returns an already finished awaitable (Done).
 * A call that needs I/O -- a refill from the pool, a flush -- or that comes
 * while another such call is in progress goes to the Python half
 * (aiofiles_c/_text.py, method _slow), a coroutine that awaits the buffered
 * file and then calls back into the step functions here, which resume where
 * they stopped. Everything else (seek, tell, close, ...) is Python.
 *
 * The algorithms follow CPython's Modules/_io/textio.c step by step, so
 * results, positions, tell() cookies and errors are the same as io's.
 * Every field is owned by the loop thread; no worker touches this object.
 */
#include "afc.h"

#include <stddef.h>
#include <structmember.h>

#define AFC_TEXT_BUDGET_NS (500 * 1000)  /* inline work before one yield */
#define AFC_TEXT_CHECK_EVERY 32          /* calls between clock reads */
#define AFC_TEXT_UTF8_CACHE 4096         /* longest str encoded through its
                                            cached UTF-8 form */

/* Why a call goes to the Python half (the argument of _slow): it began
 * and stopped for input (its steps go with it); or it is to run there
 * whole (after the calls in progress); or the same after one yield. */
enum { WHY_NEED = 0, WHY_BUSY = 1, WHY_YIELD = 2 };
/* Which call (the argument of _slow). */
enum { OP_READLINE = 0, OP_ANEXT = 1, OP_READ = 2, OP_WRITE = 3,
       OP_WRITE_BYTES = 4 };

/* io's encodefuncs: for these codecs textio.c encodes without the
 * incremental encoder, the BOM decided by encoding_start_of_stream. */
enum { ENC_NONE = 0, ENC_UTF8, ENC_LATIN1, ENC_ASCII, ENC_UTF16BE,
       ENC_UTF16LE, ENC_UTF16, ENC_UTF32BE, ENC_UTF32LE, ENC_UTF32 };

/* Step results. */
#define STEP_DONE 1
#define STEP_NEED 0
#define STEP_ERROR (-1)

typedef struct {
    PyObject_HEAD
    afc_state *st;
    PyObject *buffer;          /* the buffered file; NULL once detached */
    PyObject *decoder;         /* NULL unless readable */
    PyObject *encoder;         /* NULL unless writable */
    PyObject *decoded_chars;   /* str or NULL */
    Py_ssize_t decoded_chars_used;
    PyObject *snapshot;        /* (dec_flags, next_input) or NULL */
    PyObject *pending_input;   /* a chunk the Python half read, or NULL */
    PyObject *readnl;          /* str or NULL */
    PyObject *writenl;         /* str or NULL: no translation */
    PyObject *encoding;        /* for PyUnicode_AsEncodedString */
    PyObject *errors;
    int readuniversal, readtranslate, writetranslate, line_buffering;
    int telling, seekable, busy;
    int fast_encode;           /* ENC_*: io's own encoder for this codec */
    int errors_strict;
    int encoding_start_of_stream;  /* utf-16/32: the next write has a BOM */
    Py_ssize_t chunk_size;
    Py_ssize_t need;           /* chunk size the last STEP_NEED wants */
    double b2cratio;
    /* readline() state kept across STEP_NEED */
    int rl_active;
    PyObject *rl_chunks;
    PyObject *rl_remaining;
    Py_ssize_t rl_chunked;
    /* read(n) state kept across STEP_NEED */
    int rd_active;
    PyObject *rd_chunks;
    Py_ssize_t rd_remaining;
    PyObject *spare;           /* a Done to reuse once nobody else holds it */
    /* fairness */
    int64_t since;
    unsigned calls;
    PyObject *weakreflist;
} TextObject;

typedef struct {
    PyObject_HEAD
    PyObject *value;  /* result, or NULL */
    PyObject *exc;    /* exception instance to raise, or NULL */
} DoneObject;

/* ---- Done: an awaitable whose answer is already known ---- */

/* Steals value. */
static PyObject *
done_new(afc_state *st, PyObject *value)
{
    if (value == NULL) {
        return NULL;
    }
    DoneObject *d = PyObject_GC_New(DoneObject, st->Done_type);
    if (d == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    d->value = value;
    d->exc = NULL;
    return (PyObject *)d;
}

/* An awaitable that raises the current exception when awaited. */
static PyObject *
done_error(afc_state *st)
{
    PyObject *type, *val, *tb;
    PyErr_Fetch(&type, &val, &tb);
    PyErr_NormalizeException(&type, &val, &tb);
    if (tb != NULL && val != NULL) {
        PyException_SetTraceback(val, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    if (val == NULL) {
        return NULL;
    }
    DoneObject *d = PyObject_GC_New(DoneObject, st->Done_type);
    if (d == NULL) {
        Py_DECREF(val);
        return NULL;
    }
    d->value = NULL;
    d->exc = val;
    PyObject_GC_Track(d);  /* a traceback can lead back here */
    return (PyObject *)d;
}

/* done_new() for a file's fast path: the Done of an earlier call is
 * reused when its awaiter is gone (only self->spare refers to it), which
 * saves an allocation per line or write. Steals value. */
static PyObject *
text_done(TextObject *self, PyObject *value)
{
    DoneObject *d = (DoneObject *)self->spare;
    if (value == NULL) {
        return NULL;
    }
    if (d != NULL && Py_REFCNT(d) == 1 && d->value == NULL &&
        d->exc == NULL) {
        d->value = value;
        return Py_NewRef(d);
    }
    PyObject *n = done_new(self->st, value);
    if (n != NULL) {
        Py_XSETREF(self->spare, Py_NewRef(n));
    }
    return n;
}

static PySendResult
Done_am_send(DoneObject *d, PyObject *arg, PyObject **presult)
{
    (void)arg;
    if (d->value != NULL) {
        *presult = d->value;
        d->value = NULL;
        return PYGEN_RETURN;
    }
    *presult = NULL;
    if (d->exc != NULL) {
        PyObject *e = d->exc;
        d->exc = NULL;
        PyErr_SetObject((PyObject *)Py_TYPE(e), e);
        Py_DECREF(e);
        return PYGEN_ERROR;
    }
    PyErr_SetString(PyExc_RuntimeError,
                    "cannot reuse already awaited coroutine");
    return PYGEN_ERROR;
}

static PyObject *
Done_iternext(DoneObject *d)
{
    PyObject *res;
    PySendResult r = Done_am_send(d, Py_None, &res);
    return afc_send_to_next(r, res);
}

static PyObject *
Done_send(DoneObject *d, PyObject *arg)
{
    (void)arg;
    return Done_iternext(d);
}

static PyObject *
Done_self(PyObject *d)
{
    return Py_NewRef(d);
}

static PyObject *
Done_throw(DoneObject *d, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *exc = afc_throw_exc(args, nargs);
    if (exc == NULL) {
        return NULL;
    }
    Py_CLEAR(d->value);
    Py_CLEAR(d->exc);
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *
Done_close(DoneObject *d, PyObject *Py_UNUSED(ignored))
{
    Py_CLEAR(d->value);
    Py_CLEAR(d->exc);
    Py_RETURN_NONE;
}

static int
Done_traverse(DoneObject *d, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(d));
    Py_VISIT(d->value);
    Py_VISIT(d->exc);
    return 0;
}

static int
Done_clear(DoneObject *d)
{
    Py_CLEAR(d->value);
    Py_CLEAR(d->exc);
    return 0;
}

static void
Done_dealloc(DoneObject *d)
{
    PyTypeObject *tp = Py_TYPE(d);
    if (PyObject_GC_IsTracked((PyObject *)d)) {
        PyObject_GC_UnTrack(d);
    }
    Py_CLEAR(d->value);
    Py_CLEAR(d->exc);
    PyObject_GC_Del(d);
    Py_DECREF(tp);
}

static PyMethodDef Done_methods[] = {
    {"send", (PyCFunction)Done_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))Done_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)Done_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Done_slots[] = {
    {Py_am_await, Done_self},
    AFC_AM_SEND_SLOT(Done_am_send)
    {Py_tp_iter, Done_self},
    {Py_tp_iternext, Done_iternext},
    {Py_tp_methods, Done_methods},
    {Py_tp_traverse, Done_traverse},
    {Py_tp_clear, Done_clear},
    {Py_tp_dealloc, Done_dealloc},
    {Py_tp_doc, "A finished text-file operation: await it like a coroutine."},
    {0, NULL},
};

PyType_Spec afc_done_spec = {
    .name = "aiofiles_c._cext.Done",
    .basicsize = sizeof(DoneObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Done_slots,
};

/* ---- shared checks and helpers (textio.c's) ---- */

static int
text_check_attached(TextObject *self)
{
    if (self->buffer == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "underlying buffer has been detached");
        return -1;
    }
    return 0;
}

/* CHECK_ATTACHED then CHECK_CLOSED. */
static int
text_check_usable(TextObject *self)
{
    if (text_check_attached(self) < 0) {
        return -1;
    }
    int c = afc_file_closed(self->st, self->buffer);
    if (c < 0) {
        PyObject *r = PyObject_GetAttrString(self->buffer, "closed");
        if (r == NULL) {
            return -1;
        }
        c = PyObject_IsTrue(r);
        Py_DECREF(r);
        if (c < 0) {
            return -1;
        }
    }
    if (c) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed file.");
        return -1;
    }
    return 0;
}

static void
text_unsupported(TextObject *self, const char *msg)
{
    PyErr_SetString(self->st->UnsupportedOperation, msg);
}

static void
set_decoded_chars(TextObject *self, PyObject *chars)
{
    Py_XSETREF(self->decoded_chars, chars);
    self->decoded_chars_used = 0;
}

static PyObject *
get_decoded_chars(TextObject *self, Py_ssize_t n)
{
    if (self->decoded_chars == NULL) {
        return PyUnicode_FromStringAndSize(NULL, 0);
    }
    Py_ssize_t avail =
        PyUnicode_GET_LENGTH(self->decoded_chars) - self->decoded_chars_used;
    if (n < 0 || n > avail) {
        n = avail;
    }
    PyObject *chars;
    if (self->decoded_chars_used > 0 || n < avail) {
        chars = PyUnicode_Substring(self->decoded_chars,
                                    self->decoded_chars_used,
                                    self->decoded_chars_used + n);
        if (chars == NULL) {
            return NULL;
        }
    }
    else {
        chars = Py_NewRef(self->decoded_chars);
    }
    self->decoded_chars_used += n;
    return chars;
}

static int
check_decoded(PyObject *decoded)
{
    if (decoded == NULL) {
        return -1;
    }
    if (!PyUnicode_Check(decoded)) {
        PyErr_Format(PyExc_TypeError,
                     "decoder should return a string result, not '%.200s'",
                     Py_TYPE(decoded)->tp_name);
        Py_DECREF(decoded);
        return -1;
    }
    return 0;
}

static Py_ssize_t
chunk_for(TextObject *self, Py_ssize_t size_hint)
{
    if (size_hint > 0) {
        double r = self->b2cratio > 1.0 ? self->b2cratio : 1.0;
        size_hint = (Py_ssize_t)(r * (double)size_hint);
    }
    return self->chunk_size > size_hint ? self->chunk_size : size_hint;
}

/* textio.c's read_chunk. Returns 1 (data), 0 (EOF), -1 (error), or
 * STEP_NEED - 1 == -2 when the input must come from the pool: then
 * self->need is the read1() size the Python half should ask for. */
#define CHUNK_NEED (-2)

static int
read_chunk(TextObject *self, Py_ssize_t size_hint)
{
    PyObject *dec_buffer = NULL, *dec_flags = NULL, *input = NULL;
    PyObject *decoded = NULL;
    if (self->decoder == NULL) {
        text_unsupported(self, "not readable");
        return -1;
    }
    if (self->pending_input != NULL) {
        input = self->pending_input;
        self->pending_input = NULL;
    }
    else {
        Py_ssize_t want = chunk_for(self, size_hint);
        input = afc_file_read1_nowait(self->st, self->buffer, want);
        if (input == NULL) {
            if (PyErr_Occurred()) {
                return -1;
            }
            self->need = want;
            return CHUNK_NEED;
        }
    }
    if (!PyBytes_Check(input)) {
        PyErr_Format(PyExc_TypeError,
                     "underlying read1() should have returned a bytes-like "
                     "object, not '%.200s'", Py_TYPE(input)->tp_name);
        goto error;
    }
    if (self->telling) {
        /* The snapshot point for tell(): where the decoder's input buffer
         * was empty, len(dec_buffer) bytes before this chunk. */
        PyObject *state = PyObject_CallMethod(self->decoder, "getstate",
                                              NULL);
        if (state == NULL) {
            goto error;
        }
        if (!PyTuple_Check(state)) {
            PyErr_SetString(PyExc_TypeError, "illegal decoder state");
            Py_DECREF(state);
            goto error;
        }
        if (!PyArg_ParseTuple(state, "OO;illegal decoder state", &dec_buffer,
                              &dec_flags)) {
            Py_DECREF(state);
            dec_buffer = dec_flags = NULL;
            goto error;
        }
        if (!PyBytes_Check(dec_buffer)) {
            PyErr_Format(PyExc_TypeError,
                         "illegal decoder state: the first item should be a "
                         "bytes object, not '%.200s'",
                         Py_TYPE(dec_buffer)->tp_name);
            Py_DECREF(state);
            dec_buffer = dec_flags = NULL;
            goto error;
        }
        Py_INCREF(dec_buffer);
        Py_INCREF(dec_flags);
        Py_DECREF(state);
    }
    Py_ssize_t nbytes = PyBytes_GET_SIZE(input);
    int eof = nbytes == 0;
    decoded = PyObject_CallMethod(self->decoder, "decode", "OO", input,
                                  eof ? Py_True : Py_False);
    if (check_decoded(decoded) < 0) {
        decoded = NULL;
        goto error;
    }
    Py_ssize_t nchars = PyUnicode_GET_LENGTH(decoded);
    set_decoded_chars(self, decoded);
    decoded = NULL;
    if (nchars > 0) {
        self->b2cratio = (double)nbytes / (double)nchars;
        eof = 0;
    }
    else {
        self->b2cratio = 0.0;
    }
    if (self->telling) {
        PyObject *next_input = dec_buffer;
        dec_buffer = NULL;
        PyBytes_Concat(&next_input, input);
        if (next_input == NULL) {
            goto error;
        }
        PyObject *snap = Py_BuildValue("NN", dec_flags, next_input);
        dec_flags = NULL;
        if (snap == NULL) {
            goto error;
        }
        Py_XSETREF(self->snapshot, snap);
    }
    Py_DECREF(input);
    return !eof;

error:
    Py_XDECREF(dec_buffer);
    Py_XDECREF(dec_flags);
    Py_XDECREF(input);
    Py_XDECREF(decoded);
    return -1;
}

/* _PyIO_find_line_ending: the end of the first line in s[start:end] (an
 * index into s), or -1 with *consumed = how much can be put aside. */
static Py_ssize_t
find_line_ending(TextObject *self, PyObject *s, Py_ssize_t start,
                 Py_ssize_t end, Py_ssize_t *consumed)
{
    if (self->readtranslate) {
        Py_ssize_t p = PyUnicode_FindChar(s, '\n', start, end, 1);
        if (p >= 0) {
            return p + 1;
        }
        *consumed = end;
        return -1;
    }
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    if (self->readuniversal) {
        for (Py_ssize_t i = start; i < end; i++) {
            Py_UCS4 ch = PyUnicode_READ(kind, data, i);
            if (ch > '\r') {
                continue;
            }
            if (ch == '\n') {
                return i + 1;
            }
            if (ch == '\r') {
                /* The decoder never splits a \r\n across chunks. */
                if (i + 1 < end && PyUnicode_READ(kind, data, i + 1) == '\n') {
                    return i + 2;
                }
                return i + 1;
            }
        }
        *consumed = end;
        return -1;
    }
    Py_ssize_t nl_len = PyUnicode_GET_LENGTH(self->readnl);
    Py_UCS4 nl0 = PyUnicode_READ_CHAR(self->readnl, 0);
    if (nl_len == 1) {
        Py_ssize_t p = PyUnicode_FindChar(s, nl0, start, end, 1);
        if (p >= 0) {
            return p + 1;
        }
        *consumed = end;
        return -1;
    }
    /* "\r\n" */
    Py_ssize_t e = end - (nl_len - 1);
    if (e < start) {
        e = start;
    }
    Py_ssize_t i = start;
    while (i < e) {
        Py_ssize_t p = PyUnicode_FindChar(s, nl0, i, end, 1);
        if (p < 0 || p >= e) {
            break;
        }
        Py_ssize_t k;
        for (k = 1; k < nl_len; k++) {
            if (PyUnicode_READ(kind, data, p + k) !=
                PyUnicode_READ_CHAR(self->readnl, k)) {
                break;
            }
        }
        if (k == nl_len) {
            return p + nl_len;
        }
        i = p + 1;
    }
    Py_ssize_t p = PyUnicode_FindChar(s, nl0, e, end, 1);
    *consumed = p < 0 ? end : p;
    return -1;
}

static void
readline_reset(TextObject *self)
{
    self->rl_active = 0;
    Py_CLEAR(self->rl_chunks);
    Py_CLEAR(self->rl_remaining);
    self->rl_chunked = 0;
}

static void
read_reset(TextObject *self)
{
    self->rd_active = 0;
    Py_CLEAR(self->rd_chunks);
    self->rd_remaining = 0;
}

/* textio.c's _textiowrapper_readline, resumable: on STEP_NEED the partial
 * line stays in rl_* and the next call goes on from there. */
static int
readline_step(TextObject *self, Py_ssize_t limit, PyObject **out)
{
    PyObject *line = NULL;
    Py_ssize_t start = 0, endpos = 0, offset_to_buffer = 0;
    if (!self->rl_active) {
        if (text_check_usable(self) < 0) {
            return STEP_ERROR;
        }
        self->rl_active = 1;
    }
    while (1) {
        int res = 1;
        while (self->decoded_chars == NULL ||
               PyUnicode_GET_LENGTH(self->decoded_chars) == 0) {
            res = read_chunk(self, 0);
            if (res == CHUNK_NEED) {
                return STEP_NEED;
            }
            if (res < 0) {
                goto error;
            }
            if (res == 0) {
                break;
            }
        }
        if (res == 0) {
            /* end of file */
            set_decoded_chars(self, NULL);
            Py_CLEAR(self->snapshot);
            start = endpos = offset_to_buffer = 0;
            break;
        }
        if (self->rl_remaining == NULL) {
            line = Py_NewRef(self->decoded_chars);
            start = self->decoded_chars_used;
            offset_to_buffer = 0;
        }
        else {
            line = PyUnicode_Concat(self->rl_remaining, self->decoded_chars);
            start = 0;
            offset_to_buffer = PyUnicode_GET_LENGTH(self->rl_remaining);
            Py_CLEAR(self->rl_remaining);
            if (line == NULL) {
                goto error;
            }
        }
        Py_ssize_t line_len = PyUnicode_GET_LENGTH(line);
        Py_ssize_t consumed = 0;
        endpos = find_line_ending(self, line, start, line_len, &consumed);
        Py_ssize_t chunked = self->rl_chunked;
        if (endpos >= 0) {
            if (limit >= 0 && (endpos - start) + chunked >= limit) {
                endpos = start + limit - chunked;
            }
            break;
        }
        /* We can put aside up to `endpos` */
        endpos = consumed;
        if (limit >= 0 && (endpos - start) + chunked >= limit) {
            /* Didn't find line ending, but reached length limit */
            endpos = start + limit - chunked;
            break;
        }
        if (endpos > start) {
            /* No line ending seen yet - put aside current data */
            if (self->rl_chunks == NULL) {
                self->rl_chunks = PyList_New(0);
                if (self->rl_chunks == NULL) {
                    goto error;
                }
            }
            PyObject *s = PyUnicode_Substring(line, start, endpos);
            if (s == NULL) {
                goto error;
            }
            if (PyList_Append(self->rl_chunks, s) < 0) {
                Py_DECREF(s);
                goto error;
            }
            self->rl_chunked += PyUnicode_GET_LENGTH(s);
            Py_DECREF(s);
        }
        /* There may be some remaining chars we'll have to prepend to the
           next chunk of data */
        if (endpos < line_len) {
            self->rl_remaining = PyUnicode_Substring(line, endpos, line_len);
            if (self->rl_remaining == NULL) {
                goto error;
            }
        }
        Py_CLEAR(line);
        /* We have consumed the buffer */
        set_decoded_chars(self, NULL);
    }

    if (line != NULL) {
        /* Our line ends in the current buffer */
        self->decoded_chars_used = endpos - offset_to_buffer;
        if (start > 0 || endpos < PyUnicode_GET_LENGTH(line)) {
            PyObject *s = PyUnicode_Substring(line, start, endpos);
            Py_CLEAR(line);
            if (s == NULL) {
                goto error;
            }
            line = s;
        }
    }
    if (self->rl_remaining != NULL) {
        if (self->rl_chunks == NULL) {
            self->rl_chunks = PyList_New(0);
            if (self->rl_chunks == NULL) {
                goto error;
            }
        }
        if (PyList_Append(self->rl_chunks, self->rl_remaining) < 0) {
            goto error;
        }
        Py_CLEAR(self->rl_remaining);
    }
    if (self->rl_chunks != NULL) {
        if (line != NULL) {
            if (PyList_Append(self->rl_chunks, line) < 0) {
                goto error;
            }
            Py_CLEAR(line);
        }
        PyObject *empty = PyUnicode_FromStringAndSize(NULL, 0);
        if (empty == NULL) {
            goto error;
        }
        line = PyUnicode_Join(empty, self->rl_chunks);
        Py_DECREF(empty);
        if (line == NULL) {
            goto error;
        }
    }
    if (line == NULL) {
        line = PyUnicode_FromStringAndSize(NULL, 0);
        if (line == NULL) {
            goto error;
        }
    }
    readline_reset(self);
    *out = line;
    return STEP_DONE;

error:
    Py_XDECREF(line);
    readline_reset(self);
    return STEP_ERROR;
}

/* textio.c's read(n) for n >= 0, resumable like readline_step. */
static int
read_step(TextObject *self, Py_ssize_t n, PyObject **out)
{
    PyObject *result = NULL;
    if (!self->rd_active) {
        if (text_check_usable(self) < 0) {
            return STEP_ERROR;
        }
        if (self->decoder == NULL) {
            text_unsupported(self, "not readable");
            return STEP_ERROR;
        }
        result = get_decoded_chars(self, n);
        if (result == NULL) {
            return STEP_ERROR;
        }
        self->rd_remaining = n - PyUnicode_GET_LENGTH(result);
        self->rd_chunks = PyList_New(0);
        if (self->rd_chunks == NULL || PyList_Append(self->rd_chunks,
                                                     result) < 0) {
            goto error;
        }
        Py_CLEAR(result);
        self->rd_active = 1;
    }
    while (self->rd_remaining > 0) {
        int res = read_chunk(self, self->rd_remaining);
        if (res == CHUNK_NEED) {
            return STEP_NEED;
        }
        if (res < 0) {
            goto error;
        }
        if (res == 0) {
            break;
        }
        result = get_decoded_chars(self, self->rd_remaining);
        if (result == NULL) {
            goto error;
        }
        self->rd_remaining -= PyUnicode_GET_LENGTH(result);
        if (PyUnicode_GET_LENGTH(result) > 0 &&
            PyList_Append(self->rd_chunks, result) < 0) {
            goto error;
        }
        Py_CLEAR(result);
    }
    if (PyList_GET_SIZE(self->rd_chunks) == 1) {
        result = Py_NewRef(PyList_GET_ITEM(self->rd_chunks, 0));
    }
    else {
        PyObject *empty = PyUnicode_FromStringAndSize(NULL, 0);
        if (empty == NULL) {
            goto error;
        }
        result = PyUnicode_Join(empty, self->rd_chunks);
        Py_DECREF(empty);
        if (result == NULL) {
            goto error;
        }
    }
    read_reset(self);
    *out = result;
    return STEP_DONE;

error:
    Py_XDECREF(result);
    read_reset(self);
    return STEP_ERROR;
}

/* The encoded form of text for write(), newline translation included, or
 * NULL. *needflush is set as textio.c sets it. */
static PyObject *
encode_for_write(TextObject *self, PyObject *text, int *needflush)
{
    if (text_check_usable(self) < 0) {
        return NULL;
    }
    if (self->encoder == NULL) {
        text_unsupported(self, "not writable");
        return NULL;
    }
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError,
                     "write() argument must be str, not %.50s",
                     Py_TYPE(text)->tp_name);
        return NULL;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    int haslf = 0;
    Py_INCREF(text);
    if ((self->writetranslate && self->writenl != NULL) ||
        self->line_buffering) {
        haslf = PyUnicode_FindChar(text, '\n', 0, len, 1) >= 0;
    }
    if (haslf && self->writetranslate && self->writenl != NULL) {
        PyObject *nl = PyUnicode_FromString("\n");
        PyObject *t = nl ? PyUnicode_Replace(text, nl, self->writenl, -1)
                         : NULL;
        Py_XDECREF(nl);
        Py_DECREF(text);
        if (t == NULL) {
            return NULL;
        }
        text = t;
        len = PyUnicode_GET_LENGTH(text);
    }
    *needflush = self->line_buffering &&
                 (haslf || PyUnicode_FindChar(text, '\r', 0, len, 1) >= 0);
    PyObject *b;
    if (self->fast_encode != ENC_NONE) {
        static const char *const names[] = {
            NULL, "utf-8", "latin-1", "ascii", "utf-16-be", "utf-16-le",
            "utf-16", "utf-32-be", "utf-32-le", "utf-32"};
        int which = self->fast_encode;
        if (which == ENC_UTF16 && !self->encoding_start_of_stream) {
            which = ENC_UTF16LE;  /* no BOM, native order (x86, arm64) */
        }
        else if (which == ENC_UTF32 && !self->encoding_start_of_stream) {
            which = ENC_UTF32LE;
        }
        b = PyUnicode_AsEncodedString(text, names[which],
                                      PyUnicode_AsUTF8(self->errors));
        self->encoding_start_of_stream = 0;  /* even when it failed */
    }
    else {
        b = PyObject_CallMethod(self->encoder, "encode", "O", text);
    }
    Py_DECREF(text);
    if (b != NULL && !PyBytes_Check(b)) {
        PyErr_Format(PyExc_TypeError,
                     "encoder should return a bytes object, not '%.200s'",
                     Py_TYPE(b)->tp_name);
        Py_CLEAR(b);
    }
    return b;
}

/* What write() does once the bytes are in the buffer. */
static int
after_write(TextObject *self)
{
    set_decoded_chars(self, NULL);
    Py_CLEAR(self->snapshot);
    if (self->decoder != NULL) {
        PyObject *r = PyObject_CallMethod(self->decoder, "reset", NULL);
        if (r == NULL) {
            return -1;
        }
        Py_DECREF(r);
    }
    return 0;
}

/* ---- the fast paths ---- */

static PyObject *
none_if_null(PyObject *o)
{
    return o != NULL ? o : Py_None;
}

/* Move a readline/read stopped by STEP_NEED out of the object, into the
 * coroutine that goes on with it: the object never keeps a half-done call
 * that some other call could pick up. None when there is none. */
static PyObject *
take_steps(TextObject *self)
{
    if (!self->rl_active && !self->rd_active) {
        Py_RETURN_NONE;
    }
    PyObject *t = Py_BuildValue(
        "(iOOniOnn)", self->rl_active, none_if_null(self->rl_chunks),
        none_if_null(self->rl_remaining), self->rl_chunked, self->rd_active,
        none_if_null(self->rd_chunks), self->rd_remaining, self->need);
    if (t != NULL) {
        readline_reset(self);
        read_reset(self);
    }
    return t;
}

/* _restore_steps(state): take back what take_steps() gave out. */
static PyObject *
Text_restore_steps(TextObject *self, PyObject *state)
{
    int rl_active, rd_active;
    PyObject *rl_chunks, *rl_remaining, *rd_chunks;
    Py_ssize_t rl_chunked, rd_remaining, need;
    if (!PyArg_ParseTuple(state, "iOOniOnn", &rl_active, &rl_chunks,
                          &rl_remaining, &rl_chunked, &rd_active, &rd_chunks,
                          &rd_remaining, &need)) {
        return NULL;
    }
    readline_reset(self);
    read_reset(self);
    self->rl_active = rl_active;
    self->rl_chunks = rl_chunks == Py_None ? NULL : Py_NewRef(rl_chunks);
    self->rl_remaining =
        rl_remaining == Py_None ? NULL : Py_NewRef(rl_remaining);
    self->rl_chunked = rl_chunked;
    self->rd_active = rd_active;
    self->rd_chunks = rd_chunks == Py_None ? NULL : Py_NewRef(rd_chunks);
    self->rd_remaining = rd_remaining;
    self->need = need;
    Py_RETURN_NONE;
}

/* Hand the call to the Python half: self._slow(op, arg, why, state). */
static PyObject *
go_slow(TextObject *self, int op, PyObject *arg, int why)
{
    /* Only this call's own steps: while a coroutine holds the file's lock
     * its steps live here too, and are not ours to take. */
    PyObject *state = why == WHY_NEED ? take_steps(self) : Py_NewRef(Py_None);
    if (state == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_CallMethod((PyObject *)self, "_slow", "iOiO", op,
                                      arg, why, state);
    Py_DECREF(state);
    return r;  /* _slow counted the call as busy */
}

/* Whether this call may run here and now; else *why says why not. */
static int
may_run_inline(TextObject *self, int *why)
{
    if (self->busy) {
        *why = WHY_BUSY;
        return 0;
    }
    if (++self->calls % AFC_TEXT_CHECK_EVERY == 0) {
        int64_t now = afc_now_ns();
        if (now - self->since > AFC_TEXT_BUDGET_NS) {
            *why = WHY_YIELD;
            return 0;
        }
    }
    return 1;
}

/* The size argument as io's argument clinic converts it: read() takes
 * None too ("optional"), readline() only an index. */
static int
parse_size(PyObject *const *args, Py_ssize_t nargs, const char *fname,
           int optional, Py_ssize_t *size)
{
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError,
                     "%s expected at most 1 argument, got %zd", fname, nargs);
        return -1;
    }
    *size = -1;
    if (nargs == 0 || (optional && args[0] == Py_None)) {
        return 0;
    }
    if (optional) {
        if (!PyIndex_Check(args[0])) {
            PyErr_Format(PyExc_TypeError,
                         "argument should be integer or None, not '%.200s'",
                         Py_TYPE(args[0])->tp_name);
            return -1;
        }
        *size = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
    }
    else {
        PyObject *i = PyNumber_Index(args[0]);
        if (i == NULL) {
            return -1;
        }
        *size = PyLong_AsSsize_t(i);
        Py_DECREF(i);
    }
    if (*size == -1 && PyErr_Occurred()) {
        return -1;
    }
    return 0;
}

static PyObject *
readline_call(TextObject *self, Py_ssize_t limit, int op)
{
    int why;
    PyObject *line = NULL;
    if (!may_run_inline(self, &why)) {
        PyObject *a = PyLong_FromSsize_t(limit);
        PyObject *r = a ? go_slow(self, op, a, why) : NULL;
        Py_XDECREF(a);
        return r;
    }
    int r = readline_step(self, limit, &line);
    if (r == STEP_NEED) {
        PyObject *a = PyLong_FromSsize_t(limit);
        PyObject *res = a ? go_slow(self, op, a, WHY_NEED) : NULL;
        Py_XDECREF(a);
        if (res == NULL) {
            readline_reset(self);
        }
        return res;
    }
    if (r == STEP_ERROR) {
        return done_error(self->st);
    }
    if (op == OP_ANEXT && PyUnicode_GET_LENGTH(line) == 0) {
        Py_DECREF(line);
        PyErr_SetNone(PyExc_StopAsyncIteration);
        return done_error(self->st);
    }
    return text_done(self, line);
}

static PyObject *
Text_readline(TextObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t limit;
    if (parse_size(args, nargs, "readline", 0, &limit) < 0) {
        return done_error(self->st);
    }
    return readline_call(self, limit, OP_READLINE);
}

static PyObject *
Text_anext(TextObject *self)
{
    return readline_call(self, -1, OP_ANEXT);
}

static PyObject *
Text_aiter(TextObject *self)
{
    return Py_NewRef(self);
}

static PyObject *
Text_read(TextObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t n;
    int why;
    PyObject *result = NULL;
    if (parse_size(args, nargs, "read", 1, &n) < 0) {
        return done_error(self->st);
    }
    PyObject *a = PyLong_FromSsize_t(n);
    if (a == NULL) {
        return NULL;
    }
    if (n < 0) {
        /* read(): one read() of the rest, in the Python half. */
        PyObject *r = go_slow(self, OP_READ, a, WHY_BUSY);
        Py_DECREF(a);
        return r;
    }
    if (!may_run_inline(self, &why)) {
        PyObject *r = go_slow(self, OP_READ, a, why);
        Py_DECREF(a);
        return r;
    }
    int r = read_step(self, n, &result);
    if (r == STEP_NEED) {
        PyObject *res = go_slow(self, OP_READ, a, WHY_NEED);
        Py_DECREF(a);
        if (res == NULL) {
            read_reset(self);
        }
        return res;
    }
    Py_DECREF(a);
    if (r == STEP_ERROR) {
        return done_error(self->st);
    }
    return text_done(self, result);
}

static PyObject *
Text_write(TextObject *self, PyObject *text)
{
    int why, needflush = 0;
    if (!may_run_inline(self, &why)) {
        return go_slow(self, OP_WRITE, text, why);
    }
    const char *data = NULL;
    Py_ssize_t nbytes = 0;
    if (PyUnicode_Check(text) && self->writenl == NULL &&
        !self->line_buffering && self->encoder != NULL &&
        self->buffer != NULL && afc_file_closed(self->st, self->buffer) == 0) {
        if (PyUnicode_IS_ASCII(text) && self->fast_encode >= ENC_UTF8 &&
            self->fast_encode <= ENC_ASCII) {
            /* ASCII in an ASCII-compatible codec: the bytes are the
             * string's own data. */
            data = (const char *)PyUnicode_DATA(text);
            nbytes = PyUnicode_GET_LENGTH(text);
        }
        else if (self->fast_encode == ENC_UTF8 && self->errors_strict &&
                 PyUnicode_GET_LENGTH(text) <= AFC_TEXT_UTF8_CACHE) {
            /* The str's own UTF-8 form (kept with it, as encode() would
             * use it): a string with a surrogate fails here exactly as
             * the strict encoder fails. */
            data = PyUnicode_AsUTF8AndSize(text, &nbytes);
            if (data == NULL) {
                self->encoding_start_of_stream = 0;
                return done_error(self->st);
            }
        }
    }
    if (data != NULL) {
        Py_ssize_t len = PyUnicode_GET_LENGTH(text);
        int r = afc_file_write_nowait(self->st, self->buffer, data, nbytes);
        if (r < 0) {
            return done_error(self->st);
        }
        if (r > 0) {
            self->encoding_start_of_stream = 0;
            if (after_write(self) < 0) {
                return done_error(self->st);
            }
            return text_done(self, PyLong_FromSsize_t(len));
        }
    }
    PyObject *b = encode_for_write(self, text, &needflush);
    if (b == NULL) {
        return done_error(self->st);
    }
    if (!needflush) {
        int r = afc_file_write_nowait(self->st, self->buffer,
                                      PyBytes_AS_STRING(b),
                                      PyBytes_GET_SIZE(b));
        if (r < 0) {
            Py_DECREF(b);
            return done_error(self->st);
        }
        if (r > 0) {
            Py_DECREF(b);
            if (after_write(self) < 0) {
                return done_error(self->st);
            }
            return text_done(self,
                             PyLong_FromSsize_t(PyUnicode_GET_LENGTH(text)));
        }
    }
    PyObject *arg = Py_BuildValue("(NnO)", b, PyUnicode_GET_LENGTH(text),
                                  needflush ? Py_True : Py_False);
    if (arg == NULL) {
        return NULL;
    }
    PyObject *res = go_slow(self, OP_WRITE_BYTES, arg, WHY_BUSY);
    Py_DECREF(arg);
    return res;
}

/* ---- the step functions the Python half calls ---- */

typedef int (*step_fn)(TextObject *, Py_ssize_t, PyObject **);

/* A step for the Python half: the result, or None when input is needed. */
static PyObject *
run_step(TextObject *self, PyObject *arg, step_fn step)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    PyObject *result = NULL;
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int r = step(self, n, &result);
    if (r == STEP_ERROR) {
        return NULL;
    }
    if (r == STEP_NEED) {
        Py_RETURN_NONE;
    }
    return result;
}

/* _readline_step(limit) -> str, or None */
static PyObject *
Text_readline_step(TextObject *self, PyObject *arg)
{
    return run_step(self, arg, readline_step);
}

/* _read_step(n) -> str, or None (n >= 0) */
static PyObject *
Text_read_step(TextObject *self, PyObject *arg)
{
    return run_step(self, arg, read_step);
}

/* _encode(text) -> (bytes, needflush): write()'s checks and encoding. */
static PyObject *
Text_encode(TextObject *self, PyObject *text)
{
    int needflush = 0;
    PyObject *b = encode_for_write(self, text, &needflush);
    if (b == NULL) {
        return NULL;
    }
    return Py_BuildValue("(NO)", b, needflush ? Py_True : Py_False);
}

/* A method of the Python half around a helper that returns -1 on error. */
#define NONE_OR_ERROR(NAME, HELPER)                                      \
    static PyObject *NAME(TextObject *self, PyObject *Py_UNUSED(ignored)) \
    {                                                                     \
        return HELPER(self) < 0 ? NULL : Py_NewRef(Py_None);              \
    }

NONE_OR_ERROR(Text_after_write, after_write)
/* _check_usable(): CHECK_ATTACHED and CHECK_CLOSED. */
NONE_OR_ERROR(Text_check_usable, text_check_usable)
NONE_OR_ERROR(Text_check_attached, text_check_attached)

/* _reset_steps(): forget a readline/read interrupted by an exception. */
static PyObject *
Text_reset_steps(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    readline_reset(self);
    read_reset(self);
    Py_CLEAR(self->pending_input);
    Py_RETURN_NONE;
}

/* _yielded(): the Python half let the loop run; restart the budget. */
static PyObject *
Text_yielded(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    self->since = afc_now_ns();
    Py_RETURN_NONE;
}

/* _get_decoded_chars(n) and _set_decoded_chars(s), for seek/read(). */
static PyObject *
Text_get_decoded(TextObject *self, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return get_decoded_chars(self, n);
}

static PyObject *
Text_set_decoded(TextObject *self, PyObject *arg)
{
    if (arg != Py_None && !PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "str or None expected");
        return NULL;
    }
    set_decoded_chars(self, arg == Py_None ? NULL : Py_NewRef(arg));
    Py_RETURN_NONE;
}

/* ---- the type ---- */

static PyObject *
Text_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    PyObject *mod = PyType_GetModuleByDef(type, &afc_module_def);
    if (mod == NULL) {
        return NULL;
    }
    TextObject *self = (TextObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->st = afc_get_state(mod);
    self->chunk_size = 8192;
    self->since = afc_now_ns();
    return (PyObject *)self;
}

static int
Text_traverse(TextObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->buffer);
    Py_VISIT(self->decoder);
    Py_VISIT(self->encoder);
    Py_VISIT(self->decoded_chars);
    Py_VISIT(self->snapshot);
    Py_VISIT(self->pending_input);
    Py_VISIT(self->readnl);
    Py_VISIT(self->writenl);
    Py_VISIT(self->encoding);
    Py_VISIT(self->errors);
    Py_VISIT(self->rl_chunks);
    Py_VISIT(self->rl_remaining);
    Py_VISIT(self->rd_chunks);
    Py_VISIT(self->spare);
    return 0;
}

static int
Text_clear(TextObject *self)
{
    Py_CLEAR(self->buffer);
    Py_CLEAR(self->decoder);
    Py_CLEAR(self->encoder);
    Py_CLEAR(self->decoded_chars);
    Py_CLEAR(self->snapshot);
    Py_CLEAR(self->pending_input);
    Py_CLEAR(self->readnl);
    Py_CLEAR(self->writenl);
    Py_CLEAR(self->encoding);
    Py_CLEAR(self->errors);
    Py_CLEAR(self->rl_chunks);
    Py_CLEAR(self->rl_remaining);
    Py_CLEAR(self->rd_chunks);
    Py_CLEAR(self->spare);
    return 0;
}

static void
Text_dealloc(TextObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    Text_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

#define M_FAST(name, fn, doc) \
    {name, (PyCFunction)(void (*)(void))fn, METH_FASTCALL, doc}
#define M_O(name, fn) {name, (PyCFunction)fn, METH_O, NULL}
#define M_NOARGS(name, fn) {name, (PyCFunction)fn, METH_NOARGS, NULL}

static PyMethodDef Text_methods[] = {
    M_FAST("read", Text_read,
           "Read at most size characters (all if size is negative)."),
    M_FAST("readline", Text_readline,
           "Read until a newline or EOF (at most size characters)."),
    M_O("write", Text_write),
    M_O("_readline_step", Text_readline_step),
    M_O("_read_step", Text_read_step),
    M_O("_encode", Text_encode),
    M_NOARGS("_after_write", Text_after_write),
    M_NOARGS("_reset_steps", Text_reset_steps),
    M_O("_restore_steps", Text_restore_steps),
    M_NOARGS("_yielded", Text_yielded),
    M_O("_get_decoded_chars", Text_get_decoded),
    M_O("_set_decoded_chars", Text_set_decoded),
    M_NOARGS("_check_usable", Text_check_usable),
    M_NOARGS("_check_attached", Text_check_attached),
    {NULL, NULL, 0, NULL},
};

/* Object fields as attributes for the Python half: None there is NULL
 * here, so the C code has one "absent" value to test. */
static PyObject *
Text_get_obj(TextObject *self, void *closure)
{
    PyObject *v = *(PyObject **)((char *)self + (size_t)closure);
    return Py_NewRef(v != NULL ? v : Py_None);
}

static int
Text_set_obj(TextObject *self, PyObject *value, void *closure)
{
    PyObject **slot = (PyObject **)((char *)self + (size_t)closure);
    if (closure == (void *)offsetof(TextObject, decoded_chars) ||
        closure == (void *)offsetof(TextObject, readnl) ||
        closure == (void *)offsetof(TextObject, writenl)) {
        if (value != NULL && value != Py_None && !PyUnicode_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "str or None expected");
            return -1;
        }
    }
    if (closure == (void *)offsetof(TextObject, pending_input) &&
        value != NULL && value != Py_None && !PyBytes_Check(value)) {
        PyErr_Format(PyExc_TypeError,
                     "underlying read1() should have returned a bytes-like "
                     "object, not '%.200s'", Py_TYPE(value)->tp_name);
        return -1;
    }
    Py_XSETREF(*slot, value == Py_None ? NULL : Py_XNewRef(value));
    return 0;
}

#define OBJ(name, field)                                              \
    {name, (getter)Text_get_obj, (setter)Text_set_obj, NULL,          \
     (void *)offsetof(TextObject, field)}

static PyGetSetDef Text_getset[] = {
    OBJ("_buffer", buffer),
    OBJ("_decoder", decoder),
    OBJ("_encoder", encoder),
    OBJ("_decoded_chars", decoded_chars),
    OBJ("_snapshot", snapshot),
    OBJ("_pending_input", pending_input),
    OBJ("_readnl", readnl),
    OBJ("_writenl", writenl),
    OBJ("_codec_name", encoding),
    OBJ("_codec_errors", errors),
    {NULL, NULL, NULL, NULL, NULL},
};

#define INT(name, field) {name, T_INT, offsetof(TextObject, field), 0, NULL}

static PyMemberDef Text_members[] = {
    {"_decoded_chars_used", T_PYSSIZET,
     offsetof(TextObject, decoded_chars_used), 0, NULL},
    INT("_readuniversal", readuniversal),
    INT("_readtranslate", readtranslate),
    INT("_writetranslate", writetranslate),
    INT("_line_buffering", line_buffering),
    INT("_telling", telling),
    INT("_seekable", seekable),
    INT("_fast_encode", fast_encode),
    INT("_errors_strict", errors_strict),
    INT("_encoding_start_of_stream", encoding_start_of_stream),
    INT("_busy", busy),
    {"_CHUNK_SIZE", T_PYSSIZET, offsetof(TextObject, chunk_size), 0, NULL},
    {"_need", T_PYSSIZET, offsetof(TextObject, need), READONLY, NULL},
    {"_b2cratio", T_DOUBLE, offsetof(TextObject, b2cratio), 0, NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(TextObject, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Text_slots[] = {
    {Py_tp_new, Text_new},
    {Py_tp_methods, Text_methods},
    {Py_tp_members, Text_members},
    {Py_tp_getset, Text_getset},
    {Py_am_aiter, Text_aiter},
    {Py_am_anext, Text_anext},
    {Py_tp_traverse, Text_traverse},
    {Py_tp_clear, Text_clear},
    {Py_tp_dealloc, Text_dealloc},
    {Py_tp_doc, "Native half of the async text file (see aiofiles_c._text)."},
    {0, NULL},
};

PyType_Spec afc_text_spec = {
    .name = "aiofiles_c._cext.TextBase",
    .basicsize = sizeof(TextObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = Text_slots,
};
