/* The loop-thread side of fastpath.c: when an open, a stat, a close or a
 * read_bytes may be done here instead of in the pool, and the budget that
 * keeps all work done on the spot from starving the loop. */
#include "op.h"
#include "fastpath.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* ---- the inline budget ----
 *
 * Work done on the loop thread instead of in the pool (cached reads,
 * opens, stats, awaits resolved by a short spin) holds the loop, so all
 * of it that one loop iteration does shares one budget, whatever number
 * of tasks the iteration runs. The first such call opens a window and
 * asks the loop to call _budget_tick soon: that callback runs on the
 * loop's next iteration (call_soon queues behind everything this
 * iteration runs) and closes the window. Past the budget, the first call
 * is still made here and its task waits an iteration (yield_first); the
 * calls other tasks make in the same iteration go to the pool (opens,
 * stats, whole-file reads, closes: afc_budget_spot; file reads:
 * afc_file_start), whose workers run beside the loop. So one iteration
 * does one budget of such work, plus one call, whatever the number of
 * tasks. A window older than AFC_BUDGET_STALE_NS
 * is closed by the next call anyway (its tick's loop may be gone, or
 * blocked: the budget is the process's, shared by its loops). */
#define AFC_BUDGET_STALE_NS (20 * 1000 * 1000)

int
afc_budget_turn(afc_state *st)
{
    int64_t now = afc_now_ns();
    if (st->spin_streak != 0 && now - st->spin_streak > AFC_BUDGET_STALE_NS) {
        st->spin_streak = 0;
        st->budget_tick_pending = 0;
        st->budget_parked = 0;
    }
    if (st->spin_streak == 0) {
        st->spin_streak = now;
    }
    if (!st->budget_tick_pending) {
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        PyObject *loop = PyObject_CallNoArgs(st->get_running_loop);
        PyObject *h = loop != NULL && loop != Py_None
                          ? PyObject_CallMethodOneArg(loop, st->str_call_soon,
                                                      st->budget_tick)
                          : NULL;
        Py_XDECREF(loop);
        if (h != NULL) {
            Py_DECREF(h);
            st->budget_tick_pending = 1;
        }
        else {
            PyErr_Clear();  /* no loop: the stale rule closes the window */
        }
        PyErr_Restore(et, ev, tb);
    }
    if (st->budget_ns <= 0) {
        st->budget_ns = AFC_BUDGET_NS;
    }
    return now - st->spin_streak <= st->budget_ns;
}

/* The iteration that opened the window is over when its tick runs. What
 * it ran past the window (the other tasks' steps after the budget was
 * spent, each of which still started a call, and any other callbacks)
 * comes off the next windows twice over: a timer that falls due in one
 * iteration runs in the next one, and its task resumes in the one after
 * it, behind the tasks woken meanwhile, so its lateness is about two
 * iterations and a window. An eighth of AFC_BUDGET_NS is always left. */
void
afc_budget_close(afc_state *st)
{
    int64_t now = afc_now_ns();
    if (st->spin_streak != 0) {
        int64_t ran = now - st->spin_streak;
        int64_t want = AFC_BUDGET_NS - 2 * (ran - st->budget_ns);
        if (want < AFC_BUDGET_NS / 8) {
            want = AFC_BUDGET_NS / 8;
        }
        if (want > AFC_BUDGET_NS) {
            want = AFC_BUDGET_NS;
        }
        st->budget_ns = (st->budget_ns + want) / 2;
    }
    st->spin_streak = 0;
    st->budget_tick_pending = 0;
    st->budget_parked = 0;
}

int
afc_budget_spot(afc_state *st)
{
    if (afc_budget_turn(st)) {
        return AFC_SPOT_OK;
    }
    if (!st->budget_parked) {
        st->budget_parked = 1;
        return AFC_SPOT_LAST;
    }
    return AFC_SPOT_POOL;
}

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
    afc_fast_count(AFC_COUNT_CLOSE);
    return done;
}
