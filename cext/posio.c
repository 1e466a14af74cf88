/* Positional I/O on the binary files: read_at, readinto_at, write_at,
 * read_many, write_many.
 *
 * The semantics are pread(2)/pwrite(2)'s, as os.pread/os.pwrite give them:
 * the file position is not used or moved, a read stops short only at EOF,
 * a write writes everything or fails. A call carries a batch of segments
 * (offset, memory, length); the file side (file.c) decides where the batch
 * runs: here on the loop thread when the pages are cached (reads, with
 * preadv2(RWF_NOWAIT)), else in one pool job on a duplicate descriptor.
 *
 * The batch lives in a capsule that the op keeps alive: the memory a
 * worker writes (new bytes objects, or pinned caller buffers) and the
 * memory it reads (pinned buffers) are released only after the job is
 * back on the loop thread.
 */
#include "op.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define AFC_POS_INLINE_MAX (1024 * 1024)  /* bytes read inline per call */
#define AFC_POS_CAPSULE "aiofiles_c.posio"

enum pos_shape {
    SHAPE_BYTES,       /* read_at: one bytes object */
    SHAPE_BYTES_LIST,  /* read_many: a list of them */
    SHAPE_INT,         /* readinto_at, write_at: a count */
    SHAPE_INT_LIST,    /* write_many: a list of counts */
};

typedef struct {
    Py_ssize_t n;
    int writing;
    int shape;
    Py_ssize_t nviews;
    Py_buffer *views;  /* pinned caller buffers (n of them, or none) */
    PyObject **objs;   /* owned new bytes that workers fill (or none) */
    afc_seg segs[];
} afc_batch;

/* ---- the batch (loop thread) ---- */

static void
batch_free(PyObject *cap)
{
    afc_batch *b = PyCapsule_GetPointer(cap, AFC_POS_CAPSULE);
    if (b == NULL) {
        PyErr_Clear();
        return;
    }
    for (Py_ssize_t i = 0; i < b->nviews; i++) {
        PyBuffer_Release(&b->views[i]);
    }
    if (b->objs != NULL) {
        for (Py_ssize_t i = 0; i < b->n; i++) {
            Py_XDECREF(b->objs[i]);
        }
    }
    PyMem_Free(b->views);
    PyMem_Free(b->objs);
    PyMem_Free(b);
}

/* A batch of n segments in a capsule; *out points into it. */
static PyObject *
batch_new(Py_ssize_t n, int writing, int shape, int with_views,
          afc_batch **out)
{
    if ((size_t)n > (PY_SSIZE_T_MAX - sizeof(afc_batch)) / sizeof(afc_seg)) {
        PyErr_NoMemory();
        return NULL;
    }
    afc_batch *b = PyMem_Calloc(1, sizeof(afc_batch) +
                                       (size_t)n * sizeof(afc_seg));
    if (b == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    b->n = n;
    b->writing = writing;
    b->shape = shape;
    if (n > 0 && with_views) {
        b->views = PyMem_Calloc((size_t)n, sizeof(Py_buffer));
    }
    else if (n > 0) {
        b->objs = PyMem_Calloc((size_t)n, sizeof(PyObject *));
    }
    PyObject *cap = NULL;
    if (n > 0 && b->views == NULL && b->objs == NULL) {
        PyErr_NoMemory();
    }
    else {
        cap = PyCapsule_New(b, AFC_POS_CAPSULE, batch_free);
    }
    if (cap == NULL) {
        PyMem_Free(b->views);
        PyMem_Free(b->objs);
        PyMem_Free(b);
        return NULL;
    }
    *out = b;
    return cap;
}

static afc_batch *
batch_of(PyObject *ctx)
{
    return (afc_batch *)PyCapsule_GetPointer(ctx, AFC_POS_CAPSULE);
}

/* ---- arguments, converted as os.pread/os.pwrite convert them ----
 *
 * The integers and the count go through args.c (an offset is an off_t, a
 * length a Py_ssize_t that the kernel would refuse if negative); the
 * buffers are pinned here. */
static const int offset_length[] = {AFC_ARG_LONG, AFC_ARG_LENGTH};
static const int offset_buffer[] = {AFC_ARG_LONG, AFC_ARG_OBJECT};

static int
pin(PyObject *o, Py_buffer *view, int writable, const char *fname)
{
    if (PyObject_GetBuffer(o, view, writable ? PyBUF_WRITABLE
                                             : PyBUF_SIMPLE) == 0) {
        return 0;
    }
    /* A source buffer fails as os.pwrite's does; a target as io's
     * readinto() words it. */
    if (writable && (PyErr_ExceptionMatches(PyExc_TypeError) ||
                     PyErr_ExceptionMatches(PyExc_BufferError))) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "%s() argument must be read-write bytes-like "
                     "object, not %.100s",
                     fname, Py_TYPE(o)->tp_name);
    }
    return -1;
}

