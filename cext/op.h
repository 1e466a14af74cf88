/* The operation and async file objects, shared by the files that run them
 * (awaitable.c, buffer.c, bufread.c, bufio.c, fileobj.c, fs.c, posio.c).
 *
 * Everything here runs on the loop thread with the GIL held. A file keeps
 * one buffer (read-ahead or pending writes, never both) and a FIFO of
 * operations; the head of the FIFO is the only one that may have a job in
 * the pool, so the worker owns the buffer while a job is in flight and the
 * loop thread does not touch it until the job comes back.
 *
 * Positions: for seekable files the logical position lives here (pos) and
 * workers use pread/pwrite at explicit offsets, so a read whose awaiting
 * task was cancelled can leave the position where it was. The descriptor's
 * own offset is brought to pos on flush(), detach() and close(closefd=False).
 */
#ifndef AFC_OP_H
#define AFC_OP_H

#include "afc.h"

#define AFC_MIN_CAP (128 * 1024)       /* smallest read-ahead buffer */
#define AFC_CHUNK (8 * 1024 * 1024)    /* largest single pool read */
#define AFC_BUDGET_NS (500 * 1000)     /* inline work before one yield */
#define AFC_RAW_LINE_CHUNK 8192
#define AFC_NOWAIT_MAX (1024 * 1024)   /* largest read done inline per op */

enum op_kind {
    K_OPEN,
    K_READ,
    K_READ1,
    K_READALL,
    K_READINTO,
    K_READLINE,
    K_READLINES,
    K_ANEXT,
    K_PEEK,
    K_WRITE,
    K_WRITELINES,
    K_SEEK,
    K_TELL,
    K_TRUNCATE,
    K_FLUSH,
    K_CLOSE,
    K_ISATTY,
    K_SEEKABLE,
    K_WRITABLE,
    K_FS,       /* a file-system call, not tied to a file */
    K_POS,      /* a positional call (posio.c); in the FIFO only when it
                   must wait for the file's writes */
    K_DONE,     /* a call answered at once: no file, no job */
};

enum op_state { S_QUEUED, S_RUNNING, S_DONE, S_CONSUMED };

/* What the job in flight is for, so its result can be folded back. */
enum op_phase {
    P_NONE,
    P_FILL,     /* read-ahead into the file buffer */
    P_DIRECT,   /* read into op->acc (a bytes object) or op->view */
    P_FSTAT,    /* size estimate for readall */
    P_WRITE,    /* write of the pinned view */
    P_FLUSH,    /* flush only, then continue */
    P_SEEK,
    P_TRUNCATE,
    P_CLOSE,
    P_OPEN,
    P_PREFLUSH, /* appending file: flush before reading */
};

typedef struct AsyncFile AsyncFile;

typedef struct AsyncOp {
    PyObject_HEAD
    afc_state *st;
    AsyncFile *file;          /* strong */
    struct AsyncOp *next;     /* FIFO link; the FIFO holds a reference */
    int kind;
    int state;
    int phase;
    int abandoned;            /* the awaiter is gone: discard the result */
    int in_pool;              /* job submitted, not yet drained */
    int eof;                  /* a read-ahead for this op hit EOF, or a
                                 non-blocking descriptor had no data */
    int wouldblock;           /* ... the latter: EAGAIN with nothing read */
    int filled;               /* a read-ahead for this op returned */
    int has_view;
    int yield_first;          /* done on the spot past the inline budget:
                                 the loop runs once before delivery */
    Py_ssize_t n;             /* size / limit / hint */
    Py_ssize_t got;           /* bytes gathered so far */
    Py_ssize_t alloc;         /* size of acc while gathering */
    Py_ssize_t scanned;       /* readline: bytes already searched */
    Py_ssize_t inlined;       /* bytes this op read on the loop thread */
    Py_ssize_t until;         /* readall: got at the file's fstat size (0:
                                 unknown); reaching it is reaching EOF */
    int64_t off;
    int whence;
    PyObject *arg;            /* argument object (iterator, path, ...) */
    PyObject *acc;            /* result under construction */
    PyObject *result;         /* S_DONE: the value */
    PyObject *exc;            /* S_DONE: the exception instance */
    PyObject *pending_exc;    /* thrown while a readinto was in flight */
    PyObject *fut;            /* future the awaiting task is parked on */
    PyObject *cq;             /* Completion of the caller's loop, once
                                 known: every job of this op goes there */
    unsigned long thread;     /* thread that called for this op */
    unsigned long waiter;     /* thread whose loop owns fut */
    Py_buffer view;           /* pinned caller buffer (write, readinto) */
    int (*run)(struct AsyncOp *op);  /* starts or continues the op (its
                                 state machine): RUN_DONE or RUN_WAIT. Called
                                 by the FIFO and when its job is back
                                 (afc_op_job_done); NULL for an op never
                                 queued (fs.c) */
    afc_job job;              /* touched by a worker while in_pool */
} AsyncOp;

/* The op a job belongs to (every job is embedded in its op). */
static inline AsyncOp *
afc_op_of_job(afc_job *job)
{
    return (AsyncOp *)((char *)job - offsetof(AsyncOp, job));
}

