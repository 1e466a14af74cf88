/* The awaitable every async file method and aiofiles_c.os call returns
 * (Operation), and the per-file FIFO that orders operations: finishing an
 * operation, waking the task parked on it, sending its job to the pool, and
 * the coroutine protocol (send, throw, close) a task drives it with. */
#include "op.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* ---- finishing operations ---- */

void
afc_op_release_view(AsyncOp *op)
{
    if (op->has_view) {
        PyBuffer_Release(&op->view);
        op->has_view = 0;
    }
}

/* Resolve fut from its loop's thread (called there by call_soon_threadsafe,
 * or by call_soon after an inline call past the budget, see yield_first):
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

/* fut's loop.<how>(op.<name>, fut): the ways a parked task is woken.
 * Returns 0, or -1 with an exception. */
static int
op_call_on_loop(AsyncOp *op, PyObject *fut, PyObject *how, PyObject *name)
{
    PyObject *loop = PyObject_CallMethodNoArgs(fut, op->st->str_get_loop);
    if (loop == NULL) {
        return -1;
    }
    PyObject *cb = PyObject_GetAttr((PyObject *)op, name);
    PyObject *h = cb != NULL
                      ? PyObject_CallMethodObjArgs(loop, how, cb, fut, NULL)
                      : NULL;
    Py_XDECREF(cb);
    Py_DECREF(loop);
    Py_XDECREF(h);
    return h != NULL ? 0 : -1;
}

/* The wake-up of a task that yielded after the inline budget (see
 * op_yield_park): one loop iteration later than _wake would be. Tasks
 * that timers or I/O woke in the iteration where the budget ran out are
 * queued in this one (behind this callback): resolving fut only now puts
 * this task's next round of on-the-spot work behind theirs, so a timer
 * waits for one budget at most, not two. */
