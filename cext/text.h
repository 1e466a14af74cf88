/* The text layer's private header: the TextBase object and the helpers
 * its three files share. text.c (the type, its calls and the interface of
 * the Python half) uses text_core.c (decoded text, chunks, gathering,
 * encoding) and text_position.c (tell() and seek()); text_position.c uses
 * text_core.c; text_core.c uses neither. See the head of text.c for the
 * design and the invariants. */
#ifndef AFC_TEXT_H
#define AFC_TEXT_H

#include "afc.h"


#define AFC_TEXT_CHECK_EVERY 32          /* calls between clock reads */
#define AFC_TEXT_UTF8_CACHE 4096         /* longest str written through its
                                            cached UTF-8 form */
#define AFC_TEXT_EXACT_MAX (1 << 20)     /* largest chunk read as io reads
                                            it (see take_input) */
#define AFC_TEXT_KEEP_MAX (1 << 20)      /* input a gathering call keeps
                                            for give_back (see gather) */

/* Why a call goes to Python. _slow sees only BUSY and YIELD (exported as
 * _cext.TEXT_WHY_*): a call that stopped part-way (NEED, PAUSED) gives its
 * text back first and is made again whole (go_slow). */
enum {
    WHY_NEED = 0,    /* it stopped for input */
    WHY_BUSY = 1,    /* other calls are in progress: run after them */
    WHY_YIELD = 2,   /* the budget is spent: let the loop run, then go */
    WHY_PAUSED = 3,  /* it stopped to let the loop run */
};
/* Which call (the `op` of _slow; exported as _cext.TEXT_OP_*). */
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
                                  when tell() is off or they grew past
                                  AFC_TEXT_KEEP_MAX (then inputs_lost) */
    Py_ssize_t input_bytes;
    int inputs_lost;
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
    int mark_lost;             /* chars came back from a cancelled call
                                  whose input was not kept: no cookie for
                                  them (tell() raises until a new mark) */
    Py_ssize_t chunk_size;     /* _CHUNK_SIZE */
    Py_ssize_t need;           /* bytes the stopped call waits for */
    double ratio;              /* bytes per character of the last chunk */
    struct gather *g;
    PyObject *spare;           /* a finished Operation to reuse once
                                  nobody else holds it (text_done) */
    unsigned calls;
    unsigned long owner;       /* thread inside a call (text.c, enter) */
    unsigned long owner_gen;   /* ... in this fork generation */
    int depth;                 /* its nested calls; 0: nobody inside */
    PyObject *weakreflist;
} TextObject;

/* text_core.c: checks, with io's messages */
int afc_text_ensure_attached(TextObject *self);
int afc_text_ensure_open(TextObject *self);
int afc_text_ensure_readable(TextObject *self);
int afc_text_unsupported(TextObject *self, const char *what);

/* text_core.c: decoded text and its mark (see the invariants) */
Py_ssize_t afc_text_unread(TextObject *self);
void afc_text_put_chars(TextObject *self, PyObject *chars);     /* steals */
void afc_text_drop_mark(TextObject *self);
void afc_text_set_mark(TextObject *self, PyObject *flags,
                       PyObject *input);                       /* steals */
PyObject *afc_text_take_chars(TextObject *self, Py_ssize_t n);
void afc_text_forget_read_ahead(TextObject *self);

/* text_core.c: the codec objects */
PyObject *afc_text_call_decode(TextObject *self, PyObject *input, int final);
int afc_text_decoder_state(TextObject *self, PyObject **held,
                           PyObject **flags);
int afc_text_decoder_to(TextObject *self, long long start, PyObject *flags);
int afc_text_decoder_reset(TextObject *self);

/* text_core.c: reading and writing */
void afc_text_gather_free(struct gather *g);
void afc_text_gather_drop(TextObject *self);
int afc_text_give_back(TextObject *self);
int afc_text_over_budget(TextObject *self);
int afc_text_readline_step(TextObject *self, Py_ssize_t limit,
                           PyObject **out);
int afc_text_read_step(TextObject *self, Py_ssize_t n, PyObject **out);
PyObject *afc_text_encode_text(TextObject *self, PyObject *text,
                               int *flush_after);
int afc_text_after_write(TextObject *self);

/* text_position.c: the methods behind tell() and seek() */
int afc_text_restart_encoder(TextObject *self, int at_start);
PyObject *Text_cookie(TextObject *self, PyObject *arg);
PyObject *Text_seek_plan(TextObject *self, PyObject *arg);
PyObject *Text_seek_apply(TextObject *self, PyObject *arg);
PyObject *Text_seek_skip(TextObject *self, PyObject *const *args,
                         Py_ssize_t nargs);
PyObject *Text_seek_end(TextObject *self, PyObject *ignored);
PyObject *Text_restart_encoder(TextObject *self, PyObject *arg);
PyObject *Text_read_all_start(TextObject *self, PyObject *ignored);
PyObject *Text_read_all_finish(TextObject *self, PyObject *data);

#endif
