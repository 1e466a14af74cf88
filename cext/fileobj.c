/* The async file types (AsyncFileIO, AsyncBufferedIOBase,
 * AsyncBufferedReader): construction, the methods' arguments, getters,
 * detach, finalisation and GC. A method checks its arguments here and
 * queues an operation (awaitable.c); the state machines run it. */
#include "op.h"

#include <structmember.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

static int one_arg(AsyncFile *f, const char *meth, Py_ssize_t nargs);

/* ---- the file types ---- */

static PyObject *
File_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name",     "mode",     "flags",
                             "readable", "writable", "appending",
                             "closefd",  "buffering", NULL};
    PyObject *name, *mode;
    int flags, readable, writable, appending, closefd;
    Py_ssize_t buffering;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OUippppn:File", kwlist,
                                     &name, &mode, &flags, &readable,
                                     &writable, &appending, &closefd,
                                     &buffering)) {
        return NULL;
    }
    PyObject *module = PyType_GetModuleByDef(type, &afc_module_def);
    if (module == NULL) {
        return NULL;
    }
    AsyncFile *f = (AsyncFile *)type->tp_alloc(type, 0);
    if (f == NULL) {
        return NULL;
    }
    f->st = afc_get_state(module);
    f->fd = -1;
    f->flags = flags;
    f->readable = readable;
    f->writable = writable;
    f->appending = appending;
    f->closefd = closefd;
    f->raw_mode = buffering == 0;
    f->bufsize = buffering;
    f->pos = -1;
    f->seekable_io = -1;
    f->size_hint = -1;
    Py_INCREF(name);
    f->name = name;
    Py_INCREF(mode);
    f->mode = mode;
    return (PyObject *)f;
}

/* An argument was refused: like a coroutine, the returned awaitable raises
 * the exception when awaited, and the file is not touched. */
static PyObject *
op_error(AsyncFile *f)
{
    return afc_op_error(f->st);
}

static PyObject *
file_op(AsyncFile *f, int kind)
{
    AsyncOp *op = afc_op_new(f, kind, afc_op_run_inner);
    if (op == NULL) {
        return NULL;
    }
    return afc_file_start_owned(f, op);
}

static PyObject *
File_open(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    /* _open(path_bytes_or_fd, own_fd=False) */
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "_open expects 1 or 2 arguments");
        return NULL;
    }
    PyObject *target = args[0];
    int own = nargs == 2 ? PyObject_IsTrue(args[1]) : 0;
    if (own < 0) {
        return NULL;
    }
    if (!PyLong_Check(target) && !PyBytes_Check(target)) {
        PyErr_SetString(PyExc_TypeError, "_open expects bytes or int");
        return NULL;
    }
    if (f->opened) {
        PyErr_SetString(PyExc_RuntimeError, "already open");
        return NULL;
    }
    int64_t fd = -1;
    if (PyLong_Check(target) && afc_int_arg(target, AFC_ARG_INT, &fd) < 0) {
        return NULL;
    }
    AsyncOp *op = afc_op_new(f, K_OPEN, afc_op_run_inner);
    if (op == NULL) {
        return NULL;
    }
    Py_INCREF(target);
    op->arg = target;
    op->n = (Py_ssize_t)fd;
    op->whence = own;
    return afc_file_start_owned(f, op);
}


/* The kinds of the integer arguments (afc_int_args). */
static const int size_kind[] = {AFC_ARG_SIZE};      /* None or absent: -1 */
static const int ssize_kind[] = {AFC_ARG_SSIZE};

static PyObject *
sized_op(AsyncFile *f, int kind, PyObject *const *args, Py_ssize_t nargs,
         const char *fname)
{
    int64_t n = -1;
    if (!f->raw_mode && !f->readable && kind != K_READLINE) {
        /* A buffered writer's read methods are IOBase's: they refuse before
         * looking at the arguments. */
        if (afc_writer_read_args(fname, args, nargs) < 0) {
            return op_error(f);
        }
    }
    else if ((f->raw_mode && kind == K_READ &&
              afc_nargs(fname, nargs, 0, 1, AFC_COUNT_CLINIC) < 0) ||
             afc_int_args(fname, args, nargs, 0, 1, size_kind, &n) < 0) {
        return op_error(f);
    }
    if (kind == K_READ && !f->raw_mode && f->readable && n < -1) {
        PyErr_SetString(PyExc_ValueError,
                        "read length must be non-negative or -1");
        return op_error(f);
    }
    AsyncOp *op = afc_op_new(f, kind, afc_op_run_inner);
    if (op == NULL) {
        return NULL;
    }
    op->n = (Py_ssize_t)n;
    return afc_file_start_owned(f, op);
}