static PyObject *
Op_wake_late(AsyncOp *op, PyObject *fut)
{
    if (op_call_on_loop(op, fut, op->st->str_call_soon, op->st->str_wake) <
        0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static void
op_wake_remote(AsyncOp *op, PyObject *fut)
{
    if (op_call_on_loop(op, fut, op->st->str_call_soon_threadsafe,
                        op->st->str_wake) < 0) {
        /* A closed loop: nobody is left to resume the task. */
        if (!PyErr_ExceptionMatches(PyExc_RuntimeError)) {
            PyErr_WriteUnraisable(fut);
        }
        PyErr_Clear();
    }
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
            if (r == NULL && PyErr_ExceptionMatches(PyExc_RuntimeError)) {
                PyErr_Clear();  /* its loop is closed: nobody to resume */
            }
            else if (r == NULL) {
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
int
afc_op_finish(AsyncOp *op, PyObject *result)
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
    afc_op_release_view(op);
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

int
afc_op_fail_errno(AsyncOp *op, int err, PyObject *filename)
{
    errno = err;
    if (filename != NULL) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, filename);
    }
    else {
        PyErr_SetFromErrno(PyExc_OSError);
    }
    return afc_op_finish(op, NULL);
}

int
afc_op_fail(AsyncOp *op, PyObject *type, const char *msg)
{
    PyErr_SetString(type, msg);
    return afc_op_finish(op, NULL);
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
int
afc_op_submit(AsyncOp *op, int phase)
{
    if (op->cq == NULL && op_bind_loop(op) < 0) {
        return afc_op_finish(op, NULL);
    }
    CompletionObject *c = (CompletionObject *)op->cq;
    if (!afc_cq_is_live(c)) {
        return afc_op_fail(op, PyExc_RuntimeError,
                       "the event loop that called this operation is "
                       "closed");
    }
    if (op->job.work == NULL || op->job.done == NULL) {
        return afc_op_fail(op, PyExc_SystemError,
                           "a job without work or done");
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
        return afc_op_fail_errno(op, rc, NULL);
    }
    return RUN_WAIT;
}


/* ---- a job's return (the done functions' shared part) ---- */

AsyncOp *
afc_op_job_back(afc_job *job)
{
    AsyncOp *op = afc_op_of_job(job);
    job->cq->inflight--;
    afc_cq_decref(job->cq);
    job->cq = NULL;
    op->in_pool = 0;
    return op;
}

/* The loop is gone: nobody gets a result. The op's reference from
 * afc_op_submit goes. */
void
afc_op_job_discard(AsyncOp *op)
{
    afc_job *job = &op->job;
    free(job->out);
    job->out = NULL;
    afc_job_drop_fd(job, 0);
    Py_DECREF(op);
}

/* In a forked child: the parent's worker had the job; it never ran here,
 * or ran only in part. */
void
afc_op_forked(AsyncOp *op)
{
    AsyncFile *f = op->file;
    free(op->job.out);
    op->job.out = NULL;
    Py_XINCREF(f);
    PyErr_SetString(PyExc_RuntimeError,
                    "the operation was in flight in the parent process "
                    "at fork(); it did not complete in this process");
    int r = afc_op_finish(op, NULL);
    if (f != NULL && r == RUN_DONE && f->qhead != op) {
        afc_file_pump(f);
    }
    Py_XDECREF(f);
    Py_DECREF(op);
}

/* The done function of a job of an op in a file's FIFO: the op goes on
 * (op->run), then the ops queued behind it. */
void
afc_op_job_done(afc_job *job, int status)
{
    AsyncOp *op = afc_op_job_back(job);
    if (status == AFC_DONE_DISCARD) {
        if (op->file == NULL || op->kind == K_OPEN ||
            op->file->qhead != op) {
            afc_op_job_discard(op);
            return;
        }
        /* The loop that called for op is gone, but the file may be used
         * by loops of other threads, whose calls wait behind op: fold the
         * job into the file as usual; op then finishes (a further job for
         * it fails: its loop is closed) and the calls behind it go on.
         * Its future belongs to the closed loop: nobody takes the result. */
        Py_CLEAR(op->fut);
        op->abandoned = 1;
    }
    if (job->err == AFC_ERR_FORKED) {
        afc_op_forked(op);
        return;
    }
    AsyncFile *f = op->file;
    Py_INCREF(f);
    int r = op->run(op);
    if (PyErr_Occurred()) {
        PyErr_WriteUnraisable((PyObject *)op);
    }
    if (r == RUN_DONE && f->qhead != op) {
        afc_file_pump(f);
    }
    Py_DECREF(op);  /* the reference afc_op_submit took */
    Py_DECREF(f);
}

/* ---- the FIFO ---- */

int
afc_op_run(AsyncOp *op)
{
    op->state = S_RUNNING;
    return op->run(op);
}

/* Run queued operations until one has to wait. */
void
afc_file_pump(AsyncFile *f)
{
    if (f->pumping) {
        return;
    }
    f->pumping = 1;
    Py_INCREF(f);
    while (f->qhead != NULL && f->qhead->state == S_QUEUED) {
        AsyncOp *op = f->qhead;
        Py_INCREF(op);
        int r = afc_op_run(op);
        Py_DECREF(op);
        if (r == RUN_WAIT) {
            break;
        }
    }
    f->pumping = 0;
    Py_DECREF(f);
}

/* ---- the awaitable ---- */

/* A zeroed op, not yet tracked by the GC (the caller tracks it once its
 * fields are set, or never: see afc_op_done). */
AsyncOp *
afc_op_alloc(afc_state *st, AsyncFile *f, int kind, int (*run)(AsyncOp *op))
{
    AsyncOp *op;
    if (st->n_op_free > 0) {
        /* A freed one: its memory (GC header included, untracked) is as
         * PyObject_GC_New leaves it; PyObject_Init gives it its type
         * reference and refcount back. No malloc, and no count towards
         * the next collection for an object that lives one await. */
        op = st->op_free[--st->n_op_free];
        (void)PyObject_Init((PyObject *)op, st->Op_type);
    }
    else {
        op = PyObject_GC_New(AsyncOp, st->Op_type);
        if (op == NULL) {
            return NULL;
        }
    }
    memset((char *)op + sizeof(PyObject), 0,
           sizeof(AsyncOp) - sizeof(PyObject));
    op->st = st;
    op->file = (AsyncFile *)Py_XNewRef(f);
    op->kind = kind;
    op->run = run;
    op->state = S_QUEUED;
    op->thread = PyThread_get_thread_ident();
    return op;
}

AsyncOp *
afc_op_new(AsyncFile *f, int kind, int (*run)(AsyncOp *op))
{
    AsyncOp *op = afc_op_alloc(f->st, f, kind, run);
    if (op != NULL) {
        PyObject_GC_Track(op);
    }
    return op;
}

/* ---- calls answered at once ---- */

PyObject *
afc_op_yield(afc_state *st)
{
    PyObject *op = afc_op_done(st, Py_NewRef(Py_None));
    if (op != NULL) {
        ((AsyncOp *)op)->yield_first = 1;
    }
    return op;
}

PyObject *
afc_op_done(afc_state *st, PyObject *value)
{
    if (value == NULL) {
        return NULL;
    }
    AsyncOp *op = afc_op_alloc(st, NULL, K_DONE, NULL);
    if (op == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    /* Not tracked: its value is a str, bytes, int, a list of bytes or a
     * scandir entry (_cext._done), none of which can lead back to it. */
    op->state = S_DONE;
    op->result = value;
    return (PyObject *)op;
}

PyObject *
afc_op_error(afc_state *st)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    AsyncOp *op = afc_op_alloc(st, NULL, K_DONE, NULL);
    if (op == NULL) {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return NULL;
    }
    PyErr_Restore(type, value, tb);
    op->state = S_RUNNING;
    afc_op_finish(op, NULL);  /* takes the exception */
    PyObject_GC_Track(op);    /* a traceback can lead back here */
    return (PyObject *)op;
}

PyObject *
afc_op_reuse(PyObject *spare, PyObject *value)
{
    AsyncOp *op = (AsyncOp *)spare;
    if (op == NULL || Py_REFCNT(op) != 1 || op->state != S_CONSUMED ||
        op->kind != K_DONE || op->result != NULL || op->exc != NULL) {
        return NULL;
    }
    op->state = S_DONE;
    op->result = value;
    return Py_NewRef(spare);
}

/* Enqueue op and run it at once if nothing is ahead of it. Returns a new
 * reference to op. */
PyObject *
afc_file_start(AsyncFile *f, AsyncOp *op)
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
    if (op->kind != K_OPEN && !afc_budget_turn(f->st)) {
        /* Fairness: the iteration's budget of work on the spot is spent
         * (this file's reads from memory count, with every other call's).
         * The first call past it is still served here and its task waits
         * an iteration after it (yield_first). Calls other tasks make in
         * the same iteration read through the pool, whose workers run
         * beside the loop; one that memory answers makes its task wait an
         * iteration all the same. */
        afc_state *st = f->st;
        int first = !st->budget_parked;
        st->budget_parked = 1;
        st->pool_now = !first;
        afc_file_pump(f);
        st->pool_now = 0;
        if (op->state == S_DONE) {
            op->yield_first = 1;
        }
        Py_INCREF(op);
        return (PyObject *)op;
    }
    afc_file_pump(f);
    Py_INCREF(op);
    return (PyObject *)op;
}

/* afc_file_start() for an op the caller owns: the reference passes on. */
PyObject *
afc_file_start_owned(AsyncFile *f, AsyncOp *op)
{
    PyObject *r = afc_file_start(f, op);
    Py_DECREF(op);
    return r;
}

static int
op_is_pending(AsyncOp *op)
{
    return op->state == S_QUEUED || op->state == S_RUNNING;
}

/* A file shared by loops in threads: op waits behind an op of another
 * loop. That loop resolves its op and then starts op, but it may have
 * ended with its op in flight (its task cancelled at shutdown), and a
 * closed loop drains nothing, so op would wait for ever. While op waits,
 * its own loop checks every AFC_WATCH_S: it drains the queue of the loop
 * whose job heads the file (harmless when that loop is alive: a waiter of
 * another thread is woken there) and the jobs of loops already gone. */
#define AFC_WATCH_S 0.1

static int
op_watch_later(AsyncOp *op)
{
    AsyncFile *f = op->file;
    AsyncOp *h = f != NULL ? f->qhead : NULL;
    if (op->state != S_QUEUED || h == NULL || h == op || h->cq == op->cq) {
        return 0;
    }
    PyObject *loop = running_loop(op->st);
    PyObject *cb = loop != NULL ? PyObject_GetAttrString((PyObject *)op,
                                                         "_watch")
                                : NULL;
    PyObject *hd = cb != NULL ? PyObject_CallMethod(loop, "call_later", "dO",
                                                    AFC_WATCH_S, cb)
                              : NULL;
    Py_XDECREF(hd);
    Py_XDECREF(cb);
    Py_XDECREF(loop);
    return hd == NULL ? -1 : 0;
}

static PyObject *
Op_watch(AsyncOp *op, PyObject *Py_UNUSED(ignored))
{
    AsyncFile *f = op->file;
    if (op->state != S_QUEUED || f == NULL || op->fut == NULL) {
        Py_RETURN_NONE;
    }
    AsyncOp *h = f->qhead;
    if (h != NULL && h != op && h->in_pool && h->job.cq != NULL) {
        afc_cq *cq = h->job.cq;
        afc_cq_incref(cq);
        afc_drain(cq);
        afc_cq_decref(cq);
    }
    else {
        afc_reclaim_orphans();
    }
    if (op_watch_later(op) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* A fresh future for the awaiting task to park on, made op->fut.
 * Returns a new reference. */
static PyObject *
op_new_future(AsyncOp *op)
{
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
    op->waiter = PyThread_get_thread_ident();
    PyObject *old = op->fut;
    op->fut = Py_NewRef(fut);
    Py_XDECREF(old);
    return fut;
}

/* Park the awaiting task on a fresh future, resolved when op finishes.
 * Returns a new reference. */
static PyObject *
op_park(AsyncOp *op)
{
    PyObject *fut = op_new_future(op);
    if (fut == NULL) {
        return NULL;
    }
    /* create_future() and the attribute may run Python code, and with it
     * another thread's loop, which can finish an op queued behind its own
     * (a file shared by loops in threads) while op->fut is not yet set:
     * nobody would resolve fut then. Checked after the last call that can
     * switch threads, so a finish from now on sees op->fut. */
    if (!op_is_pending(op) && op->fut == fut) {
        Py_CLEAR(op->fut);
        PyObject *r = PyObject_CallMethodOneArg(fut, op->st->str_set_result,
                                                Py_None);
        if (r == NULL) {
            Py_DECREF(fut);
            return NULL;
        }
        Py_DECREF(r);
    }
    else if (op_watch_later(op) < 0) {
        Py_CLEAR(op->fut);
        Py_DECREF(fut);
        return NULL;
    }
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
        op->thread != PyThread_get_thread_ident()) {
        return 0;  /* (another thread's op: its queue is another loop's) */
    }
    /* Fairness: awaits resolved on the spot never let the loop run, so
     * once the iteration's budget is spent the next one parks. */
    if (!afc_budget_turn(st)) {
        return 0;
    }
    /* Opening a window may run Python (call_soon), and with it another
     * thread: look at the op again before waiting on its queue. */
    if (!op->in_pool || op->job.cq != cq) {
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

/* Park the task on a future that its loop resolves two iterations from
 * now (op is done already: see yield_first and Op_wake_late). New
 * reference. */
static PyObject *
op_yield_park(AsyncOp *op)
{
    PyObject *fut = op_new_future(op);
    if (fut == NULL) {
        return NULL;
    }
    if (op_call_on_loop(op, fut, op->st->str_call_soon,
                        op->st->str_wake_late) < 0) {
        Py_CLEAR(op->fut);
        Py_DECREF(fut);
        return NULL;
    }
    return fut;
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
    if (op->state == S_DONE && op->yield_first) {
        op->yield_first = 0;
        PyObject *fut = op_yield_park(op);
        if (fut != NULL) {
            *presult = fut;
            return PYGEN_NEXT;
        }
        PyErr_Clear();  /* no loop to yield to: deliver now */
    }
    if (op->state == S_DONE) {
        op->state = S_CONSUMED;
        Py_CLEAR(op->fut);
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

/* A second await while a task is parked on op fails, as on a coroutine:
 * two tasks parked on one op would leave one of them waiting forever. */
static PyObject *
Op_await(AsyncOp *op)
{
    if (op->fut != NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "coroutine is being awaited already");
        return NULL;
    }
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
        afc_op_release_view(op);
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
        return 0;
    }
    if (op->kind == K_FS && op->result != NULL) {
        afc_job_drop_fd(&op->job, 0);  /* an fd nobody will receive */
    }
    if (op->kind == K_OPEN && op->state == S_DONE && op->result != NULL &&
        op->result != Py_None && exc != NULL) {
        /* The file was open when the cancellation reached the task: nobody
         * will get it, so close it quietly (as an open still in flight). */
        AsyncFile *rf = (AsyncFile *)op->result;
        if (rf->opened && !rf->closed) {
            afc_job_drop_fd(&op->job, rf->closefd);  /* its fd: rf->fd */
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
    afc_op_release_view(op);
    Py_CLEAR(op->file);
    return 0;
}

static void
Op_dealloc(AsyncOp *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    Op_clear(op);
    afc_state *st = op->st;
    if (tp == st->Op_type && !op->in_pool &&
        st->n_op_free < (int)(sizeof st->op_free / sizeof st->op_free[0])) {
        st->op_free[st->n_op_free++] = op;
    }
    else {
        PyObject_GC_Del(op);
    }
    Py_DECREF(tp);
}

void
afc_op_free_all(afc_state *st)
{
    while (st->n_op_free > 0) {
        PyObject_GC_Del(st->op_free[--st->n_op_free]);
    }
}

static PyMethodDef Op_methods[] = {
    {"send", (PyCFunction)Op_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))Op_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)Op_close, METH_NOARGS, NULL},
    {"_watch", (PyCFunction)Op_watch, METH_NOARGS, NULL},
    {"_wake", (PyCFunction)Op_wake, METH_O, NULL},
    {"_wake_late", (PyCFunction)Op_wake_late, METH_O, NULL},
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
    {Py_tp_doc, "The awaitable of an async call (a file method, an "
                "aiofiles_c.os call, or a call answered at once): await it "
                "like a coroutine."},
    {0, NULL},
};

PyType_Spec afc_op_spec = {
    .name = "aiofiles_c._cext.Operation",
    .basicsize = sizeof(AsyncOp),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Op_slots,
};

