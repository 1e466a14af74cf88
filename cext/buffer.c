/* The buffer of an async file and the jobs built over it: read-ahead and
 * pending writes, the flush prefix a job carries and folding its result
 * back, page-cached reads on the loop thread (RWF_NOWAIT), the checks io
 * makes before a method runs, and the text layer's synchronous access. */
#include "op.h"
#include "fastpath.h"
#include "ra.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

void
afc_job_init(AsyncOp *op, int kind)
{
    AsyncFile *f = op->file;
    memset(&op->job, 0, sizeof(op->job));
    op->job.kind = kind;
    op->job.work = afc_work_file;
    op->job.done = afc_op_job_done;
    op->job.fd = f->fd;
    op->job.off = -1;
    op->job.woff = -1;
}

/* Put the pending writes in front of the job's main action. */
void
afc_job_add_flush(AsyncOp *op)
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


/* One write(2) of the pinned view, as io.FileIO.write does. */
int
afc_op_submit_raw_write(AsyncOp *op)
{
    AsyncFile *f = op->file;
    afc_job_init(op, AFC_JOB_WRITE1);
    op->job.ptr = op->view.buf;
    op->job.len = (size_t)op->view.len;
    op->job.off = f->appending || !f->seekable ? -1 : f->pos;
    job_set_append_pos(op);
    return afc_op_submit(op, P_WRITE);
}

/* io's BlockingIOError for a buffered write that could not go out, with
 * how many bytes of the caller's data it took. */
void
afc_set_blocking_error(Py_ssize_t taken)
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
int
afc_fold_flush(AsyncOp *op)
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
            afc_set_blocking_error(0);
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

int
afc_file_ensure_buf(AsyncFile *f, Py_ssize_t need)
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

void
afc_file_drop_readahead(AsyncFile *f)
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
    if (!f->nowait || len == 0 || f->st->pool_now) {
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
    afc_fast_count(AFC_COUNT_READ);
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
    return op->run(op);
}

/* Start a read-ahead so that at least `need` unread bytes are buffered (or
 * EOF is reached). Pending writes are flushed by the same job. */
int
afc_op_start_fill(AsyncOp *op, Py_ssize_t need)
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
    if (afc_file_ensure_buf(f, need > have + 1 ? need : have + 1) < 0) {
        return afc_op_finish(op, NULL);
    }
    afc_job_init(op, AFC_JOB_PREAD);
    afc_job_add_flush(op);
    Py_ssize_t start = f->wlen > 0 ? 0 : f->rend;
    op->job.ptr = f->buf + start;
    op->job.len = afc_ra_next(&f->ra, (size_t)(f->cap - start),
                              (size_t)(need - have));
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
    return afc_op_submit(op, P_FILL);
}

