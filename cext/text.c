/* The text layer of aiofiles_c: what open() returns in text mode.
 *
 * Design. One C object (TextBase) owns every piece of text state: the
 * codec objects, the characters decoded and not yet returned, the point
 * tell() measures from, the newline rules, and any call that stopped
 * half-way. read(n), readline(), async iteration and write() run here, on
 * the loop thread, against the memory of the native buffered file below;
 * when that memory answers, the call returns an awaitable that is already
 * finished (an Operation). When it does not, the call is handed to the
 * Python subclass (aiofiles_c/_text.py, method _slow), which awaits the
 * buffered file and calls back into this object through a small set of
 * methods, each one complete operation that keeps the invariants below:
 *
 *   _configure        set up once, after open()
 *   _step_readline, _step_read, _feed
 *                     go on with a stopped call; give it input
 *   _give_back, _abandon
 *                     a stopped call's record: return its text to the
 *                     stream (cancelled), or forget it (error)
 *   _hold, _unhold
 *                     calls in progress in Python; fairness
 *   _encode, _after_write
 *                     write() through the buffered file's awaitable path
 *   _read_all_start, _read_all_finish
 *                     read() to the end of the file
 *   _cookie, _seek_plan, _seek_apply, _seek_skip, _seek_end,
 *   _restart_encoder
 *                     tell() and seek()
 *   _attached, _flushing, _iteration, _seekable_check, _detach,
 *   _return_input
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
 *   chunks; a call stopped here gives its text back before it goes to
 *   Python (see go_slow).
 */
#include "text.h"

#include <stddef.h>
#include <structmember.h>
#include <time.h>

/* A call answered here returns a finished Operation (awaitable.c). The
 * file keeps the last one (spare) and reuses it when nobody else holds it
 * any more, which saves an allocation per line or write. Steals value. */
static PyObject *
text_done(TextObject *self, PyObject *value)
{
    if (value == NULL) {
        return NULL;
    }
    PyObject *op = afc_op_reuse(self->spare, value);
    if (op != NULL) {
        return op;
    }
    op = afc_op_done(self->st, value);
    if (op != NULL) {
        Py_XSETREF(self->spare, Py_NewRef(op));
    }
    return op;
}

/* ---- handing a call to Python ----
 *
 * A call that cannot finish here goes on in a coroutine of the Python
 * half (_slow), which runs when the file's earlier calls are done. A call
 * that stopped part-way (STEP_NEED, STEP_YIELD) first gives back the text
 * it had taken (afc_text_give_back) and starts again in that coroutine:
 * until the coroutine gets its turn, other calls may run (a call from
 * another thread's loop, or one awaited first), and a record carried
 * across them would join text from before and after them (a seek between
 * the two halves of one read). Given back, the call takes effect whole,
 * when it runs; what is redone is at most one fairness budget of work. */

/* self._slow(op, arg, why): the coroutine that makes the call; Python
 * counts it as in progress (_hold) from here on. */
static PyObject *
go_slow(TextObject *self, int op, PyObject *arg, int why)
{
    if (why == WHY_NEED || why == WHY_PAUSED) {
        if (afc_text_give_back(self) < 0) {
            return NULL;
        }
        why = why == WHY_NEED ? WHY_BUSY : WHY_YIELD;
    }
    return PyObject_CallMethod((PyObject *)self, "_slow", "iOi", op, arg,
                               why);
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
    if (self->calls % AFC_TEXT_CHECK_EVERY == 0 &&
        afc_text_over_budget(self)) {
        *why = WHY_YIELD;
        return 0;
    }
    return 1;
}

/* ---- one thread inside at a time ----
 *
 * A call changes the text state in several steps and may run Python code
 * between them: a codec written in Python, the _slow coroutine being made,
 * a garbage collection running finalisers. The interpreter can switch
 * threads there, and with a file shared by loops in several threads a call
 * from another thread would run in the middle of the first one (two
 * decodes interleaved, a gather record freed under its user). So every
 * call that touches the state holds the object while it runs: a call from
 * another thread waits, without the GIL, until the holder is done; the
 * holder's own thread may enter again (the Python half calls back in). A
 * forked child does not wait for a thread the parent had. */
static void
text_enter(TextObject *self)
{
    unsigned long me = PyThread_get_thread_ident();
    unsigned long gen = afc_fork_generation();
    while (self->depth > 0 && self->owner != me &&
           self->owner_gen == gen) {
        Py_BEGIN_ALLOW_THREADS
        struct timespec ts = {0, 20 * 1000};
        nanosleep(&ts, NULL);
        Py_END_ALLOW_THREADS
    }
    if (self->owner != me || self->owner_gen != gen) {
        self->depth = 0;
    }
    self->owner = me;
    self->owner_gen = gen;
    self->depth++;
}

