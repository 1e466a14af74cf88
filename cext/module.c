/* aiofiles_c._cext: module state, multi-phase init, the module's functions
 * and the constants it exports. */
#include "afc.h"
#include "fastpath.h"
#include "text.h"  /* the codes of the text layer's _slow, exported */

#include <errno.h>
#include <stddef.h>

/* ---- module functions ---- */

static PyObject *
mod_set_pool_size(PyObject *module, PyObject *arg)
{
    (void)module;
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n < 1 || n > 256) {
        PyErr_SetString(PyExc_ValueError, "pool size must be in 1..256");
        return NULL;
    }
    afc_pool_set_size((int)n);
    Py_RETURN_NONE;
}

static PyObject *
mod_pool_size(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return PyLong_FromLong(afc_pool_size());
}

static PyObject *
mod_set_cq_factory(PyObject *module, PyObject *arg)
{
    afc_state *st = afc_get_state(module);
    Py_INCREF(arg);
    Py_XSETREF(st->cq_factory, arg);
    Py_RETURN_NONE;
}

static PyObject *
mod_set_inline_reads(PyObject *module, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0) {
        return NULL;
    }
    afc_get_state(module)->no_inline_reads = !on;
    Py_RETURN_NONE;
}

static PyObject *
mod_budget_tick(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    afc_budget_close(afc_get_state(module));
    Py_RETURN_NONE;
}

/* _yield(): an awaitable that gives the loop its turn, as the calls past
 * the inline budget do (Python code of the package that stops for
 * fairness, e.g. the text layer's). */
static PyObject *
mod_yield(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return afc_op_yield(afc_get_state(module));
}

/* _done(value): a finished awaitable that gives value (scandir's async
 * iteration, for the entries it has at hand). */
static PyObject *
mod_done(PyObject *module, PyObject *value)
{
    return afc_op_done(afc_get_state(module), Py_NewRef(value));
}

/* Tests: spend the current budget window (opening one if needed), as
 * ~0.5 ms of work on the spot would. */
static PyObject *
mod_budget_spend(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    afc_state *st = afc_get_state(module);
    afc_budget_turn(st);
    if (st->spin_streak != 0) {
        st->spin_streak -= 2 * st->budget_ns + 1;
    }
    Py_RETURN_NONE;
}

/* Tests: (opens, stats, closes) done inline so far, whether openat2 with
 * RESOLVE_CACHED is usable (fastpath.c), and the page-cache reads of
 * buffered files done inline. */
static PyObject *
mod_fast_counts(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    uint64_t c[AFC_COUNTS];
    afc_fast_counts(c);
    return Py_BuildValue("(KKKOK)", (unsigned long long)c[AFC_COUNT_OPEN],
                         (unsigned long long)c[AFC_COUNT_STAT],
                         (unsigned long long)c[AFC_COUNT_CLOSE],
                         afc_fast_available() ? Py_True : Py_False,
                         (unsigned long long)c[AFC_COUNT_READ]);
}

static PyObject *
mod_slow_limit(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return PyLong_FromLong(afc_pool_slow_limit());
}

/* Tests: make the next n submissions fail with errno err. */
static PyObject *
mod_fail_submits(PyObject *module, PyObject *args)
{
    (void)module;
    int n, err;
    if (!PyArg_ParseTuple(args, "ii:_fail_submits", &n, &err)) {
        return NULL;
    }
    afc_pool_fail_submits(n, err);
    Py_RETURN_NONE;
}

/* os.register_at_fork(after_in_child=...): complete, with an exception,
 * the operations the parent had in the pool at fork() (they will never
 * finish here), and deliver those it had finished but not yet drained. */
static PyObject *
mod_after_fork_child(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    afc_deliver_forked();
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"fs", (PyCFunction)(void (*)(void))afc_fs_call,
     METH_VARARGS | METH_KEYWORDS,
     "Start a file-system call in the pool (used by aiofiles_c.os)."},
    {"open_call", (PyCFunction)(void (*)(void))afc_open_call, METH_FASTCALL,
     "open_call(file, raw, flags, cls, fmode, readable, writable, "
     "appending): the awaitable of aiofiles_c.open()'s common call."},
    {"int_arg", (PyCFunction)(void (*)(void))afc_int_arg_py, METH_FASTCALL,
     "Convert an integer argument as io/os do (used by aiofiles_c.os)."},
    {"set_inline_reads", mod_set_inline_reads, METH_O,
     "Whether files opened from now on read page-cached data on the loop "
     "thread (preadv2 RWF_NOWAIT) before using the pool, and whether "
     "read-only opens, stats and closes of cached paths on local file "
     "systems are done there too. On by default."},
    {"_budget_tick", mod_budget_tick, METH_NOARGS,
     "Close the inline budget's window (the loop calls it once an "
     "iteration has passed)."},
    {"_done", mod_done, METH_O,
     "Awaitable: gives its argument at once."},
    {"_yield", mod_yield, METH_NOARGS,
     "Awaitable: let the loop run, behind the tasks woken meanwhile."},
    {"_budget_spend", mod_budget_spend, METH_NOARGS,
     "Tests: spend this iteration's inline budget."},
    {"_fast_counts", mod_fast_counts, METH_NOARGS,
     "(opens, stats, closes) done on the loop thread, openat2 usable, "
     "buffered reads done there."},
    {"set_pool_size", mod_set_pool_size, METH_O,
     "Set the largest number of worker threads."},
    {"pool_size", mod_pool_size, METH_NOARGS,
     "The largest number of worker threads."},
    {"_set_cq_factory", mod_set_cq_factory, METH_O,
     "Register the function that maps a loop to its Completion."},
    {"_slow_limit", mod_slow_limit, METH_NOARGS,
     "How many workers jobs on slow descriptors may hold at once."},
    {"_fail_submits", mod_fail_submits, METH_VARARGS,
     "Tests: make the next n pool submissions fail with errno err."},
    {"_after_fork_child", mod_after_fork_child, METH_NOARGS,
     "Complete the operations a parent had in flight at fork()."},
    {NULL, NULL, 0, NULL},
};

