/* The state machines of open() and of the reads: read, read1, peek,
 * readall, readinto, readline, readlines and async iteration. Each runs
 * until it must wait for a pool job (RUN_WAIT) or has finished its
 * operation (RUN_DONE), and is entered again when the job comes back. */
#include "op.h"
#include "fastpath.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* ---- the operations ---- */

int
afc_run_open(AsyncOp *op)
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
            return afc_op_fail_errno(op, j->err, fn);
        }
        /* Pipes, FIFOs, ttys, sockets, character devices: the slow lane. */
        mode_t m = j->st.st_mode;
        f->slowfd = !(S_ISREG(m) || S_ISDIR(m) || S_ISBLK(m));
        if (op->abandoned) {
            /* Nobody will get this file: close it quietly. */
            afc_job_drop_fd(j, f->closefd);
            f->closed = 1;
            Py_INCREF(Py_None);
            return afc_op_finish(op, Py_None);
        }
        if (j->pos < 0 && !f->raw_mode && f->readable && f->writable) {
            /* io.BufferedRandom refuses a stream it cannot seek, and
             * io.open then closes what it opened. */
            afc_job_drop_fd(j, f->closefd);
            f->closed = 1;
            return afc_op_unsupported(op, "File or stream is not seekable.");
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
            f->nowait = !op->st->no_inline_reads;
            f->size_hint = (int64_t)j->st.st_size;
            f->local = afc_fast_dev_local(j->st.st_dev) == 1;
            f->fastclose = !op->st->no_inline_reads && !f->writable &&
                           f->local;
        }
        Py_INCREF(f);
        return afc_op_finish(op, (PyObject *)f);
    }
    afc_job_init(op, AFC_JOB_OPEN);
    if (!PyLong_Check(op->arg) && afc_open_inline(op)) {
        op->phase = P_OPEN;  /* as if the pool's open had come back */
        return afc_run_open(op);
    }
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
    return afc_op_submit(op, P_OPEN);
}

static int
fold_fill(AsyncOp *op)
{
    AsyncFile *f = op->file;
    afc_job *j = &op->job;
    if (afc_fold_flush(op) < 0) {
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
    if (afc_fold_flush(op) < 0) {
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
        afc_file_drop_readahead(f);
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
        return afc_op_finish(op, NULL);
    }
    return afc_op_finish(op, r);
}

int
afc_run_readall(AsyncOp *op)
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
    else if (op->phase == P_NONE && f->local && f->wlen == 0 &&
             !op->st->no_inline_reads && fstat(f->fd, &op->job.st) == 0) {
        /* A local file's fstat copies the in-memory inode: here, not in
         * the pool (a failure goes there, to be worded as io words it). */
        op->job.err = 0;
        op->job.werr = 0;
        op->job.wlen = 0;
        op->phase = P_FSTAT;
    }
    else if (op->phase == P_NONE) {
        afc_job_init(op, AFC_JOB_FSTAT);
        afc_job_add_flush(op);
        return afc_op_submit(op, P_FSTAT);
    }
    if (op->phase == P_FSTAT) {
        f->size_hint = -1;
        if (afc_fold_flush(op) < 0) {
            return afc_op_finish(op, NULL);
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
            return afc_op_finish(op, NULL);
        }
        if (have > 0) {
            memcpy(PyBytes_AS_STRING(op->acc), f->buf + f->rpos, (size_t)have);
        }
        op->got = have;
        op->n = have;  /* remember the buffered part */
        op->until = est > 0 ? have + est : 0;
        return afc_op_start_direct(op);
    }
    /* P_DIRECT */
    for (;;) {
        int r = fold_direct(op);
        if (r < 0) {
            return afc_op_finish(op, NULL);
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
                return afc_op_finish(op, NULL);
            }
        }
        return afc_op_start_direct(op);
    }
    consume_direct(op, op->n);
    if (op->wouldblock && op->got == 0) {
        Py_CLEAR(op->acc);  /* io: None, "no data yet", not b'' (EOF) */
        Py_INCREF(Py_None);
        return afc_op_finish(op, Py_None);
    }
    return finish_acc(op);
}

