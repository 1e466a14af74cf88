/* The state machines of the writing calls (write, writelines, seek,
 * truncate, flush, close), the dispatch that runs an operation by its
 * kind, and the return of a file operation's job from the pool. */
#include "op.h"
#include "fastpath.h"
#include "ra.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Offsets every file system of the local table (fastpath.c) accepts in
 * lseek: 1 TiB (the smallest limit among them is F2FS's, ~3.9 TiB; ext4's
 * block-mapped files stop at 2 TiB). */
#define AFC_SEEK_SAFE ((int64_t)1 << 40)

/* op->got counts the bytes of the view already written by earlier jobs of
 * this op. Returns RUN_DONE/RUN_WAIT; *done once the rest is buffered. */
static int
write_view(AsyncOp *op, int *done)
{
    AsyncFile *f = op->file;
    const char *data = (const char *)op->view.buf + op->got;
    Py_ssize_t len = op->view.len - op->got;
    Py_ssize_t wcap = afc_write_capacity(f);
    *done = 0;
    if (f->rend > 0) {
        afc_file_drop_readahead(f);
    }
    if (f->wlen > 0 && !f->appending && f->pos >= 0 &&
        f->wstart + f->wlen != f->pos) {
        afc_job_init(op, AFC_JOB_NOP);
        afc_job_add_flush(op);
        return afc_op_submit(op, P_FLUSH);
    }
    Py_ssize_t wsize = f->bufsize > 0 ? f->bufsize : 8192;
    if (f->wlen + len <= wcap && !AFC_WRITE_BYPASSES_BUFFER(len, wsize)) {
        if (f->pos >= 0 && len > INT64_MAX - f->pos) {
            /* No file reaches past INT64_MAX: refuse here, where the
             * position would overflow (io wraps it and fails later). */
            return afc_op_fail_errno(op, EINVAL, NULL);
        }
        if (afc_buffer_bytes(f, data, len) < 0) {
            return afc_op_finish(op, NULL);
        }
        *done = 1;
        return RUN_DONE;
    }
    if (len <= wcap && !AFC_WRITE_BYPASSES_BUFFER(len, wsize)) {
        /* Fits once the pending bytes are out. */
        afc_job_init(op, AFC_JOB_NOP);
        afc_job_add_flush(op);
        return afc_op_submit(op, P_FLUSH);
    }
    afc_job_init(op, AFC_JOB_WRITE1);
    afc_job_add_flush(op);
    op->job.ptr = (char *)data;
    op->job.len = (size_t)len;
    if (f->appending || !f->seekable) {
        op->job.off = -1;
        op->job.want_pos = f->appending;
    }
    else {
        op->job.off = f->wlen > 0 ? f->wstart + f->wlen : f->pos;
    }
    return afc_op_submit(op, P_WRITE);
}

