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
#define AFC_TEXT_EXACT_MAX (1 << 20)     /* largest chunk read as io reads
                                            it (see take_input) */
#define AFC_TEXT_UTF8_CACHE 4096         /* longest str encoded through its
                                            cached UTF-8 form */

/* Why a call goes to the Python half (the argument of _slow): it began
 * and stopped for input (its steps go with it); or it is to run there
 * whole (after the calls in progress); or the same after one yield; or it
 * began and stopped to let the loop run (its steps go with it). */
enum { WHY_NEED = 0, WHY_BUSY = 1, WHY_YIELD = 2, WHY_PAUSED = 3 };
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

struct gather {
    PyObject *acc;             /* str with room to grow, or NULL */
    Py_ssize_t len;            /* characters of acc in use */
    PyObject *held;            /* readline: chars not yet searched (a
                                  "\r" that may begin "\r\n"), or NULL */
    PyObject *origin_chars;    /* decoded_chars when gathering began */
    Py_ssize_t origin_used;    /* ... and how many of them were used */
    PyObject *origin_snapshot; /* ... and the snapshot they came from */
    PyObject *inputs;          /* list of the input bytes read since, or
                                  NULL when tell() is off */
};

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
    PyObject *partial;         /* bytes of an unfinished chunk (take_input) */
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
    /* the read(n) or readline() in progress, or NULL (see gather) */
    struct gather *g;
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
    {Py_am_send, Done_am_send},
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

/* The input for the next chunk: `want` bytes, as io's buffered read1()
 * gives them to its text layer (its buffer is empty between chunks, so
 * read1 is one raw read: on a seekable file exactly `want` bytes unless
 * the file ends). Our read-ahead ends where it ends, so on a seekable file
 * the chunk is collected across refills; this keeps the decoder's input,
 * and with it where a UnicodeDecodeError starts and ends, as io's. Bytes
 * collected before a refill that needs the pool wait in self->partial (they
 * are read, not yet decoded: tell() counts them, a seek or write drops
 * them). A chunk larger than AFC_TEXT_EXACT_MAX is not collected: it
 * would be decoded in one piece on the loop thread (a read(n) of many
 * megabytes); it is cut where the read-ahead ends instead, so the call
 * can yield between chunks. NULL without an exception: self->need bytes
 * must come from the pool (the Python half sets pending_input to them). */
