/* The async file types and the awaitable their methods return.
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
#include "afc.h"

#include <structmember.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

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
    P_YIELD,    /* a fairness yield through loop.call_soon */
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
    Py_ssize_t n;             /* size / limit / hint */
    Py_ssize_t got;           /* bytes gathered so far */
    Py_ssize_t alloc;         /* size of acc while gathering */
    Py_ssize_t scanned;       /* readline: bytes already searched */
    Py_ssize_t inlined;       /* bytes this op read on the loop thread */
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
    afc_job job;              /* touched by a worker while in_pool */
} AsyncOp;

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
    int64_t inline_since;     /* last time this file yielded to the loop */
    int seekable_io;          /* raw: what io.FileIO.seekable() would say:
                                 -1 until the first lseek-like call */
    int nowait;               /* regular file: try preadv2(RWF_NOWAIT) on
                                 the loop thread before the pool */
    int64_t size_hint;        /* st_size seen by open, for the first
                                 readall; -1 once used */
    AsyncOp *qhead, *qtail;   /* operations in call order */
    PyObject *weakreflist;
};

/* Whether files opened from now on try page-cached reads on the loop
 * thread (set_inline_reads()); read and written with the GIL held. */
int afc_inline_reads = 1;

#define RUN_DONE 1
#define RUN_WAIT 0
#define RL_FINISHED 2   /* raw readline: the op was already finished */

static int op_run(AsyncOp *op);
static int op_run_inner(AsyncOp *op);
static void fs_done(AsyncOp *op);
static void fs_drop_fd(AsyncOp *op);
static void scandir_settle(AsyncOp *op, afc_job *j);
static void pos_done(AsyncOp *op);
static int pos_run_queued(AsyncOp *op);
static void pos_close_dup(afc_job *j);
static int one_arg(AsyncFile *f, const char *meth, Py_ssize_t nargs);
static void file_pump(AsyncFile *f);

/* ---- finishing operations ---- */

static void
op_release_view(AsyncOp *op)
{
    if (op->has_view) {
        PyBuffer_Release(&op->view);
        op->has_view = 0;
    }
}

/* Resolve fut from its loop's thread (called there by call_soon_threadsafe):
 * the op finished on another thread. A cancelled future is left alone. */
static PyObject *
Op_wake(AsyncOp *op, PyObject *fut)
{
    PyObject *done = PyObject_CallMethodNoArgs(fut, op->st->str_done);
    if (done == NULL) {
        return NULL;
    }
    int is_done = done == Py_True;
    Py_DECREF(done);
    if (is_done) {
        Py_RETURN_NONE;
    }
    return PyObject_CallMethodOneArg(fut, op->st->str_set_result, Py_None);
}

static void
op_wake_remote(AsyncOp *op, PyObject *fut)
{
    PyObject *loop = PyObject_CallMethod(fut, "get_loop", NULL);
    PyObject *cb = loop != NULL ? PyObject_GetAttrString((PyObject *)op,
                                                         "_wake")
                                : NULL;
    PyObject *h = cb != NULL ? PyObject_CallMethod(
                                   loop, "call_soon_threadsafe", "OO", cb, fut)
                             : NULL;
    if (h == NULL) {
        /* A closed loop: nobody is left to resume the task. */
        if (loop == NULL || !PyErr_ExceptionMatches(PyExc_RuntimeError)) {
            PyErr_WriteUnraisable(fut);
        }
        PyErr_Clear();
    }
    Py_XDECREF(h);
    Py_XDECREF(cb);
    Py_XDECREF(loop);
}

/* Wake the task parked on op->fut, if any. Errors are reported, never
 * propagated: this runs inside a batch of completions. */
static void
op_wake(AsyncOp *op)
{
    PyObject *fut = op->fut;
    if (fut == NULL) {
        return;
    }
    op->fut = NULL;
    if (op->waiter != PyThread_get_thread_ident()) {
        /* Another thread's loop awaits this op (one file used from several
         * loops): a future may only be resolved by its own loop, so hand
         * it over; call_soon_threadsafe also wakes that loop up. */
        op_wake_remote(op, fut);
        Py_DECREF(fut);
        return;
    }
    PyObject *done = PyObject_CallMethodNoArgs(fut, op->st->str_done);
    if (done == NULL) {
        PyErr_WriteUnraisable(fut);
    }
    else {
        if (done == Py_False) {
            PyObject *r = PyObject_CallMethodOneArg(
                fut, op->st->str_set_result, Py_None);
            if (r == NULL) {
                PyErr_WriteUnraisable(fut);
            }
            Py_XDECREF(r);
        }
        Py_DECREF(done);
    }
    Py_DECREF(fut);
}

/* Complete op with result (stolen), or with the current exception when
 * result is NULL. Removes op from the head of its file's FIFO. */
static int
op_finish(AsyncOp *op, PyObject *result)
{
    if (result == NULL && !PyErr_Occurred()) {
        PyErr_SetString(PyExc_SystemError, "operation failed silently");
    }
    if (result == NULL) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL && value != NULL) {
            PyException_SetTraceback(value, tb);
        }
        Py_XDECREF(type);
        Py_XDECREF(tb);
        op->exc = value;
    }
    op->result = result;
    op->state = op->abandoned ? S_CONSUMED : S_DONE;
    if (op->abandoned) {
        Py_CLEAR(op->result);
        Py_CLEAR(op->exc);
    }
    op_release_view(op);
    Py_CLEAR(op->acc);
    Py_CLEAR(op->arg);
    Py_CLEAR(op->cq);
    AsyncFile *f = op->file;
    if (f != NULL && f->qhead == op) {
        f->qhead = op->next;
        if (f->qhead == NULL) {
            f->qtail = NULL;
        }
        op->next = NULL;
        op_wake(op);
        Py_DECREF(op);  /* the FIFO's reference; the caller holds another */
    }
    else {
        op_wake(op);
    }
    return RUN_DONE;
}

static int
op_fail_errno(AsyncOp *op, int err, PyObject *filename)
{
    errno = err;
    if (filename != NULL) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, filename);
    }
    else {
        PyErr_SetFromErrno(PyExc_OSError);
    }
    return op_finish(op, NULL);
}

static int
op_fail(AsyncOp *op, PyObject *type, const char *msg)
{
    PyErr_SetString(type, msg);
    return op_finish(op, NULL);
}

/* ---- the pool side ---- */

static PyObject *
running_loop(afc_state *st)
{
    PyObject *loop = PyObject_CallNoArgs(st->get_running_loop);
    if (loop == Py_None) {
        Py_DECREF(loop);
        PyErr_SetString(PyExc_RuntimeError, "no running event loop");
        return NULL;
    }
    return loop;
}

/* The completion queue of the running loop, cached in *cache (the queue)
 * and *cache_loop (the loop, for identity only: a queue is not live once
 * its loop is gone, so a new loop at the same address is not mistaken for
 * it). Returns a borrowed reference. */
static CompletionObject *
cq_for_running_loop(afc_state *st, PyObject **cache, PyObject **cache_loop)
{
    PyObject *loop = running_loop(st);
    if (loop == NULL) {
        return NULL;
    }
    if (*cache == NULL || *cache_loop != loop ||
        !afc_cq_is_live((CompletionObject *)*cache)) {
        if (st->cq_factory == NULL) {
            Py_DECREF(loop);
            PyErr_SetString(PyExc_RuntimeError, "aiofiles_c is not set up");
            return NULL;
        }
        PyObject *cq = PyObject_CallOneArg(st->cq_factory, loop);
        if (cq == NULL) {
            Py_DECREF(loop);
            return NULL;
        }
        if (!PyObject_TypeCheck(cq, st->Completion_type)) {
            Py_DECREF(cq);
            Py_DECREF(loop);
            PyErr_SetString(PyExc_TypeError, "bad completion queue");
            return NULL;
        }
        Py_XSETREF(*cache, cq);
        *cache_loop = loop;
    }
    Py_DECREF(loop);
    return (CompletionObject *)*cache;
}

static void
job_init(AsyncOp *op, int kind)
{
    AsyncFile *f = op->file;
    memset(&op->job, 0, sizeof(op->job));
    op->job.kind = kind;
    op->job.fd = f->fd;
    op->job.off = -1;
    op->job.woff = -1;
}

/* Put the pending writes in front of the job's main action. */
static void
job_add_flush(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (f->wlen > 0) {
        op->job.wbuf = f->buf;
        op->job.wlen = (size_t)f->wlen;
        op->job.woff = f->appending || !f->seekable ? -1 : f->wstart;
        if (f->appending) {
            op->job.want_pos = 1;
        }
    }
}

/* A raw write to an appending file: io.FileIO writes at the descriptor's
 * offset, which io keeps at the logical position; an empty write leaves it
 * there, any other moves it to the end. */
static void
job_set_append_pos(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (f->appending) {
        op->job.want_pos = 1;
        if (f->seekable && f->pos >= 0) {
            op->job.preseek = 1;
            op->job.off_pre = f->pos;
        }
    }
}

/* Remember the completion queue of the loop running now as op's own. */
static int
op_bind_loop(AsyncOp *op)
{
    AsyncFile *f = op->file;
    afc_state *st = op->st;
    CompletionObject *c = f != NULL
        ? cq_for_running_loop(st, &f->cq, &f->cq_loop)
        : cq_for_running_loop(st, &st->fs_cq, &st->fs_cq_loop);
    if (c == NULL) {
        return -1;
    }
    Py_INCREF(c);
    Py_XSETREF(op->cq, (PyObject *)c);
    return 0;
}

/* Send op's job to the pool. Its completion goes to the queue of the loop
 * that called for op, not to the loop of whichever thread happens to run
 * it: when a file is shared by loops in several threads, an op queued
 * behind another loop's op is started by that loop's drain. */
static int
op_submit(AsyncOp *op, int phase)
{
    if (op->cq == NULL && op_bind_loop(op) < 0) {
        return op_finish(op, NULL);
    }
    CompletionObject *c = (CompletionObject *)op->cq;
    if (!afc_cq_is_live(c)) {
        return op_fail(op, PyExc_RuntimeError,
                       "the event loop that called this operation is "
                       "closed");
    }
    op->phase = phase;
    op->job.cq = c->cq;
    op->job.slow = op->file != NULL && op->file->slowfd;
    afc_cq_incref(c->cq);
    c->cq->inflight++;
    Py_INCREF(op);  /* released by the drain */
    op->in_pool = 1;
    int rc = afc_pool_submit(&op->job);
    if (rc != 0) {
        op->in_pool = 0;
        c->cq->inflight--;
        op->job.cq = NULL;
        afc_cq_decref(c->cq);
        Py_DECREF(op);
        return op_fail_errno(op, rc, NULL);
    }
    return RUN_WAIT;
}

/* One write(2) of the pinned view, as io.FileIO.write does. */
static int
op_submit_raw_write(AsyncOp *op)
{
    AsyncFile *f = op->file;
    job_init(op, AFC_JOB_WRITE1);
    op->job.ptr = op->view.buf;
    op->job.len = (size_t)op->view.len;
    op->job.off = f->appending || !f->seekable ? -1 : f->pos;
    job_set_append_pos(op);
    return op_submit(op, P_WRITE);
}

/* io's BlockingIOError for a buffered write that could not go out, with
 * how many bytes of the caller's data it took. */
static void
set_blocking_error(Py_ssize_t taken)
{
    PyObject *e = PyObject_CallFunction(
        PyExc_BlockingIOError, "isn", EAGAIN,
        "write could not complete without blocking", taken);
    if (e != NULL) {
        PyErr_SetObject(PyExc_BlockingIOError, e);
        Py_DECREF(e);
    }
}

/* After a job with a flush prefix: fold the flush result. Returns 0, or -1
 * with an exception set when the flush failed. */
static int
fold_flush(AsyncOp *op)
{
    AsyncFile *f = op->file;
    afc_job *j = &op->job;
    if (j->wlen == 0) {
        return 0;
    }
    if (j->werr != 0) {
        Py_ssize_t done = (Py_ssize_t)j->wdone;
        if (f->wlen - done > 0) {
            memmove(f->buf, f->buf + done, (size_t)(f->wlen - done));
        }
        f->wlen -= done;
        f->wstart += done;
        f->wskip += done;
        if (j->werr == EAGAIN) {
            set_blocking_error(0);
        }
        else {
            errno = j->werr;
            PyErr_SetFromErrno(PyExc_OSError);
        }
        return -1;
    }
    f->wlen = 0;
    f->wskip = 0;
    if (f->appending && j->kind != AFC_JOB_WRITE && j->pos >= 0) {
        f->pos = j->pos;
    }
    return 0;
}

/* ---- buffer management (loop thread, no job in flight) ---- */