int
afc_run_read(AsyncOp *op)
{
    AsyncFile *f = op->file;
    Py_ssize_t n = op->n;
    if (op->phase == P_DIRECT) {
        int r = fold_direct(op);
        if (r < 0) {
            return afc_op_finish(op, NULL);
        }
        if (r == 0) {
            return afc_op_start_direct(op);
        }
        if (op->wouldblock && op->got == 0) {
            Py_CLEAR(op->acc);
            Py_INCREF(Py_None);
            return afc_op_finish(op, Py_None);
        }
        consume_direct(op, op->off);
        return finish_acc(op);
    }
    if (op->phase == P_FILL) {
        if (fold_fill(op) < 0) {
            return afc_op_finish(op, NULL);
        }
    }
    if (n == 0) {
        return afc_op_finish(op, PyBytes_FromStringAndSize(NULL, 0));
    }
    if (f->raw_mode) {
        op->acc = PyBytes_FromStringAndSize(NULL, n);
        if (op->acc == NULL) {
            return afc_op_finish(op, NULL);
        }
        op->alloc = n;
        op->got = 0;
        op->off = 0;
        return afc_op_start_direct(op);
    }
    Py_ssize_t have = f->rend - f->rpos;
    if (n <= have || op->filled) {
        if (op->abandoned || (have == 0 && op->wouldblock)) {
            Py_INCREF(Py_None);
            return afc_op_finish(op, Py_None);
        }
        return afc_op_finish(op, afc_take_buffered(f, n < have ? n : have));
    }
    if (have == 0 && f->ra > 0 && n >= f->ra && f->seekable) {
        /* A random reader (its window is at least what it asks for, see
         * ra.h): the refill would read exactly these bytes, so they are
         * read straight into the result, without the copy out of the
         * buffer; the window moves on as that refill would move it. */
        Py_ssize_t room = f->cap > 0 ? f->cap : AFC_MIN_CAP;
        f->ra = n >= room / 2 ? 0 : n * 2;
    }
    else if (n - have <= AFC_MIN_CAP / 2) {
        return afc_op_start_fill(op, n);
    }
    op->acc = PyBytes_FromStringAndSize(NULL, n);
    if (op->acc == NULL) {
        return afc_op_finish(op, NULL);
    }
    if (have > 0) {
        memcpy(PyBytes_AS_STRING(op->acc), f->buf + f->rpos, (size_t)have);
    }
    op->alloc = n;
    op->got = have;
    op->off = have;  /* bytes taken from the buffer */
    return afc_op_start_direct(op);
}

int
afc_run_read1_peek(AsyncOp *op)
{
    AsyncFile *f = op->file;
    if (op->phase == P_FILL && fold_fill(op) < 0) {
        return afc_op_finish(op, NULL);
    }
    Py_ssize_t have = f->rend - f->rpos;
    if (op->kind == K_READ1 && op->n == 0) {
        return afc_op_finish(op, PyBytes_FromStringAndSize(NULL, 0));
    }
    if (have == 0 && !op->filled) {
        if (op->kind == K_READ1 && op->n > AFC_MIN_CAP) {
            /* io's read1 with nothing buffered allocates the size asked
             * for: a size no memory can hold fails as io fails (nothing
             * is touched, so a size that fits costs no more than io's). */
            PyObject *room = PyBytes_FromStringAndSize(NULL, op->n);
            if (room == NULL) {
                return afc_op_finish(op, NULL);
            }
            Py_DECREF(room);
        }
        return afc_op_start_fill(op, 1);
    }
    if (op->abandoned) {
        Py_INCREF(Py_None);
        return afc_op_finish(op, Py_None);
    }
    if (op->kind == K_PEEK) {
        return afc_op_finish(
            op, PyBytes_FromStringAndSize(f->buf + f->rpos, have));
    }
    return afc_op_finish(op,
                         afc_take_buffered(f, op->n < have ? op->n : have));
}