static PyObject *
File_read(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    return sized_op(f, K_READ, args, nargs, "read");
}

static PyObject *
File_read1(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t n = -1;
    if (!f->readable && afc_writer_read_args("read1", args, nargs) < 0) {
        return op_error(f);
    }
    if (f->readable &&
        afc_int_args("read1", args, nargs, 0, 1, ssize_kind, &n) < 0) {
        return op_error(f);
    }
    AsyncOp *op = afc_op_new(f, K_READ1, afc_op_run_inner);
    if (op == NULL) {
        return NULL;
    }
    op->n = n < 0 ? f->bufsize : (Py_ssize_t)n;
    return afc_file_start_owned(f, op);
}

static PyObject *
File_peek(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t n = 0;
    if (afc_int_args("peek", args, nargs, 0, 1, ssize_kind, &n) < 0) {
        return op_error(f);
    }
    AsyncOp *op = afc_op_new(f, K_PEEK, afc_op_run_inner);
    if (op == NULL) {
        return NULL;
    }
    op->n = (Py_ssize_t)n;
    return afc_file_start_owned(f, op);
}

static PyObject *
File_readall(AsyncFile *f, PyObject *Py_UNUSED(ignored))
{
    return file_op(f, K_READALL);
}

static PyObject *
File_readline(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    return sized_op(f, K_READLINE, args, nargs, "readline");
}

static PyObject *
File_readlines(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t n = -1;
    if (afc_int_args("readlines", args, nargs, 0, 1, size_kind, &n) < 0) {
        return op_error(f);
    }
    AsyncOp *op = afc_op_new(f, K_READLINES, afc_op_run_inner);
    if (op == NULL) {
        return NULL;
    }
    op->n = (Py_ssize_t)n;
    op->acc = PyList_New(0);
    if (op->acc == NULL) {
        Py_DECREF(op);
        return NULL;
    }
    return afc_file_start_owned(f, op);
}

static PyObject *
File_anext(AsyncFile *f)
{
    return file_op(f, K_ANEXT);
}

static PyObject *
File_aiter(AsyncFile *f)
{
    Py_INCREF(f);
    return (PyObject *)f;
}

static PyObject *
File_readinto(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    if (one_arg(f, "readinto", nargs) < 0) {
        return op_error(f);
    }
    PyObject *arg = args[0];
    AsyncOp *op = afc_op_new(f, K_READINTO, afc_op_run_inner);
    if (op == NULL) {
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &op->view, PyBUF_WRITABLE) < 0) {
        Py_DECREF(op);
        if (PyErr_ExceptionMatches(PyExc_TypeError) ||
            PyErr_ExceptionMatches(PyExc_BufferError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError,
                         f->raw_mode ? AFC_RAW_READINTO_ARG_FMT
                                     : "readinto() argument must be "
                                       "read-write bytes-like object, not "
                                       "%.100s",
                         Py_TYPE(arg)->tp_name);
        }
        return op_error(f);
    }
    op->has_view = 1;
    return afc_file_start_owned(f, op);
}

/* The io class this file stands for, for messages io words with it. */
static const char *
io_class_name(AsyncFile *f)
{
    if (f->raw_mode) {
        return "FileIO";
    }
    if (f->readable && f->writable) {
        return "BufferedRandom";
    }
    return f->readable ? "BufferedReader" : "BufferedWriter";
}