/* The op that raises the current exception when awaited. */
static PyObject *
refuse(PyObject *self)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *op = afc_pos_op(self, NULL);
    if (op == NULL) {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return NULL;
    }
    PyErr_Restore(type, value, tb);
    return afc_pos_fail(op);
}

/* Start the batch in ctx (stolen) on file self. */
static PyObject *
start(PyObject *self, PyObject *ctx, int writing)
{
    if (afc_pos_refused(self, writing) < 0) {
        Py_DECREF(ctx);
        return refuse(self);
    }
    PyObject *op = afc_pos_op(self, ctx);
    if (op == NULL) {
        return NULL;
    }
    return afc_pos_go(op);
}

/* A segment reading into a new bytes object of n bytes (uninitialised:
 * the reader fills it, and a short result is shrunk). */
static int
seg_new_bytes(afc_batch *b, Py_ssize_t i, int64_t off, Py_ssize_t n)
{
    PyObject *o = PyBytes_FromStringAndSize(NULL, n);
    if (o == NULL) {
        return -1;
    }
    b->objs[i] = o;
    b->segs[i].off = off;
    b->segs[i].ptr = PyBytes_AS_STRING(o);
    b->segs[i].len = (size_t)n;
    return 0;
}

static void
seg_view(afc_batch *b, Py_ssize_t i, int64_t off)
{
    b->segs[i].off = off;
    b->segs[i].ptr = b->views[i].buf;
    b->segs[i].len = (size_t)b->views[i].len;
}


/* The common case served with no op at all: cached pages of an idle file
 * read into the new bytes object on the spot, answered by a finished
 * awaitable. NULL without an exception: take the general way. */
static PyObject *
read_at_here(PyObject *self, int64_t off, Py_ssize_t n)
{
#ifndef AFC_HAVE_PREADV2
    (void)self;
    (void)off;
    (void)n;
    return NULL;
#else
    int fd = afc_pos_inline_fd(self, 0);
    if (fd < 0) {
        return NULL;
    }
    afc_state *st = PyType_GetModuleState(Py_TYPE(self));
    int spot = afc_budget_spot(st);
    if (spot == AFC_SPOT_POOL) {
        return NULL;  /* past the budget, and a task waits already */
    }
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, n);
    if (bytes == NULL) {
        return NULL;
    }
    struct iovec iov = {PyBytes_AS_STRING(bytes), (size_t)n};
    ssize_t r;
    do {
        r = preadv2(fd, &iov, 1, (off_t)off, RWF_NOWAIT);
    } while (r < 0 && errno == EINTR);
    if (r == n || r == 0) {
        if (r == 0 && _PyBytes_Resize(&bytes, 0) < 0) {
            return NULL;
        }
        PyObject *done = afc_op_done(st, bytes);
        if (done != NULL) {
            /* past the iteration's budget: its task waits an iteration */
            ((AsyncOp *)done)->yield_first = spot == AFC_SPOT_LAST;
        }
        return done;
    }
    if (r < 0 && (errno == EOPNOTSUPP || errno == ENOSYS || errno == EPERM)) {
        afc_pos_inline_fd(self, 1);
    }
    /* Not cached, partly cached, or an error the pool will report. */
    Py_DECREF(bytes);
    return NULL;
