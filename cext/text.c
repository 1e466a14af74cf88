/* The text layer of aiofiles_c: what open() returns in text mode.
 *
 * Design. One C object (TextBase) owns every piece of text state: the
 * codec objects, the characters decoded and not yet returned, the point
 * tell() measures from, the newline rules, and any call that stopped
 * half-way. read(n), readline(), async iteration and write() run here, on
 * the loop thread, against the memory of the native buffered file below;
 * when that memory answers, the call returns an awaitable that is already
 * finished (Done). When it does not, the call is handed to the Python
 * subclass (aiofiles_c/_text.py, method _slow), which awaits the buffered
 * file and calls back into this object through a small set of methods,
 * each one complete operation that keeps the invariants below:
 *
 *   _configure        set up once, after open()
 *   _step_readline, _step_read, _feed
 *                     go on with a stopped call; give it input
 *   _resume, _give_back, _abandon
 *                     a stopped call's record: take it back, return its
 *                     text to the stream (cancelled), or forget it (error)
 *   _hold, _unhold, _yielded
 *                     calls in progress in Python; fairness
 *   _encode, _after_write
 *                     write() through the buffered file's awaitable path
 *   _read_all_start, _read_all_finish
 *                     read() to the end of the file
 *   _cookie, _seek_to, _seek_skip, _seek_end, _restart_encoder
 *                     tell() and seek()
 *   _usable, _attached, _flushing, _iteration, _detach, _return_input
 *                     checks and the remaining state changes
 *
 * The results, tell() cookies and exceptions are io.TextIOWrapper's: the
 * differential tests against io are the specification.
 *
 * Invariants (all fields belong to the loop thread; no worker sees this
 * object):
 * - `chars[pos:]` is decoded text nobody has read yet. `mark` is where
 *   it came from: decoding `mark.input` from the decoder state
 *   `mark.flags` gives exactly `chars`. tell() relies on that.
 * - `partial` holds bytes read from the buffered file but not decoded
 *   yet; they follow `mark.input` in the stream.
 * - `g` is the record of a read/readline that is gathering text across
 *   chunks; a stopped call's record leaves the object (see handoff).
 */
#include "afc.h"

#include <stddef.h>
#include <structmember.h>

#define AFC_TEXT_BUDGET_NS (500 * 1000)  /* inline work before one yield */
#define AFC_TEXT_CHECK_EVERY 32          /* calls between clock reads */
#define AFC_TEXT_UTF8_CACHE 4096         /* longest str written through its
                                            cached UTF-8 form */
#define AFC_TEXT_EXACT_MAX (1 << 20)     /* largest chunk read as io reads
                                            it (see take_input) */

/* Why a call goes to Python (the `why` of _slow). */
enum {
    WHY_NEED = 0,    /* it stopped for input; its record goes with it */
    WHY_BUSY = 1,    /* other calls are in progress: run after them */
    WHY_YIELD = 2,   /* the budget is spent: let the loop run, then go */
    WHY_PAUSED = 3,  /* it stopped to let the loop run; record goes along */
};
/* Which call (the `op` of _slow). */
enum { OP_READLINE = 0, OP_ANEXT = 1, OP_READ = 2, OP_WRITE = 3,
       OP_WRITE_BYTES = 4 };

/* Codecs whose bytes we make with PyUnicode_AsEncodedString instead of
 * the incremental encoder, as io does for the same list; for utf-16 and
 * utf-32 the BOM then depends on bom_pending. */
enum { ENC_NONE = 0, ENC_UTF8, ENC_LATIN1, ENC_ASCII, ENC_UTF16BE,
       ENC_UTF16LE, ENC_UTF16, ENC_UTF32BE, ENC_UTF32LE, ENC_UTF32 };

/* What a step reports. */
enum { STEP_ERROR = -1, STEP_NEED = 0, STEP_DONE = 1, STEP_YIELD = 2 };

/* A read(n) or readline() collecting text over several chunks. */
struct gather {
    PyObject *acc;             /* str with room to grow, or NULL */
    Py_ssize_t len;            /* characters of acc in use */
    PyObject *held;            /* readline: text not yet searched (a "\r"
                                  that may begin "\r\n"), or NULL */
    PyObject *origin_chars;    /* chars when gathering began ... */
    Py_ssize_t origin_pos;     /* ... the call's first character in them */
    PyObject *origin_flags;    /* ... and their mark */
    PyObject *origin_input;
    PyObject *inputs;          /* list of the bytes decoded since, or NULL
                                  when tell() is off */
};

typedef struct {
    PyObject_HEAD
    afc_state *st;
    PyObject *buffer;          /* the buffered file; NULL once detached */
    PyObject *decoder;         /* NULL unless readable */
    PyObject *encoder;         /* NULL unless writable */
    PyObject *chars;           /* decoded text (str) or NULL */
    Py_ssize_t pos;            /* first unread character of chars */
    PyObject *mark_flags;      /* decoder flags before chars, or NULL:
                                  no mark (tell() gives the byte position) */
    PyObject *mark_input;      /* bytes that decode to chars */
    PyObject *fed;             /* input from the pool for the next chunk */
    PyObject *partial;         /* read, not yet decoded (take_input) */
    PyObject *newline;         /* None, "", "\n", "\r" or "\r\n" */
    PyObject *writenl;         /* what "\n" becomes on write, or NULL */
    PyObject *codec;           /* codec name and error handler, for */
    PyObject *errors;          /* PyUnicode_AsEncodedString */
    int translate;             /* newline=None: "\r", "\r\n" read as "\n" */
    int universal;             /* newline None or "": any ending ends a
                                  line */
    int line_buffering, seekable, telling, strict, fast_encode;
    int bom_pending;           /* the next write starts the stream */
    int busy;                  /* calls in progress in Python */
    Py_ssize_t chunk_size;     /* _CHUNK_SIZE */
    Py_ssize_t need;           /* bytes the stopped call waits for */
    double ratio;              /* bytes per character of the last chunk */
    struct gather *g;
    PyObject *spare;           /* a Done to reuse once nobody holds it */
    int64_t since;             /* fairness: when the loop last ran */
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

/* ---- checks ---- */

static int
ensure_attached(TextObject *self)
{
    if (self->buffer != NULL) {
        return 0;
    }
    PyErr_SetString(PyExc_ValueError, "underlying buffer has been detached");
    return -1;
}

/* Attached and not closed, with io's messages. */
static int
ensure_open(TextObject *self)
{
    if (ensure_attached(self) < 0) {
        return -1;
    }
    int closed = afc_file_closed(self->st, self->buffer);
    if (closed < 0) {
        /* Not one of our files (detached below us): ask it. */
        PyObject *flag = PyObject_GetAttrString(self->buffer, "closed");
        if (flag == NULL) {
            return -1;
        }
        closed = PyObject_IsTrue(flag);
        Py_DECREF(flag);
        if (closed < 0) {
            return -1;
        }
    }
    if (closed) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed file.");
        return -1;
    }
    return 0;
}

static int
unsupported(TextObject *self, const char *what)
{
    PyErr_SetString(self->st->UnsupportedOperation, what);
    return -1;
}

static int
ensure_readable(TextObject *self)
{
    return self->decoder != NULL ? 0 : unsupported(self, "not readable");
}

/* ---- decoded characters and their mark ---- */

static Py_ssize_t
unread(TextObject *self)
{
    return self->chars == NULL ? 0 : PyUnicode_GET_LENGTH(self->chars) -
                                         self->pos;
}