static int
one_arg(AsyncFile *f, const char *meth, Py_ssize_t nargs)
{
    if (nargs == 1) {
        return 0;
    }
    if (f->raw_mode && (!strcmp(meth, "write") || !strcmp(meth, "readinto")) &&
        afc_clinic_one_arg(meth, nargs) < 0) {
        return -1;
    }
    char name[64];
    PyOS_snprintf(name, sizeof(name), "%s.%s", io_class_name(f), meth);
    return afc_nargs(name, nargs, 1, 1, AFC_COUNT_ONE);
}

static PyObject *
File_write(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    if ((f->raw_mode || f->writable) && one_arg(f, "write", nargs) < 0) {
        return op_error(f);
    }
    if (!f->raw_mode && !f->writable && afc_clinic_one_arg("write", nargs) < 0) {
        return op_error(f);
    }
    PyObject *arg = nargs > 0 ? args[0] : Py_None;
    if (nargs == 1 && !f->raw_mode && PyBytes_CheckExact(arg)) {
        PyObject *r = afc_file_write_fast(f, arg);  /* buffer.c */
        if (r != NULL || PyErr_Occurred()) {
            return r;
        }
    }
    AsyncOp *op = afc_op_new(f, K_WRITE, afc_op_run_inner);
    if (op == NULL) {
        return NULL;
    }
    /* io parses the argument first, except where write() is IOBase's
     * (a buffered reader), which refuses before looking at it. */
    if ((f->raw_mode || f->writable) && afc_get_view(op, arg) < 0) {
        Py_DECREF(op);
        return op_error(f);
    }
    return afc_file_start_owned(f, op);
}

static PyObject *
File_writelines(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    if (one_arg(f, "writelines", nargs) < 0) {
        return op_error(f);
    }
    PyObject *arg = args[0];
    AsyncOp *op = afc_op_new(f, K_WRITELINES, afc_op_run_inner);
    if (op == NULL) {
        return NULL;
    }
    op->arg = PyObject_GetIter(arg);
    if (op->arg == NULL) {
        Py_DECREF(op);
        return op_error(f);
    }
    return afc_file_start_owned(f, op);
}

static PyObject *
File_seek(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    /* io.FileIO takes the offset as an off_t; the buffered classes
     * refuse a too big one with ValueError. */
    const int kinds[] = {f->raw_mode ? AFC_ARG_LONG : AFC_ARG_OFFSET,
                         AFC_ARG_INT};
    int64_t v[2] = {0, 0};  /* offset, whence */
    /* FileIO.seek refuses a float position in these words before 3.10. */
    if (f->raw_mode && nargs >= 1 && nargs <= 2 &&
        afc_refuse_float(args[0], "an integer is required")) {
        return op_error(f);
    }
    if (afc_int_args("seek", args, nargs, 1, 2, kinds, v) < 0) {
        return op_error(f);
    }
    AsyncOp *op = afc_op_new(f, K_SEEK, afc_op_run_inner);
    if (op == NULL) {
        return NULL;
    }
    op->off = v[0];
    op->whence = (int)v[1];
    return afc_file_start_owned(f, op);
}

static PyObject *
File_truncate(AsyncFile *f, PyObject *const *args, Py_ssize_t nargs)
{
    if (afc_nargs("truncate", nargs, 0, 1, AFC_COUNT_CLINIC) < 0) {
        return op_error(f);
    }
    int64_t size = 0;
    /* None: the current position; io.FileIO checks the mode before it
     * looks at the size (a refused call then fails on the mode). */
    int has = nargs == 1 && args[0] != Py_None && f->writable &&
              !(f->raw_mode && f->closed);
    if (has && afc_int_arg(args[0], AFC_ARG_LONG, &size) < 0) {
        return op_error(f);
    }
    AsyncOp *op = afc_op_new(f, K_TRUNCATE, afc_op_run_inner);
    if (op == NULL) {
        return NULL;
    }
    op->off = size;
    op->whence = has;
    if (has) {
        /* io returns the size argument itself, as given. */
        Py_INCREF(args[0]);
        op->arg = args[0];
    }
    return afc_file_start_owned(f, op);
}

#define SIMPLE_OP(NAME, KIND)                                               \
    static PyObject *NAME(AsyncFile *f, PyObject *Py_UNUSED(ignored))       \
    {                                                                       \
        return file_op(f, KIND);                                            \
    }