static int
fold_write(AsyncOp *op)
{
    AsyncFile *f = op->file;
    afc_job *j = &op->job;
    if (afc_fold_flush(op) < 0) {
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

int
afc_get_view(AsyncOp *op, PyObject *obj)
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
        if (afc_buffer_bytes(f, data, take) < 0) {
            return -1;
        }
        if (take == len) {
            return 1;
        }
        afc_set_blocking_error(op->got + take);
        return -1;
    }
    if (was_write && j->werr == 0 && j->err == EAGAIN) {
        if (afc_fold_flush(op) < 0) {
            return -1;
        }
        Py_ssize_t take = len < size ? len : size;
        if (afc_buffer_bytes(f, data, take) < 0) {
            return -1;
        }
        afc_set_blocking_error(op->got + take);
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
                return afc_op_finish(op, Py_None);
            }
            if (j->err != 0) {
                return afc_op_fail_errno(op, j->err, NULL);
            }
            if (f->appending && j->pos >= 0) {
                f->pos = j->pos;
            }
            else if (f->pos >= 0) {
                f->pos += j->res;
            }
            return afc_op_finish(op, PyLong_FromLongLong(j->res));
        }
        return afc_op_submit_raw_write(op);
    }
    if (op->phase == P_WRITE || op->phase == P_FLUSH) {
        int was_write = op->phase == P_WRITE;
        op->phase = P_NONE;
        int wb = write_would_block(op, was_write);
        if (wb < 0) {
            return afc_op_finish(op, NULL);
        }
        if (wb > 0) {
            return afc_op_finish(op, PyLong_FromSsize_t(op->view.len));
        }
        if ((was_write ? fold_write(op) : afc_fold_flush(op)) < 0) {
            return afc_op_finish(op, NULL);
        }
    }
    int r = write_view(op, &done);
    if (r == RUN_WAIT || !done) {
        return r;
    }
    return afc_op_finish(op, PyLong_FromSsize_t(op->view.len));
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
                afc_op_release_view(op);
                rc = 0;
            }
            else if (rc == 0) {
                rc = was_write ? fold_write(op) : afc_fold_flush(op);
            }
        }
        if (rc < 0) {
            return afc_op_finish(op, NULL);
        }
        if (f->raw_mode) {
            afc_op_release_view(op);
        }
    }
    for (;;) {
        if (!op->has_view && op->abandoned) {
            Py_INCREF(Py_None);
            return afc_op_finish(op, Py_None);
        }
        if (!op->has_view) {
            PyObject *item = PyIter_Next(op->arg);
            if (item == NULL) {
                if (PyErr_Occurred()) {
                    return afc_op_finish(op, NULL);
                }
                Py_INCREF(Py_None);
                return afc_op_finish(op, Py_None);
            }
            /* io's writelines calls write() per item: its checks apply. */
            /* FileIO.write parses its argument first; IOBase.write (a
             * buffered reader's) refuses first. */
            int rc = f->writable || f->raw_mode ? afc_get_view(op, item) : 0;
            Py_DECREF(item);
            if (rc < 0) {
                return afc_op_finish(op, NULL);
            }
            if (!f->writable) {
                return afc_op_unsupported(op, f->raw_mode
                                              ? "File not open for writing"
                                              : "write");
            }
            if (rc < 0) {
                return afc_op_finish(op, NULL);
            }
            op->got = 0;
        }
        if (f->raw_mode) {
            return afc_op_submit_raw_write(op);
        }
        int r = write_view(op, &done);
        if (r == RUN_WAIT) {
            return RUN_WAIT;
        }
        if (!done) {
            return r;  /* finished with an error */
        }
        afc_op_release_view(op);
    }
}

static int
run_seek(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->phase == P_SEEK) {
        if (afc_fold_flush(op) < 0) {
            return afc_op_finish(op, NULL);
        }
        if (op->job.err != 0) {
            if (f->seekable_io < 0) {
                f->seekable_io = 0;
            }
            return afc_op_fail_errno(op, op->job.err, NULL);
        }
        afc_file_drop_readahead(f);
        f->ra = AFC_RA_SEEK;
        f->pos = op->job.res;
        if (f->seekable_io < 0) {
            f->seekable_io = 1;
        }
        return afc_op_finish(op, PyLong_FromLongLong(op->job.res));
    }
    if (op->phase == P_FLUSH) {
        if (afc_fold_flush(op) < 0) {
            return afc_op_finish(op, NULL);
        }
    }
    if (!f->seekable) {
        return afc_op_fail_errno(op, ESPIPE, NULL);
    }
    int whence = op->whence;
    if (!f->raw_mode && (whence < 0 || whence > 4)) {
        PyErr_Format(PyExc_ValueError, "whence value %d unsupported",
                     whence);
        return afc_op_finish(op, NULL);
    }
    if ((whence == SEEK_SET || whence == SEEK_CUR)) {
        if (f->wlen > 0) {
            /* io flushes before the raw seek, even one that fails; an
             * appending file's position is then its end. */
            afc_job_init(op, AFC_JOB_NOP);
            afc_job_add_flush(op);
            return afc_op_submit(op, P_FLUSH);
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
            return afc_op_fail_errno(op, EINVAL, NULL);
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
             * logical position is harmless (flush does it too). A
             * read-only file on a local file system (fastclose) reads at
             * explicit offsets only and none of those file systems
             * refuses an offset below AFC_SEEK_SAFE, so there the call is
             * left out (a random reader makes one call per read less);
             * only a descriptor closed behind the file's back would have
             * failed it, and then the next read fails instead. */
            if ((!f->fastclose || target >= AFC_SEEK_SAFE) &&
                lseek(f->fd, (off_t)target, SEEK_SET) < 0) {
                int err = errno;
                if (f->seekable_io < 0) {
                    f->seekable_io = 0;
                }
                return afc_op_fail_errno(op, err, NULL);
            }
            afc_file_drop_readahead(f);
            f->ra = AFC_RA_SEEK;
        }
        f->pos = target;
        if (f->seekable_io < 0) {
            f->seekable_io = 1;
        }
        return afc_op_finish(op, PyLong_FromLongLong(target));
    }
    if (whence == SEEK_END && f->local && f->wlen == 0) {
        /* A local file's size is in its in-memory inode: the lseek is
         * made here, with the pool's result and errors. */
        op->job.res = lseek(f->fd, (off_t)op->off, SEEK_END);
        op->job.err = op->job.res < 0 ? errno : 0;
        op->job.werr = 0;
        op->job.wlen = 0;
        op->phase = P_SEEK;
        return run_seek(op);
    }
    afc_job_init(op, AFC_JOB_SEEK);
    afc_job_add_flush(op);
    op->job.off = op->off;
    op->job.whence = whence;
    return afc_op_submit(op, P_SEEK);
}