/* New decoded text (steals it; NULL for none), nothing of it read. */
static void
put_chars(TextObject *self, PyObject *chars)
{
    Py_XSETREF(self->chars, chars);
    self->pos = 0;
}

static void
drop_mark(TextObject *self)
{
    Py_CLEAR(self->mark_flags);
    Py_CLEAR(self->mark_input);
}

/* Steals both. */
static void
set_mark(TextObject *self, PyObject *flags, PyObject *input)
{
    Py_XSETREF(self->mark_flags, flags);
    Py_XSETREF(self->mark_input, input);
}

/* Up to n (all if n < 0) unread characters, which count as read. */
static PyObject *
take_chars(TextObject *self, Py_ssize_t n)
{
    Py_ssize_t have = unread(self);
    if (n < 0 || n > have) {
        n = have;
    }
    if (n == 0) {
        return PyUnicode_FromStringAndSize(NULL, 0);
    }
    PyObject *out;
    if (self->pos == 0 && n == PyUnicode_GET_LENGTH(self->chars)) {
        out = Py_NewRef(self->chars);
    }
    else {
        out = PyUnicode_Substring(self->chars, self->pos, self->pos + n);
        if (out == NULL) {
            return NULL;
        }
    }
    self->pos += n;
    return out;
}

/* Forget everything read ahead: decoded text, its mark, undecoded bytes
 * (a write, a seek). */
static void
forget_read_ahead(TextObject *self)
{
    put_chars(self, NULL);
    drop_mark(self);
    Py_CLEAR(self->partial);
    Py_CLEAR(self->fed);
}

/* ---- the codec objects ---- */

static PyObject *
call_decode(TextObject *self, PyObject *input, int final)
{
    PyObject *text = PyObject_CallMethod(self->decoder, "decode", "OO", input,
                                         final ? Py_True : Py_False);
    if (text != NULL && !PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError,
                     "decoder should return a string result, not '%.200s'",
                     Py_TYPE(text)->tp_name);
        Py_CLEAR(text);
    }
    return text;
}

/* The decoder's getstate() as (bytes it holds, flags). */
static int
decoder_state(TextObject *self, PyObject **held, PyObject **flags)
{
    PyObject *state = PyObject_CallMethod(self->decoder, "getstate", NULL);
    if (state == NULL) {
        return -1;
    }
    if (!PyTuple_Check(state) || PyTuple_GET_SIZE(state) != 2) {
        Py_DECREF(state);
        PyErr_SetString(PyExc_TypeError, "illegal decoder state");
        return -1;
    }
    PyObject *b = PyTuple_GET_ITEM(state, 0);
    if (!PyBytes_Check(b)) {
        PyErr_Format(PyExc_TypeError,
                     "illegal decoder state: the first item should be a "
                     "bytes object, not '%.200s'", Py_TYPE(b)->tp_name);
        Py_DECREF(state);
        return -1;
    }
    *held = Py_NewRef(b);
    *flags = Py_NewRef(PyTuple_GET_ITEM(state, 1));
    Py_DECREF(state);
    return 0;
}

/* Put the decoder where byte `start` of the file with `flags` puts it. At
 * the very start reset() is used instead: a decoder such as utf-16's then
 * looks for a BOM again. */