static int
file_ensure_buf(AsyncFile *f, Py_ssize_t need)
{
    if (f->buf != NULL && f->cap >= need) {
        return 0;
    }
    Py_ssize_t cap = f->cap > 0 ? f->cap : AFC_MIN_CAP;
    if (cap < f->bufsize) {
        cap = f->bufsize;
    }
    while (cap < need) {
        cap *= 2;
    }
    char *nb = PyMem_RawRealloc(f->buf, (size_t)cap);
    if (nb == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    f->buf = nb;
    f->cap = cap;
    return 0;
}

static void
file_drop_readahead(AsyncFile *f)
{
    f->rpos = f->rend = 0;
}

/* Read page-cached data on the loop thread: preadv2(RWF_NOWAIT) never waits
 * for the disk. Returns the bytes read (0 means EOF: the kernel checks the
 * size before the cache), or -1 when the pool must do it: EAGAIN (not
 * cached), or a file system without RWF_NOWAIT, which turns it off for this
 * file. Bounded by the caller, so the loop is held for microseconds. */
static ssize_t
try_nowait(AsyncFile *f, char *ptr, size_t len, int64_t off)
{
    if (!f->nowait || len == 0) {
        return -1;
    }
#ifndef AFC_HAVE_PREADV2
    /* Portable: no way to ask for cached data only; every read to the pool. */
    f->nowait = 0;
    (void)ptr, (void)off;
    return -1;
#else
    struct iovec iov = {ptr, len};
    ssize_t r;
    do {
        r = preadv2(f->fd, &iov, 1, (off_t)off, RWF_NOWAIT);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (errno != EAGAIN) {
            f->nowait = 0;  /* EOPNOTSUPP, ENOSYS, EINVAL, EPERM, ... */
        }
        return -1;
    }
    return r;
#endif
}

/* Fold a read done inline as if a pool job had returned it. */
static int
op_complete_inline(AsyncOp *op, int phase, ssize_t r)
{
    op->phase = phase;
    op->job.res = r;
    op->job.err = 0;
    op->job.werr = 0;
    op->job.wlen = 0;
    return op_run_inner(op);
}

/* Start a read-ahead so that at least `need` unread bytes are buffered (or
 * EOF is reached). Pending writes are flushed by the same job. */
static int
op_start_fill(AsyncOp *op, Py_ssize_t need)
{
    AsyncFile *f = op->file;
    Py_ssize_t have = f->rend - f->rpos;
    if (f->wlen == 0 && have > 0 && f->rpos > 0) {
        if (have > 0) {
            memmove(f->buf, f->buf + f->rpos, (size_t)have);
        }
        f->rend = have;
        f->rpos = 0;
    }
    else if (have == 0 && f->wlen == 0) {
        f->rpos = f->rend = 0;
    }
    if (file_ensure_buf(f, need > have + 1 ? need : have + 1) < 0) {
        return op_finish(op, NULL);
    }
    job_init(op, AFC_JOB_PREAD);
    job_add_flush(op);
    Py_ssize_t start = f->wlen > 0 ? 0 : f->rend;
    op->job.ptr = f->buf + start;
    op->job.len = (size_t)(f->cap - start);
    op->job.minfill = (size_t)(need - have);
    if (f->seekable) {
        op->job.off = (f->wlen > 0 ? f->wstart + f->wlen : f->pos) + have;
    }
    if (f->wlen == 0) {
        ssize_t r = try_nowait(f, op->job.ptr, op->job.len, op->job.off);
        if (r == 0 || (r > 0 && (size_t)r >= op->job.minfill)) {
            return op_complete_inline(op, P_FILL, r);
        }
        if (r > 0) {
            /* Partly cached: keep it, the pool reads the rest. */
            f->rend += r;
            op->job.ptr += r;
            op->job.len -= (size_t)r;
            op->job.minfill -= (size_t)r;
            op->job.off += r;
        }
    }
    return op_submit(op, P_FILL);
}

/* Read straight into op->acc (bytes) or op->view, from op->got on. */
static int
op_start_direct(AsyncOp *op)
{
    AsyncFile *f = op->file;
    char *base = op->acc != NULL ? PyBytes_AS_STRING(op->acc)
                                 : (char *)op->view.buf;
    Py_ssize_t want = op->alloc - op->got;
    if (want > AFC_CHUNK) {
        want = AFC_CHUNK;
    }
    job_init(op, f->raw_mode ? AFC_JOB_READ : AFC_JOB_PREAD);
    job_add_flush(op);
    op->job.ptr = base + op->got;
    op->job.len = (size_t)want;
    op->job.minfill = (size_t)want;
    if (f->seekable) {
        op->job.off = f->pos + op->got;
    }
    while (f->wlen == 0 && op->inlined + want <= AFC_NOWAIT_MAX) {
        ssize_t r = try_nowait(f, op->job.ptr, (size_t)want, op->job.off);
        if (r < 0) {
            break;
        }
        op->inlined += r;
        if (r == 0 || r == want) {
            return op_complete_inline(op, P_DIRECT, r);
        }
        if (f->raw_mode) {
            break;  /* one read(2) would have returned more: the pool's */
        }
        /* Partly cached: keep it; go on inline while it lasts. */
        op->got += r;
        want -= r;
        op->job.ptr += r;
        op->job.len = op->job.minfill = (size_t)want;
        op->job.off += r;
    }
    return op_submit(op, P_DIRECT);
}

/* ---- error checks shared by the methods ---- */

static int
op_err_closed(AsyncOp *op, const char *msg)
{
    return op_fail(op, PyExc_ValueError, msg);
}

static int
op_unsupported(AsyncOp *op, const char *msg)
{
    return op_fail(op, op->st->UnsupportedOperation, msg);
}

static const char *
closed_msg(AsyncFile *f, int kind)
{
    if (f->raw_mode) {
        switch (kind) {
        case K_READLINES:
        case K_WRITELINES:
        case K_FLUSH:
            return "I/O operation on closed file.";
        default:
            return "I/O operation on closed file";
        }
    }
    if (f->detached) {
        return "raw stream has been detached";
    }
    switch (kind) {
    case K_READ:
    case K_READ1:
    case K_READALL:
        return "read of closed file";
    case K_READINTO:
        return "readinto of closed file";
    case K_READLINE:
    case K_ANEXT:
        return "readline of closed file";
    case K_PEEK:
        return "peek of closed file";
    case K_WRITE:
        return "write to closed file";
    case K_SEEK:
        return "seek of closed file";
    case K_TRUNCATE:
        return "truncate of closed file";
    case K_FLUSH:
        return f->writable ? "flush of closed file"
                           : "I/O operation on closed file.";
    case K_READLINES:
    case K_WRITELINES:
        return "I/O operation on closed file.";
    default:
        return "I/O operation on closed file";
    }
}

/* io checks the mode before the closed state for some buffered methods and
 * after it for others; mirror each. Returns RUN_DONE (failed) or -1 (ok). */
static int
op_check(AsyncOp *op)
{
    AsyncFile *f = op->file;
    int kind = op->kind;
    int isclosed = f->closed || f->detached;
    if (f->raw_mode) {
        if (isclosed) {
            return op_err_closed(op, closed_msg(f, kind));
        }
        switch (kind) {
        case K_READ:  /* readall() itself does not check: read(2) fails */
        case K_READINTO:
        case K_READLINE:
        case K_READLINES:
        case K_ANEXT:
            if (!f->readable) {
                return op_unsupported(op, "File not open for reading");
            }
            break;
        case K_WRITE:
        case K_TRUNCATE:
            if (!f->writable) {
                return op_unsupported(op, "File not open for writing");
            }
            break;
        }
        return -1;
    }
    switch (kind) {
    case K_READ:
    case K_READALL:
    case K_READINTO:
    case K_READLINE:
    case K_ANEXT:
        if (!f->readable) {
            return op_unsupported(op, "read");
        }
        break;
    case K_READ1:
        if (!f->readable) {
            return op_unsupported(op, "read1");
        }
        break;
    case K_WRITE:
        if (!f->writable) {
            return op_unsupported(op, "write");
        }
        break;
    }
    if (isclosed) {
        return op_err_closed(op, closed_msg(f, kind));
    }
    switch (kind) {
    case K_READLINES:
        if (!f->readable) {
            return op_unsupported(op, "read");
        }
        break;
    case K_TRUNCATE:
        if (!f->writable) {
            return op_unsupported(op, "truncate");
        }
        break;
    case K_SEEK:
        if (!f->seekable) {
            return op_unsupported(op, "File or stream is not seekable.");
        }
        break;
    }
    return -1;
}

/* ---- the operations ---- */

static int
run_open(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->phase == P_OPEN) {
        afc_job *j = &op->job;
        if (j->err != 0) {
            /* io names the file in the error, even a descriptor when it
             * is a directory; other errors on a descriptor name none. */
            PyObject *fn = PyLong_Check(f->name) && j->err != EISDIR
                               ? NULL
                               : f->name;
            return op_fail_errno(op, j->err, fn);
        }
        if (op->abandoned) {
            /* Nobody will get this file: close it quietly. */
            if (j->path != NULL || f->closefd) {
                close((int)j->res);
            }
            f->closed = 1;
            Py_INCREF(Py_None);
            return op_finish(op, Py_None);
        }
        if (j->pos < 0 && !f->raw_mode && f->readable && f->writable) {
            /* io.BufferedRandom refuses a stream it cannot seek, and
             * io.open then closes what it opened. */
            if (j->path != NULL || f->closefd) {
                close((int)j->res);
            }
            f->closed = 1;
            return op_unsupported(op, "File or stream is not seekable.");
        }
        f->fd = (int)j->res;
        f->opened = 1;
        f->pos = j->pos;
        f->seekable = j->pos >= 0;
        if (f->appending || !f->raw_mode) {
            /* io seeks to the end (append) or asks tell() (buffered). */
            f->seekable_io = f->seekable;
        }
        if (f->bufsize < 0) {
            f->bufsize = j->st.st_blksize > 1 ? (Py_ssize_t)j->st.st_blksize
                                              : 8192;
        }
        if (S_ISREG(j->st.st_mode) && f->seekable) {
            f->nowait = afc_inline_reads;
            f->size_hint = (int64_t)j->st.st_size;
        }
        Py_INCREF(f);
        return op_finish(op, (PyObject *)f);
    }
    job_init(op, AFC_JOB_OPEN);
    if (PyLong_Check(op->arg)) {
        op->job.fd = op->n;  /* File_open checked the range */
        op->job.own_fd = op->whence;
    }
    else {
        op->job.fd = -1;
        op->job.path = PyBytes_AS_STRING(op->arg);
        op->job.flags = f->flags;
    }
    op->job.whence = f->appending ? SEEK_END : SEEK_CUR;
    return op_submit(op, P_OPEN);
}

/* Serve up to k buffered bytes as a new bytes object (consumes them). */
static PyObject *
take_buffered(AsyncFile *f, Py_ssize_t k)
{
    PyObject *r = PyBytes_FromStringAndSize(f->buf + f->rpos, k);
    if (r != NULL) {
        f->rpos += k;
        if (f->pos >= 0) {
            f->pos += k;
        }
    }
    return r;
}