SIMPLE_OP(File_tell, K_TELL)
SIMPLE_OP(File_flush, K_FLUSH)
SIMPLE_OP(File_close, K_CLOSE)
SIMPLE_OP(File_isatty, K_ISATTY)
SIMPLE_OP(File_seekable, K_SEEKABLE)
SIMPLE_OP(File_writable, K_WRITABLE)

static int
check_attached(AsyncFile *f)
{
    if (f->detached) {
        PyErr_SetString(PyExc_ValueError, "raw stream has been detached");
        return -1;
    }
    return 0;
}

static int
check_usable(AsyncFile *f)
{
    if (check_attached(f) < 0) {
        return -1;
    }
    if (f->closed) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed file");
        return -1;
    }
    return 0;
}

static PyObject *
File_fileno(AsyncFile *f, PyObject *Py_UNUSED(ignored))
{
    if (check_usable(f) < 0) {
        return NULL;
    }
    return PyLong_FromLong(f->fd);
}

static PyObject *
File_readable(AsyncFile *f, PyObject *Py_UNUSED(ignored))
{
    if (!f->raw_mode && !f->readable) {
        Py_RETURN_FALSE;
    }
    if (check_usable(f) < 0) {
        return NULL;
    }
    return PyBool_FromLong(f->readable);
}

static PyObject *
raw_mode_string(AsyncFile *f)
{
    return f->mode;
}

/* Blocking flush of pending writes: used only by detach() and the
 * finaliser, which are synchronous in io as well. */
static int
file_sync_flush(AsyncFile *f)
{
    Py_ssize_t done = 0;
    while (done < f->wlen) {
        ssize_t r;
        Py_BEGIN_ALLOW_THREADS
        if (f->appending || !f->seekable) {
            r = write(f->fd, f->buf + done, (size_t)(f->wlen - done));
        }
        else {
            r = pwrite(f->fd, f->buf + done, (size_t)(f->wlen - done),
                       (off_t)(f->wstart + done));
        }
        Py_END_ALLOW_THREADS
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        done += r;
    }
    f->wlen = 0;
    f->wskip = 0;
    return 0;
}

static PyObject *
File_detach(AsyncFile *f, PyObject *Py_UNUSED(ignored))
{
    if (f->detached) {
        PyErr_SetString(PyExc_ValueError, "raw stream has been detached");
        return NULL;
    }
    if (f->closed) {
        PyErr_SetString(PyExc_ValueError,
                        f->writable ? "flush of closed file"
                                    : "I/O operation on closed file.");
        return NULL;
    }
    if (f->qhead != NULL || f->pumping) {
        PyErr_SetString(PyExc_RuntimeError,
                        "detach() while operations are in progress");
        return NULL;
    }
    /* The flush lets go of the GIL and io.FileIO() runs Python code: calls
     * from other threads meanwhile queue (pumping) instead of using the
     * buffer being written out and then freed; they run at the end. */
    f->pumping = 1;
    Py_INCREF(f);
    PyObject *raw = NULL;
    if (file_sync_flush(f) < 0) {
        goto done;
    }
    if (f->seekable && !f->appending) {
        (void)lseek(f->fd, (off_t)f->pos, SEEK_SET);
    }
    raw = PyObject_CallFunction(f->st->io_FileIO, "iOO", f->fd,
                                raw_mode_string(f),
                                f->closefd ? Py_True : Py_False);
    if (raw != NULL && PyObject_SetAttrString(raw, "name", f->name) < 0) {
        Py_CLEAR(raw);
    }
    if (raw != NULL) {
        f->detached = 1;
        afc_file_free_buf(f);
    }
done:
    f->pumping = 0;
    if (f->qhead != NULL) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        afc_file_pump(f);
        PyErr_Restore(type, value, tb);
    }
    Py_DECREF(f);
    return raw;
}

static PyObject *
File_get_name(AsyncFile *f, void *Py_UNUSED(closure))
{
    if (check_attached(f) < 0) {
        return NULL;
    }
    Py_INCREF(f->name);
    return f->name;
}

static PyObject *
File_get_mode(AsyncFile *f, void *Py_UNUSED(closure))
{
    if (check_attached(f) < 0) {
        return NULL;
    }
    Py_INCREF(f->mode);
    return f->mode;
}