static void
text_leave(TextObject *self)
{
    if (--self->depth == 0) {
        self->owner = 0;
    }
}

/* Method wrappers that hold the object around the call. */
#define GUARD_O(fn)                                                         \
    static PyObject *fn##_held(TextObject *self, PyObject *arg)             \
    {                                                                       \
        text_enter(self);                                                   \
        PyObject *r = fn(self, arg);                                        \
        text_leave(self);                                                   \
        return r;                                                           \
    }
#define GUARD_KW(fn)                                                        \
    static PyObject *fn##_held(TextObject *self, PyObject *const *args,    \
                               size_t nargsf, PyObject *kwnames)            \
    {                                                                       \
        text_enter(self);                                                   \
        PyObject *r = fn(self, args, nargsf, kwnames);                      \
        text_leave(self);                                                   \
        return r;                                                           \
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
    const int kind[] = {none_ok ? AFC_ARG_SIZE : AFC_ARG_SSIZE};
    int64_t v = -1;
    if (afc_int_args(fname, args, nargs, 0, 1, kind, &v) < 0) {
        return -1;
    }
    *size = (Py_ssize_t)v;
    return 0;
}

/* ---- the calls answered here ---- */

/* What a read or readline call gives once its step on the loop thread ran
 * (r: a STEP_ code, or -2 if it could not run here, why saying why): the
 * result, the error, or the coroutine that makes the call in Python. */
static PyObject *
step_outcome(TextObject *self, int r, int op, Py_ssize_t n, PyObject *result,
             int why)
{
    if (r == STEP_DONE) {
        return text_done(self, result);
    }
    if (r == STEP_ERROR) {
        return afc_op_error(self->st);
    }
    if (r == STEP_NEED) {
        why = WHY_NEED;
    }
    else if (r == STEP_YIELD) {
        why = WHY_PAUSED;
    }
    PyObject *a = PyLong_FromSsize_t(n);
    PyObject *res = a == NULL ? NULL : go_slow(self, op, a, why);
    Py_XDECREF(a);
    if (res == NULL) {
        afc_text_gather_drop(self);
    }
    return res;
}

static PyObject *
readline_call(TextObject *self, Py_ssize_t limit, int op)
{
    int why = WHY_BUSY;
    PyObject *line = NULL;
    int r = -2;
    if (may_run_inline(self, &why)) {
        r = afc_text_readline_step(self, limit, &line);
    }
    if (r == STEP_DONE) {
        if (op == OP_ANEXT && PyUnicode_GET_LENGTH(line) == 0) {
            Py_DECREF(line);
            PyErr_SetNone(PyExc_StopAsyncIteration);
            return afc_op_error(self->st);
        }
    }
    return step_outcome(self, r, op, limit, line, why);
}

static PyObject *
Text_readline(TextObject *self, PyObject *const *args, size_t nargsf,
              PyObject *kwnames)
{
    Py_ssize_t limit;
    if (no_keywords(kwnames, "readline") < 0 ||
        size_arg(args, PyVectorcall_NARGS(nargsf), "readline", 0,
                 &limit) < 0) {
        return afc_op_error(self->st);
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
        return afc_op_error(self->st);
    }
    /* read() of everything is one read() of the buffered file: Python. */
    int r = -2;
    if (n >= 0 && may_run_inline(self, &why)) {
        r = afc_text_read_step(self, n, &text);
    }
    return step_outcome(self, r, OP_READ, n, text, why);
}

/* Put bytes into the buffered file's memory if they fit, and finish the
 * write: 1 done, 2 done but the pending bytes must go out now, 0 they need
 * the pool, -1 error. Up to _CHUNK_SIZE bytes wait there, as io's pending
 * bytes do: io writes them when the next write would take them past that
 * size, or once they reach it, so its write(2) calls are made by the same
 * text writes as here. */
static int
write_inline(TextObject *self, const char *data, Py_ssize_t n)
{
    int r = afc_file_write_nowait(self->st, self->buffer, data, n,
                                  self->chunk_size);
    if (r > 0 && afc_text_after_write(self) < 0) {
        return -1;
    }
    return r;
}

/* The text write whose bytes were buffered finishes with a flush of the
 * pending bytes (write_inline gave 2): the Python half does it. */
