/* What the extension needs from the C API, for every CPython it supports
 * (3.9 to 3.13), and which platform calls the build found.
 *
 * The code is written against the 3.11 API. Each block below fills in one
 * thing an older interpreter lacks, or names one thing a newer one hid, so
 * that the sources carry no version tests of their own. Included by afc.h
 * right after Python.h, and by pool.h (the platform part only). */
#ifndef AFC_COMPAT_H
#define AFC_COMPAT_H

/* ---- C API (only where Python.h is in; pool.c never includes it) ---- */
#ifdef Py_PYTHON_H

#if PY_VERSION_HEX < 0x030A0000
/* 3.9: no am_send. The coroutine protocol still goes through tp_iternext,
 * send() and throw(), which the types implement in terms of the same
 * function: it only loses the shortcut the 3.10+ interpreter takes. */
typedef enum {
    PYGEN_RETURN = 0,
    PYGEN_ERROR = -1,
    PYGEN_NEXT = 1,
} PySendResult;
#define AFC_AM_SEND_SLOT(fn)

/* PyIter_Send() as 3.10 has it, for an object with tp_iternext/send. */
static inline PySendResult
afc_iter_send(PyObject *it, PyObject *arg, PyObject **presult)
{
    PyObject *r = arg == Py_None ? Py_TYPE(it)->tp_iternext(it)
                                 : PyObject_CallMethod(it, "send", "O", arg);
    if (r != NULL) {
        *presult = r;
        return PYGEN_NEXT;
    }
    if (_PyGen_FetchStopIterationValue(presult) == 0) {
        return PYGEN_RETURN;
    }
    *presult = NULL;
    return PYGEN_ERROR;
}

static inline PyObject *
Py_NewRef(PyObject *o)
{
    Py_INCREF(o);
    return o;
}

static inline PyObject *
Py_XNewRef(PyObject *o)
{
    Py_XINCREF(o);
    return o;
}
#define Py_NewRef(o) Py_NewRef((PyObject *)(o))
#define Py_XNewRef(o) Py_XNewRef((PyObject *)(o))
#else
#define AFC_AM_SEND_SLOT(fn) {Py_am_send, (fn)},
#define afc_iter_send PyIter_Send
#endif

#if PY_VERSION_HEX < 0x030A0000
/* Flag bits 3.9 leaves unused, given the meaning 3.10 gives them. An
 * immutable type only loses its protection; one that may not be
 * instantiated has its tp_new removed by afc_type_from_spec(). */
#define Py_TPFLAGS_DISALLOW_INSTANTIATION (1UL << 7)
#define Py_TPFLAGS_IMMUTABLETYPE (1UL << 8)
#endif

#ifndef Py_T_OBJECT_EX
#define Py_T_OBJECT_EX 16  /* structmember.h's T_OBJECT_EX before 3.12 */
#endif

/* PyType_FromModuleAndSpec(), plus on 3.9 what 3.10 does for us: a
 * single base given as the class itself, and the two flags above. */
static inline PyObject *
afc_type_from_spec(PyObject *module, PyType_Spec *spec, PyObject *base)
{
#if PY_VERSION_HEX < 0x030A0000
    PyObject *bases = NULL;
    if (base != NULL && !PyTuple_Check(base)) {
        bases = PyTuple_Pack(1, base);
        if (bases == NULL) {
            return NULL;
        }
        base = bases;
    }
    PyObject *t = PyType_FromModuleAndSpec(module, spec, base);
    Py_XDECREF(bases);
    if (t != NULL) {
        PyTypeObject *tp = (PyTypeObject *)t;
        if (tp->tp_flags & Py_TPFLAGS_DISALLOW_INSTANTIATION) {
            tp->tp_new = NULL;
        }
        tp->tp_flags &= ~(Py_TPFLAGS_DISALLOW_INSTANTIATION |
                          Py_TPFLAGS_IMMUTABLETYPE);
        PyType_Modified(tp);
    }
#else
    PyObject *t = PyType_FromModuleAndSpec(module, spec, base);
#endif
    return t;
}

#if PY_VERSION_HEX < 0x030B0000
/* 3.9, 3.10: the module of the first class in the MRO that was created
 * with our module definition (what 3.11's function returns). */
static inline PyObject *
PyType_GetModuleByDef(PyTypeObject *type, PyModuleDef *def)
{
    PyObject *mro = type->tp_mro;
    Py_ssize_t n = mro != NULL ? PyTuple_GET_SIZE(mro) : 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyTypeObject *t = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (!(t->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
            continue;
        }
        PyObject *m = ((PyHeapTypeObject *)t)->ht_module;
        if (m != NULL && PyModule_GetDef(m) == def) {
            return m;   /* borrowed, as in 3.11 */
        }
    }
    PyErr_Format(PyExc_TypeError,
                 "PyType_GetModuleByDef: No superclass of '%s' has "
                 "the given module", type->tp_name);
    return NULL;
}
#endif

/* io.BufferedWriter from Python 3.13 on sends a write of a whole buffer's
 * size or more to the file directly instead of buffering it (earlier ones
 * buffer a write that exactly fills an empty buffer, or the buffer a flush
 * just emptied). len: the write's size, size: the buffer's. */