static PyObject *
File_get_closed(AsyncFile *f, void *Py_UNUSED(closure))
{
    if (check_attached(f) < 0) {
        return NULL;
    }
    return PyBool_FromLong(f->closed);
}

static PyObject *
File_get_raw(AsyncFile *f, void *Py_UNUSED(closure))
{
    if (f->detached) {
        Py_RETURN_NONE;
    }
    if (f->raw == NULL) {
        if (f->closed) {
            PyErr_SetString(PyExc_ValueError, "I/O operation on closed file");
            return NULL;
        }
        PyObject *raw = PyObject_CallFunction(f->st->io_FileIO, "iOO", f->fd,
                                              f->mode, Py_False);
        if (raw == NULL) {
            return NULL;
        }
        if (PyObject_SetAttrString(raw, "name", f->name) < 0) {
            Py_DECREF(raw);
            return NULL;
        }
        f->raw = raw;
    }
    Py_INCREF(f->raw);
    return f->raw;
}

static PyObject *
File_repr(AsyncFile *f)
{
    const char *tn = _PyType_Name(Py_TYPE(f));
    if (f->detached) {
        return PyUnicode_FromFormat("<aiofiles_c.%s detached>", tn);
    }
    return PyUnicode_FromFormat("<aiofiles_c.%s name=%R mode=%R>", tn,
                                f->name, f->mode);
}

static void
File_finalize(AsyncFile *f)
{
    if (!f->opened || f->closed || f->detached || f->fd < 0) {
        return;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (f->closefd &&
        PyErr_ResourceWarning((PyObject *)f, 1, "unclosed file %R", f) < 0) {
        PyErr_WriteUnraisable((PyObject *)f);
    }
    if (file_sync_flush(f) < 0) {
        PyErr_WriteUnraisable((PyObject *)f);
    }
    if (f->closefd) {
        close(f->fd);
    }
    f->closed = 1;
    afc_file_free_buf(f);
    PyErr_Restore(type, value, tb);
}

static int
File_traverse(AsyncFile *f, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(f));
    Py_VISIT(f->name);
    Py_VISIT(f->mode);
    Py_VISIT(f->raw);
    Py_VISIT(f->cq);
    Py_VISIT(f->spare);
    for (AsyncOp *op = f->qhead; op != NULL; op = op->next) {
        Py_VISIT(op);
    }
    return 0;
}

static int
File_clear(AsyncFile *f)
{
    Py_CLEAR(f->raw);
    Py_CLEAR(f->cq);
    Py_CLEAR(f->spare);
    while (f->qhead != NULL) {
        AsyncOp *op = f->qhead;
        if (op->in_pool) {
            break;  /* a worker still owns it: keep the FIFO */
        }
        f->qhead = op->next;
        op->next = NULL;
        Py_DECREF(op);
    }
    if (f->qhead == NULL) {
        f->qtail = NULL;
    }
    return 0;
}

static void
File_dealloc(AsyncFile *f)
{
    PyTypeObject *tp = Py_TYPE(f);
    if (PyObject_CallFinalizerFromDealloc((PyObject *)f) < 0) {
        return;
    }
    PyObject_GC_UnTrack(f);
    if (f->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)f);
    }
    File_clear(f);
    Py_CLEAR(f->name);
    Py_CLEAR(f->mode);
    PyMem_RawFree(f->buf);
    tp->tp_free((PyObject *)f);
    Py_DECREF(tp);
}

#define M_FAST(name, fn, doc) \
    {name, (PyCFunction)(void (*)(void))fn, METH_FASTCALL, doc}
#define M_NOARGS(name, fn, doc) {name, (PyCFunction)fn, METH_NOARGS, doc}
#define M_O(name, fn, doc) {name, (PyCFunction)fn, METH_O, doc}