/* ---- module state and init ---- */

static int
add_type(PyObject *module, PyType_Spec *spec, PyObject *base,
         PyTypeObject **out)
{
    PyObject *t = afc_type_from_spec(module, spec, base);
    if (t == NULL) {
        return -1;
    }
    *out = (PyTypeObject *)t;
    return PyModule_AddType(module, (PyTypeObject *)t);
}

static int
module_exec(PyObject *module)
{
    afc_state *st = afc_get_state(module);
    PyObject *mod = NULL;

#ifndef Py_mod_multiple_interpreters
    /* Before 3.12 there is no slot to say so: one interpreter only, as the
     * slot declares below (the pool, its orphan list and the fork hook are
     * process-wide, and jobs hold Python objects). */
    if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
        PyErr_SetString(PyExc_ImportError,
                        "module aiofiles_c._cext does not support loading "
                        "in subinterpreters");
        return -1;
    }
#endif

    if (add_type(module, &afc_op_spec, NULL, &st->Op_type) < 0 ||
        add_type(module, &afc_completion_spec, NULL, &st->Completion_type) <
            0 ||
        add_type(module, &afc_fileio_spec, NULL, &st->FileIO_type) < 0 ||
        add_type(module, &afc_buffered_spec, NULL, &st->Buffered_type) < 0 ||
        add_type(module, &afc_reader_spec, (PyObject *)st->Buffered_type,
                 &st->Reader_type) < 0 ||
        add_type(module, &afc_text_spec, NULL, &st->Text_type) < 0 ||
        add_type(module, &afc_open_call_spec, NULL, &st->OpenCall_type) < 0 ||
        PyModule_AddStringConstant(module, "backend", AFC_BACKEND_NAME) < 0 ||
        afc_fs_add_constants(module) < 0 ||
        (st->budget_tick = PyObject_GetAttrString(module, "_budget_tick")) ==
            NULL ||
        PyModule_AddIntConstant(module, "TEXT_WHY_BUSY", WHY_BUSY) < 0 ||
        PyModule_AddIntConstant(module, "TEXT_WHY_YIELD", WHY_YIELD) < 0 ||
        PyModule_AddIntConstant(module, "TEXT_OP_READLINE", OP_READLINE) <
            0 ||
        PyModule_AddIntConstant(module, "TEXT_OP_ANEXT", OP_ANEXT) < 0 ||
        PyModule_AddIntConstant(module, "TEXT_OP_READ", OP_READ) < 0 ||
        PyModule_AddIntConstant(module, "TEXT_OP_WRITE", OP_WRITE) < 0 ||
        PyModule_AddIntConstant(module, "TEXT_OP_WRITE_BYTES",
                                OP_WRITE_BYTES) < 0) {
        return -1;
    }
    /* A finished call's awaitable is an Operation too; the name Done
     * stays for it. */
    Py_INCREF(st->Op_type);
    if (PyModule_AddObject(module, "Done", (PyObject *)st->Op_type) < 0) {
        Py_DECREF(st->Op_type);
        return -1;
    }
    mod = PyImport_ImportModule("asyncio.events");
    if (mod == NULL) {
        return -1;
    }
    st->get_running_loop = PyObject_GetAttrString(mod, "_get_running_loop");
    Py_CLEAR(mod);
    if (st->get_running_loop == NULL) {
        return -1;
    }
    mod = PyImport_ImportModule("os");
    if (mod == NULL) {
        return -1;
    }
    st->stat_result = PyObject_GetAttrString(mod, "stat_result");
    st->statvfs_result = PyObject_GetAttrString(mod, "statvfs_result");
    Py_CLEAR(mod);
    if (st->stat_result == NULL || st->statvfs_result == NULL) {
        return -1;
    }
    mod = PyImport_ImportModule("io");
    if (mod == NULL) {
        return -1;
    }
    st->UnsupportedOperation =
        PyObject_GetAttrString(mod, "UnsupportedOperation");
    st->io_FileIO = PyObject_GetAttrString(mod, "FileIO");
    Py_CLEAR(mod);
    if (st->UnsupportedOperation == NULL || st->io_FileIO == NULL) {
        return -1;
    }
    if ((st->str_create_future = PyUnicode_InternFromString(
             "create_future")) == NULL ||
        (st->str_set_result = PyUnicode_InternFromString("set_result")) ==
            NULL ||
        (st->str_done = PyUnicode_InternFromString("done")) == NULL ||
        (st->str_blocking = PyUnicode_InternFromString(
             "_asyncio_future_blocking")) == NULL ||
        (st->str_call_soon = PyUnicode_InternFromString("call_soon")) ==
            NULL ||
        (st->str_call_soon_threadsafe =
             PyUnicode_InternFromString("call_soon_threadsafe")) == NULL ||
        (st->str_get_loop = PyUnicode_InternFromString("get_loop")) ==
            NULL ||
        (st->str_wake = PyUnicode_InternFromString("_wake")) == NULL ||
        (st->str_wake_late = PyUnicode_InternFromString("_wake_late")) ==
            NULL ||
        (st->str_open = PyUnicode_InternFromString("_open")) == NULL ||
        (st->str_throw = PyUnicode_InternFromString("throw")) == NULL ||
        (st->str_close = PyUnicode_InternFromString("close")) == NULL) {
        return -1;
    }
    afc_pool_init_once();
    mod = PyImport_ImportModule("os");
    if (mod == NULL) {
        return -1;
    }
    PyObject *hook = PyObject_GetAttrString(module, "_after_fork_child");
    PyObject *reg = PyObject_GetAttrString(mod, "register_at_fork");
    Py_CLEAR(mod);
    PyObject *kw = NULL, *empty = NULL, *r = NULL;
    if (hook != NULL && reg != NULL &&
        (kw = Py_BuildValue("{sO}", "after_in_child", hook)) != NULL &&
        (empty = PyTuple_New(0)) != NULL) {
        r = PyObject_Call(reg, empty, kw);
    }
    Py_XDECREF(hook);
    Py_XDECREF(reg);
    Py_XDECREF(kw);
    Py_XDECREF(empty);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static int