#endif
}

PyObject *
afc_File_read_at(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t v[2];
    afc_batch *b;
    if (afc_int_args_worded("read_at", AFC_COUNT_TAKES, args, nargs, 2, 2,
                            offset_length, v) < 0) {
        return refuse(self);
    }
    int64_t off = v[0];
    Py_ssize_t n = (Py_ssize_t)v[1];
    if (off >= 0 && n > 0 && n <= AFC_POS_INLINE_MAX) {
        PyObject *r = read_at_here(self, off, n);
        if (r != NULL || PyErr_Occurred()) {
            return r;
        }
    }
    PyObject *ctx = batch_new(1, 0, SHAPE_BYTES, 0, &b);
    if (ctx == NULL) {
        return refuse(self);
    }
    if (seg_new_bytes(b, 0, off, n) < 0) {
        Py_DECREF(ctx);
        return refuse(self);
    }
    return start(self, ctx, 0);
}

/* readinto_at/write_at: one offset and the caller's buffer (the file's
 * data goes into it, or comes from it). */
static PyObject *
at_with_buffer(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
               int writing)
{
    const char *fname = writing ? "write_at" : "readinto_at";
    int64_t v[2];
    afc_batch *b;
    if (afc_int_args_worded(fname, AFC_COUNT_TAKES, args, nargs, 2, 2,
                            offset_buffer, v) < 0) {
        return refuse(self);
    }
    PyObject *ctx = batch_new(1, writing, SHAPE_INT, 1, &b);
    if (ctx == NULL) {
        return refuse(self);
    }
    if (pin(args[1], &b->views[0], !writing, fname) < 0) {
        Py_DECREF(ctx);
        return refuse(self);
    }
    b->nviews = 1;
    seg_view(b, 0, v[0]);
    return start(self, ctx, writing);
}

PyObject *
afc_File_readinto_at(PyObject *self, PyObject *const *args,
                     Py_ssize_t nargs)
{
    return at_with_buffer(self, args, nargs, 0);
}

PyObject *
afc_File_write_at(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return at_with_buffer(self, args, nargs, 1);
}

/* read_many/write_many: one pair (offset, n or data) per segment. */
static PyObject *
many(PyObject *self, PyObject *const *args, Py_ssize_t nargs, int writing)
{
    const char *fname = writing ? "write_many" : "read_many";
    PyObject *seq = NULL, *ctx = NULL;
    afc_batch *b;
    if (afc_nargs(fname, nargs, 1, 1, AFC_COUNT_TAKES) < 0) {
        return refuse(self);
    }
    seq = PySequence_Fast(args[0], writing
        ? "write_many() argument must be an iterable of (offset, data) pairs"
        : "read_many() argument must be an iterable of (offset, n) pairs");
    if (seq == NULL) {
        return refuse(self);
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    ctx = batch_new(n, writing, writing ? SHAPE_INT_LIST : SHAPE_BYTES_LIST,
                    writing, &b);
    if (ctx == NULL) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *pair[2];
        int64_t off;
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_Format(PyExc_TypeError,
                         "%s() items must be (offset, %s) tuples, not "
                         "%.100s", fname, writing ? "data" : "n",
                         Py_TYPE(item)->tp_name);
            goto error;
        }
        pair[0] = PyTuple_GET_ITEM(item, 0);
        pair[1] = PyTuple_GET_ITEM(item, 1);
        int64_t v[2];
        if (afc_int_args_worded(fname, AFC_COUNT_TAKES, pair, 2, 2, 2,
                                writing ? offset_buffer : offset_length,
                                v) < 0) {
            goto error;
        }
        off = v[0];
        if (writing) {
            if (pin(pair[1], &b->views[i], 0, fname) < 0) {
                goto error;
            }
            b->nviews = i + 1;
            seg_view(b, i, off);
        }
        else {
            if (seg_new_bytes(b, i, off, (Py_ssize_t)v[1]) < 0) {
                goto error;
            }
        }
    }
    Py_DECREF(seq);
    return start(self, ctx, writing);