static int
fold_fill(AsyncOp *op)
{
    AsyncFile *f = op->file;
    afc_job *j = &op->job;
    if (fold_flush(op) < 0) {
        return -1;
    }
    if (j->wlen > 0) {
        /* The flush emptied the buffer; the read-ahead landed at 0. */
        f->rpos = 0;
        f->rend = 0;
    }
    op->filled = 1;
    if (j->res > 0) {
        f->rend += (Py_ssize_t)j->res;
    }
    else if (j->err == EAGAIN) {
        /* A non-blocking descriptor with nothing to read: io's buffered
         * methods then return what they have (b'', a partial line) or
         * None, never raise; each method decides below. */
        op->eof = 1;
        op->wouldblock = 1;
    }
    else if (j->err != 0) {
        errno = j->err;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    else {
        op->eof = 1;
    }
    return 0;
}

/* Fold a direct read (into op->acc or op->view). Returns 1 when finished,
 * 0 when another chunk is needed, -1 on error. */
static int
fold_direct(AsyncOp *op)
{
    afc_job *j = &op->job;
    if (fold_flush(op) < 0) {
        return -1;
    }
    if (j->res > 0) {
        op->got += (Py_ssize_t)j->res;
    }
    if (j->err != 0 && j->res <= 0) {
        if (j->err == EAGAIN) {
            op->wouldblock = 1;  /* no more data for now: finish */
            return 1;
        }
        errno = j->err;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if (op->file->raw_mode || j->res < (int64_t)j->len ||
        op->got >= op->alloc || op->abandoned) {
        return 1;
    }
    return 0;
}

/* Consume what a finished direct read gathered: the buffered part copied
 * before it and the bytes read after. */
static void
consume_direct(AsyncOp *op, Py_ssize_t from_buffer)
{
    AsyncFile *f = op->file;
    if (op->abandoned && f->seekable) {
        return;  /* a cancelled read consumes nothing */
    }
    f->rpos += from_buffer;
    if (f->rpos >= f->rend) {
        file_drop_readahead(f);
    }
    if (f->pos >= 0) {
        f->pos += op->got;
    }
}

static int
finish_acc(AsyncOp *op)
{
    PyObject *r = op->acc;
    op->acc = NULL;
    if (PyBytes_GET_SIZE(r) != op->got && _PyBytes_Resize(&r, op->got) < 0) {
        return op_finish(op, NULL);
    }
    return op_finish(op, r);
}

static int
run_readall(AsyncOp *op)
{
    AsyncFile *f = op->file;
    Py_ssize_t have = f->rend - f->rpos;
    if (op->phase == P_NONE && f->size_hint >= 0 && f->wlen == 0) {
        /* The size open() saw saves an fstat round trip; a stale one
         * costs a resize, not a wrong answer: reading goes on to EOF. */
        op->job.st.st_size = (off_t)f->size_hint;
        op->job.err = 0;
        op->job.werr = 0;
        op->job.wlen = 0;
        op->phase = P_FSTAT;
    }
    else if (op->phase == P_NONE) {
        job_init(op, AFC_JOB_FSTAT);
        job_add_flush(op);
        return op_submit(op, P_FSTAT);
    }
    if (op->phase == P_FSTAT) {
        f->size_hint = -1;
        if (fold_flush(op) < 0) {
            return op_finish(op, NULL);
        }
        Py_ssize_t est = 0;
        if (op->job.err == 0 && f->seekable &&
            op->job.st.st_size > f->pos + have) {
            est = (Py_ssize_t)(op->job.st.st_size - f->pos - have);
        }
        if (est >= PY_SSIZE_T_MAX - have - 1) {
            est = 0;  /* a size no buffer can hold: grow as data comes */
        }
        op->alloc = have + est + (est > 0 ? 1 : 8192);
        op->acc = PyBytes_FromStringAndSize(NULL, op->alloc);
        if (op->acc == NULL) {
            return op_finish(op, NULL);
        }
        if (have > 0) {
            memcpy(PyBytes_AS_STRING(op->acc), f->buf + f->rpos, (size_t)have);
        }
        op->got = have;
        op->n = have;  /* remember the buffered part */
        return op_start_direct(op);
    }
    /* P_DIRECT */
    for (;;) {
        int r = fold_direct(op);
        if (r < 0) {
            return op_finish(op, NULL);
        }
        if (op->job.res <= 0 || op->abandoned ||
            (!f->raw_mode && op->job.res < (int64_t)op->job.len)) {
            break;  /* EOF (a short buffered read means EOF too) */
        }
        if (op->got >= op->alloc) {
            Py_ssize_t grow = op->alloc / 4;
            if (grow < 65536) {
                grow = 65536;
            }
            op->alloc += grow;
            if (_PyBytes_Resize(&op->acc, op->alloc) < 0) {
                return op_finish(op, NULL);
            }
        }
        return op_start_direct(op);
    }
    consume_direct(op, op->n);
    if (op->wouldblock && op->got == 0) {
        Py_CLEAR(op->acc);  /* io: None, "no data yet", not b'' (EOF) */
        Py_INCREF(Py_None);
        return op_finish(op, Py_None);
    }
    return finish_acc(op);
}

static int
run_read(AsyncOp *op)
{
    AsyncFile *f = op->file;
    Py_ssize_t n = op->n;
    if (op->phase == P_DIRECT) {
        int r = fold_direct(op);
        if (r < 0) {
            return op_finish(op, NULL);
        }
        if (r == 0) {
            return op_start_direct(op);
        }
        if (op->wouldblock && op->got == 0) {
            Py_CLEAR(op->acc);
            Py_INCREF(Py_None);
            return op_finish(op, Py_None);
        }
        consume_direct(op, op->off);
        return finish_acc(op);
    }
    if (op->phase == P_FILL) {
        if (fold_fill(op) < 0) {
            return op_finish(op, NULL);
        }
    }
    if (n == 0) {
        return op_finish(op, PyBytes_FromStringAndSize(NULL, 0));
    }
    if (f->raw_mode) {
        op->acc = PyBytes_FromStringAndSize(NULL, n);
        if (op->acc == NULL) {
            return op_finish(op, NULL);
        }
        op->alloc = n;
        op->got = 0;
        op->off = 0;
        return op_start_direct(op);
    }
    Py_ssize_t have = f->rend - f->rpos;
    if (n <= have || op->filled) {
        if (op->abandoned || (have == 0 && op->wouldblock)) {
            Py_INCREF(Py_None);
            return op_finish(op, Py_None);
        }
        return op_finish(op, take_buffered(f, n < have ? n : have));
    }
    if (n - have <= AFC_MIN_CAP / 2) {
        return op_start_fill(op, n);
    }
    op->acc = PyBytes_FromStringAndSize(NULL, n);
    if (op->acc == NULL) {
        return op_finish(op, NULL);
    }
    if (have > 0) {
        memcpy(PyBytes_AS_STRING(op->acc), f->buf + f->rpos, (size_t)have);
    }
    op->alloc = n;
    op->got = have;
    op->off = have;  /* bytes taken from the buffer */
    return op_start_direct(op);
}

static int
run_read1_peek(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->phase == P_FILL && fold_fill(op) < 0) {
        return op_finish(op, NULL);
    }
    Py_ssize_t have = f->rend - f->rpos;
    if (op->kind == K_READ1 && op->n == 0) {
        return op_finish(op, PyBytes_FromStringAndSize(NULL, 0));
    }
    if (have == 0 && !op->filled) {
        if (op->kind == K_READ1 && op->n > AFC_MIN_CAP) {
            /* io's read1 with nothing buffered allocates the size asked
             * for: a size no memory can hold fails as io fails (nothing
             * is touched, so a size that fits costs no more than io's). */
            PyObject *room = PyBytes_FromStringAndSize(NULL, op->n);
            if (room == NULL) {
                return op_finish(op, NULL);
            }
            Py_DECREF(room);
        }
        return op_start_fill(op, 1);
    }
    if (op->abandoned) {
        Py_INCREF(Py_None);
        return op_finish(op, Py_None);
    }
    if (op->kind == K_PEEK) {
        return op_finish(
            op, PyBytes_FromStringAndSize(f->buf + f->rpos, have));
    }
    return op_finish(op, take_buffered(f, op->n < have ? op->n : have));
}

static int
run_readinto(AsyncOp *op)
{
    AsyncFile *f = op->file;
    Py_ssize_t n = op->view.len;
    if (op->phase == P_DIRECT) {
        int r = fold_direct(op);
        if (r < 0) {
            return op_finish(op, NULL);
        }
        if (r == 0) {
            return op_start_direct(op);
        }
        if (op->wouldblock && op->got == 0) {
            Py_INCREF(Py_None);
            return op_finish(op, Py_None);
        }
        consume_direct(op, op->off);
        return op_finish(op, PyLong_FromSsize_t(op->got));
    }
    if (op->phase == P_FILL && fold_fill(op) < 0) {
        return op_finish(op, NULL);
    }
    if (n == 0) {
        return op_finish(op, PyLong_FromLong(0));
    }
    if (f->raw_mode) {
        op->alloc = n;
        op->got = 0;
        op->off = 0;
        return op_start_direct(op);
    }
    Py_ssize_t have = f->rend - f->rpos;
    if (n <= have || op->filled) {
        Py_ssize_t k = n < have ? n : have;
        if (k == 0 && op->wouldblock) {
            Py_INCREF(Py_None);
            return op_finish(op, Py_None);
        }
        if (k > 0) {
            memcpy(op->view.buf, f->buf + f->rpos, (size_t)k);
        }
        f->rpos += k;
        if (f->pos >= 0) {
            f->pos += k;
        }
        return op_finish(op, PyLong_FromSsize_t(k));
    }
    if (n - have <= AFC_MIN_CAP / 2) {
        return op_start_fill(op, n);
    }
    if (have > 0) {
        memcpy(op->view.buf, f->buf + f->rpos, (size_t)have);
    }
    op->alloc = n;
    op->got = have;
    op->off = have;
    return op_start_direct(op);
}

/* One line from the buffer, or a read-ahead started. *line gets a new
 * reference when RUN_DONE is returned with no error; NULL on error. */
static int
readline_step(AsyncOp *op, Py_ssize_t limit, PyObject **line)
{
    AsyncFile *f = op->file;
    *line = NULL;
    Py_ssize_t have = f->rend - f->rpos;
    Py_ssize_t lim = limit >= 0 ? limit : PY_SSIZE_T_MAX;
    Py_ssize_t window = have < lim ? have : lim;
    Py_ssize_t k = -1;
    if (op->scanned < window) {
        char *start = f->buf + f->rpos;
        char *p = memchr(start + op->scanned, '\n',
                         (size_t)(window - op->scanned));
        if (p != NULL) {
            k = p - start + 1;
        }
    }
    if (k < 0) {
        if (have >= lim) {
            k = lim;
        }
        else if (op->eof) {
            k = have;
        }
        else {
            op->scanned = window;
            op->filled = 0;
            return RUN_WAIT;
        }
    }
    op->scanned = 0;
    op->eof = 0;
    *line = take_buffered(f, k);
    return RUN_DONE;
}

static int
run_raw_readline(AsyncOp *op, Py_ssize_t limit, PyObject **line);

static int
run_readline(AsyncOp *op)
{
    AsyncFile *f = op->file;
    PyObject *line = NULL;
    Py_ssize_t limit = op->kind == K_READLINE ? op->n : -1;
    if (op->phase == P_FILL && fold_fill(op) < 0) {
        return op_finish(op, NULL);
    }
    if (op->abandoned && !f->raw_mode) {
        /* A cancelled readline consumes nothing. */
        Py_INCREF(Py_None);
        return op_finish(op, Py_None);
    }
    for (;;) {
        int r;
        if (f->raw_mode) {
            r = run_raw_readline(op, limit, &line);
        }
        else {
            r = readline_step(op, limit, &line);
            if (r == RUN_WAIT) {
                Py_ssize_t have = f->rend - f->rpos;
                return op_start_fill(op, have + 1);
            }
        }
        if (r == RUN_WAIT) {
            return RUN_WAIT;
        }
        if (r == RL_FINISHED) {
            return RUN_DONE;
        }
        if (line == NULL) {
            return op_finish(op, NULL);
        }
        if (op->kind == K_READLINE) {
            return op_finish(op, line);
        }
        if (op->kind == K_ANEXT) {
            if (PyBytes_GET_SIZE(line) == 0) {
                Py_DECREF(line);
                PyErr_SetNone(PyExc_StopAsyncIteration);
                return op_finish(op, NULL);
            }
            return op_finish(op, line);
        }
        /* K_READLINES */
        if (PyBytes_GET_SIZE(line) == 0) {
            Py_DECREF(line);
            PyObject *lst = op->acc;
            op->acc = NULL;
            return op_finish(op, lst);
        }
        op->got += PyBytes_GET_SIZE(line);
        int rc = PyList_Append(op->acc, line);
        Py_DECREF(line);
        if (rc < 0) {
            return op_finish(op, NULL);
        }
        if (op->n > 0 && op->got > op->n) {  /* io: stop once past hint */
            PyObject *lst = op->acc;
            op->acc = NULL;
            return op_finish(op, lst);
        }
    }
}

/* Raw files have no read-ahead: read a chunk at pos, keep up to the
 * newline and leave the position right after it (seekable files), or read
 * byte by byte (pipes), as io.FileIO's readline does. */
static int
run_raw_readline(AsyncOp *op, Py_ssize_t limit, PyObject **line)
{
    /* op->arg: a bytearray gathering the line (NULL until a byte came). */
    AsyncFile *f = op->file;
    int complete = 0;
    *line = NULL;
    if (op->phase == P_DIRECT) {
        op->phase = P_NONE;
        afc_job *j = &op->job;
        if (j->res < 0 && j->err == EAGAIN) {
            /* io's IOBase.readline gets None from read(1) and refuses
             * it; the bytes it had gathered are gone, as in io. */
            Py_CLEAR(op->arg);
            PyErr_SetString(PyExc_OSError,
                            "read() should have returned a bytes object, "
                            "not 'NoneType'");
            return RUN_DONE;
        }
        if (j->res < 0 || (j->err != 0 && j->res <= 0)) {
            errno = j->err;
            PyErr_SetFromErrno(PyExc_OSError);
            return RUN_DONE;
        }
        Py_ssize_t got = (Py_ssize_t)j->res;
        char *p = memchr(f->buf, '\n', (size_t)got);
        Py_ssize_t take = p != NULL ? p - f->buf + 1 : got;
        if (take > 0) {
            if (op->arg == NULL &&
                (op->arg = PyByteArray_FromStringAndSize(NULL, 0)) == NULL) {
                return RUN_DONE;
            }
            Py_ssize_t old = PyByteArray_GET_SIZE(op->arg);
            if (PyByteArray_Resize(op->arg, old + take) < 0) {
                return RUN_DONE;
            }
            memcpy(PyByteArray_AS_STRING(op->arg) + old, f->buf,
                   (size_t)take);
            if (f->pos >= 0) {
                f->pos += take;
            }
        }
        complete = got == 0 || p != NULL;
    }
    Py_ssize_t sofar = op->arg ? PyByteArray_GET_SIZE(op->arg) : 0;
    if (complete || (limit >= 0 && sofar >= limit)) {
        *line = PyBytes_FromStringAndSize(
            op->arg ? PyByteArray_AS_STRING(op->arg) : "", sofar);
        Py_CLEAR(op->arg);
        return RUN_DONE;
    }
    if (file_ensure_buf(f, AFC_RAW_LINE_CHUNK) < 0) {
        return RUN_DONE;
    }
    Py_ssize_t want = f->seekable ? AFC_RAW_LINE_CHUNK : 1;
    if (limit >= 0 && limit - sofar < want) {
        want = limit - sofar;
    }
    job_init(op, AFC_JOB_READ);
    op->job.ptr = f->buf;
    op->job.len = (size_t)want;
    op->job.off = f->seekable ? f->pos : -1;
    /* RUN_DONE here: op_submit already finished the op with an error. */
    return op_submit(op, P_DIRECT) == RUN_DONE ? RL_FINISHED : RUN_WAIT;
}

/* Buffered write of op->view, with io.BufferedWriter's decisions and its
 * buffer size (`buffering`, else st_blksize or io.DEFAULT_BUFFER_SIZE), so
 * that every write(2) happens at the call where io makes it and an error
 * (a full disk, a file size limit) is raised by the same call: data that
 * fits is buffered; otherwise the pending bytes are flushed, and data
 * larger than the buffer goes out in write(2) calls until what is left
 * fits, which is buffered (a short write thus leaves its tail buffered,
 * as io leaves it). The read-ahead may be larger: it is not written. */
static Py_ssize_t
write_capacity(AsyncFile *f)
{
    Py_ssize_t size = f->bufsize > 0 ? f->bufsize : 8192;
    return size > f->wskip ? size - f->wskip : 0;
}

/* Append len bytes to the pending writes (the caller checked they fit). */
static int
buffer_bytes(AsyncFile *f, const char *data, Py_ssize_t len)
{
    if (file_ensure_buf(f, f->wlen + len) < 0) {
        return -1;
    }
    if (f->wlen == 0) {
        f->wstart = f->pos;
    }
    if (len > 0) {
        memcpy(f->buf + f->wlen, data, (size_t)len);
    }
    f->wlen += len;
    if (f->pos >= 0) {
        f->pos += len;
    }
    return 0;
}

/* op->got counts the bytes of the view already written by earlier jobs of
 * this op. Returns RUN_DONE/RUN_WAIT; *done once the rest is buffered. */
static int
write_view(AsyncOp *op, int *done)
{
    AsyncFile *f = op->file;
    const char *data = (const char *)op->view.buf + op->got;
    Py_ssize_t len = op->view.len - op->got;
    Py_ssize_t wcap = write_capacity(f);
    *done = 0;
    if (f->rend > 0) {
        file_drop_readahead(f);
    }
    if (f->wlen > 0 && !f->appending && f->pos >= 0 &&
        f->wstart + f->wlen != f->pos) {
        job_init(op, AFC_JOB_NOP);
        job_add_flush(op);
        return op_submit(op, P_FLUSH);
    }
    if (f->wlen + len <= wcap) {
        if (f->pos >= 0 && len > INT64_MAX - f->pos) {
            /* No file reaches past INT64_MAX: refuse here, where the
             * position would overflow (io wraps it and fails later). */
            return op_fail_errno(op, EINVAL, NULL);
        }
        if (buffer_bytes(f, data, len) < 0) {
            return op_finish(op, NULL);
        }
        *done = 1;
        return RUN_DONE;
    }
    if (len <= wcap) {
        /* Fits once the pending bytes are out. */
        job_init(op, AFC_JOB_NOP);
        job_add_flush(op);
        return op_submit(op, P_FLUSH);
    }
    job_init(op, AFC_JOB_WRITE1);
    job_add_flush(op);
    op->job.ptr = (char *)data;
    op->job.len = (size_t)len;
    if (f->appending || !f->seekable) {
        op->job.off = -1;
        op->job.want_pos = f->appending;
    }
    else {
        op->job.off = f->wlen > 0 ? f->wstart + f->wlen : f->pos;
    }
    return op_submit(op, P_WRITE);
}

static int
fold_write(AsyncOp *op)
{
    AsyncFile *f = op->file;
    afc_job *j = &op->job;
    if (fold_flush(op) < 0) {
        return -1;
    }
    if (j->err != 0) {
        errno = j->err;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if (f->appending && j->pos >= 0) {
        f->pos = j->pos;
    }
    else if (f->pos >= 0) {
        f->pos += j->res;
    }
    op->got += (Py_ssize_t)j->res;
    return 0;
}

static int
get_view(AsyncOp *op, PyObject *obj)
{
    if (PyObject_GetBuffer(obj, &op->view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    op->has_view = 1;
    return 0;
}

/* A buffered write on a non-blocking descriptor that is full (EAGAIN), as
 * io.BufferedWriter.write handles it: when the flush of pending bytes
 * blocked, what was written is dropped from the buffer and the caller's
 * data is buffered as far as it fits (all of it: success; else
 * BlockingIOError with the count taken); when a direct write blocked, one
 * buffer's worth is taken besides what went out. Returns 0 when this is
 * not that case, 1 when the data is all buffered, -1 with the error set. */
static int
write_would_block(AsyncOp *op, int was_write)
{
    AsyncFile *f = op->file;
    afc_job *j = &op->job;
    Py_ssize_t size = f->bufsize > 0 ? f->bufsize : 8192;
    const char *data = (const char *)op->view.buf + op->got;
    Py_ssize_t len = op->view.len - op->got;
    if (j->wlen > 0 && j->werr == EAGAIN) {
        Py_ssize_t done = (Py_ssize_t)j->wdone;
        if (f->wlen - done > 0) {
            memmove(f->buf, f->buf + done, (size_t)(f->wlen - done));
        }
        f->wlen -= done;
        f->wstart += done;
        f->wskip = 0;
        Py_ssize_t room = size > f->wlen ? size - f->wlen : 0;
        Py_ssize_t take = len < room ? len : room;
        if (buffer_bytes(f, data, take) < 0) {
            return -1;
        }
        if (take == len) {
            return 1;
        }
        set_blocking_error(op->got + take);
        return -1;
    }
    if (was_write && j->werr == 0 && j->err == EAGAIN) {
        if (fold_flush(op) < 0) {
            return -1;
        }
        Py_ssize_t take = len < size ? len : size;
        if (buffer_bytes(f, data, take) < 0) {
            return -1;
        }
        set_blocking_error(op->got + take);
        return -1;
    }
    return 0;
}

static int
run_write(AsyncOp *op)
{
    AsyncFile *f = op->file;
    int done = 0;
    if (f->raw_mode) {
        if (op->phase == P_WRITE) {
            afc_job *j = &op->job;
            if (j->err == EAGAIN) {
                Py_INCREF(Py_None);
                return op_finish(op, Py_None);
            }
            if (j->err != 0) {
                return op_fail_errno(op, j->err, NULL);
            }
            if (f->appending && j->pos >= 0) {
                f->pos = j->pos;
            }
            else if (f->pos >= 0) {
                f->pos += j->res;
            }
            return op_finish(op, PyLong_FromLongLong(j->res));
        }
        return op_submit_raw_write(op);
    }
    if (op->phase == P_WRITE || op->phase == P_FLUSH) {
        int was_write = op->phase == P_WRITE;
        op->phase = P_NONE;
        int wb = write_would_block(op, was_write);
        if (wb < 0) {
            return op_finish(op, NULL);
        }
        if (wb > 0) {
            return op_finish(op, PyLong_FromSsize_t(op->view.len));
        }
        if ((was_write ? fold_write(op) : fold_flush(op)) < 0) {
            return op_finish(op, NULL);
        }
    }
    int r = write_view(op, &done);
    if (r == RUN_WAIT || !done) {
        return r;
    }
    return op_finish(op, PyLong_FromSsize_t(op->view.len));
}

static int
run_writelines(AsyncOp *op)
{
    AsyncFile *f = op->file;
    int done = 0;
    if (op->phase == P_WRITE || op->phase == P_FLUSH) {
        int was_write = op->phase == P_WRITE;
        op->phase = P_NONE;
        int rc;
        if (f->raw_mode) {
            /* io.FileIO.write gives None on EAGAIN, which IOBase's
             * writelines ignores: the item is simply not written. */
            int err = op->job.err == EAGAIN ? 0 : op->job.err;
            rc = err != 0 ? (errno = err,
                             PyErr_SetFromErrno(PyExc_OSError), -1)
                          : 0;
            if (rc == 0 && op->job.err == 0 && f->pos >= 0) {
                f->pos = f->appending && op->job.pos >= 0
                             ? op->job.pos
                             : f->pos + op->job.res;
            }
        }
        else {
            /* io's writelines() is write() per item. */
            rc = write_would_block(op, was_write);
            if (rc > 0) {
                op_release_view(op);
                rc = 0;
            }
            else if (rc == 0) {
                rc = was_write ? fold_write(op) : fold_flush(op);
            }
        }
        if (rc < 0) {
            return op_finish(op, NULL);
        }
        if (f->raw_mode) {
            op_release_view(op);
        }
    }
    for (;;) {
        if (!op->has_view && op->abandoned) {
            Py_INCREF(Py_None);
            return op_finish(op, Py_None);
        }
        if (!op->has_view) {
            PyObject *item = PyIter_Next(op->arg);
            if (item == NULL) {
                if (PyErr_Occurred()) {
                    return op_finish(op, NULL);
                }
                Py_INCREF(Py_None);
                return op_finish(op, Py_None);
            }
            /* io's writelines calls write() per item: its checks apply. */
            /* FileIO.write parses its argument first; IOBase.write (a
             * buffered reader's) refuses first. */
            int rc = f->writable || f->raw_mode ? get_view(op, item) : 0;
            Py_DECREF(item);
            if (rc < 0) {
                return op_finish(op, NULL);
            }
            if (!f->writable) {
                return op_unsupported(op, f->raw_mode
                                              ? "File not open for writing"
                                              : "write");
            }
            if (rc < 0) {
                return op_finish(op, NULL);
            }
            op->got = 0;
        }
        if (f->raw_mode) {
            return op_submit_raw_write(op);
        }
        int r = write_view(op, &done);
        if (r == RUN_WAIT) {
            return RUN_WAIT;
        }
        if (!done) {
            return r;  /* finished with an error */
        }
        op_release_view(op);
    }
}

static int
run_seek(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->phase == P_SEEK) {
        if (fold_flush(op) < 0) {
            return op_finish(op, NULL);
        }
        if (op->job.err != 0) {
            if (f->seekable_io < 0) {
                f->seekable_io = 0;
            }
            return op_fail_errno(op, op->job.err, NULL);
        }
        file_drop_readahead(f);
        f->pos = op->job.res;
        if (f->seekable_io < 0) {
            f->seekable_io = 1;
        }
        return op_finish(op, PyLong_FromLongLong(op->job.res));
    }
    if (op->phase == P_FLUSH) {
        if (fold_flush(op) < 0) {
            return op_finish(op, NULL);
        }
    }
    if (!f->seekable) {
        return op_fail_errno(op, ESPIPE, NULL);
    }
    int whence = op->whence;
    if (!f->raw_mode && (whence < 0 || whence > 4)) {
        PyErr_Format(PyExc_ValueError, "whence value %d unsupported",
                     whence);
        return op_finish(op, NULL);
    }
    if ((whence == SEEK_SET || whence == SEEK_CUR)) {
        if (f->wlen > 0) {
            /* io flushes before the raw seek, even one that fails; an
             * appending file's position is then its end. */
            job_init(op, AFC_JOB_NOP);
            job_add_flush(op);
            return op_submit(op, P_FLUSH);
        }
        int64_t target = op->off;
        /* A sum past INT64_MAX is what the kernel's own SEEK_CUR refuses
         * with EINVAL; checked before adding (no signed overflow). */
        int bad = whence == SEEK_CUR &&
                  __builtin_add_overflow(f->pos, op->off, &target);
        if (bad || target < 0) {
            if (f->seekable_io < 0) {
                f->seekable_io = 0;  /* io.FileIO caches the failure */
            }
            return op_fail_errno(op, EINVAL, NULL);
        }
        int64_t bufstart = f->pos - f->rpos;
        if (f->rend > 0 && target >= bufstart &&
            target - bufstart <= f->rend) {
            f->rpos = (Py_ssize_t)(target - bufstart);
        }
        else {
            /* Leaving the buffer, io seeks the descriptor, and the file
             * system may refuse the offset (ext4: EINVAL past 16 TiB).
             * Do the same seek here so the error comes from this call:
             * lseek to SEEK_SET never waits for the disk, and workers use
             * explicit offsets, so moving the descriptor's offset to the
             * logical position is harmless (flush does it too). */
            if (lseek(f->fd, (off_t)target, SEEK_SET) < 0) {
                int err = errno;
                if (f->seekable_io < 0) {
                    f->seekable_io = 0;
                }
                return op_fail_errno(op, err, NULL);
            }
            file_drop_readahead(f);
        }
        f->pos = target;
        if (f->seekable_io < 0) {
            f->seekable_io = 1;
        }
        return op_finish(op, PyLong_FromLongLong(target));
    }
    job_init(op, AFC_JOB_SEEK);
    job_add_flush(op);
    op->job.off = op->off;
    op->job.whence = whence;
    return op_submit(op, P_SEEK);
}

static int
run_truncate(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->phase == P_TRUNCATE) {
        if (fold_flush(op) < 0) {
            return op_finish(op, NULL);
        }
        if (op->job.err != 0) {
            return op_fail_errno(op, op->job.err, NULL);
        }
        if (op->arg != NULL) {
            Py_INCREF(op->arg);
            return op_finish(op, op->arg);
        }
        return op_finish(op, PyLong_FromLongLong(op->job.res));
    }
    if (op->phase == P_FLUSH) {
        if (fold_flush(op) < 0) {
            return op_finish(op, NULL);
        }
    }
    else if (f->appending && f->wlen > 0 && !op->whence) {
        /* The size is the position after the flush, which moves an
         * appending file to its end. */
        job_init(op, AFC_JOB_NOP);
        job_add_flush(op);
        return op_submit(op, P_FLUSH);
    }
    int64_t size = op->whence ? op->off : f->pos;
    if (!op->whence && f->seekable_io < 0) {
        f->seekable_io = f->seekable;  /* FileIO asks lseek for the size */
    }
    if (size < 0 && !op->whence) {
        return op_fail_errno(op, ESPIPE, NULL);
    }
    file_drop_readahead(f);
    job_init(op, AFC_JOB_TRUNCATE);
    job_add_flush(op);
    op->job.off = size;
    return op_submit(op, P_TRUNCATE);
}

static int
run_flush(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->phase == P_FLUSH) {
        if (fold_flush(op) < 0) {
            return op_finish(op, NULL);
        }
        Py_INCREF(Py_None);
        return op_finish(op, Py_None);
    }
    if (f->raw_mode || f->wlen == 0) {
        Py_INCREF(Py_None);
        return op_finish(op, Py_None);
    }
    job_init(op, AFC_JOB_NOP);
    job_add_flush(op);
    if (f->seekable && !f->appending) {
        op->job.sync_pos = 1;
        op->job.sync_to = f->pos;
    }
    return op_submit(op, P_FLUSH);
}

static void
file_free_buf(AsyncFile *f)
{
    PyMem_RawFree(f->buf);
    f->buf = NULL;
    f->cap = 0;
    f->rpos = f->rend = f->wlen = f->wskip = 0;
}

static int
run_close(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->phase == P_CLOSE) {
        afc_job *j = &op->job;
        f->closed = 1;
        f->wlen = 0;
        file_free_buf(f);
        if (j->werr == EAGAIN && !f->raw_mode) {
            set_blocking_error(0);  /* the flush io's close() does */
            return op_finish(op, NULL);
        }
        if (j->werr != 0) {
            return op_fail_errno(op, j->werr, NULL);
        }
        if (j->err != 0) {
            return op_fail_errno(op, j->err, NULL);
        }
        Py_INCREF(Py_None);
        return op_finish(op, Py_None);
    }
    if (f->detached) {
        return op_err_closed(op, "raw stream has been detached");
    }
    if (f->closed || !f->opened) {
        Py_INCREF(Py_None);
        return op_finish(op, Py_None);
    }
    job_init(op, f->closefd ? AFC_JOB_CLOSE : AFC_JOB_NOP);
    job_add_flush(op);
    if (!f->closefd && f->seekable && !f->appending) {
        /* The fd stays open: leave its offset at the logical position. */
        op->job.sync_pos = 1;
        op->job.sync_to = f->pos;
    }
    return op_submit(op, P_CLOSE);
}