static PyObject *
write_then_flush(TextObject *self, Py_ssize_t length)
{
    PyObject *arg = Py_BuildValue("(y#nO)", "", (Py_ssize_t)0, length,
                                  Py_True);
    if (arg == NULL) {
        return afc_op_error(self->st);
    }
    PyObject *res = go_slow(self, OP_WRITE_BYTES, arg, WHY_BUSY);
    Py_DECREF(arg);
    return res;
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
                return afc_op_error(self->st);
            }
        }
        if (data != NULL) {
            int r = write_inline(self, data, nbytes);
            if (r < 0) {
                return afc_op_error(self->st);
            }
            if (r > 0) {
                self->bom_pending = 0;
                if (r == 2) {
                    return write_then_flush(self,
                                            PyUnicode_GET_LENGTH(text));
                }
                return text_done(
                    self, PyLong_FromSsize_t(PyUnicode_GET_LENGTH(text)));
            }
        }
    }
    PyObject *bytes = afc_text_encode_text(self, text, &flush_after);
    if (bytes == NULL) {
        return afc_op_error(self->st);
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (!flush_after) {
        int r = write_inline(self, PyBytes_AS_STRING(bytes),
                             PyBytes_GET_SIZE(bytes));
        if (r != 0) {
            Py_DECREF(bytes);
            return r < 0    ? afc_op_error(self->st)
                   : r == 2 ? write_then_flush(self, length)
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
        return afc_op_error(self->st);
    }
    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError,
                     "TextIOWrapper.write() takes exactly one argument "
                     "(%zd given)", nargs);
        return afc_op_error(self->st);
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
    return run_step(self, limit, afc_text_readline_step);
}

static PyObject *
Text_step_read(TextObject *self, PyObject *n)
{
    return run_step(self, n, afc_text_read_step);
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

/* _give_back(): the stopped call was cancelled: its text goes back in
 * front of the unread characters. */
static PyObject *
Text_give_back(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_CLEAR(self->fed);
    return afc_text_give_back(self) < 0 ? NULL : Py_NewRef(Py_None);
}

/* _abandon(): the stopped call failed: forget its record (as io, whose
 * call loses what it had read when it raises). */
static PyObject *
Text_abandon(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    afc_text_gather_drop(self);
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

/* _encode(text) -> (bytes, flush_after): write()'s checks and encoding,
 * for a write that goes through Python. */
static PyObject *
Text_encode(TextObject *self, PyObject *text)
{
    int flush_after = 0;
    PyObject *bytes = afc_text_encode_text(self, text, &flush_after);
    if (bytes == NULL) {
        return NULL;
    }
    return Py_BuildValue("(NO)", bytes, flush_after ? Py_True : Py_False);
}

/* _put(data) -> int, for a write that goes through Python: data put in
 * the pending bytes as write_inline does (1; 2: they must go out now),
 * 0 when they do not fit there (the pending bytes go out first, as io's
 * do), -1 when the buffered file is not an idle regular file (the caller
 * writes to it as to any file). */
static PyObject *
Text_put(TextObject *self, PyObject *data)
{
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "_put() takes bytes");
        return NULL;
    }
    if (self->buffer == NULL ||
        !afc_file_holds_pending(self->st, self->buffer)) {
        return PyLong_FromLong(-1);
    }
    int r = write_inline(self, PyBytes_AS_STRING(data),
                         PyBytes_GET_SIZE(data));
    return r < 0 ? NULL : PyLong_FromLong(r);
}