module_traverse(PyObject *module, visitproc visit, void *arg)
{
    afc_state *st = afc_get_state(module);
    Py_VISIT(st->FileIO_type);
    Py_VISIT(st->Buffered_type);
    Py_VISIT(st->Reader_type);
    Py_VISIT(st->Op_type);
    Py_VISIT(st->Completion_type);
    Py_VISIT(st->Text_type);
    Py_VISIT(st->OpenCall_type);
    Py_VISIT(st->get_running_loop);
    Py_VISIT(st->budget_tick);
    Py_VISIT(st->cq_factory);
    Py_VISIT(st->UnsupportedOperation);
    Py_VISIT(st->io_FileIO);
    Py_VISIT(st->fs_cq);
    Py_VISIT(st->stat_result);
    Py_VISIT(st->entry_type);
    Py_VISIT(st->statvfs_result);
    return 0;
}

static int
module_clear(PyObject *module)
{
    afc_state *st = afc_get_state(module);
    afc_op_free_all(st);
    Py_CLEAR(st->FileIO_type);
    Py_CLEAR(st->Buffered_type);
    Py_CLEAR(st->Reader_type);
    Py_CLEAR(st->Op_type);
    Py_CLEAR(st->Completion_type);
    Py_CLEAR(st->Text_type);
    Py_CLEAR(st->OpenCall_type);
    Py_CLEAR(st->get_running_loop);
    Py_CLEAR(st->cq_factory);
    Py_CLEAR(st->UnsupportedOperation);
    Py_CLEAR(st->io_FileIO);
    Py_CLEAR(st->fs_cq);
    Py_CLEAR(st->stat_result);
    Py_CLEAR(st->entry_type);
    Py_CLEAR(st->statvfs_result);
    Py_CLEAR(st->str_create_future);
    Py_CLEAR(st->str_set_result);
    Py_CLEAR(st->str_done);
    Py_CLEAR(st->str_blocking);
    Py_CLEAR(st->str_call_soon);
    Py_CLEAR(st->str_call_soon_threadsafe);
    Py_CLEAR(st->str_get_loop);
    Py_CLEAR(st->str_wake);
    Py_CLEAR(st->str_open);
    Py_CLEAR(st->str_throw);
    Py_CLEAR(st->str_close);
    Py_CLEAR(st->str_wake_late);
    Py_CLEAR(st->budget_tick);
    return 0;
}

static void
module_free(void *module)
{
    module_clear((PyObject *)module);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
    {0, NULL},
};

PyModuleDef afc_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "aiofiles_c._cext",
    .m_doc = "Native core of aiofiles_c: worker pool, completion queues, "
             "file objects.",
    .m_size = sizeof(afc_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC
PyInit__cext(void)
{
    return PyModuleDef_Init(&afc_module_def);
}
