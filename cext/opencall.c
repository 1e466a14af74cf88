/* OpenCall: what aiofiles_c.open() hands its context manager for the
 * common call (an ASCII str path, a binary mode of _COMMON_MODES, every
 * other argument at its default).
 *
 * aiofiles gives a coroutine there, and nothing happens before it is
 * awaited. So does this object: its first send raises the "open" audit
 * event, makes the file object and starts the file's open operation;
 * every later send, throw or close goes to that operation. It saves the
 * two Python frames (a coroutine, fsencode) the same steps cost, and
 * AiofilesContextManager.__aenter__ can give it to `async with` as it is,
 * because it keeps the file it opened until `_take()` hands it over.
 *
 * Like a coroutine it runs once: awaited again, or after a throw or a
 * close, it raises RuntimeError. */
#include "afc.h"

enum { OC_NEW, OC_RUNNING, OC_DONE, OC_OVER };

/* The file class's arguments, in its order (fileobj.c). */
enum { A_NAME, A_FMODE, A_FLAGS, A_READABLE, A_WRITABLE, A_APPENDING,
       A_CLOSEFD, A_BUFFERING, A_COUNT };

typedef struct {
    PyObject_HEAD
    afc_state *st;
    PyObject *cls;
    PyObject *raw;              /* the mode the audit event names */
    PyObject *args[A_COUNT];
    PyObject *inner;            /* the open operation, while it runs */
    PyObject *file;             /* the file object, once made */
    int state;
} OpenCall;

/* _cext.open_call(file, raw, flags, cls, fmode, readable, writable,
 * appending): all checked by _open.py already. */
PyObject *
afc_open_call(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "open_call() takes 8 arguments");
        return NULL;
    }
    afc_state *st = afc_get_state(module);
    OpenCall *self = PyObject_GC_New(OpenCall, st->OpenCall_type);
    if (self == NULL) {
        return NULL;
    }
    self->st = st;
    self->cls = Py_NewRef(args[3]);
    self->raw = Py_NewRef(args[1]);
    self->args[A_NAME] = Py_NewRef(args[0]);
    self->args[A_FMODE] = Py_NewRef(args[4]);
    self->args[A_FLAGS] = Py_NewRef(args[2]);
    self->args[A_READABLE] = Py_NewRef(args[5]);
    self->args[A_WRITABLE] = Py_NewRef(args[6]);
    self->args[A_APPENDING] = Py_NewRef(args[7]);
    self->args[A_CLOSEFD] = Py_NewRef(Py_True);
    self->args[A_BUFFERING] = PyLong_FromLong(-1);
    self->inner = NULL;
    self->file = NULL;
    self->state = OC_NEW;
    if (self->args[A_BUFFERING] == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

/* The audit event, the file object and its open operation. */
static int
oc_start(OpenCall *self)
{
    if (PySys_Audit("open", "OOO", self->args[A_NAME], self->raw,
                    self->args[A_FLAGS]) < 0) {
        return -1;
    }
    PyObject *f = PyObject_Vectorcall(self->cls, self->args, A_COUNT, NULL);
    if (f == NULL) {
        return -1;
    }
    PyObject *name = PyUnicode_EncodeFSDefault(self->args[A_NAME]);
    PyObject *op = name != NULL ? PyObject_CallMethodOneArg(
                                      f, self->st->str_open, name)
                                : NULL;
    Py_XDECREF(name);
    if (op == NULL) {
        Py_DECREF(f);
        return -1;
    }
    self->file = f;
    self->inner = op;
    self->state = OC_RUNNING;
    return 0;
}

/* The operation has finished (r is not PYGEN_NEXT). */
static void
oc_finished(OpenCall *self, PySendResult r)
{
    Py_CLEAR(self->inner);
    if (r == PYGEN_RETURN) {
        self->state = OC_DONE;
    }
    else {
        self->state = OC_OVER;
        Py_CLEAR(self->file);  /* not opened: nobody is to close it */
    }
}

static int
oc_not_running(OpenCall *self)
{
    if (self->state == OC_RUNNING) {
        return 0;
    }
    PyErr_SetString(PyExc_RuntimeError,
                    "cannot reuse already awaited coroutine");
    return 1;
}

static PySendResult
OC_am_send(OpenCall *self, PyObject *arg, PyObject **presult)
{
    *presult = NULL;
    if (self->state == OC_NEW) {
        self->state = OC_OVER;  /* also if the start fails */
        if (oc_start(self) < 0) {
            return PYGEN_ERROR;
        }
    }
    if (oc_not_running(self)) {
        return PYGEN_ERROR;
    }
    PySendResult r = afc_iter_send(self->inner, arg, presult);
    if (r != PYGEN_NEXT) {
        oc_finished(self, r);
    }
    return r;
}

static PyObject *
OC_iternext(OpenCall *self)
{
    PyObject *res;
    PySendResult r = OC_am_send(self, Py_None, &res);
    return afc_send_to_next(r, res);
}

static PyObject *
OC_send(OpenCall *self, PyObject *arg)
{
    PyObject *res;
    PySendResult r = OC_am_send(self, arg, &res);
    return afc_send_to_next(r, res);
}

/* throw() goes to the operation while it runs (a cancelled open closes
 * the file it opened); thrown into one not started, the exception comes
 * straight back, as from a coroutine not started. */
static PyObject *
OC_throw(OpenCall *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (self->state != OC_RUNNING) {
        PyObject *exc = afc_throw_exc(args, nargs);
        if (exc == NULL) {
            return NULL;
        }
        if (self->state == OC_NEW) {
            self->state = OC_OVER;
        }
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
        return NULL;
    }
    PyObject *meth = PyObject_GetAttr(self->inner, self->st->str_throw);
    if (meth == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_Vectorcall(meth, args, (size_t)nargs, NULL);
    Py_DECREF(meth);
    if (res != NULL) {
        return res;  /* the operation waits on */
    }
    if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
        oc_finished(self, PYGEN_RETURN);
    }
    else {
        oc_finished(self, PYGEN_ERROR);
    }
    return NULL;
}

static PyObject *
OC_close(OpenCall *self, PyObject *Py_UNUSED(ignored))
{
    if (self->state == OC_RUNNING) {
        PyObject *inner = self->inner;
        self->inner = NULL;
        self->state = OC_OVER;
        Py_CLEAR(self->file);
        PyObject *r = PyObject_CallMethodNoArgs(inner, self->st->str_close);
        Py_DECREF(inner);
        if (r == NULL) {
            return NULL;
        }
        Py_DECREF(r);
    }
    else if (self->state == OC_NEW) {
        self->state = OC_OVER;
    }
    Py_RETURN_NONE;
}

/* A second await while one is in progress fails, as on a coroutine
 * (the first awaiter's later sends do not come through here). */
static PyObject *
OC_await(OpenCall *self)
{
    if (self->state == OC_RUNNING) {
        PyErr_SetString(PyExc_RuntimeError,
                        "coroutine is being awaited already");
        return NULL;
    }
    return Py_NewRef(self);
}

/* The file, once the open finished, handed over once (then None): to
 * AiofilesContextManager, which closes it in __aexit__. */
static PyObject *
OC_take(OpenCall *self, PyObject *Py_UNUSED(ignored))
{
    if (self->state == OC_DONE && self->file != NULL) {
        PyObject *f = self->file;
        self->file = NULL;
        return f;
    }
    Py_RETURN_NONE;
}

static int
OC_traverse(OpenCall *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->cls);
    Py_VISIT(self->raw);
    for (int i = 0; i < A_COUNT; i++) {
        Py_VISIT(self->args[i]);
    }
    Py_VISIT(self->inner);
    Py_VISIT(self->file);
    return 0;
}