static PyObject *
take_input(TextObject *self, Py_ssize_t want)
{
    PyObject *input = NULL;
    int more = self->seekable && want <= AFC_TEXT_EXACT_MAX;
    if (self->pending_input != NULL) {
        input = self->pending_input;
        self->pending_input = NULL;
        if (PyBytes_GET_SIZE(input) == 0) {
            more = 0;  /* the file ended */
        }
    }
    else if (self->partial == NULL ||
             PyBytes_GET_SIZE(self->partial) < want) {
        Py_ssize_t ask = want;
        if (self->partial != NULL) {
            ask -= PyBytes_GET_SIZE(self->partial);
        }
        input = afc_file_read1_nowait(self->st, self->buffer, ask);
        if (input == NULL) {
            self->need = ask;
            return NULL;
        }
    }
    if (self->partial != NULL) {
        PyObject *whole = self->partial;
        self->partial = NULL;
        if (input != NULL) {
            PyBytes_Concat(&whole, input);
            Py_DECREF(input);
            if (whole == NULL) {
                return NULL;
            }
        }
        input = whole;
    }
    while (more && PyBytes_GET_SIZE(input) > 0 &&
           PyBytes_GET_SIZE(input) < want) {
        Py_ssize_t ask = want - PyBytes_GET_SIZE(input);
        PyObject *next = afc_file_read1_nowait(self->st, self->buffer, ask);
        if (next == NULL) {
            if (PyErr_Occurred()) {
                Py_DECREF(input);
                return NULL;
            }
            self->partial = input;
            self->need = ask;
            return NULL;
        }
        if (PyBytes_GET_SIZE(next) == 0) {
            Py_DECREF(next);
            break;
        }
        PyBytes_Concat(&input, next);
        Py_DECREF(next);
        if (input == NULL) {
            return NULL;
        }
    }
    return input;
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
    input = take_input(self, chunk_for(self, size_hint));
    if (input == NULL) {
        return PyErr_Occurred() ? -1 : CHUNK_NEED;
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
        if (self->g != NULL && self->g->inputs != NULL &&
            PyList_Append(self->g->inputs, input) < 0) {
            goto error;
        }
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

/* ---- gathering a line or a read(n) that spans several chunks ----
 *
 * A readline() or read(n) whose answer is not inside the current decoded
 * chunk collects text in a gather record until the answer is complete. The
 * record can stop at two points: when the next chunk needs the pool
 * (STEP_NEED) and when the call has used up the loop's fairness budget
 * (STEP_YIELD; a 100 MB line is then built over many loop iterations).
 * While stopped, the record travels with the coroutine that finishes the
 * call (take_gather/put_gather), so no other call on the file sees it.
 *
 * The text goes into one str that grows in place (acc[0:len]); joining a
 * list of pieces at the end would copy the whole line in one go on the
 * loop thread. If the call is cancelled while stopped, give_back() puts
 * everything it had taken back in front of the decoded characters, so the
 * next call starts at the same character and tell() still agrees: for that
 * the record remembers where it started (origin_*) and, while tell() is
 * on, every input chunk read since. */

/* Step results besides STEP_DONE, STEP_NEED and STEP_ERROR. */
#define STEP_YIELD 2

static void
gather_free(struct gather *g)
{
    if (g != NULL) {
        Py_XDECREF(g->acc);
        Py_XDECREF(g->held);
        Py_XDECREF(g->origin_chars);
        Py_XDECREF(g->origin_snapshot);
        Py_XDECREF(g->inputs);
        PyMem_Free(g);
    }
}

static void
gather_drop(TextObject *self)
{
    struct gather *g = self->g;
    self->g = NULL;
    gather_free(g);
}

/* Begin a gather on the current decoded chunk, whose first unused
 * character (before this call took any) is at `used`. */
static struct gather *
gather_begin(TextObject *self, Py_ssize_t used)
{
    struct gather *g = PyMem_Calloc(1, sizeof(*g));
    if (g == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    g->origin_chars = Py_XNewRef(self->decoded_chars);
    g->origin_used = used;
    g->origin_snapshot = Py_XNewRef(self->snapshot);
    if (self->telling) {
        g->inputs = PyList_New(0);
        if (g->inputs == NULL) {
            gather_free(g);
            return NULL;
        }
    }
    self->g = g;
    return g;
}

/* The next capacity of the gathered str. Past 1 Mi characters it jumps
 * to a size malloc always maps on its own (glibc: above 32 MiB), so each
 * later growth is a remap of the pages, not a copy of the text on the loop
 * thread; pages never written are never backed by memory. */
#define GATHER_BIG (1 << 20)
#define GATHER_MAPPED ((Py_ssize_t)33 << 20)

static Py_ssize_t
gather_capacity(Py_ssize_t need)
{
    if (need < 8192) {
        return 8192;
    }
    Py_ssize_t cap = need > PY_SSIZE_T_MAX / 3 ? need : need + need / 2;
    if (cap > GATHER_BIG && cap < GATHER_MAPPED) {
        cap = GATHER_MAPPED;
    }
    return cap;
}

/* Append s[start:end] to the gathered text. The str grows in place (see
 * gather_capacity) and is rebuilt wider only when a character does not
 * fit its kind. */
static int
gather_append(struct gather *g, PyObject *s, Py_ssize_t start,
              Py_ssize_t end)
{
    Py_ssize_t n = end - start;
    if (n <= 0) {
        return 0;
    }
    PyObject *piece = NULL;
    if (start == 0 && end == PyUnicode_GET_LENGTH(s)) {
        piece = Py_NewRef(s);
    }
    else {
        /* A fresh substring has the narrowest kind its characters allow,
         * so its kind tells whether acc must widen. */
        piece = PyUnicode_Substring(s, start, end);
        if (piece == NULL) {
            return -1;
        }
    }
    Py_UCS4 maxchar = PyUnicode_MAX_CHAR_VALUE(piece);
    Py_ssize_t cap = g->acc == NULL ? 0 : PyUnicode_GET_LENGTH(g->acc);
    if (g->len > PY_SSIZE_T_MAX - n) {
        Py_DECREF(piece);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t need = g->len + n;
    if (g->acc == NULL || maxchar > PyUnicode_MAX_CHAR_VALUE(g->acc)) {
        Py_ssize_t newcap = gather_capacity(need);
        if (g->acc != NULL && maxchar < PyUnicode_MAX_CHAR_VALUE(g->acc)) {
            maxchar = PyUnicode_MAX_CHAR_VALUE(g->acc);
        }
        PyObject *wider = PyUnicode_New(newcap, maxchar);
        if (wider == NULL) {
            Py_DECREF(piece);
            return -1;
        }
        if (g->len > 0 &&
            PyUnicode_CopyCharacters(wider, 0, g->acc, 0, g->len) < 0) {
            Py_DECREF(wider);
            Py_DECREF(piece);
            return -1;
        }
        Py_XSETREF(g->acc, wider);
    }
    else if (need > cap) {
        if (Py_REFCNT(g->acc) != 1) {
            /* Resizing in place needs the only reference; a stray one
             * (a state tuple not yet collected) costs a copy, no more. */
            PyObject *copy = PyUnicode_New(gather_capacity(need),
                                           PyUnicode_MAX_CHAR_VALUE(g->acc));
            if (copy == NULL ||
                PyUnicode_CopyCharacters(copy, 0, g->acc, 0, g->len) < 0) {
                Py_XDECREF(copy);
                Py_DECREF(piece);
                return -1;
            }
            Py_SETREF(g->acc, copy);
        }
        else if (PyUnicode_Resize(&g->acc, gather_capacity(need)) < 0) {
            Py_DECREF(piece);
            return -1;
        }
    }
    if (PyUnicode_CopyCharacters(g->acc, g->len, piece, 0, n) < 0) {
        Py_DECREF(piece);
        return -1;
    }
    Py_DECREF(piece);
    g->len = need;
    return 0;
}

/* The gathered text as an exact str (the record keeps no reference). */
static PyObject *
gather_text(struct gather *g)
{
    if (g->acc == NULL) {
        return PyUnicode_FromStringAndSize(NULL, 0);
    }
    PyObject *text = g->acc;
    g->acc = NULL;
    if (g->len == PyUnicode_GET_LENGTH(text)) {
        return text;
    }
    if (Py_REFCNT(text) != 1) {
        PyObject *copy = PyUnicode_Substring(text, 0, g->len);
        Py_DECREF(text);
        return copy;
    }
    if (PyUnicode_Resize(&text, g->len) < 0) {
        Py_XDECREF(text);
        return NULL;
    }
    return text;
}

/* Whether this call has run past the fairness budget. */
static int
over_budget(TextObject *self)
{
    return afc_now_ns() - self->since > AFC_TEXT_BUDGET_NS;
}

/* A call that was stopped and is being abandoned (cancelled): put the
 * text it took back in front of the unread characters. */
static int
give_back(TextObject *self)
{
    struct gather *g = self->g;
    PyObject *text = NULL, *rest = NULL, *chars = NULL, *snap = NULL;
    if (g == NULL) {
        return 0;
    }
    self->g = NULL;
    text = gather_text(g);
    if (text == NULL) {
        goto error;
    }
    if (g->held != NULL) {
        Py_SETREF(text, PyUnicode_Concat(text, g->held));
        if (text == NULL) {
            goto error;
        }
    }
    /* Characters decoded but not taken by this call (none when it stopped
     * for input or to yield, but be exact). */
    if (self->decoded_chars != NULL) {
        rest = PyUnicode_Substring(self->decoded_chars,
                                   self->decoded_chars_used,
                                   PyUnicode_GET_LENGTH(self->decoded_chars));
        if (rest == NULL) {
            goto error;
        }
        Py_SETREF(text, PyUnicode_Concat(text, rest));
        if (text == NULL) {
            goto error;
        }
    }
    Py_ssize_t used = 0;
    if (g->inputs != NULL && g->origin_chars != NULL &&
        g->origin_snapshot != NULL) {
        /* tell() is on: rebuild the state as if all the input since the
         * origin had been one chunk, decoded into origin_chars followed by
         * everything taken since. */
        PyObject *head = PyUnicode_Substring(g->origin_chars, 0,
                                             g->origin_used);
        if (head == NULL) {
            goto error;
        }
        chars = PyUnicode_Concat(head, text);
        Py_DECREF(head);
        if (chars == NULL) {
            goto error;
        }
        PyObject *flags = PyTuple_GET_ITEM(g->origin_snapshot, 0);
        PyObject *input = Py_NewRef(PyTuple_GET_ITEM(g->origin_snapshot, 1));
        Py_ssize_t k = PyList_GET_SIZE(g->inputs);
        for (Py_ssize_t i = 0; i < k && input != NULL; i++) {
            PyBytes_Concat(&input, PyList_GET_ITEM(g->inputs, i));
        }
        if (input == NULL) {
            goto error;
        }
        snap = Py_BuildValue("(ON)", flags, input);
        if (snap == NULL) {
            goto error;
        }
        used = g->origin_used;
    }
    else {
        chars = Py_NewRef(text);
    }
    set_decoded_chars(self, chars);
    chars = NULL;
    self->decoded_chars_used = used;
    Py_XSETREF(self->snapshot, snap);
    Py_DECREF(text);
    Py_XDECREF(rest);
    gather_free(g);
    return 0;

error:
    Py_XDECREF(text);
    Py_XDECREF(rest);
    Py_XDECREF(chars);
    gather_free(g);
    return -1;
}

/* Start gathering if this step has not yet: the first time a call takes
 * text aside, from the chunk it began in, at `used`. */
static struct gather *
gather_for(TextObject *self, Py_ssize_t used)
{
    return self->g != NULL ? self->g : gather_begin(self, used);
}

/* readline(limit) as one resumable step. The line may end in the current
 * chunk (the common case: a substring of it is the answer) or later; then
 * the text so far goes aside and the next chunk is decoded. */
static int
readline_step(TextObject *self, Py_ssize_t limit, PyObject **out)
{
    PyObject *line = NULL;
    if (self->g == NULL && text_check_usable(self) < 0) {
        return STEP_ERROR;
    }
    while (1) {
        if (self->decoded_chars == NULL ||
            self->decoded_chars_used >=
                PyUnicode_GET_LENGTH(self->decoded_chars)) {
            int res = read_chunk(self, 0);
            if (res == CHUNK_NEED) {
                return STEP_NEED;
            }
            if (res < 0) {
                goto error;
            }
            if (res == 0) {
                /* End of file: the line is whatever was gathered. */
                set_decoded_chars(self, NULL);
                Py_CLEAR(self->snapshot);
                break;
            }
            continue;
        }
        /* Search text: the chunk's unused part, behind any held chars. */
        struct gather *g = self->g;
        PyObject *text;
        Py_ssize_t from, lead = 0;
        if (g != NULL && g->held != NULL) {
            lead = PyUnicode_GET_LENGTH(g->held);
            text = PyUnicode_Concat(g->held, self->decoded_chars);
            if (text == NULL) {
                goto error;
            }
            Py_CLEAR(g->held);
            from = 0;
        }
        else {
            text = Py_NewRef(self->decoded_chars);
            from = self->decoded_chars_used;
        }
        Py_ssize_t size = PyUnicode_GET_LENGTH(text);
        Py_ssize_t taken = g != NULL ? g->len : 0;
        Py_ssize_t safe = 0;
        Py_ssize_t cut = find_line_ending(self, text, from, size, &safe);
        int complete = cut >= 0;
        if (!complete) {
            cut = safe;
        }
        if (limit >= 0 && taken + (cut - from) >= limit) {
            cut = from + (limit - taken);
            complete = 1;
        }
        if (complete) {
            /* The answer ends at text[cut]. */
            self->decoded_chars_used = cut - lead;
            if (g == NULL) {
                if (from == 0 && cut == size) {
                    line = text;
                }
                else {
                    line = PyUnicode_Substring(text, from, cut);
                    Py_DECREF(text);
                }
                if (line == NULL) {
                    goto error;
                }
                *out = line;
                return STEP_DONE;
            }
            int r = gather_append(g, text, from, cut);
            Py_DECREF(text);
            if (r < 0) {
                goto error;
            }
            break;
        }
        /* No end yet: everything up to `cut` goes aside, the rest is
         * held for the next search. */
        g = gather_for(self, self->decoded_chars_used);
        if (g == NULL || gather_append(g, text, from, cut) < 0) {
            Py_DECREF(text);
            goto error;
        }
        if (cut < size) {
            g->held = PyUnicode_Substring(text, cut, size);
            if (g->held == NULL) {
                Py_DECREF(text);
                goto error;
            }
        }
        Py_DECREF(text);
        /* As io leaves it: a failing next chunk finds no decoded text. */
        set_decoded_chars(self, NULL);
        if (over_budget(self)) {
            return STEP_YIELD;
        }
    }
    /* Gathered across chunks (or at end of file). */
    if (self->g == NULL) {
        line = PyUnicode_FromStringAndSize(NULL, 0);
    }
    else {
        struct gather *g = self->g;
        if (g->held != NULL &&
            gather_append(g, g->held, 0, PyUnicode_GET_LENGTH(g->held)) < 0) {
            goto error;
        }
        line = gather_text(g);
        gather_drop(self);
    }
    if (line == NULL) {
        goto error;
    }
    *out = line;
    return STEP_DONE;

error:
    gather_drop(self);
    return STEP_ERROR;
}

/* read(n), n >= 0, as one resumable step, gathering like readline_step. */
static int
read_step(TextObject *self, Py_ssize_t n, PyObject **out)
{
    if (self->g == NULL) {
        if (text_check_usable(self) < 0) {
            return STEP_ERROR;
        }
        if (self->decoder == NULL) {
            text_unsupported(self, "not readable");
            return STEP_ERROR;
        }
    }
    while (1) {
        struct gather *g = self->g;
        Py_ssize_t taken = g != NULL ? g->len : 0;
        Py_ssize_t want = n - taken;
        Py_ssize_t avail = 0;
        if (self->decoded_chars != NULL) {
            avail = PyUnicode_GET_LENGTH(self->decoded_chars) -
                    self->decoded_chars_used;
        }
        if (avail >= want) {
            /* The answer is here. */
            if (g == NULL) {
                PyObject *r = get_decoded_chars(self, want);
                if (r == NULL) {
                    goto error;
                }
                *out = r;
                return STEP_DONE;
            }
            Py_ssize_t from = self->decoded_chars_used;
            if (gather_append(g, self->decoded_chars, from, from + want) < 0) {
                goto error;
            }
            self->decoded_chars_used += want;
            break;
        }
        if (avail > 0) {
            Py_ssize_t from = self->decoded_chars_used;
            g = gather_for(self, from);
            if (g == NULL ||
                gather_append(g, self->decoded_chars, from, from + avail) < 0) {
                goto error;
            }
            self->decoded_chars_used += avail;
            if (over_budget(self)) {
                return STEP_YIELD;
            }
            continue;
        }
        int res = read_chunk(self, want);
        if (res == CHUNK_NEED) {
            return STEP_NEED;
        }
        if (res < 0) {
            goto error;
        }
        if (res == 0) {
            break;  /* end of file */
        }
    }
    PyObject *r;
    if (self->g == NULL) {
        r = get_decoded_chars(self, 0);
    }
    else {
        r = gather_text(self->g);
        gather_drop(self);
    }
    if (r == NULL) {
        goto error;
    }
    *out = r;
    return STEP_DONE;

error:
    gather_drop(self);
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
        PyErr_Format(PyExc_TypeError, "write() argument must be str, not %.50s",
                     text == Py_None ? "None" : Py_TYPE(text)->tp_name);
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
    Py_CLEAR(self->partial);
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

/* A call stopped part-way (STEP_NEED, STEP_YIELD) goes on in a coroutine
 * of the Python half, maybe after other calls queued before it: its
 * gather record and the read size it wants travel with that coroutine
 * inside a capsule, out of the object's reach, and come back when it runs
 * (_resume). */
#define HANDOFF_NAME "aiofiles_c.text.handoff"

struct handoff {
    struct gather *g;
    Py_ssize_t need;
};

static void
handoff_destroy(PyObject *capsule)
{
    struct handoff *h = PyCapsule_GetPointer(capsule, HANDOFF_NAME);
    if (h != NULL) {
        gather_free(h->g);
        PyMem_Free(h);
    }
}

static PyObject *
take_steps(TextObject *self)
{
    struct handoff *h = PyMem_Malloc(sizeof(*h));
    if (h == NULL) {
        return PyErr_NoMemory();
    }
    h->g = self->g;
    h->need = self->need;
    PyObject *c = PyCapsule_New(h, HANDOFF_NAME, handoff_destroy);
    if (c == NULL) {
        PyMem_Free(h);
        return NULL;
    }
    self->g = NULL;
    return c;
}

/* _resume(handoff): take back what take_steps() gave out. */
static PyObject *
Text_restore_steps(TextObject *self, PyObject *capsule)
{
    struct handoff *h = PyCapsule_GetPointer(capsule, HANDOFF_NAME);
    if (h == NULL) {
        return NULL;
    }
    gather_drop(self);
    self->g = h->g;
    self->need = h->need;
    h->g = NULL;
    Py_RETURN_NONE;
}

/* Hand the call to the Python half: self._slow(op, arg, why, state). */
static PyObject *
go_slow(TextObject *self, int op, PyObject *arg, int why)
{
    /* Only a stopped call's own steps: while a coroutine holds the file's
     * lock its steps live here too, and are not ours to take. */
    PyObject *state = why == WHY_NEED || why == WHY_PAUSED
                          ? take_steps(self) : Py_NewRef(Py_None);
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
    if (r == STEP_NEED || r == STEP_YIELD) {
        PyObject *a = PyLong_FromSsize_t(limit);
        PyObject *res =
            a ? go_slow(self, op, a, r == STEP_NEED ? WHY_NEED : WHY_PAUSED)
              : NULL;
        Py_XDECREF(a);
        if (res == NULL) {
            gather_drop(self);
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

/* io's methods take positional arguments only; its messages name the
 * class TextIOWrapper. */
static int
no_keywords(PyObject *kwnames, const char *fname)
{
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
        PyErr_Format(PyExc_TypeError,
                     "TextIOWrapper.%s() takes no keyword arguments", fname);
        return -1;
    }
    return 0;
}

static PyObject *
Text_readline(TextObject *self, PyObject *const *args, size_t nargsf,
              PyObject *kwnames)
{
    Py_ssize_t limit, nargs = PyVectorcall_NARGS(nargsf);
    if (no_keywords(kwnames, "readline") < 0 ||
        parse_size(args, nargs, "readline", 0, &limit) < 0) {
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
Text_read(TextObject *self, PyObject *const *args, size_t nargsf,
          PyObject *kwnames)
{
    Py_ssize_t n, nargs = PyVectorcall_NARGS(nargsf);
    int why;
    PyObject *result = NULL;
    if (no_keywords(kwnames, "read") < 0 ||
        parse_size(args, nargs, "read", 1, &n) < 0) {
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
    if (r == STEP_NEED || r == STEP_YIELD) {
        PyObject *res = go_slow(self, OP_READ, a,
                                r == STEP_NEED ? WHY_NEED : WHY_PAUSED);
        Py_DECREF(a);
        if (res == NULL) {
            gather_drop(self);
        }
        return res;
    }
    Py_DECREF(a);
    if (r == STEP_ERROR) {
        return done_error(self->st);
    }
    return text_done(self, result);
}

static PyObject *write_call(TextObject *self, PyObject *text);

static PyObject *
Text_write(TextObject *self, PyObject *const *args, size_t nargsf,
           PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (no_keywords(kwnames, "write") < 0) {
        return done_error(self->st);
    }
    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError,
                     "TextIOWrapper.write() takes exactly one argument "
                     "(%zd given)", nargs);
        return done_error(self->st);
    }
    return write_call(self, args[0]);
}

static PyObject *
write_call(TextObject *self, PyObject *text)
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
    if (r == STEP_YIELD) {
        Py_RETURN_FALSE;
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
    gather_drop(self);
    Py_CLEAR(self->pending_input);
    Py_RETURN_NONE;
}

/* _give_back(): a stopped read or readline is cancelled; the text it took
 * goes back in front of the unread characters. */
static PyObject *
Text_give_back(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_CLEAR(self->pending_input);
    return give_back(self) < 0 ? NULL : Py_NewRef(Py_None);
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

/* _take_partial(): the bytes of an unfinished chunk, which are taken from
 * the object (b"" when there are none): read() and seek() then start
 * from them or drop them. */
static PyObject *
Text_take_partial(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *p = self->partial;
    self->partial = NULL;
    return p != NULL ? p : PyBytes_FromStringAndSize(NULL, 0);
}

/* _return_input(data): bytes a cancelled call read and did not decode;
 * they follow any already waiting. */
static PyObject *
Text_return_input(TextObject *self, PyObject *data)
{
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError,
                     "underlying read1() should have returned a bytes-like "
                     "object, not '%.200s'", Py_TYPE(data)->tp_name);
        return NULL;
    }
    if (self->partial == NULL) {
        self->partial = Py_NewRef(data);
    }
    else {
        PyBytes_Concat(&self->partial, data);
        if (self->partial == NULL) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* _partial_size(): for tell(). */
static PyObject *
Text_partial_size(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(
        self->partial != NULL ? PyBytes_GET_SIZE(self->partial) : 0);
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
    Py_VISIT(self->partial);
    Py_VISIT(self->readnl);
    Py_VISIT(self->writenl);
    Py_VISIT(self->encoding);
    Py_VISIT(self->errors);
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
    Py_CLEAR(self->partial);
    Py_CLEAR(self->readnl);
    Py_CLEAR(self->writenl);
    Py_CLEAR(self->encoding);
    Py_CLEAR(self->errors);
    gather_drop(self);
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

#define M_FASTKW(name, fn, doc) \
    {name, (PyCFunction)(void (*)(void))fn, METH_FASTCALL | METH_KEYWORDS, doc}
#define M_O(name, fn) {name, (PyCFunction)fn, METH_O, NULL}
#define M_NOARGS(name, fn) {name, (PyCFunction)fn, METH_NOARGS, NULL}

static PyMethodDef Text_methods[] = {
    M_FASTKW("read", Text_read,
             "Read at most size characters (all if size is negative)."),
    M_FASTKW("readline", Text_readline,
             "Read until a newline or EOF (at most size characters)."),
    M_FASTKW("write", Text_write, "Write a str; returns its length."),
    M_O("_readline_step", Text_readline_step),
    M_O("_read_step", Text_read_step),
    M_O("_encode", Text_encode),
    M_NOARGS("_after_write", Text_after_write),
    M_NOARGS("_reset_steps", Text_reset_steps),
    M_NOARGS("_give_back", Text_give_back),
    M_O("_restore_steps", Text_restore_steps),
    M_NOARGS("_yielded", Text_yielded),
    M_O("_get_decoded_chars", Text_get_decoded),
    M_O("_set_decoded_chars", Text_set_decoded),
    M_NOARGS("_take_partial", Text_take_partial),
    M_NOARGS("_partial_size", Text_partial_size),
    M_O("_return_input", Text_return_input),
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