static PyObject *
Text_after_write(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    return afc_text_after_write(self) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *
Text_attached(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    return afc_text_ensure_attached(self) < 0 ? NULL : Py_NewRef(Py_None);
}

/* _flushing(): before the buffered file is flushed: the file must be
 * open, and tell() works again (io turns it back on at every flush). */
static PyObject *
Text_flushing(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    if (afc_text_ensure_open(self) < 0) {
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
        afc_text_drop_mark(self);
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
    if (for_tell < 0 || afc_text_ensure_open(self) < 0) {
        return NULL;
    }
    if (!self->seekable) {
        afc_text_unsupported(self, "underlying stream is not seekable");
        return NULL;
    }
    if (for_tell && !self->telling) {
        PyErr_SetString(PyExc_OSError,
                        "telling position disabled by next() call");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _detach(let_go) -> buffer: detach() may go ahead (no call in
 * progress); with let_go the text layer gives up the buffered file. */
static PyObject *
Text_detach(TextObject *self, PyObject *arg)
{
    int let_go = PyObject_IsTrue(arg);
    if (let_go < 0 || afc_text_ensure_attached(self) < 0) {
        return NULL;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "detach() while operations are in progress");
        return NULL;
    }
    PyObject *b = Py_NewRef(self->buffer);
    if (let_go) {
        Py_CLEAR(self->buffer);
    }
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
        if (at_start < 0 || afc_text_restart_encoder(self, at_start) < 0) {
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
    if (afc_text_ensure_attached(self) < 0) {
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
    afc_text_gather_drop(self);
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

/* Every method holds the object while it runs (see text_enter). */
GUARD_KW(Text_read)
GUARD_KW(Text_readline)
GUARD_KW(Text_write)
GUARD_O(Text_configure)
GUARD_O(Text_step_readline)
GUARD_O(Text_step_read)
GUARD_O(Text_feed)
GUARD_O(Text_give_back)
GUARD_O(Text_abandon)
GUARD_O(Text_return_input)
GUARD_O(Text_hold)
GUARD_O(Text_unhold)
GUARD_O(Text_encode)
GUARD_O(Text_put)
GUARD_O(Text_after_write)
GUARD_O(Text_read_all_start)
GUARD_O(Text_read_all_finish)
GUARD_O(Text_cookie)
GUARD_O(Text_seek_plan)
GUARD_O(Text_seek_apply)
GUARD_O(Text_seek_end)
GUARD_O(Text_restart_encoder)
GUARD_O(Text_attached)
GUARD_O(Text_flushing)
GUARD_O(Text_iteration)
GUARD_O(Text_seekable_check)
GUARD_O(Text_detach)

static PyObject *
Text_seek_skip_held(TextObject *self, PyObject *const *args,
                    Py_ssize_t nargs)
{
    text_enter(self);
    PyObject *r = Text_seek_skip(self, args, nargs);
    text_leave(self);
    return r;
}

static PyObject *
Text_anext_held(TextObject *self)
{
    text_enter(self);
    PyObject *r = Text_anext(self);
    text_leave(self);
    return r;
}

#define M_CALL(name, fn, doc)                                               \
    {name, (PyCFunction)(void (*)(void))fn##_held,                          \
     METH_FASTCALL | METH_KEYWORDS, doc}
#define M_ONE(name, fn) {name, (PyCFunction)fn##_held, METH_O, NULL}
#define M_NONE(name, fn) {name, (PyCFunction)fn##_held, METH_NOARGS, NULL}

static PyMethodDef Text_methods[] = {
    M_CALL("read", Text_read,
           "Read at most size characters (all if size is negative)."),
    M_CALL("readline", Text_readline,
           "Read until a newline or EOF (at most size characters)."),
    M_CALL("write", Text_write, "Write a str; returns its length."),
    {"_configure", (PyCFunction)Text_configure_held, METH_VARARGS, NULL},
    M_ONE("_step_readline", Text_step_readline),
    M_ONE("_step_read", Text_step_read),
    M_ONE("_feed", Text_feed),
    M_NONE("_give_back", Text_give_back),
    M_NONE("_abandon", Text_abandon),
    M_ONE("_return_input", Text_return_input),
    M_NONE("_hold", Text_hold),
    M_NONE("_unhold", Text_unhold),
    M_ONE("_encode", Text_encode),
    M_ONE("_put", Text_put),
    M_NONE("_after_write", Text_after_write),
    M_NONE("_read_all_start", Text_read_all_start),
    M_ONE("_read_all_finish", Text_read_all_finish),
    M_ONE("_cookie", Text_cookie),
    M_ONE("_seek_plan", Text_seek_plan),
    M_ONE("_seek_apply", Text_seek_apply),
    {"_seek_skip", (PyCFunction)(void (*)(void))Text_seek_skip_held,
     METH_FASTCALL,
     NULL},
    M_NONE("_seek_end", Text_seek_end),
    M_ONE("_restart_encoder", Text_restart_encoder),
    M_NONE("_attached", Text_attached),
    M_NONE("_flushing", Text_flushing),
    M_ONE("_iteration", Text_iteration),
    M_ONE("_seekable_check", Text_seekable_check),
    M_ONE("_detach", Text_detach),
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
    {Py_am_anext, Text_anext_held},
    {Py_tp_traverse, Text_traverse},
    {Py_tp_clear, Text_clear},
    {Py_tp_dealloc, Text_dealloc},
    {Py_tp_doc, "The text layer's state and hot paths (aiofiles_c._text)."},
    {0, NULL},
};

PyType_Spec afc_text_spec = {
    .name = "aiofiles_c._cext.TextBase",
    .basicsize = sizeof(TextObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = Text_slots,
};