struct AsyncFile {
    PyObject_HEAD
    afc_state *st;
    int fd;
    int flags;                /* open(2) flags */
    unsigned readable : 1, writable : 1, appending : 1, seekable : 1,
        closefd : 1, closed : 1, detached : 1, opened : 1, raw_mode : 1,
        pumping : 1, slowfd : 1; /* slowfd: may block indefinitely (not a
                                     regular file, directory or block
                                     device): the pool's slow lane */
    PyObject *name;
    PyObject *mode;
    PyObject *raw;            /* io.FileIO view for .raw, lazily */
    PyObject *cq;             /* Completion of cq_loop */
    PyObject *cq_loop;        /* borrowed: identity only, see cq alive */
    Py_ssize_t bufsize;       /* io's buffer_size */
    Py_ssize_t cap;           /* size of buf */
    char *buf;                /* read-ahead or pending writes */
    Py_ssize_t rpos, rend;    /* unread bytes buf[rpos:rend] start at pos */
    Py_ssize_t wlen;          /* pending writes buf[0:wlen] go at wstart */
    Py_ssize_t wskip;         /* written by flushes that then failed: io
                                 keeps them in its buffer until a flush
                                 succeeds, so they count against its room */
    int64_t wstart;
    int64_t pos;              /* logical position; -1 when not seekable */
    int seekable_io;          /* raw: what io.FileIO.seekable() would say:
                                 -1 until the first lseek-like call */
    int nowait;               /* regular file: try preadv2(RWF_NOWAIT) on
                                 the loop thread before the pool */
    int64_t size_hint;        /* st_size seen by open, for the first
                                 readall; -1 once used */
    Py_ssize_t ra;            /* read-ahead window (ra.h): the most the
                                 next refill reads; 0: the whole buffer */
    int local;                /* regular file on a local file system
                                 (fastpath.c's table): its fstat never
                                 waits */
    int fastclose;            /* read-only regular file on a local file
                                 system (fastpath.c): close() here */
    AsyncOp *qhead, *qtail;   /* operations in call order */
    PyObject *spare;          /* the last finished Operation a write()
                                 answered at once: reused once nobody
                                 holds it (afc_file_write_fast) */
    PyObject *weakreflist;
};

#define RUN_DONE 1
#define RUN_WAIT 0
#define RL_FINISHED 2   /* raw readline: the op was already finished */

/* awaitable.c: finishing, submitting and queueing operations */
PyObject *afc_file_start(AsyncFile *f, AsyncOp *op);
PyObject *afc_file_start_owned(AsyncFile *f, AsyncOp *op);
int afc_op_fail(AsyncOp *op, PyObject *type, const char *msg);
int afc_op_fail_errno(AsyncOp *op, int err, PyObject *filename);
int afc_op_finish(AsyncOp *op, PyObject *result);
void afc_file_pump(AsyncFile *f);
int afc_op_run(AsyncOp *op);
AsyncOp *afc_op_alloc(afc_state *st, AsyncFile *f, int kind,
                       int (*run)(AsyncOp *op));  /* untracked */
AsyncOp *afc_op_new(AsyncFile *f, int kind, int (*run)(AsyncOp *op));
void afc_op_release_view(AsyncOp *op);
int afc_op_submit(AsyncOp *op, int phase);
/* A job's return (the done functions, loop thread): */
AsyncOp *afc_op_job_back(afc_job *job);  /* out of the pool: bookkeeping */
void afc_op_job_done(afc_job *job, int status); /* an op in a file's FIFO */
void afc_op_job_discard(AsyncOp *op);    /* its loop is gone: release */
void afc_op_forked(AsyncOp *op);         /* in flight at fork(): fails */

/* buffer.c: the file's buffer, building and folding jobs, io's checks */
int afc_buffer_bytes(AsyncFile *f, const char *data, Py_ssize_t len);
void afc_file_drop_readahead(AsyncFile *f);
int afc_file_ensure_buf(AsyncFile *f, Py_ssize_t need);
void afc_file_free_buf(AsyncFile *f);
int afc_fold_flush(AsyncOp *op);
void afc_job_add_flush(AsyncOp *op);
void afc_job_init(AsyncOp *op, int kind);
int afc_op_check(AsyncOp *op);
int afc_op_err_closed(AsyncOp *op, const char *msg);
int afc_op_start_direct(AsyncOp *op);
int afc_op_start_fill(AsyncOp *op, Py_ssize_t need);
int afc_op_submit_raw_write(AsyncOp *op);
int afc_op_unsupported(AsyncOp *op, const char *msg);
void afc_set_blocking_error(Py_ssize_t taken);
PyObject *afc_take_buffered(AsyncFile *f, Py_ssize_t k);
Py_ssize_t afc_write_capacity(AsyncFile *f);
PyObject *afc_file_write_fast(AsyncFile *f, PyObject *data);

/* bufread.c: open and the reads */
int afc_run_open(AsyncOp *op);
int afc_run_read(AsyncOp *op);
int afc_run_read1_peek(AsyncOp *op);
int afc_run_readall(AsyncOp *op);
int afc_run_readinto(AsyncOp *op);
int afc_run_readline(AsyncOp *op);

/* bufio.c: the dispatch over an op's kind; write, seek, flush, close */
int afc_get_view(AsyncOp *op, PyObject *obj);
int afc_op_run_inner(AsyncOp *op);  /* a file op's run */

/* inline.c: opens, stats, closes and read_bytes done on the loop thread
 * (the syscalls are fastpath.c's) */
int afc_open_inline(AsyncOp *op);
int afc_read_file_inline(const char *path, PyObject **data);

#endif
