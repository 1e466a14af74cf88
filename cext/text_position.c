/* tell() and seek() of the text layer: cookies, the walk that makes
 * them, putting the decoder back where a cookie says (see text.h). */
#include "text.h"

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
    *out = afc_long_as_int(o);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* Decode `data` and count the characters (the decoder moves on). */
static Py_ssize_t
decoded_length(TextObject *self, PyObject *data, int final)
{
    PyObject *text = afc_text_call_decode(self, data, final);
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
    if (afc_text_decoder_state(self, &held, &f) < 0) {
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
        if (flags_obj == NULL ||
            afc_text_decoder_to(self, c->start, flags_obj) < 0) {
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
        if (flags_obj == NULL ||
            afc_text_decoder_to(self, c->start, flags_obj) < 0) {
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
PyObject *
Text_cookie(TextObject *self, PyObject *arg)
{
    struct cookie c = {0, 0, 0, 0, 0};
    c.start = PyLong_AsLongLong(arg);
    if (c.start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (self->mark_lost) {
        PyErr_SetString(PyExc_OSError,
                        "can't reconstruct logical file position");
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
int
afc_text_restart_encoder(TextObject *self, int at_start)
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
PyObject *
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
PyObject *
Text_seek_apply(TextObject *self, PyObject *arg)
{
    struct cookie c;
    if (cookie_unpack(arg, &c) < 0) {
        return NULL;
    }
    afc_text_forget_read_ahead(self);
    PyObject *flags = PyLong_FromLong(c.flags);
    if (flags == NULL) {
        return NULL;
    }
    if (self->decoder != NULL &&
        afc_text_decoder_to(self, c.start, flags) < 0) {
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
    afc_text_set_mark(self, flags, none);
    if (afc_text_restart_encoder(self, c.start == 0 && c.flags == 0) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _seek_skip(cookie, data): seek() to a cookie that skips characters,
 * after _seek_apply: decode the fed bytes and skip into them. */
PyObject *
Text_seek_skip(TextObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct cookie c;
    if (nargs != 2 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "_seek_skip(cookie, bytes)");
        return NULL;
    }
    if (afc_text_ensure_readable(self) < 0 || cookie_unpack(args[0], &c) < 0) {
        return NULL;
    }
    PyObject *flags = PyLong_FromLong(c.flags);
    if (flags == NULL) {
        return NULL;
    }
    afc_text_set_mark(self, flags, Py_NewRef(args[1]));
    PyObject *text = afc_text_call_decode(self, args[1], c.eof);
    if (text == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    afc_text_put_chars(self, text);
    if (n < c.skip) {
        PyErr_SetString(PyExc_OSError, "can't restore logical file position");
        return NULL;
    }
    self->pos = c.skip;
    if (afc_text_restart_encoder(self, c.start == 0 && c.flags == 0) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _restart_encoder(at_start): after seek(0, 2). */
PyObject *
Text_restart_encoder(TextObject *self, PyObject *arg)
{
    int at_start = PyObject_IsTrue(arg);
    if (at_start < 0 || afc_text_restart_encoder(self, at_start) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _seek_end(): before seek(0, 2): nothing read ahead, decoder afresh. */
PyObject *
Text_seek_end(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    afc_text_forget_read_ahead(self);
    if (afc_text_decoder_reset(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _read_all_start(): read() to the end begins: checks, and the bytes read
 * but not decoded yet, which go before the rest of the file. */
PyObject *
Text_read_all_start(TextObject *self, PyObject *Py_UNUSED(ignored))
{
    if (afc_text_ensure_open(self) < 0 || afc_text_ensure_readable(self) < 0) {
        return NULL;
    }
    PyObject *p = self->partial;
    self->partial = NULL;
    return p != NULL ? p : PyBytes_FromStringAndSize(NULL, 0);
}

/* _read_all_finish(data) -> str: the unread text plus all of data,
 * decoded as the end of the input. */
PyObject *
Text_read_all_finish(TextObject *self, PyObject *data)
{
    PyObject *tail = afc_text_call_decode(self, data, 1);
    if (tail == NULL) {
        return NULL;
    }
    PyObject *head = afc_text_take_chars(self, -1);
    if (head == NULL) {
        Py_DECREF(tail);
        return NULL;
    }
    PyObject *all = PyUnicode_Concat(head, tail);
    Py_DECREF(head);
    Py_DECREF(tail);
    afc_text_put_chars(self, NULL);
    afc_text_drop_mark(self);
    return all;
}