/* A read that needs the file (io answers empty read, read1 and readline
 * requests from memory, without flushing; readinto flushes all the same). */
static int
is_read_kind(AsyncOp *op)
{
    switch (op->kind) {
    case K_READ:
    case K_READ1:
    case K_READLINE:
        if (op->n == 0) {
            return 0;
        }
        break;
    }
    switch (op->kind) {
    case K_READ:
    case K_READ1:
    case K_READALL:
    case K_READINTO:
    case K_READLINE:
    case K_READLINES:
    case K_ANEXT:
    case K_PEEK:
        return 1;
    default:
        return 0;
    }
}

static int
op_run_inner(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->kind == K_WRITABLE && !f->raw_mode && !f->writable) {
        return op_finish(op, PyBool_FromLong(0));
    }
    if (op->kind == K_READLINE && op->n == 0 && (f->raw_mode || !f->readable)) {
        /* IOBase.readline(0): returns before reading, so before checks. */
        return op_finish(op, PyBytes_FromStringAndSize(NULL, 0));
    }
    if (op->phase == P_NONE && op->kind != K_OPEN && op->kind != K_CLOSE) {
        int r = op_check(op);
        if (r != -1) {
            return r;
        }
    }
    if (op->phase == P_PREFLUSH) {
        op->phase = P_NONE;
        if (fold_flush(op) < 0) {
            return op_finish(op, NULL);
        }
    }
    else if (op->phase == P_NONE && f->appending && f->wlen > 0 &&
             is_read_kind(op) && !f->raw_mode) {
        /* The flush moves an appending file to its end, and the read
         * starts there: the offset is known only after the flush. */
        job_init(op, AFC_JOB_NOP);
        job_add_flush(op);
        return op_submit(op, P_PREFLUSH);
    }
    switch (op->kind) {
    case K_OPEN:
        return run_open(op);
    case K_READ:
        if (op->n < 0 && op->phase == P_NONE) {
            op->kind = K_READALL;
            return run_readall(op);
        }
        return run_read(op);
    case K_READALL:
        return run_readall(op);
    case K_READ1:
    case K_PEEK:
        return run_read1_peek(op);
    case K_READINTO:
        return run_readinto(op);
    case K_READLINE:
    case K_READLINES:
    case K_ANEXT:
        return run_readline(op);
    case K_WRITE:
        return run_write(op);
    case K_WRITELINES:
        return run_writelines(op);
    case K_SEEK:
        return run_seek(op);
    case K_TELL:
        if (f->seekable_io < 0) {
            f->seekable_io = f->seekable;
        }
        if (!f->seekable || f->pos < 0) {
            return op_fail_errno(op, ESPIPE, NULL);
        }
        /* io asks lseek() on every tell(): a descriptor closed behind the
         * file's back fails here (EBADF), not later. lseek(SEEK_CUR) never
         * waits, so it runs on the loop thread; the position stays ours. */
        if (lseek(f->fd, 0, SEEK_CUR) < 0) {
            return op_fail_errno(op, errno, NULL);
        }
        return op_finish(op, PyLong_FromLongLong(f->pos));
    case K_TRUNCATE:
        return run_truncate(op);
    case K_FLUSH:
        return run_flush(op);
    case K_CLOSE:
        return run_close(op);
    case K_ISATTY:
        return op_finish(op, PyBool_FromLong(isatty(f->fd)));
    case K_SEEKABLE:
        if (f->seekable_io < 0) {
            f->seekable_io = f->seekable;
        }
        return op_finish(op, PyBool_FromLong(f->seekable_io));
    case K_WRITABLE:
        return op_finish(op, PyBool_FromLong(f->writable));
    case K_POS:
        return pos_run_queued(op);
    }
    PyErr_SetString(PyExc_SystemError, "bad operation");
    return op_finish(op, NULL);
}

static int
op_run(AsyncOp *op)
{
    op->state = S_RUNNING;
    if (op->phase == P_YIELD) {
        op->phase = P_NONE;
    }
    return op_run_inner(op);
}

/* Run queued operations until one has to wait. */
static void
file_pump(AsyncFile *f)
{
    if (f->pumping) {
        return;
    }
    f->pumping = 1;
    Py_INCREF(f);
    while (f->qhead != NULL && f->qhead->state == S_QUEUED) {
        AsyncOp *op = f->qhead;
        Py_INCREF(op);
        int r = op_run(op);
        Py_DECREF(op);
        if (r == RUN_WAIT) {
            break;
        }
    }
    f->pumping = 0;
    Py_DECREF(f);
}

/* A job came back (drain, loop thread). */
void
afc_job_done(afc_job *job)
{
    AsyncOp *op = (AsyncOp *)((char *)job - offsetof(AsyncOp, job));
    AsyncFile *f = op->file;
    job->cq->inflight--;
    afc_cq_decref(job->cq);
    job->cq = NULL;
    op->in_pool = 0;
    if (job->err == AFC_ERR_FORKED) {
        /* In a forked child: the parent's worker had the job; it never
         * ran here, or ran only in part. */
        free(job->out);
        job->out = NULL;
        if (op->kind == K_POS) {
            pos_close_dup(job);
        }
        if (op->kind == K_FS && job->fsop == AFC_FS_SCANDIR) {
            scandir_settle(op, job);
        }
        if (f != NULL) {
            Py_INCREF(f);
        }
        PyErr_SetString(PyExc_RuntimeError,
                        "the operation was in flight in the parent process "
                        "at fork(); it did not complete in this process");
        int r = op_finish(op, NULL);
        if (f != NULL && r == RUN_DONE && f->qhead != op) {
            file_pump(f);
        }
        Py_XDECREF(f);
        Py_DECREF(op);
        return;
    }
    if (job->kind == AFC_JOB_OPEN && job->err == 0 && f != NULL) {
        mode_t m = job->st.st_mode;
        f->slowfd = !(S_ISREG(m) || S_ISDIR(m) || S_ISBLK(m));
    }
    if (op->kind == K_FS || (op->kind == K_POS && op->phase == P_DIRECT)) {
        if (op->kind == K_FS) {
            fs_done(op);
        }
        else {
            pos_done(op);
        }
        if (PyErr_Occurred()) {
            PyErr_WriteUnraisable((PyObject *)op);
        }
        Py_DECREF(op);
        return;
    }
    Py_INCREF(f);
    f->inline_since = afc_now_ns();
    int r = op_run_inner(op);
    if (PyErr_Occurred()) {
        PyErr_WriteUnraisable((PyObject *)op);
    }
    if (r == RUN_DONE && f->qhead != op) {
        file_pump(f);
    }
    Py_DECREF(op);  /* the reference op_submit took */
    Py_DECREF(f);
}

void
afc_job_discard(afc_job *job)
{
    AsyncOp *op = (AsyncOp *)((char *)job - offsetof(AsyncOp, job));
    job->cq->inflight--;
    afc_cq_decref(job->cq);
    job->cq = NULL;
    op->in_pool = 0;
    free(job->out);
    job->out = NULL;
    if (op->kind == K_FS && job->fsop == AFC_FS_SCANDIR) {
        scandir_settle(op, job);
    }
    if (job->kind == AFC_JOB_OPEN && job->path != NULL && job->err == 0 &&
        job->res >= 0) {
        /* The loop is gone: nobody will adopt the descriptor. */
        close((int)job->res);
        job->res = -1;
    }
    if (op->kind == K_FS) {
        fs_drop_fd(op);
    }
    if (op->kind == K_POS) {
        pos_close_dup(job);
    }
    Py_DECREF(op);
}

/* ---- the awaitable ---- */

static AsyncOp *
op_new(AsyncFile *f, int kind)
{
    AsyncOp *op = PyObject_GC_New(AsyncOp, f->st->Op_type);
    if (op == NULL) {
        return NULL;
    }
    memset((char *)op + sizeof(PyObject), 0,
           sizeof(AsyncOp) - sizeof(PyObject));
    op->st = f->st;
    op->file = f;
    Py_INCREF(f);
    op->kind = kind;
    op->state = S_QUEUED;
    op->thread = PyThread_get_thread_ident();
    PyObject_GC_Track(op);
    return op;
}

/* Resume an op that yielded for fairness (loop.call_soon callback). */
static PyObject *
Op_resume(AsyncOp *op, PyObject *Py_UNUSED(ignored))
{
    if (op->phase != P_YIELD || op->in_pool) {
        Py_RETURN_NONE;
    }
    AsyncFile *f = op->file;
    Py_INCREF(f);
    f->inline_since = afc_now_ns();
    int r = op_run(op);
    if (r == RUN_DONE) {
        file_pump(f);
    }
    Py_DECREF(f);
    Py_RETURN_NONE;
}

/* Enqueue op and run it at once if nothing is ahead of it. Returns a new
 * reference to op. */
static PyObject *
file_start(AsyncFile *f, AsyncOp *op)
{
    Py_INCREF(op);  /* the FIFO's reference */
    if (f->qtail != NULL) {
        f->qtail->next = op;
    }
    else {
        f->qhead = op;
    }
    f->qtail = op;
    if (f->qhead != op || f->pumping) {
        /* It will be started later, maybe by another thread's loop: note
         * the caller's loop now (none running: the first submit decides). */
        if (op_bind_loop(op) < 0) {
            PyErr_Clear();
        }
        Py_INCREF(op);
    return (PyObject *)op;
    }
    int64_t now = afc_now_ns();
    if (now - f->inline_since > AFC_BUDGET_NS && op->kind != K_OPEN) {
        /* Fairness: this file answered from memory for a while; let the
         * loop run one iteration before serving this call. */
        PyObject *loop = PyObject_CallNoArgs(f->st->get_running_loop);
        if (loop != NULL && loop != Py_None) {
            PyObject *cb = PyObject_GetAttrString((PyObject *)op, "_resume");
            PyObject *h = cb ? PyObject_CallMethodOneArg(
                                   loop, f->st->str_call_soon, cb)
                             : NULL;
            Py_XDECREF(cb);
            Py_DECREF(loop);
            if (h != NULL) {
                Py_DECREF(h);
                op->state = S_RUNNING;
                op->phase = P_YIELD;
                f->inline_since = now;
                Py_INCREF(op);
    return (PyObject *)op;
            }
            PyErr_Clear();
        }
        else {
            Py_XDECREF(loop);
            PyErr_Clear();
        }
        f->inline_since = now;
    }
    file_pump(f);
    Py_INCREF(op);
    return (PyObject *)op;
}

