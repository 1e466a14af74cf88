/* The loop-thread side of fastpath.c: when an open, a stat, a close or a
 * read_bytes may be done here instead of in the pool, and the budget that
 * keeps such work from starving the loop. */
#include "op.h"
#include "fastpath.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* A read-only open of a cached path on a local file system, done here
 * and left in the job as the pool's open would leave it (fd in res, the
 * fstat, the position). Returns 1 if done; 0: the pool opens (errors are
 * always the pool's, worded as io words them). */
int
afc_open_inline(AsyncOp *op)
{
    AsyncFile *f = op->file;
    int fd;
    int64_t pos;
    if (op->st->no_inline_reads || f->appending ||
        (f->flags & ~(O_CLOEXEC | O_NOFOLLOW | O_LARGEFILE)) != O_RDONLY) {
        return 0;
    }
    /* Work on the spot shares the iteration's budget (awaitable.c). */
    int spot = afc_budget_spot(op->st);
    if (spot == AFC_SPOT_POOL ||
        afc_fast_open(AT_FDCWD, PyBytes_AS_STRING(op->arg), f->flags, &fd,
                      &op->job.st, &pos) != AFC_FAST_DONE) {
        return 0;
    }
    op->job.path = PyBytes_AS_STRING(op->arg);
    op->job.res = fd;
    op->job.pos = pos;
    op->job.err = 0;
    op->yield_first = spot == AFC_SPOT_LAST;
    return 1;
}

/* read_bytes of a cached file on a local file system, all of it here: the
 * open, a bytes object sized by its fstat, RWF_NOWAIT reads straight into
 * it, the close. Files of AFC_NOWAIT_MAX or more, and any not all cached,
 * go to the pool (one job). DONE: *data is the result, or NULL with an
 * exception (no memory). */
int
afc_read_file_inline(const char *path, PyObject **data)
{
    int fd;
    int64_t pos;
    struct stat sb;
    if (afc_fast_open(AT_FDCWD, path, O_RDONLY, &fd, &sb, &pos) !=
        AFC_FAST_DONE) {
        return AFC_FAST_POOL;
    }
    int done = AFC_FAST_POOL;
    if (sb.st_size < AFC_NOWAIT_MAX) {
        size_t got = 0;
        PyObject *b = PyBytes_FromStringAndSize(NULL, sb.st_size + 1);
        if (b == NULL) {
            done = AFC_FAST_DONE;  /* the MemoryError */
        }
        else if (!afc_fast_read_cached(fd, PyBytes_AS_STRING(b),
                                       (size_t)sb.st_size + 1,
                                       (size_t)sb.st_size, &got)) {
            Py_DECREF(b);
        }
        else {
            /* Shrinking by a byte: realloc in place. On failure b is
             * NULL and the exception set. */
            if (_PyBytes_Resize(&b, (Py_ssize_t)got) == 0) {
                *data = b;
            }
            done = AFC_FAST_DONE;
        }
    }
    close(fd);  /* read-only regular file, local file system */
    afc_fast_count_close();
    return done;
}
