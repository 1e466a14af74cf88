/* Completion: the completion queue of one event loop, as a Python object.
 * The loop watches its eventfd and calls drain(), which hands every
 * finished job back to the operation that submitted it. */
#include "afc.h"

#include <errno.h>
#include <stddef.h>

/* ---- Completion: one per event loop ---- */

int
afc_cq_is_live(CompletionObject *c)
{
    return c->alive && c->generation == afc_fork_generation();
}

static PyObject *
Completion_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (!afc_no_args("Completion", args, kwds)) {
        return NULL;
    }
    afc_pool_init_once();
    CompletionObject *self = (CompletionObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->cq = afc_cq_new(PyInterpreterState_Get());
    if (self->cq == NULL) {
        Py_DECREF(self);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    self->generation = self->cq->generation;
    self->alive = 1;
    return (PyObject *)self;
}

static void
release_list(afc_job *list, int run_callbacks)
{
    while (list != NULL) {
        afc_job *job = list;
        list = job->next;
        if (run_callbacks) {
            afc_job_done(job);
        }
        else {
            afc_job_discard(job);
        }
    }
}

/* Only jobs of this interpreter: releasing them drops references to its
 * Python objects. (The module refuses to load in a second interpreter,
 * module_exec, so in practice there is one; the filter keeps it so.) */
void
afc_reclaim_orphans(void)
{
    release_list(afc_take_orphans(PyInterpreterState_Get()), 0);
}

void
afc_drain(afc_cq *cq)
{
    /* Ack first, then take: a job pushed after the take writes the eventfd
     * again, so no wake-up is lost. */
    afc_cq_ack(cq);
    release_list(afc_cq_take(cq), 1);
    afc_reclaim_orphans();
}

/* The loop is gone (or this process is a forked child): jobs still in
 * flight are parked on the orphan list when they finish, and released by
 * the next drain of any loop. */
static void
Completion_orphan_impl(CompletionObject *self)
{
    if (self->cq == NULL || !self->alive) {
        return;
    }
    self->alive = 0;
    if (self->generation != afc_fork_generation()) {
        /* Forked child: the parent's workers will never deliver here. */
        release_list(afc_cq_take(self->cq), 0);
        return;
    }
    release_list(afc_cq_orphan(self->cq), 0);
}

static PyObject *
Completion_orphan(CompletionObject *self, PyObject *Py_UNUSED(ignored))
{
    Completion_orphan_impl(self);
    Py_RETURN_NONE;
}

static PyObject *
Completion_drain(CompletionObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->cq == NULL || !afc_cq_is_live(self)) {
        Py_RETURN_NONE;
    }
    afc_drain(self->cq);
    Py_RETURN_NONE;
}

static PyObject *
Completion_fileno(CompletionObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(self->cq != NULL ? self->cq->efd : -1);
}

/* For a loop that cannot watch the eventfd (no add_reader, or no eventfd
 * at all): sleep, without the GIL, until a job is finished or the timeout
 * passes. Returns whether finished jobs are waiting. */
static PyObject *
Completion_wait(CompletionObject *self, PyObject *arg)
{
    double t = PyFloat_AsDouble(arg);
    if (t == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (self->cq == NULL || !afc_cq_is_live(self)) {
        Py_RETURN_FALSE;
    }
    long ns = t <= 0 ? 0 : (t > 3600 ? 3600L * 1000000000L
                                     : (long)(t * 1e9));
    afc_cq *cq = self->cq;
    int ready;
    afc_cq_incref(cq);
    Py_BEGIN_ALLOW_THREADS
    ready = afc_cq_wait(cq, ns);
    Py_END_ALLOW_THREADS
    afc_cq_decref(cq);
    return PyBool_FromLong(ready);
}

static PyObject *
Completion_get_inflight(CompletionObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLong(self->cq != NULL ? self->cq->inflight : 0);
}

static PyObject *
Completion_get_alive(CompletionObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(afc_cq_is_live(self));
}

static void
Completion_dealloc(CompletionObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Completion_orphan_impl(self);
    if (self->cq != NULL) {
        afc_cq_decref(self->cq);
        self->cq = NULL;
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyMethodDef Completion_methods[] = {
    {"drain", (PyCFunction)Completion_drain, METH_NOARGS,
     "Resolve every finished job of this loop (called by the loop)."},
    {"fileno", (PyCFunction)Completion_fileno, METH_NOARGS,
     "The eventfd the loop watches."},
    {"orphan", (PyCFunction)Completion_orphan, METH_NOARGS,
     "Detach from a loop that is gone."},
    {"wait", (PyCFunction)Completion_wait, METH_O,
     "wait(timeout): sleep until jobs are finished; True if some are."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Completion_getset[] = {
    {"alive", (getter)Completion_get_alive, NULL,
     "True while this queue can deliver to its loop.", NULL},
    {"_inflight", (getter)Completion_get_inflight, NULL,
     "Jobs submitted for this loop and not yet drained.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Completion_slots[] = {
    {Py_tp_new, Completion_new},
    {Py_tp_dealloc, Completion_dealloc},
    {Py_tp_methods, Completion_methods},
    {Py_tp_getset, Completion_getset},
    {Py_tp_doc, "Completion queue of one event loop."},
    {0, NULL},
};

PyType_Spec afc_completion_spec = {
    .name = "aiofiles_c._cext.Completion",
    .basicsize = sizeof(CompletionObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Completion_slots,
};

/* In a forked child (os.register_at_fork): complete, with an exception,
 * the operations the parent had in the pool at fork() (they will never
 * finish here), and deliver those it had finished but not yet drained. */
void
afc_deliver_forked(void)
{
    release_list(afc_fork_take_stale(PyInterpreterState_Get()), 1);
}