#define COMMON_METHODS                                                       \
    M_FAST("read", File_read, "Read up to n bytes (all when n < 0)."),      \
        M_FAST("readinto", File_readinto, "Read into a writable buffer."),  \
        M_FAST("readline", File_readline, "Read one line."),                \
        M_FAST("readlines", File_readlines, "Read a list of lines."),       \
        M_FAST("write", File_write, "Write a bytes-like object."),          \
        M_FAST("writelines", File_writelines, "Write an iterable of bytes."), \
        M_FAST("seek", File_seek, "Change the position."),                  \
        M_NOARGS("tell", File_tell, "The current position."),               \
        M_FAST("truncate", File_truncate, "Resize the file."),              \
        M_NOARGS("flush", File_flush, "Write out buffered data."),          \
        M_NOARGS("close", File_close, "Flush and close."),                  \
        M_NOARGS("isatty", File_isatty, "Whether the file is a tty."),      \
        M_NOARGS("seekable", File_seekable, "Whether seek() works."),       \
        M_NOARGS("writable", File_writable, "Whether write() works."),      \
        M_NOARGS("fileno", File_fileno, "The file descriptor."),            \
        M_NOARGS("readable", File_readable, "Whether read() works."),       \
        M_FAST("_open", File_open, NULL), AFC_POSIO_METHODS

static PyMethodDef FileIO_methods[] = {
    COMMON_METHODS,
    M_NOARGS("readall", File_readall, "Read until EOF."),
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Buffered_methods[] = {
    COMMON_METHODS,
    M_FAST("read1", File_read1, "Read with at most one raw read."),
    M_NOARGS("detach", File_detach, "Flush and return the raw file."),
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Reader_methods[] = {
    M_FAST("peek", File_peek, "Return buffered bytes without moving."),
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef FileIO_getset[] = {
    {"name", (getter)File_get_name, NULL, NULL, NULL},
    {"mode", (getter)File_get_mode, NULL, NULL, NULL},
    {"closed", (getter)File_get_closed, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyGetSetDef Buffered_getset[] = {
    {"name", (getter)File_get_name, NULL, NULL, NULL},
    {"mode", (getter)File_get_mode, NULL, NULL, NULL},
    {"closed", (getter)File_get_closed, NULL, NULL, NULL},
    {"raw", (getter)File_get_raw, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef File_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(AsyncFile, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

#define FILE_SLOTS                                                          \
    {Py_tp_new, File_new}, {Py_tp_dealloc, File_dealloc},                  \
        {Py_tp_traverse, File_traverse}, {Py_tp_clear, File_clear},        \
        {Py_tp_finalize, File_finalize}, {Py_tp_repr, File_repr},          \
        {Py_am_aiter, File_aiter}, {Py_am_anext, File_anext},              \
        {Py_tp_members, File_members}

static PyType_Slot FileIO_slots[] = {
    FILE_SLOTS,
    {Py_tp_methods, FileIO_methods},
    {Py_tp_getset, FileIO_getset},
    {Py_tp_doc, "Async raw file, like io.FileIO."},
    {0, NULL},
};

static PyType_Slot Buffered_slots[] = {
    FILE_SLOTS,
    {Py_tp_methods, Buffered_methods},
    {Py_tp_getset, Buffered_getset},
    {Py_tp_doc, "Async buffered file, like io.BufferedWriter."},
    {0, NULL},
};

static PyType_Slot Reader_slots[] = {
    FILE_SLOTS,
    {Py_tp_methods, Reader_methods},
    {Py_tp_doc, "Async buffered reader, like io.BufferedReader/Random."},
    {0, NULL},
};

#define FILE_FLAGS                                                      \
    (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE)

PyType_Spec afc_fileio_spec = {
    .name = "aiofiles_c._cext.AsyncFileIO",
    .basicsize = sizeof(AsyncFile),
    .flags = FILE_FLAGS,
    .slots = FileIO_slots,
};

PyType_Spec afc_buffered_spec = {
    .name = "aiofiles_c._cext.AsyncBufferedIOBase",
    .basicsize = sizeof(AsyncFile),
    .flags = FILE_FLAGS,
    .slots = Buffered_slots,
};

PyType_Spec afc_reader_spec = {
    .name = "aiofiles_c._cext.AsyncBufferedReader",
    .basicsize = sizeof(AsyncFile),
    .flags = FILE_FLAGS,
    .slots = Reader_slots,
};