/* Read straight into op->acc (bytes) or op->view, from op->got on. */
int
afc_op_start_direct(AsyncOp *op)
{
    AsyncFile *f = op->file;
    char *base = op->acc != NULL ? PyBytes_AS_STRING(op->acc)
                                 : (char *)op->view.buf;
    Py_ssize_t want = op->alloc - op->got;
    if (want > AFC_CHUNK) {
        want = AFC_CHUNK;
    }
    afc_job_init(op, f->raw_mode ? AFC_JOB_READ : AFC_JOB_PREAD);
    afc_job_add_flush(op);
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
        if (r == 0 || r == want ||
            (op->until > 0 && op->got + r == op->until)) {
            /* (a readall that has its file's fstat size: the read that
             * would see EOF is left out, as bytes appended since are as
             * if appended after; fold_direct takes it as EOF) */
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
    return afc_op_submit(op, P_DIRECT);
}

/* ---- error checks shared by the methods ---- */

int
afc_op_err_closed(AsyncOp *op, const char *msg)
{
    return afc_op_fail(op, PyExc_ValueError, msg);
}

int
afc_op_unsupported(AsyncOp *op, const char *msg)
{
    return afc_op_fail(op, op->st->UnsupportedOperation, msg);
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
int
afc_op_check(AsyncOp *op)
{
    AsyncFile *f = op->file;
    int kind = op->kind;
    int isclosed = f->closed || f->detached;
    if (f->raw_mode) {
        if (isclosed) {
            return afc_op_err_closed(op, closed_msg(f, kind));
        }
        switch (kind) {
        case K_READ:  /* readall() itself does not check: read(2) fails */
        case K_READINTO:
        case K_READLINE:
        case K_READLINES:
        case K_ANEXT:
            if (!f->readable) {
                return afc_op_unsupported(op, "File not open for reading");
            }
            break;
        case K_WRITE:
        case K_TRUNCATE:
            if (!f->writable) {
                return afc_op_unsupported(op, "File not open for writing");
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
            return afc_op_unsupported(op, "read");
        }
        break;
    case K_READ1:
        if (!f->readable) {
            return afc_op_unsupported(op, "read1");
        }
        break;
    case K_WRITE:
        if (!f->writable) {
            return afc_op_unsupported(op, "write");
        }
        break;
    }
    if (isclosed) {
        return afc_op_err_closed(op, closed_msg(f, kind));
    }
    switch (kind) {
    case K_READLINES:
        if (!f->readable) {
            return afc_op_unsupported(op, "read");
        }
        break;
    case K_TRUNCATE:
        if (!f->writable) {
            return afc_op_unsupported(op, "truncate");
        }
        break;
    case K_SEEK:
        if (!f->seekable) {
            return afc_op_unsupported(op, "File or stream is not seekable.");
        }
        break;
    }
    return -1;
}


/* Serve up to k buffered bytes as a new bytes object (consumes them). */
PyObject *
afc_take_buffered(AsyncFile *f, Py_ssize_t k)
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

/* Buffered write of op->view, with io.BufferedWriter's decisions and its
 * buffer size (`buffering`, else st_blksize or io.DEFAULT_BUFFER_SIZE), so
 * that every write(2) happens at the call where io makes it and an error
 * (a full disk, a file size limit) is raised by the same call: data that
 * fits is buffered; otherwise the pending bytes are flushed, and data
 * larger than the buffer goes out in write(2) calls until what is left
 * fits, which is buffered (a short write thus leaves its tail buffered,
 * as io leaves it). The read-ahead may be larger: it is not written. */
Py_ssize_t
afc_write_capacity(AsyncFile *f)
{
    Py_ssize_t size = f->bufsize > 0 ? f->bufsize : 8192;
    return size > f->wskip ? size - f->wskip : 0;
}

/* Append len bytes to the pending writes (the caller checked they fit). */
int
afc_buffer_bytes(AsyncFile *f, const char *data, Py_ssize_t len)
{
    if (afc_file_ensure_buf(f, f->wlen + len) < 0) {
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

void
afc_file_free_buf(AsyncFile *f)
{
    PyMem_RawFree(f->buf);
    f->buf = NULL;
    f->cap = 0;
    f->rpos = f->rend = f->wlen = f->wskip = 0;
}

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
        if (afc_file_ensure_buf(f, AFC_MIN_CAP) < 0) {
            return NULL;
        }
        f->rpos = f->rend = 0;
        ssize_t r = try_nowait(f, f->buf,
                               afc_ra_next(&f->ra, (size_t)f->cap, 1),
                               f->pos);
        if (r < 0) {
            return NULL;
        }
        if (r == 0) {
            return PyBytes_FromStringAndSize(NULL, 0);
        }
        f->rend = r;
        have = r;
    }
    return afc_take_buffered(f, n < have ? n : have);
}

int
afc_file_holds_pending(afc_state *st, PyObject *obj)
{
    AsyncFile *f = idle_buffered(st, obj);
    return f != NULL && f->writable && f->wskip == 0 && f->seekable &&
           !f->slowfd && !f->appending &&
           (f->wlen == 0 || f->wstart + f->wlen == f->pos);
}

int
afc_file_write_nowait(afc_state *st, PyObject *obj, const char *data,
                      Py_ssize_t len, Py_ssize_t pending_max)
{
    AsyncFile *f = idle_buffered(st, obj);
    if (f == NULL || !f->writable) {
        return 0;
    }
    if (f->wlen > 0 && !f->appending && f->pos >= 0 &&
        f->wstart + f->wlen != f->pos) {
        return 0;
    }
    Py_ssize_t room = afc_write_capacity(f);
    if (pending_max > room && afc_file_holds_pending(st, obj)) {
        room = pending_max;  /* a regular file: see afc.h */
#if PY_VERSION_HEX >= 0x030D0000
        /* io from 3.13 on adds a write to its pending bytes first and
         * writes them all once they reach pending_max; before, it wrote
         * the pending ones first when the new ones would not fit. */
        room += len;
#endif
    }
    if (f->wlen + len > room) {
        return 0;
    }
    if (f->rend > 0) {
        afc_file_drop_readahead(f);
    }
    if (afc_buffer_bytes(f, data, len) < 0) {
        return -1;
    }
    return pending_max > 0 && f->wlen >= pending_max ? 2 : 1;
}

/* write(data) of a bytes object on an idle buffered file, when run_write
 * would only copy it into the pending writes (it fits, the file is open
 * and writable, nothing is queued, and the loop iteration's inline
 * budget is not spent): done here without queueing an op, which costs more than the
 * copy. Returns a finished awaitable (the one the file returned last
 * time when nobody holds it any more); NULL without an exception when the
 * op must be queued (the checks, the flush, the fairness yield are
 * run_write's and afc_file_start's). */
PyObject *
afc_file_write_fast(AsyncFile *f, PyObject *data)
{
    afc_state *st = f->st;
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    Py_ssize_t wsize = f->bufsize > 0 ? f->bufsize : 8192;
    if (!f->writable || AFC_WRITE_BYPASSES_BUFFER(len, wsize) ||
        (f->pos >= 0 && len > INT64_MAX - f->pos) ||
        !afc_budget_turn(st)) {
        return NULL;
    }
    int r = afc_file_write_nowait(st, (PyObject *)f, PyBytes_AS_STRING(data),
                                  len, 0);
    if (r == 0) {
        return NULL;
    }
    if (r < 0) {
        return afc_op_error(st);  /* raised by the await, as run_write's */
    }
    PyObject *value = PyLong_FromSsize_t(len);
    if (value == NULL) {
        return afc_op_error(st);
    }
    PyObject *op = afc_op_reuse(f->spare, value);
    if (op != NULL) {
        return op;
    }
    op = afc_op_done(st, value);
    if (op != NULL) {
        Py_XSETREF(f->spare, Py_NewRef(op));
    }
    return op;
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

