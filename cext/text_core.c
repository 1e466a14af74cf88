/* Decoded text, chunks of input, finding line ends, gathering a read or
 * readline across chunks, encoding for write(): the text layer's state
 * transitions below its calls (see text.h and the head of text.c). */
#include "text.h"

/* ---- checks ---- */

int
afc_text_ensure_attached(TextObject *self)
{
    if (self->buffer != NULL) {
        return 0;
    }
    PyErr_SetString(PyExc_ValueError, "underlying buffer has been detached");
    return -1;
}

/* Attached and not closed, with io's messages. */
int
afc_text_ensure_open(TextObject *self)
{
    if (afc_text_ensure_attached(self) < 0) {
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

int
afc_text_unsupported(TextObject *self, const char *what)
{
    PyErr_SetString(self->st->UnsupportedOperation, what);
    return -1;
}

int
afc_text_ensure_readable(TextObject *self)
{
    if (self->decoder != NULL) {
        return 0;
    }
    return afc_text_unsupported(self, "not readable");
}

/* ---- decoded characters and their mark ---- */

Py_ssize_t
afc_text_unread(TextObject *self)
{
    return self->chars == NULL ? 0 : PyUnicode_GET_LENGTH(self->chars) -
                                         self->pos;
}

/* New decoded text (steals it; NULL for none), nothing of it read. */
void
afc_text_put_chars(TextObject *self, PyObject *chars)
{
    Py_XSETREF(self->chars, chars);
    self->pos = 0;
}

void
afc_text_drop_mark(TextObject *self)
{
    Py_CLEAR(self->mark_flags);
    Py_CLEAR(self->mark_input);
    self->mark_lost = 0;
}

/* Steals both. */
void
afc_text_set_mark(TextObject *self, PyObject *flags, PyObject *input)
{
    Py_XSETREF(self->mark_flags, flags);
    Py_XSETREF(self->mark_input, input);
    self->mark_lost = 0;
}

/* Up to n (all if n < 0) unread characters, which count as read. */
PyObject *
afc_text_take_chars(TextObject *self, Py_ssize_t n)
{
    Py_ssize_t have = afc_text_unread(self);
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
void
afc_text_forget_read_ahead(TextObject *self)
{
    afc_text_put_chars(self, NULL);
    afc_text_drop_mark(self);
    Py_CLEAR(self->partial);
    Py_CLEAR(self->fed);
}

/* ---- the codec objects ---- */

PyObject *
afc_text_call_decode(TextObject *self, PyObject *input, int final)
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
int
afc_text_decoder_state(TextObject *self, PyObject **held, PyObject **flags)
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
int
afc_text_decoder_to(TextObject *self, long long start, PyObject *flags)
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

int
afc_text_decoder_reset(TextObject *self)
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
             (PyBytes_GET_SIZE(self->partial) < want && self->seekable)) {
        /* (Not seekable: bytes a cancelled call read are decoded as they
         * are, as io decodes whatever read1() gave; waiting for more could
         * wait for ever on a pipe.) */
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
    if (afc_text_ensure_readable(self) < 0) {
        return -1;
    }
    input = take_input(self, chunk_bytes(self, chars_wanted));
    if (input == NULL) {
        return PyErr_Occurred() ? -1 : CHUNK_NEED;
    }
    if (self->telling && afc_text_decoder_state(self, &held, &flags) < 0) {
        goto error;
    }
    Py_ssize_t nbytes = PyBytes_GET_SIZE(input);
    text = afc_text_call_decode(self, input, nbytes == 0);
    if (text == NULL) {
        goto error;
    }
    Py_ssize_t nchars = PyUnicode_GET_LENGTH(text);
    self->ratio = nchars > 0 ? (double)nbytes / (double)nchars : 0.0;
    afc_text_put_chars(self, text);
    text = NULL;
    if (self->telling) {
        PyBytes_Concat(&held, input);
        if (held == NULL) {
            goto error;
        }
        afc_text_set_mark(self, flags, held);
        flags = held = NULL;
        struct gather *g = self->g;
        if (g != NULL && g->inputs != NULL) {
            /* Kept for give_back, up to a point: a long line does not
             * hold its bytes twice (nor free them all at its end). */
            g->input_bytes += nbytes;
            if (g->input_bytes > AFC_TEXT_KEEP_MAX) {
                Py_CLEAR(g->inputs);
                g->inputs_lost = 1;
            }
            else if (PyList_Append(g->inputs, input) < 0) {
                goto error;
            }
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
 * A call stopped on the loop thread gives its text back and starts again
 * in Python (text.c, go_slow); there, the record stays in the object
 * while the call holds the file (its turn, and `busy`), so no other call
 * sees it.
 *
 * The text goes into one str that grows in place (acc[0:len]); joining a
 * list of pieces at the end would copy the whole line in one go on the
 * loop thread. If the call is cancelled while stopped, give_back puts
 * everything it had taken back in front of the decoded characters, so the
 * next call starts at the same character and tell() still agrees: for that
 * the record remembers where it started (origin_*) and, while tell() is
 * on, every input chunk read since (up to AFC_TEXT_KEEP_MAX bytes; past
 * that, tell() right after such a cancellation raises instead). */

void
afc_text_gather_free(struct gather *g)
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

void
afc_text_gather_drop(TextObject *self)
{
    struct gather *g = self->g;
    self->g = NULL;
    afc_text_gather_free(g);
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
            afc_text_gather_free(g);
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

/* Whether the loop iteration's budget of work on the spot is spent (the
 * text layer's calls share it with every other call, see awaitable.c). */
int
afc_text_over_budget(TextObject *self)
{
    return !afc_budget_turn(self->st);
}

/* A call that was stopped and is being abandoned (cancelled): put the
 * text it took back in front of the unread characters. */
int
afc_text_give_back(TextObject *self)
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
    if (afc_text_unread(self) > 0) {
        rest = afc_text_take_chars(self, -1);
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
        afc_text_set_mark(self, Py_NewRef(g->origin_flags), input);
        input = NULL;
        pos = g->origin_pos;
    }
    else {
        chars = Py_NewRef(text);
        afc_text_drop_mark(self);
        /* Without the input no cookie can name these characters: tell()
         * refuses (io's error for that case) until they are used up. */
        self->mark_lost = g->inputs_lost;
    }
    afc_text_put_chars(self, chars);
    chars = NULL;
    self->pos = pos;
    Py_DECREF(text);
    Py_XDECREF(rest);
    afc_text_gather_free(g);
    return 0;

error:
    Py_XDECREF(text);
    Py_XDECREF(rest);
    Py_XDECREF(chars);
    Py_XDECREF(input);
    afc_text_gather_free(g);
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
int
afc_text_readline_step(TextObject *self, Py_ssize_t limit, PyObject **out)
{
    PyObject *line = NULL;
    if (self->g == NULL && afc_text_ensure_open(self) < 0) {
        return STEP_ERROR;
    }
    if (limit == 0 && self->g == NULL && self->chars != NULL &&
        PyUnicode_GET_LENGTH(self->chars) > 0) {
        /* Nothing to take and decoded text at hand (used up or not): io
         * answers before it decodes anything more (so a truncated
         * sequence at the end raises nothing here), once it has checked
         * that the file is readable. Without decoded text, io decodes a
         * chunk first (the loop below does). */
        if (afc_text_ensure_readable(self) < 0) {
            return STEP_ERROR;
        }
        *out = PyUnicode_New(0, 0);
        return *out != NULL ? STEP_DONE : STEP_ERROR;
    }
    while (1) {
        if (afc_text_unread(self) == 0) {
            /* All decoded text is used: as io's readline, drop it before
             * the next chunk, so a chunk that fails to decode leaves tell()
             * measuring from the mark alone. */
            if (self->chars != NULL) {
                afc_text_put_chars(self, NULL);
            }
            int res = next_chunk(self, 0);
            if (res == CHUNK_NEED) {
                return STEP_NEED;
            }
            if (res < 0) {
                goto error;
            }
            if (res == 0) {
                /* The file has ended: the line is what was gathered. */
                afc_text_put_chars(self, NULL);
                afc_text_drop_mark(self);
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
        afc_text_put_chars(self, NULL);
        if (afc_text_over_budget(self)) {
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
        afc_text_gather_drop(self);
    }
    if (line == NULL) {
        goto error;
    }
    *out = line;
    return STEP_DONE;

error:
    afc_text_gather_drop(self);
    return STEP_ERROR;
}

/* read(n), n >= 0, as one resumable step, gathering like readline_step. */
int
afc_text_read_step(TextObject *self, Py_ssize_t n, PyObject **out)
{
    if (self->g == NULL) {
        if (afc_text_ensure_open(self) < 0) {
            return STEP_ERROR;
        }
        if (afc_text_ensure_readable(self) < 0) {
            return STEP_ERROR;
        }
    }
    while (1) {
        struct gather *g = self->g;
        Py_ssize_t taken = g != NULL ? g->len : 0;
        Py_ssize_t want = n - taken;
        Py_ssize_t avail = afc_text_unread(self);
        if (avail >= want) {
            /* The answer is here. */
            if (g == NULL) {
                PyObject *r = afc_text_take_chars(self, want);
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
            if (afc_text_over_budget(self)) {
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
        r = afc_text_take_chars(self, 0);
    }
    else {
        r = gather_text(self->g);
        afc_text_gather_drop(self);
    }
    if (r == NULL) {
        goto error;
    }
    *out = r;
    return STEP_DONE;

error:
    afc_text_gather_drop(self);
    return STEP_ERROR;
}

/* ---- writing ---- */

/* The bytes write(text) puts in the buffer, or NULL. *flush_after tells
 * whether line buffering wants a flush once they are in (the text has a
 * "\n" or a "\r"). */
PyObject *
afc_text_encode_text(TextObject *self, PyObject *text, int *flush_after)
{
    PyObject *bytes = NULL;
    if (afc_text_ensure_open(self) < 0) {
        return NULL;
    }
    if (self->encoder == NULL) {
        afc_text_unsupported(self, "not writable");
        return NULL;
    }
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError,
                     "write() argument must be str, not %.50s",
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
int
afc_text_after_write(TextObject *self)
{
    afc_text_forget_read_ahead(self);
    return afc_text_decoder_reset(self);
}