static int
OC_clear(OpenCall *self)
{
    Py_CLEAR(self->cls);
    Py_CLEAR(self->raw);
    for (int i = 0; i < A_COUNT; i++) {
        Py_CLEAR(self->args[i]);
    }
    Py_CLEAR(self->inner);
    Py_CLEAR(self->file);
    return 0;
}

static void
OC_dealloc(OpenCall *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->state == OC_RUNNING) {
        /* Dropped part-way, as a coroutine's frame would close what it
         * awaits: the operation is closed (an open it finishes later is
         * closed again, see op_abandon). */
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        PyObject *r = OC_close(self, NULL);
        if (r == NULL) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
        Py_XDECREF(r);
        PyErr_Restore(et, ev, tb);
    }
    OC_clear(self);
    PyObject_GC_Del(self);
    Py_DECREF(tp);
}

static PyMethodDef OC_methods[] = {
    {"send", (PyCFunction)OC_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))OC_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)OC_close, METH_NOARGS, NULL},
    {"_take", (PyCFunction)OC_take, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot OC_slots[] = {
    {Py_am_await, OC_await},
    AFC_AM_SEND_SLOT(OC_am_send)
    {Py_tp_iter, OC_await},
    {Py_tp_iternext, OC_iternext},
    {Py_tp_methods, OC_methods},
    {Py_tp_traverse, OC_traverse},
    {Py_tp_clear, OC_clear},
    {Py_tp_dealloc, OC_dealloc},
    {Py_tp_doc, "The open aiofiles_c.open() starts when first awaited."},
    {0, NULL},
};

PyType_Spec afc_open_call_spec = {
    .name = "aiofiles_c._cext.OpenCall",
    .basicsize = sizeof(OpenCall),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = OC_slots,
};