int
afc_run_readinto(AsyncOp *op)
{
    AsyncFile *f = op->file;
    Py_ssize_t n = op->view.len;
    if (op->phase == P_DIRECT) {
        int r = fold_direct(op);
        if (r < 0) {
            return afc_op_finish(op, NULL);
        }
        if (r == 0) {
            return afc_op_start_direct(op);
        }
        if (op->wouldblock && op->got == 0) {
            Py_INCREF(Py_None);
            return afc_op_finish(op, Py_None);
        }
        consume_direct(op, op->off);
        return afc_op_finish(op, PyLong_FromSsize_t(op->got));
    }
    if (op->phase == P_FILL && fold_fill(op) < 0) {
        return afc_op_finish(op, NULL);
    }
    if (n == 0) {
        return afc_op_finish(op, PyLong_FromLong(0));
    }
    if (f->raw_mode) {
        op->alloc = n;
        op->got = 0;
        op->off = 0;
        return afc_op_start_direct(op);
    }
    Py_ssize_t have = f->rend - f->rpos;
    if (n <= have || op->filled) {
        Py_ssize_t k = n < have ? n : have;
        if (k == 0 && op->wouldblock) {
            Py_INCREF(Py_None);
            return afc_op_finish(op, Py_None);
        }
        if (k > 0) {
            memcpy(op->view.buf, f->buf + f->rpos, (size_t)k);
        }
        f->rpos += k;
        if (f->pos >= 0) {
            f->pos += k;
        }
        return afc_op_finish(op, PyLong_FromSsize_t(k));
    }
    if (n - have <= AFC_MIN_CAP / 2) {
        return afc_op_start_fill(op, n);
    }
    if (have > 0) {
        memcpy(op->view.buf, f->buf + f->rpos, (size_t)have);
    }
    op->alloc = n;
    op->got = have;
    op->off = have;
    return afc_op_start_direct(op);
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
    *line = afc_take_buffered(f, k);
    return RUN_DONE;
}

static int
run_raw_readline(AsyncOp *op, Py_ssize_t limit, PyObject **line);

int
afc_run_readline(AsyncOp *op)
{
    AsyncFile *f = op->file;
    PyObject *line = NULL;
    Py_ssize_t limit = op->kind == K_READLINE ? op->n : -1;
    if (op->phase == P_FILL && fold_fill(op) < 0) {
        return afc_op_finish(op, NULL);
    }
    if (op->abandoned && !f->raw_mode) {
        /* A cancelled readline consumes nothing. */
        Py_INCREF(Py_None);
        return afc_op_finish(op, Py_None);
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
                return afc_op_start_fill(op, have + 1);
            }
        }
        if (r == RUN_WAIT) {
            return RUN_WAIT;
        }
        if (r == RL_FINISHED) {
            return RUN_DONE;
        }
        if (line == NULL) {
            return afc_op_finish(op, NULL);
        }
        if (op->kind == K_READLINE) {
            return afc_op_finish(op, line);
        }
        if (op->kind == K_ANEXT) {
            if (PyBytes_GET_SIZE(line) == 0) {
                Py_DECREF(line);
                PyErr_SetNone(PyExc_StopAsyncIteration);
                return afc_op_finish(op, NULL);
            }
            return afc_op_finish(op, line);
        }
        /* K_READLINES */
        if (PyBytes_GET_SIZE(line) == 0) {
            Py_DECREF(line);
            PyObject *lst = op->acc;
            op->acc = NULL;
            return afc_op_finish(op, lst);
        }
        op->got += PyBytes_GET_SIZE(line);
        int rc = PyList_Append(op->acc, line);
        Py_DECREF(line);
        if (rc < 0) {
            return afc_op_finish(op, NULL);
        }
        if (op->n > 0 && op->got > op->n) {  /* io: stop once past hint */
            PyObject *lst = op->acc;
            op->acc = NULL;
            return afc_op_finish(op, lst);
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
    if (afc_file_ensure_buf(f, AFC_RAW_LINE_CHUNK) < 0) {
        return RUN_DONE;
    }
    Py_ssize_t want = f->seekable ? AFC_RAW_LINE_CHUNK : 1;
    if (limit >= 0 && limit - sofar < want) {
        want = limit - sofar;
    }
    afc_job_init(op, AFC_JOB_READ);
    op->job.ptr = f->buf;
    op->job.len = (size_t)want;
    op->job.off = f->seekable ? f->pos : -1;
    /* RUN_DONE here: afc_op_submit already finished the op with an error. */
    return afc_op_submit(op, P_DIRECT) == RUN_DONE ? RL_FINISHED : RUN_WAIT;
}