#if PY_VERSION_HEX >= 0x030D0000
#define AFC_WRITE_BYPASSES_BUFFER(len, size) ((len) >= (size))
#else
#define AFC_WRITE_BYPASSES_BUFFER(len, size) ((void)(len), (void)(size), 0)
#endif

/* Before Python 3.10, the int and Py_ssize_t arguments of io and os
 * refused a float up front with their own words (their converters would
 * otherwise have taken its __int__); 3.10 and later say what
 * PyNumber_Index says. Returns 1 with the error set for such a float. */
static inline int
afc_refuse_float(PyObject *o, const char *message)
{
#if PY_VERSION_HEX < 0x030A0000
    if (PyFloat_Check(o)) {
        PyErr_SetString(PyExc_TypeError, message);
        return 1;
    }
#else
    (void)o;
    (void)message;
#endif
    return 0;
}
#define AFC_FLOAT_ARG_MSG "integer argument expected, got float"

/* int conversion with OverflowError: public from 3.13, private before. */
static inline int
afc_long_as_int(PyObject *o)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyLong_AsInt(o);
#else
    return _PyLong_AsInt(o);
#endif
}

/* A constructor that takes no arguments, with the messages CPython's own
 * argument checks give. */
static inline int
afc_no_args(const char *name, PyObject *args, PyObject *kwds)
{
    if (args != NULL && PyTuple_GET_SIZE(args) != 0) {
        PyErr_Format(PyExc_TypeError, "%.200s() takes no positional arguments",
                     name);
        return 0;
    }
    if (kwds != NULL && PyDict_GET_SIZE(kwds) != 0) {
        PyErr_Format(PyExc_TypeError, "%.200s() takes no keyword arguments",
                     name);
        return 0;
    }
    return 1;
}

/* io's argument errors that changed with 3.12's argument clinic code. */

/* Too many arguments to FileIO.read() or any truncate(). */
static inline int
afc_clinic_at_most_1(const char *fname, Py_ssize_t nargs)
{
    if (nargs <= 1) {
        return 0;
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument (%zd given)",
                 fname, nargs);
#else
    PyErr_Format(PyExc_TypeError, "%s expected at most 1 argument, got %zd",
                 fname, nargs);
#endif
    return -1;
}

/* One required argument, where 3.12's clinic code took over from METH_O
 * (FileIO.write/readinto, a buffered reader's write): the error, or 0
 * before 3.12 (the caller then reports it as METH_O did, if at all). */
static inline int
afc_clinic_one_arg(const char *fname, Py_ssize_t nargs)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (nargs == 0) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes exactly 1 positional argument (0 given)",
                     fname);
        return -1;
    }
    return afc_clinic_at_most_1(fname, nargs);
#else
    (void)fname, (void)nargs;
    return 0;
#endif
}

/* FileIO.readinto() given a read-only or non-buffer object. */
#if PY_VERSION_HEX >= 0x030C0000
#define AFC_RAW_READINTO_ARG_FMT \
    "readinto() argument 1 must be read-write bytes-like object, not %.100s"
#else
#define AFC_RAW_READINTO_ARG_FMT \
    "readinto() argument must be read-write bytes-like object, not %.100s"
#endif

/* read()/read1() of a buffered writer: from 3.12 the size is converted to
 * a C int (and refused as such) before the "not readable" error. */
static inline int
afc_writer_read_args(const char *fname, PyObject *const *args,
                     Py_ssize_t nargs)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (afc_clinic_at_most_1(fname, nargs) < 0) {
        return -1;
    }
    if (nargs == 1 && afc_long_as_int(args[0]) == -1 && PyErr_Occurred()) {
        return -1;
    }
#else
    (void)fname, (void)args, (void)nargs;
#endif
    return 0;
}

#endif /* Py_PYTHON_H */

/* ---- platform ----
 *
 * setup.py probes for the Linux-only calls and defines AFC_HAVE_<CALL> for
 * each one it found (eventfd, preadv2 with RWF_NOWAIT, copy_file_range,
 * sendfile; stat is plain fstat/fstatat everywhere); AIOFILES_C_PORTABLE=1 makes it define none (the
 * portable POSIX backend, tested on Linux that way). Without setup.py's
 * word (another build system) the Linux calls are assumed on Linux only. */
#if !defined(AFC_PROBED) && defined(__linux__)
#define AFC_HAVE_EVENTFD 1
#define AFC_HAVE_PREADV2 1
#define AFC_HAVE_COPY_FILE_RANGE 1
#define AFC_HAVE_SENDFILE 1
#endif

#ifdef __APPLE__
/* Darwin names the POSIX 2008 stat times differently and declares no
 * fdatasync (fsync is what it has). */
#define st_atim st_atimespec
#define st_mtim st_mtimespec
#define st_ctim st_ctimespec
#define fdatasync(fd) fsync(fd)
#endif

#if defined(AFC_HAVE_EVENTFD) && defined(AFC_HAVE_PREADV2) && \
    defined(AFC_HAVE_COPY_FILE_RANGE) && defined(AFC_HAVE_SENDFILE)
#define AFC_BACKEND_NAME "native"
#else
#define AFC_BACKEND_NAME "portable"
#endif

#endif