/* file_start() for an op the caller owns: the reference passes on. */
static PyObject *
file_start_owned(AsyncFile *f, AsyncOp *op)
{
    PyObject *r = file_start(f, op);
    Py_DECREF(op);
    return r;
}

static int
op_is_pending(AsyncOp *op)
{
    return op->state == S_QUEUED || op->state == S_RUNNING;
}

/* Park the awaiting task on a fresh future. Returns a new reference. */
static PyObject *
op_park(AsyncOp *op)
{
    op->st->spin_streak = 0;  /* the loop gets to run now */
    PyObject *loop = running_loop(op->st);
    if (loop == NULL) {
        return NULL;
    }
    PyObject *fut = PyObject_CallMethodNoArgs(loop, op->st->str_create_future);
    Py_DECREF(loop);
    if (fut == NULL) {
        return NULL;
    }
    if (PyObject_SetAttr(fut, op->st->str_blocking, Py_True) < 0) {
        Py_DECREF(fut);
        return NULL;
    }
    Py_XSETREF(op->fut, fut);
    op->waiter = PyThread_get_thread_ident();
    Py_INCREF(fut);
    return fut;
}

/* The task is about to park on a future for op's job. When that job is
 * the only one this loop has in the pool, the program is awaiting calls one
 * after another: wait a few microseconds for it on the spot and resolve it
 * here, which saves the loop's sleep and wake-up (much of a round trip).
 * Bounded, so the loop is never held for long. Returns 1 if it drained. */
#define AFC_LOOP_SPIN_NS 20000

static int
op_wait_briefly(AsyncOp *op)
{
    afc_cq *cq = op->job.cq;
    afc_state *st = op->st;
    if (!op->in_pool || cq == NULL || cq->inflight != 1 ||
        (op->kind == K_POS && st->pos_yield) ||
        op->thread != PyThread_get_thread_ident()) {
        return 0;  /* (another thread's op: its queue is another loop's) */
    }
    /* Fairness: awaits resolved on the spot never let the loop run, so
     * after ~0.5 ms of them the next one parks (and the loop runs). */
    int64_t now = afc_now_ns();
    if (st->spin_streak == 0) {
        st->spin_streak = now;
    }
    else if (now - st->spin_streak > AFC_BUDGET_NS) {
        return 0;
    }
    if (!afc_cq_wait_ready(cq, AFC_LOOP_SPIN_NS)) {
        return 0;
    }
    Py_INCREF(op);
    afc_drain(cq);
    Py_DECREF(op);
    return 1;
}

static PySendResult
op_deliver(AsyncOp *op, PyObject **presult)
{
    if (op->pending_exc != NULL) {
        PyObject *e = op->pending_exc;
        op->pending_exc = NULL;
        op->state = S_CONSUMED;
        Py_CLEAR(op->result);
        Py_CLEAR(op->exc);
        PyErr_SetObject((PyObject *)Py_TYPE(e), e);
        Py_DECREF(e);
        *presult = NULL;
        return PYGEN_ERROR;
    }
    if (op->state == S_DONE) {
        op->state = S_CONSUMED;
        if (op->exc != NULL) {
            PyObject *e = op->exc;
            op->exc = NULL;
            PyErr_SetObject((PyObject *)Py_TYPE(e), e);
            Py_DECREF(e);
            *presult = NULL;
            return PYGEN_ERROR;
        }
        *presult = op->result;
        op->result = NULL;
        return PYGEN_RETURN;
    }
    if (op->state == S_CONSUMED) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot reuse already awaited coroutine");
        *presult = NULL;
        return PYGEN_ERROR;
    }
    if (op_wait_briefly(op) && op->state == S_DONE) {
        return op_deliver(op, presult);
    }
    PyObject *fut = op_park(op);
    *presult = fut;
    return fut != NULL ? PYGEN_NEXT : PYGEN_ERROR;
}

static PySendResult
Op_am_send(AsyncOp *op, PyObject *arg, PyObject **presult)
{
    (void)arg;
    return op_deliver(op, presult);
}

PyObject *
afc_send_to_next(PySendResult r, PyObject *res)
{
    if (r == PYGEN_NEXT) {
        return res;
    }
    if (r == PYGEN_RETURN) {
        if (res == Py_None) {
            Py_DECREF(res);
            PyErr_SetNone(PyExc_StopIteration);
        }
        else {
            PyObject *e = PyObject_CallOneArg(PyExc_StopIteration, res);
            Py_DECREF(res);
            if (e != NULL) {
                PyErr_SetObject(PyExc_StopIteration, e);
                Py_DECREF(e);
            }
        }
    }
    return NULL;
}

static PyObject *
Op_iternext(AsyncOp *op)
{
    PyObject *res;
    PySendResult r = op_deliver(op, &res);
    return afc_send_to_next(r, res);
}

static PyObject *
Op_send(AsyncOp *op, PyObject *arg)
{
    PyObject *res;
    PySendResult r = Op_am_send(op, arg, &res);
    return afc_send_to_next(r, res);
}

static PyObject *
Op_await(AsyncOp *op)
{
    Py_INCREF(op);
    return (PyObject *)op;
}

/* Take op out of its file's FIFO before it started: it has no effect. */
static void
op_unlink(AsyncOp *op)
{
    AsyncFile *f = op->file;
    AsyncOp *prev = NULL;
    for (AsyncOp *p = f->qhead; p != NULL; prev = p, p = p->next) {
        if (p != op) {
            continue;
        }
        if (prev == NULL) {
            f->qhead = p->next;
        }
        else {
            prev->next = p->next;
        }
        if (f->qtail == p) {
            f->qtail = prev;
        }
        p->next = NULL;
        Py_DECREF(p);  /* the FIFO's reference */
        return;
    }
}

/* The awaiting task is gone (cancelled, closed). Returns 1 when the
 * caller must keep waiting (a readinto in flight), else 0. */
static int
op_abandon(AsyncOp *op, PyObject *exc)
{
    Py_CLEAR(op->fut);
    if (op->state == S_QUEUED) {
        Py_INCREF(op);
        op_unlink(op);
        op->state = S_CONSUMED;
        op_release_view(op);
        Py_CLEAR(op->arg);
        Py_DECREF(op);
        return 0;
    }
    if (op->state == S_RUNNING) {
        if ((op->kind == K_READINTO || op->kind == K_POS) && op->in_pool &&
            exc != NULL) {
            /* The worker writes into the caller's buffer: deliver the
             * exception only after it has finished. */
            Py_INCREF(exc);
            Py_XSETREF(op->pending_exc, exc);
            return 1;
        }
        op->abandoned = 1;
        if (op->phase == P_YIELD && op->file != NULL &&
            op->file->qhead == op) {
            /* Not started yet: drop it and let the rest run. */
            AsyncFile *f = op->file;
            Py_INCREF(f);
            Py_INCREF(op);
            op->phase = P_NONE;
            op_unlink(op);
            op->state = S_CONSUMED;
            op_release_view(op);
            Py_CLEAR(op->arg);
            Py_DECREF(op);
            file_pump(f);
            Py_DECREF(f);
        }
        return 0;
    }
    if (op->kind == K_FS && op->result != NULL) {
        fs_drop_fd(op);  /* an fd nobody will receive */
    }
    if (op->kind == K_OPEN && op->state == S_DONE && op->result != NULL &&
        op->result != Py_None && exc != NULL) {
        /* The file was open when the cancellation reached the task: nobody
         * will get it, so close it quietly (as an open still in flight). */
        AsyncFile *rf = (AsyncFile *)op->result;
        if (rf->opened && !rf->closed && rf->closefd) {
            close(rf->fd);
        }
        rf->closed = 1;
    }
    op->state = S_CONSUMED;
    Py_CLEAR(op->result);
    Py_CLEAR(op->exc);
    return 0;
}

PyObject *
afc_throw_exc(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw expected 1 to 3 arguments");
        return NULL;
    }
    PyObject *typ = args[0];
    PyObject *val = nargs > 1 ? args[1] : Py_None;
    if (PyExceptionInstance_Check(typ)) {
        return Py_NewRef(typ);
    }
    if (PyExceptionClass_Check(typ)) {
        if (val == Py_None) {
            return PyObject_CallNoArgs(typ);
        }
        if (PyObject_IsInstance(val, typ) == 1) {
            return Py_NewRef(val);
        }
        return PyObject_CallOneArg(typ, val);
    }
    PyErr_SetString(PyExc_TypeError,
                    "exceptions must be classes or instances deriving "
                    "from BaseException");
    return NULL;
}

static PyObject *
Op_throw(AsyncOp *op, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *exc = afc_throw_exc(args, nargs);
    if (exc == NULL) {
        return NULL;
    }
    int pending = op_is_pending(op);
    if (pending && op_abandon(op, exc)) {
        Py_DECREF(exc);
        return op_park(op);
    }
    op_abandon(op, pending ? NULL : exc);  /* done: exc says it is thrown */
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *
Op_close(AsyncOp *op, PyObject *Py_UNUSED(ignored))
{
    op_abandon(op, NULL);
    Py_RETURN_NONE;
}

static int
Op_traverse(AsyncOp *op, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(op->file);
    Py_VISIT(op->arg);
    Py_VISIT(op->acc);
    Py_VISIT(op->result);
    Py_VISIT(op->exc);
    Py_VISIT(op->pending_exc);
    Py_VISIT(op->fut);
    Py_VISIT(op->cq);
    if (op->has_view) {
        Py_VISIT(op->view.obj);
    }
    return 0;
}

static int
Op_clear(AsyncOp *op)
{
    if (op->in_pool) {
        /* A worker owns memory this op keeps alive; nothing to clear. */
        return 0;
    }
    Py_CLEAR(op->arg);
    Py_CLEAR(op->acc);
    Py_CLEAR(op->result);
    Py_CLEAR(op->exc);
    Py_CLEAR(op->pending_exc);
    Py_CLEAR(op->fut);
    Py_CLEAR(op->cq);
    op_release_view(op);
    Py_CLEAR(op->file);
    return 0;
}

static void
Op_dealloc(AsyncOp *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    Op_clear(op);
    PyObject_GC_Del(op);
    Py_DECREF(tp);
}

static PyMethodDef Op_methods[] = {
    {"send", (PyCFunction)Op_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))Op_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)Op_close, METH_NOARGS, NULL},
    {"_resume", (PyCFunction)Op_resume, METH_NOARGS, NULL},
    {"_wake", (PyCFunction)Op_wake, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Op_slots[] = {
    {Py_am_await, Op_await},
    AFC_AM_SEND_SLOT(Op_am_send)
    {Py_tp_iter, Op_await},
    {Py_tp_iternext, Op_iternext},
    {Py_tp_methods, Op_methods},
    {Py_tp_traverse, Op_traverse},
    {Py_tp_clear, Op_clear},
    {Py_tp_dealloc, Op_dealloc},
    {Py_tp_doc, "An operation on an async file: await it like a coroutine."},
    {0, NULL},
};

PyType_Spec afc_op_spec = {
    .name = "aiofiles_c._cext.Operation",
    .basicsize = sizeof(AsyncOp),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Op_slots,
};

/* ---- synchronous access for the text layer (text.c, loop thread) ---- */

/* f when it is one of our buffered files with nothing queued, open and
 * attached: then its buffers may be used here and now. */
static AsyncFile *
idle_buffered(afc_state *st, PyObject *obj)
{
    if (!Py_IS_TYPE(obj, st->Reader_type) &&
        !PyObject_TypeCheck(obj, st->Buffered_type)) {
        return NULL;
    }
    AsyncFile *f = (AsyncFile *)obj;
    if (f->raw_mode || !f->opened || f->closed || f->detached ||
        f->qhead != NULL || f->pumping) {
        return NULL;
    }
    return f;
}

PyObject *
afc_file_read1_nowait(afc_state *st, PyObject *obj, Py_ssize_t n)
{
    AsyncFile *f = idle_buffered(st, obj);
    if (f == NULL || !f->readable || f->wlen > 0 || n <= 0) {
        return NULL;
    }
    Py_ssize_t have = f->rend - f->rpos;
    if (have == 0) {
        if (!f->nowait || !f->seekable || f->pos < 0) {
            return NULL;
        }
        if (file_ensure_buf(f, AFC_MIN_CAP) < 0) {
            return NULL;
        }
        f->rpos = f->rend = 0;
        ssize_t r = try_nowait(f, f->buf, (size_t)f->cap, f->pos);
        if (r < 0) {
            return NULL;
        }
        if (r == 0) {
            return PyBytes_FromStringAndSize(NULL, 0);
        }
        f->rend = r;
        have = r;
    }
    return take_buffered(f, n < have ? n : have);
}

int
afc_file_write_nowait(afc_state *st, PyObject *obj, const char *data,
                      Py_ssize_t len)
{
    AsyncFile *f = idle_buffered(st, obj);
    if (f == NULL || !f->writable) {
        return 0;
    }
    if (f->wlen > 0 && !f->appending && f->pos >= 0 &&
        f->wstart + f->wlen != f->pos) {
        return 0;
    }
    if (f->wlen + len > write_capacity(f)) {
        return 0;
    }
    if (f->rend > 0) {
        file_drop_readahead(f);
    }
    return buffer_bytes(f, data, len) < 0 ? -1 : 1;
}

/* -1 when obj is not one of ours (the caller asks Python). */
int
afc_file_closed(afc_state *st, PyObject *obj)
{
    if (!Py_IS_TYPE(obj, st->Reader_type) &&
        !Py_IS_TYPE(obj, st->Buffered_type) &&
        !PyObject_TypeCheck(obj, st->FileIO_type) &&
        !PyObject_TypeCheck(obj, st->Buffered_type)) {
        return -1;
    }
    AsyncFile *f = (AsyncFile *)obj;
    return f->detached ? -1 : f->closed;
}

/* ---- the file types ---- */

static PyObject *
File_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name",     "mode",     "flags",
                             "readable", "writable", "appending",
                             "closefd",  "buffering", NULL};
    PyObject *name, *mode;
    int flags, readable, writable, appending, closefd;
    Py_ssize_t buffering;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OUippppn:File", kwlist,
                                     &name, &mode, &flags, &readable,
                                     &writable, &appending, &closefd,
                                     &buffering)) {
        return NULL;
    }
    PyObject *module = PyType_GetModuleByDef(type, &afc_module_def);
    if (module == NULL) {
        return NULL;
    }
    AsyncFile *f = (AsyncFile *)type->tp_alloc(type, 0);
    if (f == NULL) {
        return NULL;
    }
    f->st = afc_get_state(module);
    f->fd = -1;
    f->flags = flags;
    f->readable = readable;
    f->writable = writable;
    f->appending = appending;
    f->closefd = closefd;
    f->raw_mode = buffering == 0;
    f->bufsize = buffering;
    f->pos = -1;
    f->seekable_io = -1;
    f->size_hint = -1;
    f->inline_since = afc_now_ns();
    Py_INCREF(name);
    f->name = name;
    Py_INCREF(mode);
    f->mode = mode;
    return (PyObject *)f;
}

/* An argument was refused: like a coroutine, the returned awaitable raises
 * the exception when awaited, and the file is not touched. */
static PyObject *
op_error(AsyncFile *f)
{
    AsyncOp *op = op_new(f, K_TELL);
    if (op == NULL) {
        return NULL;
    }
    op->state = S_RUNNING;
    op_finish(op, NULL);
    return (PyObject *)op;
}

static PyObject *
file_op(AsyncFile *f, int kind)
{
    AsyncOp *op = op_new(f, kind);
    if (op == NULL) {
        return NULL;
    }
    return file_start_owned(f, op);
}