error:
    Py_XDECREF(ctx);
    Py_XDECREF(seq);
    return refuse(self);
}

PyObject *
afc_File_read_many(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return many(self, args, nargs, 0);
}

PyObject *
afc_File_write_many(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return many(self, args, nargs, 1);
}

/* ---- running a batch ---- */

int
afc_posio_dup(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

void
afc_posio_prepare(afc_job *job, PyObject *ctx)
{
    afc_batch *b = batch_of(ctx);
    job->ptr = (char *)b->segs;  /* the worker sees the segments only */
    job->len = (size_t)b->n;
    job->flags = b->writing;
}

/* Loop thread: settle what needs no waiting (empty or refused segments,
 * and with nowait, reads of cached pages). 1: all done; 0: the pool must
 * do the rest; -1: the file system has no RWF_NOWAIT (pool too). */
int
afc_posio_inline(afc_job *job, PyObject *ctx, int fd, int nowait)
{
    afc_batch *b = batch_of(ctx);
    size_t budget = AFC_POS_INLINE_MAX;
    int all = 1;
    (void)job;
    for (Py_ssize_t i = 0; i < b->n; i++) {
        afc_seg *s = &b->segs[i];
        if (s->finished) {
            continue;
        }
        if (s->off < 0) {
            s->err = EINVAL;  /* what the kernel says, without asking */
            s->finished = 1;
            continue;
        }
        if (s->len == 0) {
            s->finished = 1;
            continue;
        }
#ifndef AFC_HAVE_PREADV2
        nowait = 0;  /* no RWF_NOWAIT: every read goes to the pool */
        (void)fd;
        (void)budget;
#endif
        while (!b->writing && nowait && budget > 0) {
            size_t want = s->len - s->done;
            if (want > budget) {
                want = budget;
            }
            struct iovec iov = {s->ptr + s->done, want};
            ssize_t r = preadv2(fd, &iov, 1, (off_t)(s->off + (int64_t)s->done),
                                RWF_NOWAIT);
            if (r < 0 && errno == EINTR) {
                continue;
            }
            if (r < 0) {
                if (errno == EOPNOTSUPP || errno == ENOSYS ||
                    errno == EPERM) {
                    return -1;
                }
                break;  /* EAGAIN: not cached; others: the pool says */
            }
            budget -= (size_t)r;
            if (r == 0) {
                s->finished = 1;  /* EOF: the size is checked first */
                break;
            }
            s->done += (size_t)r;
            if (s->done == s->len) {
                s->finished = 1;
                break;
            }
        }
        if (!s->finished) {
            all = 0;
        }
    }
    return all;
}

/* Loop thread, the job back (or done inline): what the call returns. A
 * segment that failed before moving a byte raises its error; one that
 * moved some bytes first reports them, as a short pread/pwrite would. */
PyObject *
afc_posio_result(afc_job *job, PyObject *ctx)
{
    afc_batch *b = batch_of(ctx);
    PyObject *list = NULL;
    (void)job;
    if (b == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < b->n; i++) {
        if (b->segs[i].err != 0 && b->segs[i].done == 0) {
            errno = b->segs[i].err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    if (b->shape == SHAPE_BYTES_LIST || b->shape == SHAPE_INT_LIST) {
        list = PyList_New(b->n);
        if (list == NULL) {
            return NULL;
        }
    }
    for (Py_ssize_t i = 0; i < b->n; i++) {
        afc_seg *s = &b->segs[i];
        PyObject *v;
        if (b->objs != NULL) {
            v = b->objs[i];
            b->objs[i] = NULL;
            if (s->done < s->len &&
                _PyBytes_Resize(&v, (Py_ssize_t)s->done) < 0) {
                Py_XDECREF(list);
                return NULL;
            }
        }
        else {
            v = PyLong_FromSize_t(s->done);
            if (v == NULL) {
                Py_XDECREF(list);
                return NULL;
            }
        }
        if (list == NULL) {
            return v;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
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

static void pos_job_done(afc_job *job, int status);

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
        afc_file_drop_readahead(f);
    }
    return afc_op_finish(op, r);
}

/* Start the work: inline when it can all be done here, else one pool job
 * (queued: at the FIFO head, with the pending writes in front). Reads
 * from the page cache on the loop thread share the loop iteration's
 * budget with every other call answered on the spot (afc_budget_spot):
 * past it, the first call made now is still read here and its task waits
 * an iteration (yield_first); the others, and one that waited in the FIFO
 * (its task is parked already), go to the pool instead. */
static int
pos_begin(AsyncOp *op, int queued)
{
    AsyncFile *f = op->file;
    afc_job *j = &op->job;
    afc_job_init(op, AFC_JOB_POSIO);
    j->work = afc_work_posio;
    j->done = pos_job_done;
    afc_posio_prepare(j, op->arg);
    if (f->wlen == 0) {
        int nowait = f->nowait && !j->flags;
        int spot = AFC_SPOT_OK;
        if (nowait) {
            spot = afc_budget_spot(op->st);
            nowait = spot == AFC_SPOT_OK ||
                     (spot == AFC_SPOT_LAST && !queued);
        }
        int r = afc_posio_inline(j, op->arg, f->fd, nowait);
        if (r < 0) {
            f->nowait = 0;  /* the file system has no RWF_NOWAIT */
        }
        else if (r == 1) {
            op->yield_first = spot != AFC_SPOT_OK;
            return pos_finish(op);
        }
    }
    int fd = afc_posio_dup(f->fd);
    if (fd < 0) {
        return afc_op_fail_errno(op, errno, NULL);
    }
    j->fd = fd;
    j->own_fd = 1;
    if (queued) {
        afc_job_add_flush(op);
    }
    int r = afc_op_submit(op, queued ? P_FLUSH : P_DIRECT);
    if (!op->in_pool) {
        pos_close_dup(j);  /* refused: no worker has it */
    }
    return r;
}

/* The op's run (see AsyncOp): at the head of the FIFO, or back from the
 * pool after the flush its job carried. */
static int
pos_run_queued(AsyncOp *op)
{
    if (op->phase == P_NONE) {
        int r = afc_op_check(op);  /* a closed or detached file */
        if (r != -1) {
            return r;
        }
    }
    if (op->phase != P_FLUSH) {
        return pos_begin(op, 1);  /* at the head of the FIFO */
    }
    pos_close_dup(&op->job);
    if (afc_fold_flush(op) < 0) {
        return afc_op_finish(op, NULL);
    }
    return pos_finish(op);
}

/* The done function of a positional job: one that ran at once (P_DIRECT)
 * finishes here; one that waited in the FIFO (P_FLUSH) goes on as the ops
 * there do. The duplicate descriptor is closed first either way. */
static void
pos_job_done(afc_job *job, int status)
{
    AsyncOp *op = afc_op_of_job(job);
    if (status == AFC_DONE_DISCARD || job->err == AFC_ERR_FORKED ||
        op->phase != P_DIRECT) {
        pos_close_dup(job);
        afc_op_job_done(job, status);
        return;
    }
    afc_op_job_back(job);
    pos_close_dup(job);
    pos_finish(op);
    if (PyErr_Occurred()) {
        PyErr_WriteUnraisable((PyObject *)op);
    }
    Py_DECREF(op);
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
    AsyncOp *op = afc_op_new(f, K_POS, pos_run_queued);
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
    afc_op_finish((AsyncOp *)obj, NULL);
    return obj;
}

PyObject *
afc_pos_go(PyObject *obj)
{
    AsyncOp *op = (AsyncOp *)obj;
    AsyncFile *f = op->file;
    if (pos_must_queue(f)) {
        op->state = S_QUEUED;
        return afc_file_start_owned(f, op);
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