static int
run_truncate(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->phase == P_TRUNCATE) {
        if (afc_fold_flush(op) < 0) {
            return afc_op_finish(op, NULL);
        }
        if (op->job.err != 0) {
            return afc_op_fail_errno(op, op->job.err, NULL);
        }
        if (op->arg != NULL) {
            Py_INCREF(op->arg);
            return afc_op_finish(op, op->arg);
        }
        return afc_op_finish(op, PyLong_FromLongLong(op->job.res));
    }
    if (op->phase == P_FLUSH) {
        if (afc_fold_flush(op) < 0) {
            return afc_op_finish(op, NULL);
        }
    }
    else if (f->appending && f->wlen > 0 && !op->whence) {
        /* The size is the position after the flush, which moves an
         * appending file to its end. */
        afc_job_init(op, AFC_JOB_NOP);
        afc_job_add_flush(op);
        return afc_op_submit(op, P_FLUSH);
    }
    int64_t size = op->whence ? op->off : f->pos;
    if (!op->whence && f->seekable_io < 0) {
        f->seekable_io = f->seekable;  /* FileIO asks lseek for the size */
    }
    if (size < 0 && !op->whence) {
        return afc_op_fail_errno(op, ESPIPE, NULL);
    }
    afc_file_drop_readahead(f);
    afc_job_init(op, AFC_JOB_TRUNCATE);
    afc_job_add_flush(op);
    op->job.off = size;
    return afc_op_submit(op, P_TRUNCATE);
}

static int
run_flush(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->phase == P_FLUSH) {
        if (afc_fold_flush(op) < 0) {
            return afc_op_finish(op, NULL);
        }
        Py_INCREF(Py_None);
        return afc_op_finish(op, Py_None);
    }
    if (f->raw_mode || f->wlen == 0) {
        Py_INCREF(Py_None);
        return afc_op_finish(op, Py_None);
    }
    afc_job_init(op, AFC_JOB_NOP);
    afc_job_add_flush(op);
    if (f->seekable && !f->appending) {
        op->job.sync_pos = 1;
        op->job.sync_to = f->pos;
    }
    return afc_op_submit(op, P_FLUSH);
}