static PyObject *
File_open(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    /* _open(path_bytes_or_fd, own_fd=False) */
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "_open expects 1 or 2 arguments");
        return NULL;
    }
    PyObject *target = args[0];
    int own = nargs == 2 ? PyObject_IsTrue(args[1]) : 0;
    if (own < 0) {
        return NULL;
    }
    if (!PyLong_Check(target) && !PyBytes_Check(target)) {
        PyErr_SetString(PyExc_TypeError, "_open expects bytes or int");
        return NULL;
    }
    if (f->opened) {
        PyErr_SetString(PyExc_RuntimeError, "already open");
        return NULL;
    }
    int64_t fd = -1;
    if (PyLong_Check(target) && afc_int_arg(target, AFC_ARG_INT, &fd) < 0) {
        return NULL;
    }
    AsyncOp *op = op_new(f, K_OPEN);
    if (op == NULL) {
        return NULL;
    }
    Py_INCREF(target);
    op->arg = target;
    op->n = (Py_ssize_t)fd;
    op->whence = own;
    return file_start_owned(f, op);
}

/* ---- integers from Python ----
 *
 * Every int an io method or an os call takes goes through afc_int_arg, so
 * the range checks and the wording of the errors live in one place. Each
 * kind names the converter io/os applies to that argument; the messages
 * are theirs, because programs (and our differential tests) look at them.
 */

static int
ssize_from_index(PyObject *obj, int64_t *out)
{
    /* Python's own Py_ssize_t conversion: index, then range. */
    PyObject *i = PyNumber_Index(obj);
    if (i == NULL) {
        return -1;
    }
    Py_ssize_t v = PyLong_AsSsize_t(i);
    Py_DECREF(i);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = v;
    return 0;
}

/* os's uid_t/gid_t: -1 means "leave alone"; other negatives and anything
 * that does not survive the round trip through the 32-bit type are out of
 * range (the sign of the overflow picks the message, as os has it). */
static int
id_from_index(PyObject *obj, const char *what, int64_t *out)
{
    PyObject *i = PyNumber_Index(obj);
    if (i == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s should be integer, not %.200s",
                     what, _PyType_Name(Py_TYPE(obj)));
        return -1;
    }
    int overflow = 0;
    long v = PyLong_AsLongAndOverflow(i, &overflow);
    int too_big = 0, too_small = 0;
    if (v == -1 && PyErr_Occurred()) {
        Py_DECREF(i);
        return -1;
    }
    if (overflow < 0) {
        too_small = 1;
    }
    else if (overflow > 0) {
        unsigned long u = PyLong_AsUnsignedLong(i);
        if (u == (unsigned long)-1 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
                Py_DECREF(i);
                return -1;
            }
            PyErr_Clear();
        }
        too_big = 1;  /* above LONG_MAX: never a 32-bit id */
    }
    else if (v != -1 && (v < 0 || (long)(uint32_t)v != v)) {
        too_small = 1;  /* os reports a truncated value as below range */
    }
    Py_DECREF(i);
    if (too_big || too_small) {
        PyErr_Format(PyExc_OverflowError, "%s is %s", what,
                     too_big ? "greater than maximum" : "less than minimum");
        return -1;
    }
    *out = v == -1 ? -1 : (int64_t)(uint32_t)v;
    return 0;
}

int
afc_int_arg(PyObject *obj, int kind, int64_t *out)
{
    switch (kind) {
    case AFC_ARG_SSIZE:
        return ssize_from_index(obj, out);
    case AFC_ARG_SIZE: {
        if (obj == Py_None) {
            *out = -1;
            return 0;
        }
        if (!PyIndex_Check(obj)) {
            PyErr_Format(PyExc_TypeError,
                         "argument should be integer or None, not '%.200s'",
                         Py_TYPE(obj)->tp_name);
            return -1;
        }
        Py_ssize_t v = PyNumber_AsSsize_t(obj, PyExc_OverflowError);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        *out = v;
        return 0;
    }
    case AFC_ARG_OFFSET: {
        PyObject *i = PyNumber_Index(obj);
        if (i == NULL) {
            return -1;
        }
        long long v = PyLong_AsLongLong(i);
        Py_DECREF(i);
        if (v == -1 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
                return -1;
            }
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError,
                         "cannot fit '%.200s' into an offset-sized integer",
                         Py_TYPE(obj)->tp_name);
            return -1;
        }
        *out = v;
        return 0;
    }
    case AFC_ARG_LONG:
    case AFC_ARG_TIME: {
        long v = PyLong_AsLong(obj);
        if (v == -1 && PyErr_Occurred()) {
            if (kind == AFC_ARG_TIME &&
                PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyErr_SetString(PyExc_OverflowError,
                                "timestamp out of range for platform time_t");
            }
            return -1;
        }
        *out = v;
        return 0;
    }
    case AFC_ARG_INT: {
        long v = PyLong_AsLong(obj);
        if (v == -1 && PyErr_Occurred()) {
            if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyErr_SetString(PyExc_OverflowError,
                                "Python int too large to convert to C int");
            }
            return -1;
        }
        if (v < INT_MIN || v > INT_MAX) {
            PyErr_SetString(PyExc_OverflowError,
                            "Python int too large to convert to C int");
            return -1;
        }
        *out = v;
        return 0;
    }
    case AFC_ARG_FD: {
        PyObject *i = PyNumber_Index(obj);
        if (i == NULL) {
            return -1;
        }
        int overflow = 0;
        long v = PyLong_AsLongAndOverflow(i, &overflow);
        Py_DECREF(i);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (overflow != 0 || v < INT_MIN || v > INT_MAX) {
            PyErr_SetString(PyExc_OverflowError,
                            overflow > 0 || v > INT_MAX
                                ? "fd is greater than maximum"
                                : "fd is less than minimum");
            return -1;
        }
#if PY_VERSION_HEX >= 0x030C0000
        if (PyBool_Check(obj) &&
            PyErr_WarnEx(PyExc_RuntimeWarning,
                         "bool is used as a file descriptor", 1) < 0) {
            return -1;
        }
#endif
        *out = v;
        return 0;
    }
    case AFC_ARG_FILENO: {
        int fd = PyObject_AsFileDescriptor(obj);
        if (fd < 0) {
            return -1;
        }
        *out = fd;
        return 0;
    }
    case AFC_ARG_UID:
        return id_from_index(obj, "uid", out);
    case AFC_ARG_GID:
        return id_from_index(obj, "gid", out);
    }
    PyErr_SetString(PyExc_SystemError, "bad integer argument kind");
    return -1;
}

/* _cext.int_arg(kind, value): the os calls written in Python convert their
 * integers here, with the names below for the kinds. */
PyObject *
afc_int_arg_py(PyObject *Py_UNUSED(module), PyObject *const *args,
               Py_ssize_t nargs)
{
    static const char *const names[] = {
        [AFC_ARG_SSIZE] = "ssize", [AFC_ARG_SIZE] = "size",
        [AFC_ARG_OFFSET] = "offset", [AFC_ARG_LONG] = "long",
        [AFC_ARG_TIME] = "time", [AFC_ARG_INT] = "int",
        [AFC_ARG_FD] = "fd", [AFC_ARG_FILENO] = "fileno",
        [AFC_ARG_UID] = "uid", [AFC_ARG_GID] = "gid",
    };
    if (nargs != 2 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "int_arg(kind: str, value)");
        return NULL;
    }
    const char *kind = PyUnicode_AsUTF8(args[0]);
    if (kind == NULL) {
        return NULL;
    }
    for (int k = 0; k < (int)(sizeof(names) / sizeof(names[0])); k++) {
        if (strcmp(kind, names[k]) == 0) {
            int64_t v;
            if (afc_int_arg(args[1], k, &v) < 0) {
                return NULL;
            }
            return PyLong_FromLongLong(v);
        }
    }
    PyErr_Format(PyExc_ValueError, "unknown integer kind %R", args[0]);
    return NULL;
}

/* size argument as io takes it: int, None (or absent) meaning -1. */
static int
parse_size(PyObject *const *args, Py_ssize_t nargs, const char *fname,
           Py_ssize_t *out)
{
    *out = -1;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError,
                     "%s expected at most 1 argument, got %zd", fname, nargs);
        return -1;
    }
    if (nargs == 0) {
        return 0;
    }
    int64_t v;
    if (afc_int_arg(args[0], AFC_ARG_SIZE, &v) < 0) {
        return -1;
    }
    *out = (Py_ssize_t)v;
    return 0;
}

static PyObject *
sized_op(AsyncFile *f, int kind, PyObject *const *args, Py_ssize_t nargs,
         const char *fname)
{
    Py_ssize_t n = -1;
    if (!f->raw_mode && !f->readable && kind != K_READLINE) {
        /* A buffered writer's read methods are IOBase's: they refuse before
         * looking at the arguments. */
        if (afc_writer_read_args(fname, args, nargs) < 0) {
            return op_error(f);
        }
    }
    else if ((f->raw_mode && kind == K_READ &&
              afc_clinic_at_most_1(fname, nargs) < 0) ||
             parse_size(args, nargs, fname, &n) < 0) {
        return op_error(f);
    }
    if (kind == K_READ && !f->raw_mode && f->readable && n < -1) {
        PyErr_SetString(PyExc_ValueError,
                        "read length must be non-negative or -1");
        return op_error(f);
    }
    AsyncOp *op = op_new(f, kind);
    if (op == NULL) {
        return NULL;
    }
    op->n = n;
    return file_start_owned(f, op);
}

static PyObject *
File_read(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    return sized_op(f, K_READ, args, nargs, "read");
}

static PyObject *
File_read1(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t n = -1;
    if (!f->readable && afc_writer_read_args("read1", args, nargs) < 0) {
        return op_error(f);
    }
    if (f->readable && nargs == 1 &&
        afc_int_arg(args[0], AFC_ARG_SSIZE, &n) < 0) {
        return op_error(f);
    }
    else if (f->readable && nargs > 1) {
        PyErr_Format(PyExc_TypeError,
                     "read1 expected at most 1 argument, got %zd", nargs);
        return op_error(f);
    }
    AsyncOp *op = op_new(f, K_READ1);
    if (op == NULL) {
        return NULL;
    }
    op->n = n < 0 ? f->bufsize : (Py_ssize_t)n;
    return file_start_owned(f, op);
}

static PyObject *
File_peek(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t n = 0;
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError,
                     "peek expected at most 1 argument, got %zd", nargs);
        return op_error(f);
    }
    if (nargs == 1 && afc_int_arg(args[0], AFC_ARG_SSIZE, &n) < 0) {
        return op_error(f);
    }
    AsyncOp *op = op_new(f, K_PEEK);
    if (op == NULL) {
        return NULL;
    }
    op->n = (Py_ssize_t)n;
    return file_start_owned(f, op);
}

static PyObject *
File_readall(AsyncFile *f, PyObject *Py_UNUSED(ignored))
{
    return file_op(f, K_READALL);
}

static PyObject *
File_readline(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    return sized_op(f, K_READLINE, args, nargs, "readline");
}

static PyObject *
File_readlines(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t n;
    if (parse_size(args, nargs, "readlines", &n) < 0) {
        return op_error(f);
    }
    AsyncOp *op = op_new(f, K_READLINES);
    if (op == NULL) {
        return NULL;
    }
    op->n = n;
    op->acc = PyList_New(0);
    if (op->acc == NULL) {
        Py_DECREF(op);
        return NULL;
    }
    return file_start_owned(f, op);
}

static PyObject *
File_anext(AsyncFile *f)
{
    return file_op(f, K_ANEXT);
}

static PyObject *
File_aiter(AsyncFile *f)
{
    Py_INCREF(f);
    return (PyObject *)f;
}

static PyObject *
File_readinto(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    if (one_arg(f, "readinto", nargs) < 0) {
        return op_error(f);
    }
    PyObject *arg = args[0];
    AsyncOp *op = op_new(f, K_READINTO);
    if (op == NULL) {
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &op->view, PyBUF_WRITABLE) < 0) {
        Py_DECREF(op);
        if (PyErr_ExceptionMatches(PyExc_TypeError) ||
            PyErr_ExceptionMatches(PyExc_BufferError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError,
                         f->raw_mode ? AFC_RAW_READINTO_ARG_FMT
                                     : "readinto() argument must be "
                                       "read-write bytes-like object, not "
                                       "%.100s",
                         Py_TYPE(arg)->tp_name);
        }
        return op_error(f);
    }
    op->has_view = 1;
    return file_start_owned(f, op);
}

/* The io class this file stands for, for messages io words with it. */
static const char *
io_class_name(AsyncFile *f)
{
    if (f->raw_mode) {
        return "FileIO";
    }
    if (f->readable && f->writable) {
        return "BufferedRandom";
    }
    return f->readable ? "BufferedReader" : "BufferedWriter";
}

static int
one_arg(AsyncFile *f, const char *meth, Py_ssize_t nargs)
{
    if (nargs == 1) {
        return 0;
    }
    if (f->raw_mode && (!strcmp(meth, "write") || !strcmp(meth, "readinto")) &&
        afc_clinic_one_arg(meth, nargs) < 0) {
        return -1;
    }
    PyErr_Format(PyExc_TypeError,
                 "%s.%s() takes exactly one argument (%zd given)",
                 io_class_name(f), meth, nargs);
    return -1;
}

static PyObject *
File_write(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    if ((f->raw_mode || f->writable) && one_arg(f, "write", nargs) < 0) {
        return op_error(f);
    }
    if (!f->raw_mode && !f->writable && afc_clinic_one_arg("write", nargs) < 0) {
        return op_error(f);
    }
    PyObject *arg = nargs > 0 ? args[0] : Py_None;
    AsyncOp *op = op_new(f, K_WRITE);
    if (op == NULL) {
        return NULL;
    }
    /* io parses the argument first, except where write() is IOBase's
     * (a buffered reader), which refuses before looking at it. */
    if ((f->raw_mode || f->writable) && get_view(op, arg) < 0) {
        Py_DECREF(op);
        return op_error(f);
    }
    return file_start_owned(f, op);
}

static PyObject *
File_writelines(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    if (one_arg(f, "writelines", nargs) < 0) {
        return op_error(f);
    }
    PyObject *arg = args[0];
    AsyncOp *op = op_new(f, K_WRITELINES);
    if (op == NULL) {
        return NULL;
    }
    op->arg = PyObject_GetIter(arg);
    if (op->arg == NULL) {
        Py_DECREF(op);
        return op_error(f);
    }
    return file_start_owned(f, op);
}

static PyObject *
File_seek(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError,
                     nargs < 1 ? "seek expected at least 1 argument, got %zd"
                               : "seek expected at most 2 arguments, got %zd",
                     nargs);
        return op_error(f);
    }
    /* io.FileIO takes the offset as an off_t; the buffered classes
     * refuse a too big one with ValueError. */
    int64_t off, whence = 0;
    if (afc_int_arg(args[0], f->raw_mode ? AFC_ARG_LONG : AFC_ARG_OFFSET,
                    &off) < 0) {
        return op_error(f);
    }
    if (nargs == 2 && afc_int_arg(args[1], AFC_ARG_INT, &whence) < 0) {
        return op_error(f);
    }
    AsyncOp *op = op_new(f, K_SEEK);
    if (op == NULL) {
        return NULL;
    }
    op->off = off;
    op->whence = (int)whence;
    return file_start_owned(f, op);
}

static PyObject *
File_truncate(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    if (afc_clinic_at_most_1("truncate", nargs) < 0) {
        return op_error(f);
    }
    int64_t size = 0;
    int has = nargs == 1 && args[0] != Py_None;
    if (has && (!f->writable || (f->raw_mode && f->closed))) {
        has = 0;  /* io.FileIO checks the mode before the argument */
    }
    if (has && afc_int_arg(args[0], AFC_ARG_LONG, &size) < 0) {
        return op_error(f);
    }
    AsyncOp *op = op_new(f, K_TRUNCATE);
    if (op == NULL) {
        return NULL;
    }
    op->off = size;
    op->whence = has;
    if (has) {
        /* io returns the size argument itself, as given. */
        Py_INCREF(args[0]);
        op->arg = args[0];
    }
    return file_start_owned(f, op);
}

#define SIMPLE_OP(NAME, KIND)                                               \
    static PyObject *NAME(AsyncFile *f, PyObject *Py_UNUSED(ignored))       \
    {                                                                       \
        return file_op(f, KIND);                                            \
    }