static int
decoder_to(TextObject *self, long long start, PyObject *flags)
{
    PyObject *r;
    int zero = PyObject_Not(flags);
    if (zero < 0) {
        return -1;
    }
    if (start == 0 && zero) {
        r = PyObject_CallMethod(self->decoder, "reset", NULL);
    }
    else {
        r = PyObject_CallMethod(self->decoder, "setstate", "((yO))", "",
                                flags);
    }
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static int
decoder_reset(TextObject *self)
{
    if (self->decoder == NULL) {
        return 0;
    }
    PyObject *r = PyObject_CallMethod(self->decoder, "reset", NULL);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* ---- input and chunks ---- */

/* How many bytes the next chunk asks for: _CHUNK_SIZE, or enough for
 * `chars` characters at the last chunk's ratio, whichever is more. */
static Py_ssize_t
chunk_bytes(TextObject *self, Py_ssize_t chars)
{
    Py_ssize_t want = self->chunk_size;
    if (chars > 0) {
        double per = self->ratio > 1.0 ? self->ratio : 1.0;
        double est = per * (double)chars;
        Py_ssize_t n = est >= (double)PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX
                                                     : (Py_ssize_t)est;
        if (n > want) {
            want = n;
        }
    }
    return want;
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
 * must come from the pool (_feed brings them). */
static PyObject *
take_input(TextObject *self, Py_ssize_t want)
{
    PyObject *input = NULL;
    int more = self->seekable && want <= AFC_TEXT_EXACT_MAX;
    if (self->fed != NULL) {
        input = self->fed;
        self->fed = NULL;
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

/* Decode the next chunk into self->chars (the previous text is replaced:
 * callers have used it up). Returns 1 when there is new text, 0 at the end
 * of the file, -1 on error, CHUNK_NEED when the input must come from the
 * pool. While tell() is on, the chunk's mark is the decoder's state
 * before it plus the chunk's bytes: the bytes the decoder still held
 * come before this input. */
#define CHUNK_NEED (-2)

static int
next_chunk(TextObject *self, Py_ssize_t chars_wanted)
{
    PyObject *held = NULL, *flags = NULL, *input = NULL, *text = NULL;
    if (ensure_readable(self) < 0) {
        return -1;
    }
    input = take_input(self, chunk_bytes(self, chars_wanted));
    if (input == NULL) {
        return PyErr_Occurred() ? -1 : CHUNK_NEED;
    }
    if (self->telling && decoder_state(self, &held, &flags) < 0) {
        goto error;
    }
    Py_ssize_t nbytes = PyBytes_GET_SIZE(input);
    text = call_decode(self, input, nbytes == 0);
    if (text == NULL) {
        goto error;
    }
    Py_ssize_t nchars = PyUnicode_GET_LENGTH(text);
    self->ratio = nchars > 0 ? (double)nbytes / (double)nchars : 0.0;
    put_chars(self, text);
    text = NULL;
    if (self->telling) {
        PyBytes_Concat(&held, input);
        if (held == NULL) {
            goto error;
        }
        set_mark(self, flags, held);
        flags = held = NULL;
        if (self->g != NULL && self->g->inputs != NULL &&
            PyList_Append(self->g->inputs, input) < 0) {
            goto error;
        }
    }
    Py_DECREF(input);
    return nbytes > 0 || nchars > 0;

error:
    Py_XDECREF(held);
    Py_XDECREF(flags);
    Py_XDECREF(input);
    Py_XDECREF(text);
    return -1;
}

/* ---- where a line ends ---- */

/* Where the first line in s[from:to] ends (the index after its newline),
 * or -1; then *safe is how far the text can be set aside without cutting
 * a newline that the next chunk may complete. */
static Py_ssize_t
line_end(TextObject *self, PyObject *s, Py_ssize_t from, Py_ssize_t to,
         Py_ssize_t *safe)
{
    *safe = to;
    if (self->translate) {
        /* The newline decoder has already made every ending "\n". */
        Py_ssize_t at = PyUnicode_FindChar(s, '\n', from, to, 1);
        return at < 0 ? -1 : at + 1;
    }
    if (self->universal) {
        /* newline="": "\n", "\r" and "\r\n" end lines, kept as they are.
         * The newline decoder holds back a final "\r" until it knows what
         * follows, so "\r\n" is never split between two chunks. */
        int kind = PyUnicode_KIND(s);
        const void *data = PyUnicode_DATA(s);
        for (Py_ssize_t i = from; i < to; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c == '\n') {
                return i + 1;
            }
            if (c == '\r') {
                int crlf = i + 1 < to &&
                           PyUnicode_READ(kind, data, i + 1) == '\n';
                return i + 1 + crlf;
            }
        }
        return -1;
    }
    /* One fixed ending: "\n", "\r" or "\r\n". */
    Py_ssize_t at = PyUnicode_Find(s, self->newline, from, to, 1);
    if (at == -2) {
        return -2;
    }
    if (at >= 0) {
        return at + PyUnicode_GET_LENGTH(self->newline);
    }
    /* A last character that starts the ending may be completed by the
     * next chunk: keep it for the next search. */
    if (PyUnicode_GET_LENGTH(self->newline) > 1 && to > from &&
        PyUnicode_READ_CHAR(s, to - 1) ==
            PyUnicode_READ_CHAR(self->newline, 0)) {
        *safe = to - 1;
    }
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
 * call (see handoff), so no other call on the file sees it.
 *
 * The text goes into one str that grows in place (acc[0:len]); joining a
 * list of pieces at the end would copy the whole line in one go on the
 * loop thread. If the call is cancelled while stopped, give_back() puts
 * everything it had taken back in front of the decoded characters, so the
 * next call starts at the same character and tell() still agrees: for that
 * the record remembers where it started (origin_*) and, while tell() is
 * on, every input chunk read since. */

static void
gather_free(struct gather *g)
{
    if (g != NULL) {
        Py_XDECREF(g->acc);
        Py_XDECREF(g->held);
        Py_XDECREF(g->origin_chars);
        Py_XDECREF(g->origin_flags);
        Py_XDECREF(g->origin_input);
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
    g->origin_chars = Py_XNewRef(self->chars);
    g->origin_pos = used;
    g->origin_flags = Py_XNewRef(self->mark_flags);
    g->origin_input = Py_XNewRef(self->mark_input);
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
    PyObject *text = NULL, *rest = NULL, *chars = NULL, *input = NULL;
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
    if (unread(self) > 0) {
        rest = take_chars(self, -1);
        if (rest == NULL) {
            goto error;
        }
        Py_SETREF(text, PyUnicode_Concat(text, rest));
        if (text == NULL) {
            goto error;
        }
    }
    Py_ssize_t pos = 0;
    if (g->inputs != NULL && g->origin_chars != NULL &&
        g->origin_flags != NULL) {
        /* tell() is on: mark the text as one chunk made of all the input
         * since the origin, which decodes to the origin's characters
         * followed by everything taken since. */
        PyObject *head = PyUnicode_Substring(g->origin_chars, 0,
                                             g->origin_pos);
        if (head == NULL) {
            goto error;
        }
        chars = PyUnicode_Concat(head, text);
        Py_DECREF(head);
        if (chars == NULL) {
            goto error;
        }
        input = Py_NewRef(g->origin_input);
        Py_ssize_t k = PyList_GET_SIZE(g->inputs);
        for (Py_ssize_t i = 0; i < k && input != NULL; i++) {
            PyBytes_Concat(&input, PyList_GET_ITEM(g->inputs, i));
        }
        if (input == NULL) {
            goto error;
        }
        set_mark(self, Py_NewRef(g->origin_flags), input);
        input = NULL;
        pos = g->origin_pos;
    }
    else {
        chars = Py_NewRef(text);
        drop_mark(self);
    }
    put_chars(self, chars);
    chars = NULL;
    self->pos = pos;
    Py_DECREF(text);
    Py_XDECREF(rest);
    gather_free(g);
    return 0;

error:
    Py_XDECREF(text);
    Py_XDECREF(rest);
    Py_XDECREF(chars);
    Py_XDECREF(input);
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
    if (self->g == NULL && ensure_open(self) < 0) {
        return STEP_ERROR;
    }
    while (1) {
        if (unread(self) == 0) {
            int res = next_chunk(self, 0);
            if (res == CHUNK_NEED) {
                return STEP_NEED;
            }
            if (res < 0) {
                goto error;
            }
            if (res == 0) {
                /* The file has ended: the line is what was gathered. */
                put_chars(self, NULL);
                drop_mark(self);
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
            text = PyUnicode_Concat(g->held, self->chars);
            if (text == NULL) {
                goto error;
            }
            Py_CLEAR(g->held);
            from = 0;
        }
        else {
            text = Py_NewRef(self->chars);
            from = self->pos;
        }
        Py_ssize_t size = PyUnicode_GET_LENGTH(text);
        Py_ssize_t taken = g != NULL ? g->len : 0;
        Py_ssize_t safe = 0;
        Py_ssize_t cut = line_end(self, text, from, size, &safe);
        if (cut == -2) {
            Py_DECREF(text);
            goto error;
        }
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
            self->pos = cut - lead;
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
        g = gather_for(self, self->pos);
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
        /* Used up: if the next chunk fails, no decoded text is left (tell()
         * then measures from the mark alone, as io does). */
        put_chars(self, NULL);
        if (over_budget(self)) {
            return STEP_YIELD;
        }
    }
    /* Gathered across chunks, or the file ended. */
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
        if (ensure_open(self) < 0) {
            return STEP_ERROR;
        }
        if (ensure_readable(self) < 0) {
            return STEP_ERROR;
        }
    }
    while (1) {
        struct gather *g = self->g;
        Py_ssize_t taken = g != NULL ? g->len : 0;
        Py_ssize_t want = n - taken;
        Py_ssize_t avail = unread(self);
        if (avail >= want) {
            /* The answer is here. */
            if (g == NULL) {
                PyObject *r = take_chars(self, want);
                if (r == NULL) {
                    goto error;
                }
                *out = r;
                return STEP_DONE;
            }
            Py_ssize_t from = self->pos;
            if (gather_append(g, self->chars, from, from + want) < 0) {
                goto error;
            }
            self->pos += want;
            break;
        }
        if (avail > 0) {
            Py_ssize_t from = self->pos;
            g = gather_for(self, from);
            if (g == NULL ||
                gather_append(g, self->chars, from, from + avail) < 0) {
                goto error;
            }
            self->pos += avail;
            if (over_budget(self)) {
                return STEP_YIELD;
            }
            continue;
        }
        int res = next_chunk(self, want);
        if (res == CHUNK_NEED) {
            return STEP_NEED;
        }
        if (res < 0) {
            goto error;
        }
        if (res == 0) {
            break;  /* the file has ended */
        }
    }
    PyObject *r;
    if (self->g == NULL) {
        r = take_chars(self, 0);
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

/* ---- writing ---- */

/* The bytes write(text) puts in the buffer, or NULL. *flush_after tells
 * whether line buffering wants a flush once they are in (the text has a
 * "\n" or a "\r"). */
static PyObject *
encode_text(TextObject *self, PyObject *text, int *flush_after)
{
    PyObject *bytes = NULL;
    if (ensure_open(self) < 0) {
        return NULL;
    }
    if (self->encoder == NULL) {
        unsupported(self, "not writable");
        return NULL;
    }
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "write() argument must be str, not %.50s",
                     text == Py_None ? "None" : Py_TYPE(text)->tp_name);
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int has_lf = PyUnicode_FindChar(text, '\n', 0, n, 1) >= 0;
    Py_INCREF(text);
    if (has_lf && self->writenl != NULL) {
        PyObject *lf = PyUnicode_FromOrdinal('\n');
        PyObject *swapped =
            lf == NULL ? NULL : PyUnicode_Replace(text, lf, self->writenl, -1);
        Py_XDECREF(lf);
        Py_SETREF(text, swapped);
        if (text == NULL) {
            return NULL;
        }
        n = PyUnicode_GET_LENGTH(text);
    }
    *flush_after = self->line_buffering &&
                   (has_lf || PyUnicode_FindChar(text, '\r', 0, n, 1) >= 0);
    if (self->fast_encode == ENC_NONE) {
        bytes = PyObject_CallMethod(self->encoder, "encode", "O", text);
    }
    else {
        static const char *const codec_of[] = {
            NULL, "utf-8", "latin-1", "ascii", "utf-16-be", "utf-16-le",
            "utf-16", "utf-32-be", "utf-32-le", "utf-32"};
        int which = self->fast_encode;
        /* Past the start of the stream utf-16/32 go on without a BOM, in
         * the byte order the BOM announced (little-endian here). */
        if (!self->bom_pending && which == ENC_UTF16) {
            which = ENC_UTF16LE;
        }
        else if (!self->bom_pending && which == ENC_UTF32) {
            which = ENC_UTF32LE;
        }
        bytes = PyUnicode_AsEncodedString(text, codec_of[which],
                                          PyUnicode_AsUTF8(self->errors));
        self->bom_pending = 0;  /* as io: even when encoding failed */
    }
    Py_DECREF(text);
    if (bytes != NULL && !PyBytes_Check(bytes)) {
        PyErr_Format(PyExc_TypeError,
                     "encoder should return a bytes object, not '%.200s'",
                     Py_TYPE(bytes)->tp_name);
        Py_CLEAR(bytes);
    }
    return bytes;
}

/* After a write the text read ahead is stale: forget it, and start the
 * decoder afresh. */
static int
after_write(TextObject *self)
{
    forget_read_ahead(self);
    return decoder_reset(self);
}

/* ---- tell() and seek() ----
 *
 * A cookie is io's: one unsigned integer whose little-endian bytes are
 * the byte position to start decoding from (8 bytes, two's complement),
 * the decoder flags there, how many bytes to feed the decoder after that,
 * how many characters to skip from what they decode to (4 bytes each),
 * and whether the decoder must be told the input has ended (1 byte). */

struct cookie {
    long long start;
    int flags;
    int feed;
    int skip;
    int eof;
};

/* value | (part << shift), for building a cookie. Steals value. */
static PyObject *
or_shifted(PyObject *value, unsigned long long part, int shift)
{
    PyObject *p = NULL, *sh = NULL, *moved = NULL, *out = NULL;
    if (value == NULL) {
        return NULL;
    }
    p = PyLong_FromUnsignedLongLong(part);
    sh = PyLong_FromLong(shift);
    if (p != NULL && sh != NULL) {
        moved = PyNumber_Lshift(p, sh);
    }
    if (moved != NULL) {
        out = PyNumber_Or(value, moved);
    }
    Py_XDECREF(p);
    Py_XDECREF(sh);
    Py_XDECREF(moved);
    Py_DECREF(value);
    return out;
}

static PyObject *
cookie_pack(const struct cookie *c)
{
    PyObject *v = PyLong_FromUnsignedLongLong((unsigned long long)c->start);
    v = or_shifted(v, (unsigned int)c->flags, 64);
    v = or_shifted(v, (unsigned int)c->feed, 96);
    v = or_shifted(v, (unsigned int)c->skip, 128);
    return or_shifted(v, (unsigned int)c->eof, 160);
}

/* Bits [shift, shift + 64) of n. */
static int
bits_at(PyObject *n, int shift, unsigned long long *out)
{
    PyObject *sh = PyLong_FromLong(shift);
    PyObject *moved = sh == NULL ? NULL : PyNumber_Rshift(n, sh);
    Py_XDECREF(sh);
    if (moved == NULL) {
        return -1;
    }
    *out = PyLong_AsUnsignedLongLongMask(moved);
    Py_DECREF(moved);
    return *out == (unsigned long long)-1 && PyErr_Occurred() ? -1 : 0;
}

static int
cookie_unpack(PyObject *value, struct cookie *c)
{
    unsigned long long lo, mid, hi, top;
    PyObject *n = PyNumber_Long(value);  /* io takes int(cookie) */
    if (n == NULL) {
        return -1;
    }
    int r = bits_at(n, 0, &lo) < 0 || bits_at(n, 64, &mid) < 0 ||
            bits_at(n, 128, &hi) < 0 || bits_at(n, 168, &top) < 0;
    Py_DECREF(n);
    if (r) {
        return -1;
    }
    if (top != 0) {
        PyErr_SetString(PyExc_OverflowError, "int too big to convert");
        return -1;
    }
    c->start = (long long)lo;
    c->flags = (int)(unsigned int)mid;
    c->feed = (int)(unsigned int)(mid >> 32);
    c->skip = (int)(unsigned int)hi;
    c->eof = (int)((hi >> 32) & 0xFF);
    return 0;
}

/* An int object as a C int (io's OverflowError message). */
static int
as_c_int(PyObject *o, int *out)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError,
                        "Python int too large to convert to C int");
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Decode `data` and count the characters (the decoder moves on). */
static Py_ssize_t
decoded_length(TextObject *self, PyObject *data, int final)
{
    PyObject *text = call_decode(self, data, final);
    if (text == NULL) {
        return -1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_DECREF(text);
    return n;
}

/* How many bytes the decoder holds after its last decode, and its flags;
 * -1 on error. */
static Py_ssize_t
decoder_holding(TextObject *self, int *flags)
{
    PyObject *held, *f;
    if (decoder_state(self, &held, &f) < 0) {
        return -1;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(held);
    Py_DECREF(held);
    int r = as_c_int(f, flags);
    Py_DECREF(f);
    return r < 0 ? -1 : n;
}

/* The cookie for the current character, when `pos` characters of the
 * marked chunk `input` have been read. The decoder is walked over the
 * input from the mark: first in big steps to a point near the character
 * where it holds no bytes, then byte by byte, to find the latest such
 * point before the character; the cookie names that point, the bytes to
 * feed from it and the characters to skip. io walks the same way, so the
 * cookies are the same numbers. The caller saves and restores the
 * decoder's state around this. */
static int
cookie_walk(TextObject *self, PyObject *input, struct cookie *c)
{
    Py_ssize_t size = PyBytes_GET_SIZE(input);
    const char *bytes = PyBytes_AS_STRING(input);
    PyObject *flags_obj = NULL;
    int flags = c->flags;

    /* Big steps: guess the byte offset from the last chunk's ratio, test
     * it, and back off (by one, two, four ... bytes) while the guess
     * decodes to too many characters. */
    double guess = self->ratio * (double)c->skip;
    Py_ssize_t step = guess >= (double)size ? size : (Py_ssize_t)guess;
    Py_ssize_t back = 1;
    while (step > 0) {
        flags_obj = PyLong_FromLong(flags);
        if (flags_obj == NULL || decoder_to(self, c->start, flags_obj) < 0) {
            goto error;
        }
        Py_CLEAR(flags_obj);
        PyObject *head = PyBytes_FromStringAndSize(bytes, step);
        if (head == NULL) {
            goto error;
        }
        Py_ssize_t got = decoded_length(self, head, 0);
        Py_DECREF(head);
        if (got < 0) {
            goto error;
        }
        if (got > c->skip) {
            step -= back;
            back *= 2;
            continue;
        }
        int f;
        Py_ssize_t holding = decoder_holding(self, &f);
        if (holding < 0) {
            goto error;
        }
        if (holding == 0) {
            flags = f;
            c->skip -= (int)got;
            break;
        }
        step -= holding;
        back = 1;
    }
    if (step <= 0) {
        step = 0;
        flags_obj = PyLong_FromLong(flags);
        if (flags_obj == NULL || decoder_to(self, c->start, flags_obj) < 0) {
            goto error;
        }
        Py_CLEAR(flags_obj);
    }
    c->start += step;
    c->flags = flags;
    if (c->skip == 0) {
        return 0;
    }

    /* Byte by byte from there; each point where the decoder holds nothing
     * and has not passed the character becomes the new start. */
    Py_ssize_t fed = 0, got = 0, i;
    for (i = step; i < size; i++) {
        PyObject *one = PyBytes_FromStringAndSize(bytes + i, 1);
        if (one == NULL) {
            goto error;
        }
        Py_ssize_t n = decoded_length(self, one, 0);
        Py_DECREF(one);
        if (n < 0) {
            goto error;
        }
        got += n;
        fed++;
        int f;
        Py_ssize_t holding = decoder_holding(self, &f);
        if (holding < 0) {
            goto error;
        }
        if (holding == 0 && got <= c->skip) {
            c->start += fed;
            c->skip -= (int)got;
            c->flags = f;
            fed = got = 0;
        }
        if (got >= c->skip) {
            break;
        }
    }
    if (i == size) {
        /* The input ran out first: only the end-of-input flush can make
         * the missing characters. */
        PyObject *none = PyBytes_FromStringAndSize(NULL, 0);
        Py_ssize_t n = none == NULL ? -1 : decoded_length(self, none, 1);
        Py_XDECREF(none);
        if (n < 0) {
            goto error;
        }
        got += n;
        c->eof = 1;
        if (got < c->skip) {
            PyErr_SetString(PyExc_OSError,
                            "can't reconstruct logical file position");
            goto error;
        }
    }
    c->feed = (int)fed;
    return 0;

error:
    Py_XDECREF(flags_obj);
    return -1;
}

/* _cookie(byte_position) -> int: tell() once the buffer is flushed and
 * byte_position is the buffered file's tell(). */
static PyObject *
Text_cookie(TextObject *self, PyObject *arg)
{
    struct cookie c = {0, 0, 0, 0, 0};
    c.start = PyLong_AsLongLong(arg);
    if (c.start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (self->partial != NULL) {
        c.start -= PyBytes_GET_SIZE(self->partial);
    }
    if (self->decoder == NULL || self->mark_flags == NULL) {
        return PyLong_FromLongLong(c.start);
    }
    c.start -= PyBytes_GET_SIZE(self->mark_input);
    if (as_c_int(self->mark_flags, &c.flags) < 0) {
        return NULL;
    }
    if (self->pos > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError,
                        "Python int too large to convert to C int");
        return NULL;
    }
    c.skip = (int)self->pos;
    if (c.skip == 0) {
        return cookie_pack(&c);
    }
    PyObject *saved = PyObject_CallMethod(self->decoder, "getstate", NULL);
    if (saved == NULL) {
        return NULL;
    }
    int r = cookie_walk(self, self->mark_input, &c);
    PyObject *et = NULL, *ev = NULL, *etb = NULL;
    if (r < 0) {
        PyErr_Fetch(&et, &ev, &etb);
    }
    /* (CallMethod with format "O" would unpack the state tuple.) */
    PyObject *back = NULL, *name = PyUnicode_FromString("setstate");
    if (name != NULL) {
        back = PyObject_CallMethodObjArgs(self->decoder, name, saved, NULL);
        Py_DECREF(name);
    }
    Py_DECREF(saved);
    if (r < 0) {
        Py_XDECREF(back);
        PyErr_Restore(et, ev, etb);  /* the walk's error wins */
        return NULL;
    }
    if (back == NULL) {
        return NULL;
    }
    Py_DECREF(back);
    return cookie_pack(&c);
}

/* Set the encoder for a new position; at the start of the file the
 * next write begins with a BOM again. */
static int
restart_encoder(TextObject *self, int at_start)
{
    self->bom_pending = at_start;
    if (self->encoder == NULL) {
        return 0;
    }
    PyObject *r = at_start
        ? PyObject_CallMethod(self->encoder, "reset", NULL)
        : PyObject_CallMethod(self->encoder, "setstate", "i", 0);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* _seek_plan(cookie) -> (start, skips, feed): what seek() to a cookie
 * must do with the buffered file: seek to `start`, then, if the cookie
 * skips characters, read `feed` bytes for _seek_skip. Changes nothing. */
static PyObject *
Text_seek_plan(TextObject *self, PyObject *arg)
{
    (void)self;
    struct cookie c;
    if (cookie_unpack(arg, &c) < 0) {
        return NULL;
    }
    return Py_BuildValue("(LOi)", c.start, c.skip ? Py_True : Py_False,
                         c.feed);
}

/* _seek_apply(cookie): the buffered file is now at the cookie's start:
 * forget the text read ahead and set the decoder for that point. */
static PyObject *
Text_seek_apply(TextObject *self, PyObject *arg)
{
    struct cookie c;
    if (cookie_unpack(arg, &c) < 0) {
        return NULL;
    }
    forget_read_ahead(self);
    PyObject *flags = PyLong_FromLong(c.flags);
    if (flags == NULL) {
        return NULL;
    }
    if (self->decoder != NULL && decoder_to(self, c.start, flags) < 0) {
        Py_DECREF(flags);
        return NULL;
    }
    if (c.skip) {
        Py_DECREF(flags);  /* _seek_skip marks the fed bytes */
        Py_RETURN_NONE;
    }
    /* An empty mark: tell() is the byte position itself. */
    PyObject *none = PyBytes_FromStringAndSize(NULL, 0);
    if (none == NULL) {
        Py_DECREF(flags);
        return NULL;
    }
    set_mark(self, flags, none);
    if (restart_encoder(self, c.start == 0 && c.flags == 0) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _seek_skip(cookie, data): seek() to a cookie that skips characters,
 * after _seek_apply: decode the fed bytes and skip into them. */
static PyObject *
Text_seek_skip(TextObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct cookie c;
    if (nargs != 2 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "_seek_skip(cookie, bytes)");
        return NULL;
    }
    if (cookie_unpack(args[0], &c) < 0) {
        return NULL;
    }
    PyObject *flags = PyLong_FromLong(c.flags);
    if (flags == NULL) {
        return NULL;
    }
    set_mark(self, flags, Py_NewRef(args[1]));
    PyObject *text = call_decode(self, args[1], c.eof);
    if (text == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    put_chars(self, text);
    if (n < c.skip) {
        PyErr_SetString(PyExc_OSError, "can't restore logical file position");
        return NULL;
    }
    self->pos = c.skip;
    if (restart_encoder(self, c.start == 0 && c.flags == 0) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _restart_encoder(at_start): after seek(0, 2). */
static PyObject *
Text_restart_encoder(TextObject *self, PyObject *arg)
{
    int at_start = PyObject_IsTrue(arg);
    if (at_start < 0 || restart_encoder(self, at_start) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _seek_end(): before seek(0, 2): nothing read ahead, decoder afresh. */
static PyObject *
Text_seek_end(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    forget_read_ahead(self);
    if (decoder_reset(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _read_all_start(): read() to the end begins: checks, and the bytes read
 * but not decoded yet, which go before the rest of the file. */
static PyObject *
Text_read_all_start(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    if (ensure_open(self) < 0 || ensure_readable(self) < 0) {
        return NULL;
    }
    PyObject *p = self->partial;
    self->partial = NULL;
    return p != NULL ? p : PyBytes_FromStringAndSize(NULL, 0);
}

/* _read_all_finish(data) -> str: the unread text plus all of data,
 * decoded as the end of the input. */
static PyObject *
Text_read_all_finish(TextObject *self, PyObject *data)
{
    PyObject *tail = call_decode(self, data, 1);
    if (tail == NULL) {
        return NULL;
    }
    PyObject *head = take_chars(self, -1);
    if (head == NULL) {
        Py_DECREF(tail);
        return NULL;
    }
    PyObject *all = PyUnicode_Concat(head, tail);
    Py_DECREF(head);
    Py_DECREF(tail);
    put_chars(self, NULL);
    drop_mark(self);
    return all;
}

/* ---- handing a call to Python ----
 *
 * A call stopped part-way (STEP_NEED, STEP_YIELD) goes on in a coroutine
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
handoff_make(TextObject *self)
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

/* self._slow(op, arg, why, handoff-or-None): the coroutine that finishes
 * the call; Python counts it as in progress (_hold) from here on. */
static PyObject *
go_slow(TextObject *self, int op, PyObject *arg, int why)
{
    PyObject *h = why == WHY_NEED || why == WHY_PAUSED ? handoff_make(self)
                                                       : Py_NewRef(Py_None);
    if (h == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_CallMethod((PyObject *)self, "_slow", "iOiO", op,
                                      arg, why, h);
    Py_DECREF(h);
    return r;
}

/* Whether a call may run here and now; if not, *why says why. The clock
 * is read every AFC_TEXT_CHECK_EVERY calls. */
static int
may_run_inline(TextObject *self, int *why)
{
    if (self->busy) {
        *why = WHY_BUSY;
        return 0;
    }
    self->calls++;
    if (self->calls % AFC_TEXT_CHECK_EVERY == 0 && over_budget(self)) {
        *why = WHY_YIELD;
        return 0;
    }
    return 1;
}

/* ---- arguments, with io's messages ---- */

/* io's methods take positional arguments only. */
static int
no_keywords(PyObject *kwnames, const char *fname)
{
    if (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0) {
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "TextIOWrapper.%s() takes no keyword arguments", fname);
    return -1;
}

/* The optional size argument of read() (None allowed: "all") and
 * readline() (an integer only). */
static int
size_arg(PyObject *const *args, Py_ssize_t nargs, const char *fname,
         int none_ok, Py_ssize_t *size)
{
    *size = -1;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError,
                     "%s expected at most 1 argument, got %zd", fname, nargs);
        return -1;
    }
    if (nargs == 0) {
        return 0;
    }
    PyObject *v = args[0];
    if (none_ok) {
        if (v == Py_None) {
            return 0;
        }
        if (!PyIndex_Check(v)) {
            PyErr_Format(PyExc_TypeError,
                         "argument should be integer or None, not '%.200s'",
                         Py_TYPE(v)->tp_name);
            return -1;
        }
        *size = PyNumber_AsSsize_t(v, PyExc_OverflowError);
    }
    else {
        PyObject *n = PyNumber_Index(v);
        if (n == NULL) {
            return -1;
        }
        *size = PyLong_AsSsize_t(n);
        Py_DECREF(n);
    }
    return *size == -1 && PyErr_Occurred() ? -1 : 0;
}

/* ---- the calls answered here ---- */

static PyObject *
readline_call(TextObject *self, Py_ssize_t limit, int op)
{
    int why;
    PyObject *line = NULL;
    int r = may_run_inline(self, &why) ? readline_step(self, limit, &line)
                                       : -2;
    if (r == STEP_DONE) {
        if (op == OP_ANEXT && PyUnicode_GET_LENGTH(line) == 0) {
            Py_DECREF(line);
            PyErr_SetNone(PyExc_StopAsyncIteration);
            return done_error(self->st);
        }
        return text_done(self, line);
    }
    if (r == STEP_ERROR) {
        return done_error(self->st);
    }
    if (r == STEP_NEED) {
        why = WHY_NEED;
    }
    else if (r == STEP_YIELD) {
        why = WHY_PAUSED;
    }
    PyObject *a = PyLong_FromSsize_t(limit);
    PyObject *res = a == NULL ? NULL : go_slow(self, op, a, why);
    Py_XDECREF(a);
    if (res == NULL) {
        gather_drop(self);
    }
    return res;
}

static PyObject *
Text_readline(TextObject *self, PyObject *const *args, size_t nargsf,
              PyObject *kwnames)
{
    Py_ssize_t limit;
    if (no_keywords(kwnames, "readline") < 0 ||
        size_arg(args, PyVectorcall_NARGS(nargsf), "readline", 0,
                 &limit) < 0) {
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
    Py_ssize_t n;
    int why = WHY_BUSY;
    PyObject *text = NULL;
    if (no_keywords(kwnames, "read") < 0 ||
        size_arg(args, PyVectorcall_NARGS(nargsf), "read", 1, &n) < 0) {
        return done_error(self->st);
    }
    /* read() of everything is one read() of the buffered file: Python. */
    int r = n >= 0 && may_run_inline(self, &why) ? read_step(self, n, &text)
                                                 : -2;
    if (r == STEP_DONE) {
        return text_done(self, text);
    }
    if (r == STEP_ERROR) {
        return done_error(self->st);
    }
    if (r == STEP_NEED) {
        why = WHY_NEED;
    }
    else if (r == STEP_YIELD) {
        why = WHY_PAUSED;
    }
    PyObject *a = PyLong_FromSsize_t(n);
    PyObject *res = a == NULL ? NULL : go_slow(self, OP_READ, a, why);
    Py_XDECREF(a);
    if (res == NULL) {
        gather_drop(self);
    }
    return res;
}

/* Put bytes into the buffered file's memory if they fit, and finish the
 * write: 1 done, 0 they need the pool, -1 error. */
static int
write_inline(TextObject *self, const char *data, Py_ssize_t n)
{
    int r = afc_file_write_nowait(self->st, self->buffer, data, n);
    if (r > 0 && after_write(self) < 0) {
        return -1;
    }
    return r;
}

static PyObject *
write_text(TextObject *self, PyObject *text)
{
    int why, flush_after = 0;
    if (!may_run_inline(self, &why)) {
        return go_slow(self, OP_WRITE, text, why);
    }
    /* Shortcut: a str whose bytes in this codec are bytes it already has
     * (ASCII in an ASCII-compatible codec; its cached UTF-8 form under
     * strict UTF-8, which fails on a lone surrogate just as encoding does)
     * when no newline translation or line buffering applies. */
    if (PyUnicode_Check(text) && self->writenl == NULL &&
        !self->line_buffering && self->encoder != NULL &&
        self->buffer != NULL && afc_file_closed(self->st, self->buffer) == 0) {
        const char *data = NULL;
        Py_ssize_t nbytes = 0;
        if (PyUnicode_IS_ASCII(text) && self->fast_encode >= ENC_UTF8 &&
            self->fast_encode <= ENC_ASCII) {
            data = (const char *)PyUnicode_DATA(text);
            nbytes = PyUnicode_GET_LENGTH(text);
        }
        else if (self->fast_encode == ENC_UTF8 && self->strict &&
                 PyUnicode_GET_LENGTH(text) <= AFC_TEXT_UTF8_CACHE) {
            data = PyUnicode_AsUTF8AndSize(text, &nbytes);
            if (data == NULL) {
                self->bom_pending = 0;
                return done_error(self->st);
            }
        }
        if (data != NULL) {
            int r = write_inline(self, data, nbytes);
            if (r < 0) {
                return done_error(self->st);
            }
            if (r > 0) {
                self->bom_pending = 0;
                return text_done(
                    self, PyLong_FromSsize_t(PyUnicode_GET_LENGTH(text)));
            }
        }
    }
    PyObject *bytes = encode_text(self, text, &flush_after);
    if (bytes == NULL) {
        return done_error(self->st);
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (!flush_after) {
        int r = write_inline(self, PyBytes_AS_STRING(bytes),
                             PyBytes_GET_SIZE(bytes));
        if (r != 0) {
            Py_DECREF(bytes);
            return r < 0 ? done_error(self->st)
                         : text_done(self, PyLong_FromSsize_t(length));
        }
    }
    PyObject *arg = Py_BuildValue("(NnO)", bytes, length,
                                  flush_after ? Py_True : Py_False);
    if (arg == NULL) {
        return NULL;
    }
    PyObject *res = go_slow(self, OP_WRITE_BYTES, arg, WHY_BUSY);
    Py_DECREF(arg);
    return res;
}

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
    return write_text(self, args[0]);
}

/* ---- the interface of the Python half ---- */

/* Run a step for a stopped call: its text, the number of bytes it needs
 * (to be read with read1 and given to _feed), or 0: let the loop run
 * first. */
static PyObject *
run_step(TextObject *self, PyObject *arg,
         int (*step)(TextObject *, Py_ssize_t, PyObject **))
{
    PyObject *out = NULL;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    switch (step(self, n, &out)) {
    case STEP_DONE:
        return out;
    case STEP_NEED:
        return PyLong_FromSsize_t(self->need > 0 ? self->need : 1);
    case STEP_YIELD:
        return PyLong_FromLong(0);
    default:
        return NULL;
    }
}

static PyObject *
Text_step_readline(TextObject *self, PyObject *limit)
{
    return run_step(self, limit, readline_step);
}

static PyObject *
Text_step_read(TextObject *self, PyObject *n)
{
    return run_step(self, n, read_step);
}

/* _feed(data): the bytes a step asked for. */
static PyObject *
Text_feed(TextObject *self, PyObject *data)
{
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError,
                     "underlying read1() should have returned a bytes-like "
                     "object, not '%.200s'", Py_TYPE(data)->tp_name);
        return NULL;
    }
    Py_XSETREF(self->fed, Py_NewRef(data));
    Py_RETURN_NONE;
}

/* _resume(handoff) -> need: the stopped call's record is back in the
 * object; `need` is how many bytes it was waiting for. */
static PyObject *
Text_resume(TextObject *self, PyObject *capsule)
{
    struct handoff *h = PyCapsule_GetPointer(capsule, HANDOFF_NAME);
    if (h == NULL) {
        return NULL;
    }
    gather_drop(self);
    self->g = h->g;
    h->g = NULL;
    self->need = h->need;
    return PyLong_FromSsize_t(h->need > 0 ? h->need : 1);
}

/* _give_back(): the stopped call was cancelled: its text goes back in
 * front of the unread characters. */
static PyObject *
Text_give_back(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_CLEAR(self->fed);
    return give_back(self) < 0 ? NULL : Py_NewRef(Py_None);
}

/* _abandon(): the stopped call failed: forget its record (as io, whose
 * call loses what it had read when it raises). */
static PyObject *
Text_abandon(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    gather_drop(self);
    Py_CLEAR(self->fed);
    Py_RETURN_NONE;
}

/* _return_input(data): bytes a cancelled call read and did not decode;
 * they follow any already waiting. */
static PyObject *
Text_return_input(TextObject *self, PyObject *data)
{
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "bytes expected");
        return NULL;
    }
    if (self->partial == NULL) {
        self->partial = Py_NewRef(data);
        Py_RETURN_NONE;
    }
    PyBytes_Concat(&self->partial, data);
    return self->partial == NULL ? NULL : Py_NewRef(Py_None);
}

static PyObject *
Text_hold(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    self->busy++;
    Py_RETURN_NONE;
}

static PyObject *
Text_unhold(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->busy > 0) {
        self->busy--;
    }
    Py_RETURN_NONE;
}

/* _yielded(): the loop has just run: a new fairness budget. */
static PyObject *
Text_yielded(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    self->since = afc_now_ns();
    Py_RETURN_NONE;
}

/* _encode(text) -> (bytes, flush_after): write()'s checks and encoding,
 * for a write that goes through Python. */
static PyObject *
Text_encode(TextObject *self, PyObject *text)
{
    int flush_after = 0;
    PyObject *bytes = encode_text(self, text, &flush_after);
    if (bytes == NULL) {
        return NULL;
    }
    return Py_BuildValue("(NO)", bytes, flush_after ? Py_True : Py_False);
}

static PyObject *
Text_after_write(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    return after_write(self) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *
Text_usable(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    return ensure_open(self) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *
Text_attached(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    return ensure_attached(self) < 0 ? NULL : Py_NewRef(Py_None);
}

/* _flushing(): before the buffered file is flushed: the file must be
 * open, and tell() works again (io turns it back on at every flush). */
static PyObject *
Text_flushing(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    if (ensure_open(self) < 0) {
        return NULL;
    }
    self->telling = self->seekable;
    Py_RETURN_NONE;
}

/* _iteration(on): readlines() iterates as io's next() does: tell() is off
 * meanwhile; at the end it is on again and measures from the file. */
static PyObject *
Text_iteration(TextObject *self, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0) {
        return NULL;
    }
    if (on) {
        self->telling = 0;
    }
    else {
        drop_mark(self);
        self->telling = self->seekable;
    }
    Py_RETURN_NONE;
}

/* _seekable_check(for_tell): tell() and seek() need an open, seekable
 * file; tell() also refuses while readlines() iterates. */
static PyObject *
Text_seekable_check(TextObject *self, PyObject *arg)
{
    int for_tell = PyObject_IsTrue(arg);
    if (for_tell < 0 || ensure_open(self) < 0) {
        return NULL;
    }
    if (!self->seekable) {
        unsupported(self, "underlying stream is not seekable");
        return NULL;
    }
    if (for_tell && !self->telling) {
        PyErr_SetString(PyExc_OSError,
                        "telling position disabled by next() call");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _detach() -> buffer: the text layer lets go of the buffered file. */
static PyObject *
Text_detach(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    if (ensure_attached(self) < 0) {
        return NULL;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "detach() while operations are in progress");
        return NULL;
    }
    PyObject *b = self->buffer;
    self->buffer = NULL;
    return b;
}

/* io's encoders of its own, by codec name (codecs.lookup().name). */
static int
fast_encoder_for(PyObject *codec)
{
    static const char *const names[] = {
        NULL, "utf-8", "iso8859-1", "ascii", "utf-16-be", "utf-16-le",
        "utf-16", "utf-32-be", "utf-32-le", "utf-32"};
    const char *name = PyUnicode_AsUTF8(codec);
    if (name == NULL) {
        return -1;
    }
    for (int i = ENC_UTF8; i <= ENC_UTF32; i++) {
        if (strcmp(name, names[i]) == 0) {
            return i;
        }
    }
    return ENC_NONE;
}

/* _configure(buffer, decoder, encoder, codec, errors, newline,
 *            line_buffering, seekable, position): set up once, after the
 * Python half has checked the arguments with io and made the codec
 * objects. position is the buffered file's tell() (None if it cannot
 * tell): a write there starts the stream only at 0. */
static PyObject *
Text_configure(TextObject *self, PyObject *args)
{
    PyObject *buffer, *decoder, *encoder, *codec, *errors, *newline, *where;
    int line_buffering, seekable;
    if (!PyArg_ParseTuple(args, "OOOUUOppO:_configure", &buffer, &decoder,
                          &encoder, &codec, &errors, &newline,
                          &line_buffering, &seekable, &where)) {
        return NULL;
    }
    if (self->buffer != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "text file already set up");
        return NULL;
    }
    if (newline != Py_None && !PyUnicode_Check(newline)) {
        PyErr_SetString(PyExc_TypeError, "newline must be str or None");
        return NULL;
    }
    int fast = fast_encoder_for(codec);
    if (fast < 0) {
        return NULL;
    }
    int empty = newline != Py_None && PyUnicode_GET_LENGTH(newline) == 0;
    self->translate = newline == Py_None;
    self->universal = newline == Py_None || empty;
    Py_XSETREF(self->newline, Py_NewRef(newline));
    /* On write "\n" becomes the newline given, unless that is "" or "\n";
     * newline=None writes os.linesep, which is "\n" here. */
    Py_CLEAR(self->writenl);
    if (newline != Py_None && !empty &&
        PyUnicode_CompareWithASCIIString(newline, "\n") != 0) {
        self->writenl = Py_NewRef(newline);
    }
    Py_XSETREF(self->decoder, decoder == Py_None ? NULL : Py_NewRef(decoder));
    Py_XSETREF(self->encoder, encoder == Py_None ? NULL : Py_NewRef(encoder));
    Py_XSETREF(self->codec, Py_NewRef(codec));
    Py_XSETREF(self->errors, Py_NewRef(errors));
    self->strict = PyUnicode_CompareWithASCIIString(errors, "strict") == 0;
    self->fast_encode = self->encoder != NULL ? fast : ENC_NONE;
    self->line_buffering = line_buffering;
    self->seekable = self->telling = seekable;
    self->bom_pending = 0;
    if (seekable && self->encoder != NULL && where != Py_None) {
        int at_start = PyObject_Not(where);
        if (at_start < 0 || restart_encoder(self, at_start) < 0) {
            return NULL;
        }
    }
    self->buffer = Py_NewRef(buffer);
    Py_RETURN_NONE;
}

/* ---- attributes ---- */

static PyObject *
Text_get_buffer(TextObject *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->buffer != NULL ? self->buffer : Py_None);
}

static PyObject *
Text_get_newlines(TextObject *self, void *Py_UNUSED(closure))
{
    if (ensure_attached(self) < 0) {
        return NULL;
    }
    if (self->decoder == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *v = PyObject_GetAttrString(self->decoder, "newlines");
    if (v == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return v;
}

static PyObject *
Text_get_line_buffering(TextObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->line_buffering);
}

static PyObject *
Text_get_chunk_size(TextObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->chunk_size);
}

static int
Text_set_chunk_size(TextObject *self, PyObject *v, void *Py_UNUSED(closure))
{
    if (v == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete attribute");
        return -1;
    }
    Py_ssize_t n = PyNumber_AsSsize_t(v, PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (n <= 0) {
        PyErr_SetString(PyExc_ValueError,
                        "a strictly positive integer is required");
        return -1;
    }
    self->chunk_size = n;
    return 0;
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
    Py_VISIT(self->chars);
    Py_VISIT(self->mark_flags);
    Py_VISIT(self->mark_input);
    Py_VISIT(self->fed);
    Py_VISIT(self->partial);
    Py_VISIT(self->newline);
    Py_VISIT(self->writenl);
    Py_VISIT(self->codec);
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
    Py_CLEAR(self->chars);
    Py_CLEAR(self->mark_flags);
    Py_CLEAR(self->mark_input);
    Py_CLEAR(self->fed);
    Py_CLEAR(self->partial);
    Py_CLEAR(self->newline);
    Py_CLEAR(self->writenl);
    Py_CLEAR(self->codec);
    Py_CLEAR(self->errors);
    Py_CLEAR(self->spare);
    gather_drop(self);
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

#define M_CALL(name, fn, doc) \
    {name, (PyCFunction)(void (*)(void))fn, METH_FASTCALL | METH_KEYWORDS, doc}
#define M_ONE(name, fn) {name, (PyCFunction)fn, METH_O, NULL}
#define M_NONE(name, fn) {name, (PyCFunction)fn, METH_NOARGS, NULL}

static PyMethodDef Text_methods[] = {
    M_CALL("read", Text_read,
           "Read at most size characters (all if size is negative)."),
    M_CALL("readline", Text_readline,
           "Read until a newline or EOF (at most size characters)."),
    M_CALL("write", Text_write, "Write a str; returns its length."),
    {"_configure", (PyCFunction)Text_configure, METH_VARARGS, NULL},
    M_ONE("_step_readline", Text_step_readline),
    M_ONE("_step_read", Text_step_read),
    M_ONE("_feed", Text_feed),
    M_ONE("_resume", Text_resume),
    M_NONE("_give_back", Text_give_back),
    M_NONE("_abandon", Text_abandon),
    M_ONE("_return_input", Text_return_input),
    M_NONE("_hold", Text_hold),
    M_NONE("_unhold", Text_unhold),
    M_NONE("_yielded", Text_yielded),
    M_ONE("_encode", Text_encode),
    M_NONE("_after_write", Text_after_write),
    M_NONE("_read_all_start", Text_read_all_start),
    M_ONE("_read_all_finish", Text_read_all_finish),
    M_ONE("_cookie", Text_cookie),
    M_ONE("_seek_plan", Text_seek_plan),
    M_ONE("_seek_apply", Text_seek_apply),
    {"_seek_skip", (PyCFunction)(void (*)(void))Text_seek_skip, METH_FASTCALL,
     NULL},
    M_NONE("_seek_end", Text_seek_end),
    M_ONE("_restart_encoder", Text_restart_encoder),
    M_NONE("_usable", Text_usable),
    M_NONE("_attached", Text_attached),
    M_NONE("_flushing", Text_flushing),
    M_ONE("_iteration", Text_iteration),
    M_ONE("_seekable_check", Text_seekable_check),
    M_NONE("_detach", Text_detach),
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Text_getset[] = {
    {"buffer", (getter)Text_get_buffer, NULL, "The buffered file.", NULL},
    {"newlines", (getter)Text_get_newlines, NULL,
     "The newlines met so far (as io's).", NULL},
    {"line_buffering", (getter)Text_get_line_buffering, NULL, NULL, NULL},
    {"_CHUNK_SIZE", (getter)Text_get_chunk_size,
     (setter)Text_set_chunk_size, "Bytes decoded at a time.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Text_members[] = {
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
    {Py_tp_doc, "The text layer's state and hot paths (see aiofiles_c._text)."},
    {0, NULL},
};

PyType_Spec afc_text_spec = {
    .name = "aiofiles_c._cext.TextBase",
    .basicsize = sizeof(TextObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = Text_slots,
};