static int
run_close(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->phase == P_CLOSE) {
        afc_job *j = &op->job;
        f->closed = 1;
        f->wlen = 0;
        afc_file_free_buf(f);
        if (j->werr == EAGAIN && !f->raw_mode) {
            afc_set_blocking_error(0);  /* the flush io's close() does */
            return afc_op_finish(op, NULL);
        }
        if (j->werr != 0) {
            return afc_op_fail_errno(op, j->werr, NULL);
        }
        if (j->err != 0) {
            return afc_op_fail_errno(op, j->err, NULL);
        }
        Py_INCREF(Py_None);
        return afc_op_finish(op, Py_None);
    }
    if (f->detached) {
        return afc_op_err_closed(op, "raw stream has been detached");
    }
    if (f->closed || !f->opened) {
        Py_INCREF(Py_None);
        return afc_op_finish(op, Py_None);
    }
    afc_job_init(op, f->closefd ? AFC_JOB_CLOSE : AFC_JOB_NOP);
    afc_job_add_flush(op);
    int spot;
    if (f->fastclose && f->closefd && f->wlen == 0 &&
        (spot = afc_budget_spot(op->st)) != AFC_SPOT_POOL) {
        /* Closing a read-only regular file on a local file system drops
         * page references, it waits for nothing (see fastpath.c). Linux
         * frees the descriptor even when close reports EINTR. */
        int e = close(f->fd) < 0 && errno != EINTR ? errno : 0;
        afc_fast_count(AFC_COUNT_CLOSE);
        op->yield_first = spot == AFC_SPOT_LAST;
        op->phase = P_CLOSE;
        op->job.res = 0;
        op->job.err = e;
        return afc_op_run_inner(op);
    }
    if (!f->closefd && f->seekable && !f->appending) {
        /* The fd stays open: leave its offset at the logical position. */
        op->job.sync_pos = 1;
        op->job.sync_to = f->pos;
    }
    return afc_op_submit(op, P_CLOSE);
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

int
afc_op_run_inner(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->kind == K_WRITABLE && !f->raw_mode && !f->writable) {
        return afc_op_finish(op, PyBool_FromLong(0));
    }
    if (op->kind == K_READLINE && op->n == 0 && (f->raw_mode || !f->readable)) {
        /* IOBase.readline(0): returns before reading, so before checks. */
        return afc_op_finish(op, PyBytes_FromStringAndSize(NULL, 0));
    }
    if (op->phase == P_NONE && op->kind != K_OPEN && op->kind != K_CLOSE) {
        int r = afc_op_check(op);
        if (r != -1) {
            return r;
        }
    }
    if (op->phase == P_PREFLUSH) {
        op->phase = P_NONE;
        if (afc_fold_flush(op) < 0) {
            return afc_op_finish(op, NULL);
        }
    }
    else if (op->phase == P_NONE && f->appending && f->wlen > 0 &&
             is_read_kind(op) && !f->raw_mode) {
        /* The flush moves an appending file to its end, and the read
         * starts there: the offset is known only after the flush. */
        afc_job_init(op, AFC_JOB_NOP);
        afc_job_add_flush(op);
        return afc_op_submit(op, P_PREFLUSH);
    }
    switch (op->kind) {
    case K_OPEN:
        return afc_run_open(op);
    case K_READ:
        if (op->n < 0 && op->phase == P_NONE) {
            op->kind = K_READALL;
            return afc_run_readall(op);
        }
        return afc_run_read(op);
    case K_READALL:
        return afc_run_readall(op);
    case K_READ1:
    case K_PEEK:
        return afc_run_read1_peek(op);
    case K_READINTO:
        return afc_run_readinto(op);
    case K_READLINE:
    case K_READLINES:
    case K_ANEXT:
        return afc_run_readline(op);
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
            return afc_op_fail_errno(op, ESPIPE, NULL);
        }
        /* io asks lseek() on every tell(): a descriptor closed behind the
         * file's back fails here (EBADF), not later. lseek(SEEK_CUR) never
         * waits, so it runs on the loop thread; the position stays ours. */
        if (lseek(f->fd, 0, SEEK_CUR) < 0) {
            return afc_op_fail_errno(op, errno, NULL);
        }
        return afc_op_finish(op, PyLong_FromLongLong(f->pos));
    case K_TRUNCATE:
        return run_truncate(op);
    case K_FLUSH:
        return run_flush(op);
    case K_CLOSE:
        return run_close(op);
    case K_ISATTY:
        return afc_op_finish(op, PyBool_FromLong(isatty(f->fd)));
    case K_SEEKABLE:
        if (f->seekable_io < 0) {
            f->seekable_io = f->seekable;
        }
        return afc_op_finish(op, PyBool_FromLong(f->seekable_io));
    case K_WRITABLE:
        return afc_op_finish(op, PyBool_FromLong(f->writable));
    }
    PyErr_SetString(PyExc_SystemError, "bad operation");
    return afc_op_finish(op, NULL);
}