SIMPLE_OP(File_tell, K_TELL)
SIMPLE_OP(File_flush, K_FLUSH)
SIMPLE_OP(File_close, K_CLOSE)
SIMPLE_OP(File_isatty, K_ISATTY)
SIMPLE_OP(File_seekable, K_SEEKABLE)
SIMPLE_OP(File_writable, K_WRITABLE)

static int
check_attached(AsyncFile *f)
{
    if (f->detached) {
        PyErr_SetString(PyExc_ValueError, "raw stream has been detached");
        return -1;
    }
    return 0;
}

static int
check_usable(AsyncFile *f)
{
    if (check_attached(f) < 0) {
        return -1;
    }
    if (f->closed) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed file");
        return -1;
    }
    return 0;
}

static PyObject *
File_fileno(AsyncFile *f, PyObject *Py_UNUSED(ignored))
{
    if (check_usable(f) < 0) {
        return NULL;
    }
    return PyLong_FromLong(f->fd);
}

static PyObject *
File_readable(AsyncFile *f, PyObject *Py_UNUSED(ignored))
{
    if (!f->raw_mode && !f->readable) {
        Py_RETURN_FALSE;
    }
    if (check_usable(f) < 0) {
        return NULL;
    }
    return PyBool_FromLong(f->readable);
}

static PyObject *
raw_mode_string(AsyncFile *f)
{
    return f->mode;
}

/* Blocking flush of pending writes: used only by detach() and the
 * finaliser, which are synchronous in io as well. */
static int
file_sync_flush(AsyncFile *f)
{
    Py_ssize_t done = 0;
    while (done < f->wlen) {
        ssize_t r;
        Py_BEGIN_ALLOW_THREADS
        if (f->appending || !f->seekable) {
            r = write(f->fd, f->buf + done, (size_t)(f->wlen - done));
        }
        else {
            r = pwrite(f->fd, f->buf + done, (size_t)(f->wlen - done),
                       (off_t)(f->wstart + done));
        }
        Py_END_ALLOW_THREADS
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        done += r;
    }
    f->wlen = 0;
    f->wskip = 0;
    return 0;
}

static PyObject *
File_detach(AsyncFile *f, PyObject *Py_UNUSED(ignored))
{
    if (f->detached) {
        PyErr_SetString(PyExc_ValueError, "raw stream has been detached");
        return NULL;
    }
    if (f->closed) {
        PyErr_SetString(PyExc_ValueError,
                        f->writable ? "flush of closed file"
                                    : "I/O operation on closed file.");
        return NULL;
    }
    if (f->qhead != NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "detach() while operations are in progress");
        return NULL;
    }
    if (file_sync_flush(f) < 0) {
        return NULL;
    }
    if (f->seekable && !f->appending) {
        (void)lseek(f->fd, (off_t)f->pos, SEEK_SET);
    }
    PyObject *raw = PyObject_CallFunction(f->st->io_FileIO, "iOO", f->fd,
                                          raw_mode_string(f),
                                          f->closefd ? Py_True : Py_False);
    if (raw == NULL) {
        return NULL;
    }
    if (PyObject_SetAttrString(raw, "name", f->name) < 0) {
        Py_DECREF(raw);
        return NULL;
    }
    f->detached = 1;
    file_free_buf(f);
    return raw;
}

static PyObject *
File_get_name(AsyncFile *f, void *Py_UNUSED(closure))
{
    if (check_attached(f) < 0) {
        return NULL;
    }
    Py_INCREF(f->name);
    return f->name;
}

static PyObject *
File_get_mode(AsyncFile *f, void *Py_UNUSED(closure))
{
    if (check_attached(f) < 0) {
        return NULL;
    }
    Py_INCREF(f->mode);
    return f->mode;
}

static PyObject *
File_get_closed(AsyncFile *f, void *Py_UNUSED(closure))
{
    if (check_attached(f) < 0) {
        return NULL;
    }
    return PyBool_FromLong(f->closed);
}

static PyObject *
File_get_raw(AsyncFile *f, void *Py_UNUSED(closure))
{
    if (f->detached) {
        Py_RETURN_NONE;
    }
    if (f->raw == NULL) {
        if (f->closed) {
            PyErr_SetString(PyExc_ValueError, "I/O operation on closed file");
            return NULL;
        }
        PyObject *raw = PyObject_CallFunction(f->st->io_FileIO, "iOO", f->fd,
                                              f->mode, Py_False);
        if (raw == NULL) {
            return NULL;
        }
        if (PyObject_SetAttrString(raw, "name", f->name) < 0) {
            Py_DECREF(raw);
            return NULL;
        }
        f->raw = raw;
    }
    Py_INCREF(f->raw);
    return f->raw;
}

static PyObject *
File_repr(AsyncFile *f)
{
    const char *tn = _PyType_Name(Py_TYPE(f));
    if (f->detached) {
        return PyUnicode_FromFormat("<aiofiles_c.%s detached>", tn);
    }
    return PyUnicode_FromFormat("<aiofiles_c.%s name=%R mode=%R>", tn,
                                f->name, f->mode);
}

static void
File_finalize(AsyncFile *f)
{
    if (!f->opened || f->closed || f->detached || f->fd < 0) {
        return;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (f->closefd &&
        PyErr_ResourceWarning((PyObject *)f, 1, "unclosed file %R", f) < 0) {
        PyErr_WriteUnraisable((PyObject *)f);
    }
    if (file_sync_flush(f) < 0) {
        PyErr_WriteUnraisable((PyObject *)f);
    }
    if (f->closefd) {
        close(f->fd);
    }
    f->closed = 1;
    file_free_buf(f);
    PyErr_Restore(type, value, tb);
}

static int
File_traverse(AsyncFile *f, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(f));
    Py_VISIT(f->name);
    Py_VISIT(f->mode);
    Py_VISIT(f->raw);
    Py_VISIT(f->cq);
    for (AsyncOp *op = f->qhead; op != NULL; op = op->next) {
        Py_VISIT(op);
    }
    return 0;
}

static int
File_clear(AsyncFile *f)
{
    Py_CLEAR(f->raw);
    Py_CLEAR(f->cq);
    while (f->qhead != NULL) {
        AsyncOp *op = f->qhead;
        if (op->in_pool) {
            break;  /* a worker still owns it: keep the FIFO */
        }
        f->qhead = op->next;
        op->next = NULL;
        Py_DECREF(op);
    }
    if (f->qhead == NULL) {
        f->qtail = NULL;
    }
    return 0;
}

static void
File_dealloc(AsyncFile *f)
{
    PyTypeObject *tp = Py_TYPE(f);
    if (PyObject_CallFinalizerFromDealloc((PyObject *)f) < 0) {
        return;
    }
    PyObject_GC_UnTrack(f);
    if (f->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)f);
    }
    File_clear(f);
    Py_CLEAR(f->name);
    Py_CLEAR(f->mode);
    PyMem_RawFree(f->buf);
    tp->tp_free((PyObject *)f);
    Py_DECREF(tp);
}

#define M_FAST(name, fn, doc) \
    {name, (PyCFunction)(void (*)(void))fn, METH_FASTCALL, doc}
#define M_NOARGS(name, fn, doc) {name, (PyCFunction)fn, METH_NOARGS, doc}
#define M_O(name, fn, doc) {name, (PyCFunction)fn, METH_O, doc}

#define COMMON_METHODS                                                       \
    M_FAST("read", File_read, "Read up to n bytes (all when n < 0)."),      \
        M_FAST("readinto", File_readinto, "Read into a writable buffer."),  \
        M_FAST("readline", File_readline, "Read one line."),                \
        M_FAST("readlines", File_readlines, "Read a list of lines."),       \
        M_FAST("write", File_write, "Write a bytes-like object."),          \
        M_FAST("writelines", File_writelines, "Write an iterable of bytes."), \
        M_FAST("seek", File_seek, "Change the position."),                  \
        M_NOARGS("tell", File_tell, "The current position."),               \
        M_FAST("truncate", File_truncate, "Resize the file."),              \
        M_NOARGS("flush", File_flush, "Write out buffered data."),          \
        M_NOARGS("close", File_close, "Flush and close."),                  \
        M_NOARGS("isatty", File_isatty, "Whether the file is a tty."),      \
        M_NOARGS("seekable", File_seekable, "Whether seek() works."),       \
        M_NOARGS("writable", File_writable, "Whether write() works."),      \
        M_NOARGS("fileno", File_fileno, "The file descriptor."),            \
        M_NOARGS("readable", File_readable, "Whether read() works."),       \
        M_FAST("_open", File_open, NULL), AFC_POSIO_METHODS

static PyMethodDef FileIO_methods[] = {
    COMMON_METHODS,
    M_NOARGS("readall", File_readall, "Read until EOF."),
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Buffered_methods[] = {
    COMMON_METHODS,
    M_FAST("read1", File_read1, "Read with at most one raw read."),
    M_NOARGS("detach", File_detach, "Flush and return the raw file."),
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Reader_methods[] = {
    M_FAST("peek", File_peek, "Return buffered bytes without moving."),
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef FileIO_getset[] = {
    {"name", (getter)File_get_name, NULL, NULL, NULL},
    {"mode", (getter)File_get_mode, NULL, NULL, NULL},
    {"closed", (getter)File_get_closed, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyGetSetDef Buffered_getset[] = {
    {"name", (getter)File_get_name, NULL, NULL, NULL},
    {"mode", (getter)File_get_mode, NULL, NULL, NULL},
    {"closed", (getter)File_get_closed, NULL, NULL, NULL},
    {"raw", (getter)File_get_raw, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef File_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(AsyncFile, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

#define FILE_SLOTS                                                          \
    {Py_tp_new, File_new}, {Py_tp_dealloc, File_dealloc},                  \
        {Py_tp_traverse, File_traverse}, {Py_tp_clear, File_clear},        \
        {Py_tp_finalize, File_finalize}, {Py_tp_repr, File_repr},          \
        {Py_am_aiter, File_aiter}, {Py_am_anext, File_anext},              \
        {Py_tp_members, File_members}

static PyType_Slot FileIO_slots[] = {
    FILE_SLOTS,
    {Py_tp_methods, FileIO_methods},
    {Py_tp_getset, FileIO_getset},
    {Py_tp_doc, "Async raw file, like io.FileIO."},
    {0, NULL},
};

static PyType_Slot Buffered_slots[] = {
    FILE_SLOTS,
    {Py_tp_methods, Buffered_methods},
    {Py_tp_getset, Buffered_getset},
    {Py_tp_doc, "Async buffered file, like io.BufferedWriter."},
    {0, NULL},
};

static PyType_Slot Reader_slots[] = {
    FILE_SLOTS,
    {Py_tp_methods, Reader_methods},
    {Py_tp_doc, "Async buffered reader, like io.BufferedReader/Random."},
    {0, NULL},
};

#define FILE_FLAGS                                                      \
    (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE)

PyType_Spec afc_fileio_spec = {
    .name = "aiofiles_c._cext.AsyncFileIO",
    .basicsize = sizeof(AsyncFile),
    .flags = FILE_FLAGS,
    .slots = FileIO_slots,
};

PyType_Spec afc_buffered_spec = {
    .name = "aiofiles_c._cext.AsyncBufferedIOBase",
    .basicsize = sizeof(AsyncFile),
    .flags = FILE_FLAGS,
    .slots = Buffered_slots,
};

PyType_Spec afc_reader_spec = {
    .name = "aiofiles_c._cext.AsyncBufferedReader",
    .basicsize = sizeof(AsyncFile),
    .flags = FILE_FLAGS,
    .slots = Reader_slots,
};

/* ---- file-system calls: aiofiles_c.os ---- */

static PyObject *
fs_name(const char *s, Py_ssize_t n, int as_str)
{
    return as_str ? PyUnicode_DecodeFSDefaultAndSize(s, n)
                  : PyBytes_FromStringAndSize(s, n);
}

/* Store sec (int), the float seconds and the nanoseconds as os.stat does. */
static int
set_time(PyObject *v, int index, long long sec, long nsec)
{
    PyObject *s = PyLong_FromLongLong(sec);
    PyObject *fl = PyFloat_FromDouble((double)sec + (double)nsec * 1e-9);
    PyObject *billion = PyLong_FromLong(1000000000L);
    PyObject *prod = s && billion ? PyNumber_Multiply(s, billion) : NULL;
    PyObject *frac = PyLong_FromLong(nsec);
    PyObject *ns = prod && frac ? PyNumber_Add(prod, frac) : NULL;
    Py_XDECREF(billion);
    Py_XDECREF(prod);
    Py_XDECREF(frac);
    if (s == NULL || fl == NULL || ns == NULL) {
        Py_XDECREF(s);
        Py_XDECREF(fl);
        Py_XDECREF(ns);
        return -1;
    }
    PyStructSequence_SetItem(v, index, s);
    PyStructSequence_SetItem(v, index + 3, fl);
    PyStructSequence_SetItem(v, index + 6, ns);
    return 0;
}

/* Set v[start:start+n] to items (new references, any may be NULL): all
 * are consumed; -1 if one was NULL (an error is set). */
static int
set_items(PyObject *v, int start, PyObject **items, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (items[i] == NULL || rc < 0) {
            Py_XDECREF(items[i]);
            rc = -1;
            continue;
        }
        PyStructSequence_SetItem(v, start + i, items[i]);
    }
    return rc;
}

static PyObject *
make_stat_result(afc_state *st, const struct stat *s)
{
    PyObject *v = PyStructSequence_New((PyTypeObject *)st->stat_result);
    if (v == NULL) {
        return NULL;
    }
    PyObject *items[] = {
        PyLong_FromLong((long)s->st_mode),
        PyLong_FromUnsignedLongLong((unsigned long long)s->st_ino),
        PyLong_FromUnsignedLongLong((unsigned long long)s->st_dev),
        PyLong_FromLong((long)s->st_nlink),
        PyLong_FromUnsignedLong((unsigned long)s->st_uid),
        PyLong_FromUnsignedLong((unsigned long)s->st_gid),
        PyLong_FromLongLong((long long)s->st_size),
    };
    if (set_items(v, 0, items, 7) < 0) {
        Py_DECREF(v);
        return NULL;
    }
    if (set_time(v, 7, (long long)s->st_atim.tv_sec, s->st_atim.tv_nsec) ||
        set_time(v, 8, (long long)s->st_mtim.tv_sec, s->st_mtim.tv_nsec) ||
        set_time(v, 9, (long long)s->st_ctim.tv_sec, s->st_ctim.tv_nsec)) {
        Py_DECREF(v);
        return NULL;
    }
    PyObject *tail[] = {
        PyLong_FromLong((long)s->st_blksize),
        PyLong_FromLongLong((long long)s->st_blocks),
        PyLong_FromUnsignedLongLong((unsigned long long)s->st_rdev),
    };
    if (set_items(v, 16, tail, 3) < 0) {
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

static PyObject *
make_statvfs_result(afc_state *st, const struct statvfs *s)
{
    PyObject *v = PyStructSequence_New((PyTypeObject *)st->statvfs_result);
    if (v == NULL) {
        return NULL;
    }
    unsigned long long vals[] = {
        s->f_bsize, s->f_frsize, s->f_blocks, s->f_bfree, s->f_bavail,
        s->f_files, s->f_ffree,  s->f_favail, s->f_flag,  s->f_namemax,
        s->f_fsid,
    };
    for (int i = 0; i < 11; i++) {
        PyObject *x = PyLong_FromUnsignedLongLong(vals[i]);
        if (x == NULL) {
            Py_DECREF(v);
            return NULL;
        }
        PyStructSequence_SetItem(v, i, x);
    }
    return v;
}

static PyObject *
fs_list(afc_job *j, int as_str)
{
    PyObject *lst = PyList_New(0);
    size_t i = 0;
    while (lst != NULL && i + 3 <= j->outlen) {
        size_t n = (unsigned char)j->out[i + 1] |
                   ((size_t)(unsigned char)j->out[i + 2] << 8);
        PyObject *nm = fs_name(j->out + i + 3, (Py_ssize_t)n, as_str);
        if (nm == NULL || PyList_Append(lst, nm) < 0) {
            Py_XDECREF(nm);
            Py_CLEAR(lst);
            break;
        }
        Py_DECREF(nm);
        i += 3 + n;
    }
    return lst;
}

#define AFC_DIR_CAPSULE "aiofiles_c.DIR"
/* The capsule's context: NULL while the stream is open and idle, CLOSED once
 * the worker closed it, BUSY while a job reads it (a second job on the same
 * DIR* would race with the first, which may close it). */
#define AFC_DIR_CLOSED ((void *)1)
#define AFC_DIR_BUSY ((void *)2)

/* The capsule owns the directory stream until the worker closes it at the
 * end of the directory (its context then says "closed"). A busy capsule is
 * never freed: the job's arguments hold it until the job has settled. */
static void
dir_capsule_free(PyObject *cap)
{
    DIR *d = PyCapsule_GetPointer(cap, AFC_DIR_CAPSULE);
    if (d != NULL && PyCapsule_GetContext(cap) == NULL) {
        closedir(d);
    }
}

/* After a scandir batch that gives no result (an error, or nobody left to
 * take it): the stream is the capsule's, or closed here if it has none. */
static void
scandir_settle(AsyncOp *op, afc_job *j)
{
    PyObject *handle = PyTuple_GET_ITEM(op->arg, 4);
    if (j->dir == NULL) {
        if (handle != Py_None) {
            PyCapsule_SetContext(handle, AFC_DIR_CLOSED);  /* worker did */
        }
    }
    else if (handle == Py_None) {
        closedir((DIR *)j->dir);
    }
    else {
        PyCapsule_SetContext(handle, NULL);  /* idle again */
    }
    j->dir = NULL;
}

static PyObject *
scandir_result(AsyncOp *op, afc_job *j)
{
    PyObject *handle = PyTuple_GET_ITEM(op->arg, 4);
    PyObject *blob = NULL, *r = NULL;
    if (j->dir == NULL) {
        if (handle != Py_None) {
            /* the worker closed the stream */
            PyCapsule_SetContext(handle, AFC_DIR_CLOSED);
        }
        handle = Py_None;
        Py_INCREF(handle);
    }
    else if (handle != Py_None) {
        PyCapsule_SetContext(handle, NULL);  /* idle again */
        Py_INCREF(handle);
    }
    else {
        handle = PyCapsule_New(j->dir, AFC_DIR_CAPSULE, dir_capsule_free);
        if (handle == NULL) {
            closedir((DIR *)j->dir);
            return NULL;
        }
    }
    blob = PyBytes_FromStringAndSize(j->out, (Py_ssize_t)j->outlen);
    if (blob != NULL) {
        r = Py_BuildValue("(OOO)", blob, handle,
                          j->dir == NULL ? Py_True : Py_False);
    }
    Py_XDECREF(blob);
    Py_DECREF(handle);
    return r;
}

/* An AFC_FS_OPENAT job's descriptor that no caller will own (the awaiter
 * is gone, or its loop is): close it here. A directory's close does not
 * block. res goes back to -1, so this runs at most once. */
static void
fs_drop_fd(AsyncOp *op)
{
    afc_job *j = &op->job;
    if (j->fsop == AFC_FS_OPENAT && j->err == 0 && j->res >= 0) {
        close((int)j->res);
        j->res = -1;
    }
}

/* A file-system job came back: build what os would return. */
static void
fs_done(AsyncOp *op)
{
    afc_job *j = &op->job;
    afc_state *st = op->st;
    PyObject *fn1 = PyTuple_GET_ITEM(op->arg, 2);
    PyObject *fn2 = PyTuple_GET_ITEM(op->arg, 3);
    int as_str = (int)op->n;
    PyObject *r = NULL;
    if (j->fsop == AFC_FS_ACCESS) {
        r = PyBool_FromLong(j->err == 0);
    }
    else if (j->err != 0) {
        if (j->fsop == AFC_FS_SCANDIR) {
            scandir_settle(op, j);
        }
        if ((j->fsop == AFC_FS_LISTDIR || j->fsop == AFC_FS_SCANDIR) &&
            j->res == 1) {
            fn1 = Py_None;
        }
        if (j->fsop == AFC_FS_COPYFILE) {
            /* The error is about one of the two files. */
            fn1 = j->err_which ? fn2 : fn1;
            fn2 = Py_None;
        }
        errno = j->err;
        PyErr_SetFromErrnoWithFilenameObjects(
            PyExc_OSError, fn1 == Py_None ? NULL : fn1,
            fn2 == Py_None ? NULL : fn2);
    }
    else {
        switch (j->fsop) {
        case AFC_FS_STAT:
            r = make_stat_result(st, &j->st);
            break;
        case AFC_FS_STATVFS:
            r = make_statvfs_result(st, &j->vfs);
            break;
        case AFC_FS_READLINK:
        case AFC_FS_GETCWD:
        case AFC_FS_REALPATH:
            r = fs_name(j->out, (Py_ssize_t)j->outlen, as_str);
            break;
        case AFC_FS_LISTDIR:
            r = fs_list(j, as_str);
            break;
        case AFC_FS_SCANDIR:
            /* (records, handle, at_end): one bytes object per batch, made
             * into entries as they are iterated; the handle keeps the
             * directory stream open for the next batch. */
            r = scandir_result(op, j);
            break;
        case AFC_FS_SENDFILE:
        case AFC_FS_COPYFILE:
            r = PyLong_FromLongLong(j->res);
            break;
        case AFC_FS_OPENAT:
            if (op->abandoned) {
                fs_drop_fd(op);
                Py_INCREF(Py_None);
                r = Py_None;
                break;
            }
            /* (fd, fstat of it) */
            r = make_stat_result(st, &j->st);
            if (r != NULL) {
                r = Py_BuildValue("(LN)", (long long)j->res, r);
            }
            if (r == NULL) {
                fs_drop_fd(op);
            }
            break;
        default:
            Py_INCREF(Py_None);
            r = Py_None;
        }
    }
    free(j->out);
    j->out = NULL;
    op_finish(op, r);
}

/* _cext.fs(op, path, path2, fd, fd2, dir_fd, dir_fd2, flags, mode, off,
 *          length, filename, filename2, as_str): start a file-system call
 * in the pool; the awaitable gives what the os function returns. Paths are
 * bytes (or None); filename/filename2 name them in an OSError. COPYFILE
 * with an fd takes it: once an awaitable is returned, the fd is closed by
 * the job (or here, when it could not be submitted). */
PyObject *
afc_fs_call(PyObject *module, PyObject *args)
{
    afc_state *st = afc_get_state(module);
    int fsop, fd, fd2, dir_fd, dir_fd2, flags, mode, as_str;
    long long off;
    Py_ssize_t length;
    PyObject *path, *path2, *fn1, *fn2;
    long long times[4] = {0, -1, 0, -1};
    PyObject *handle = Py_None;
    if (!PyArg_ParseTuple(args, "iOOiiiiiiLnOOp|(LLLL)O:fs", &fsop, &path,
                          &path2, &fd, &fd2, &dir_fd, &dir_fd2, &flags, &mode,
                          &off, &length, &fn1, &fn2, &as_str, &times[0],
                          &times[1], &times[2], &times[3], &handle)) {
        return NULL;
    }
    void *dir = NULL;
    if (handle != Py_None) {
        dir = PyCapsule_GetPointer(handle, AFC_DIR_CAPSULE);
        if (dir == NULL) {
            return NULL;
        }
        void *ctx = PyCapsule_GetContext(handle);
        if (ctx == AFC_DIR_BUSY) {
            PyErr_SetString(PyExc_RuntimeError,
                            "scandir: another fetch from this directory "
                            "stream is in flight");
            return NULL;
        }
        if (ctx != NULL) {
            PyErr_SetString(PyExc_ValueError, "directory stream is closed");
            return NULL;
        }
    }
    if (fsop < 0 || fsop >= AFC_FS_COUNT) {
        PyErr_Format(PyExc_ValueError, "invalid file-system operation %d",
                     fsop);
        return NULL;
    }
    if ((path != Py_None && !PyBytes_Check(path)) ||
        (path2 != Py_None && !PyBytes_Check(path2))) {
        PyErr_SetString(PyExc_TypeError, "fs paths must be bytes or None");
        return NULL;
    }
    /* A worker sees a C string: a NUL inside would cut the path short and
     * name another file. os refuses such a path with these words. */
    PyObject *paths[2] = {path, path2};
    for (int i = 0; i < 2; i++) {
        if (paths[i] != Py_None &&
            strlen(PyBytes_AS_STRING(paths[i])) !=
                (size_t)PyBytes_GET_SIZE(paths[i])) {
            PyErr_SetString(PyExc_ValueError, "embedded null byte");
            return NULL;
        }
    }
    AsyncOp *op = PyObject_GC_New(AsyncOp, st->Op_type);
    if (op == NULL) {
        return NULL;
    }
    memset((char *)op + sizeof(PyObject), 0,
           sizeof(AsyncOp) - sizeof(PyObject));
    op->st = st;
    op->kind = K_FS;
    op->state = S_RUNNING;
    op->thread = PyThread_get_thread_ident();
    op->n = as_str;
    /* The tuple keeps alive what the worker uses: the paths, the stream. */
    op->arg = PyTuple_Pack(5, path, path2, fn1, fn2, handle);
    PyObject_GC_Track(op);
    if (op->arg == NULL) {
        Py_DECREF(op);
        return NULL;
    }
    afc_job *j = &op->job;
    j->kind = AFC_JOB_FS;
    j->fsop = fsop;
    j->path = path == Py_None ? NULL : PyBytes_AS_STRING(path);
    j->path2 = path2 == Py_None ? NULL : PyBytes_AS_STRING(path2);
    j->fd = fd;
    j->fd2 = fd2;
    j->dir_fd = dir_fd;
    j->dir_fd2 = dir_fd2;
    j->flags = flags;
    j->mode = mode;
    j->off = off;
    j->len = (size_t)length;
    j->woff = -1;
    for (int i = 0; i < 4; i++) {
        j->times[i] = times[i];
    }
    j->dir = dir;
    j->res = -1;  /* OPENAT: no descriptor yet (see fs_drop_fd) */
    if (dir != NULL) {
        PyCapsule_SetContext(handle, AFC_DIR_BUSY);
    }
    op_submit(op, P_NONE);
    if (dir != NULL && !op->in_pool) {
        PyCapsule_SetContext(handle, NULL);  /* not submitted: still idle */
    }
    if (fsop == AFC_FS_COPYFILE && fd >= 0 && !op->in_pool) {
        close(fd);  /* the job would have: the op is returned, failed */
    }
    return (PyObject *)op;
}

/* ---- positional calls: the file side of posio.c ----
 *
 * A positional call is an op that is not in the file's FIFO: it runs at
 * once, inline or in the pool on its own duplicate of the descriptor (so a
 * close() queued after it cannot pull the descriptor from under the
 * worker), and many can be in flight on one file. It waits in the FIFO only
 * when the file has writes that must land first: buffered bytes, or queued
 * calls that write, resize, flush, close, or are positional calls waiting
 * themselves. It then runs at the head with the buffered bytes as its job's
 * flush prefix, so it sees the file as os.pread would after those writes.
 */

static int
pos_must_queue(AsyncFile *f)
{
    if (f->wlen > 0) {
        return 1;
    }
    for (AsyncOp *p = f->qhead; p != NULL; p = p->next) {
        switch (p->kind) {
        case K_OPEN:
        case K_WRITE:
        case K_WRITELINES:
        case K_TRUNCATE:
        case K_FLUSH:
        case K_CLOSE:
        case K_POS:
            return 1;
        }
    }
    return 0;
}

static void
pos_close_dup(afc_job *j)
{
    if (j->own_fd && j->fd >= 0) {
        close(j->fd);
    }
    j->own_fd = 0;
    j->fd = -1;
}

static int
pos_finish(AsyncOp *op)
{
    AsyncFile *f = op->file;
    PyObject *r = afc_posio_result(&op->job, op->arg);
    if (r != NULL && op->job.flags && f->wlen == 0 &&
        (f->qhead == NULL || f->qhead == op)) {
        /* Written behind the read-ahead's back: let the next buffered
         * read see it. */
        file_drop_readahead(f);
    }
    return op_finish(op, r);
}

/* The inline read budget is spent (posio.c): let the loop run once, then
 * read here. op->whence marks a positional op that has yielded. */
static int
pos_yield(AsyncOp *op)
{
    PyObject *loop = PyObject_CallNoArgs(op->st->get_running_loop);
    PyObject *cb = loop != NULL && loop != Py_None
                       ? PyObject_GetAttrString((PyObject *)op, "_resume")
                       : NULL;
    PyObject *h = cb != NULL ? PyObject_CallMethodOneArg(
                                   loop, op->st->str_call_soon, cb)
                             : NULL;
    Py_XDECREF(cb);
    Py_XDECREF(loop);
    if (h == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(h);
    op->whence = 1;
    op->phase = P_YIELD;
    return 1;
}

/* Start the work: inline when it can all be done here, else one pool job
 * (queued: at the FIFO head, with the pending writes in front). */
static int
pos_begin(AsyncOp *op, int queued)
{
    AsyncFile *f = op->file;
    afc_job *j = &op->job;
    job_init(op, AFC_JOB_POSIO);
    afc_posio_prepare(j, op->arg);
    if (f->wlen == 0) {
        int nowait = f->nowait && !j->flags;
        if (nowait && !afc_posio_budget((PyObject *)f)) {
            nowait = 0;
            if (!queued && !op->whence && pos_yield(op)) {
                return RUN_WAIT;
            }
        }
        int r = afc_posio_inline(j, op->arg, f->fd, nowait);
        if (r < 0) {
            f->nowait = 0;  /* the file system has no RWF_NOWAIT */
        }
        else if (r == 1) {
            return pos_finish(op);
        }
    }
    int fd = afc_posio_dup(f->fd);
    if (fd < 0) {
        return op_fail_errno(op, errno, NULL);
    }
    j->fd = fd;
    j->own_fd = 1;
    if (queued) {
        job_add_flush(op);
    }
    int r = op_submit(op, queued ? P_FLUSH : P_DIRECT);
    if (!op->in_pool) {
        pos_close_dup(j);  /* refused: no worker has it */
    }
    return r;
}

static int
pos_run_queued(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->phase != P_FLUSH) {
        if (f->qhead == op) {
            return pos_begin(op, 1);
        }
        /* Back from a yield. */
        if (pos_must_queue(f)) {
            op->state = S_QUEUED;
            Py_XDECREF(file_start(f, op));
            return RUN_WAIT;
        }
        return pos_begin(op, 0);
    }
    pos_close_dup(&op->job);
    if (fold_flush(op) < 0) {
        return op_finish(op, NULL);
    }
    return pos_finish(op);
}

static void
pos_done(AsyncOp *op)
{
    pos_close_dup(&op->job);
    pos_finish(op);
}

int
afc_pos_refused(PyObject *obj, int writing)
{
    AsyncFile *f = (AsyncFile *)obj;
    if (f->closed || f->detached || !f->opened) {
        PyErr_SetString(PyExc_ValueError,
                        f->detached ? "raw stream has been detached"
                                    : "I/O operation on closed file.");
        return -1;
    }
    if (writing ? !f->writable : !f->readable) {
        PyErr_SetString(f->st->UnsupportedOperation,
                        writing ? "File not open for writing"
                                : "File not open for reading");
        return -1;
    }
    return 0;
}

PyObject *
afc_pos_op(PyObject *obj, PyObject *ctx)
{
    AsyncFile *f = (AsyncFile *)obj;
    AsyncOp *op = op_new(f, K_POS);
    if (op == NULL) {
        Py_XDECREF(ctx);
        return NULL;
    }
    op->arg = ctx;
    op->state = S_RUNNING;
    return (PyObject *)op;
}

PyObject *
afc_pos_fail(PyObject *obj)
{
    op_finish((AsyncOp *)obj, NULL);
    return obj;
}

PyObject *
afc_pos_go(PyObject *obj)
{
    AsyncOp *op = (AsyncOp *)obj;
    AsyncFile *f = op->file;
    if (pos_must_queue(f)) {
        op->state = S_QUEUED;
        return file_start_owned(f, op);
    }
    Py_INCREF(f);
    pos_begin(op, 0);
    Py_DECREF(f);
    return obj;
}

int
afc_pos_inline_fd(PyObject *obj, int nowait_off)
{
    AsyncFile *f = (AsyncFile *)obj;
    if (nowait_off) {
        f->nowait = 0;
        return -1;
    }
    if (!f->nowait || !f->readable || f->closed || f->detached ||
        !f->opened || pos_must_queue(f)) {
        return -1;
    }
    return f->fd;
}
