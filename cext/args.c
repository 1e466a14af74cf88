/* Integer arguments from Python, converted and range-checked as io and os
 * do it (afc_int_arg), and the same for the os calls written in Python
 * (_cext.int_arg). */
#include "afc.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* ---- integers from Python ----
 *
 * Every int an io method or an os call takes goes through afc_int_arg, so
 * the range checks and the wording of the errors live in one place. Each
 * kind names the converter io/os applies to that argument; the messages
 * are theirs, because programs (and our differential tests) look at them.
 */

static int
ssize_from_index(PyObject *obj, int64_t *out)
{
    /* Python's own Py_ssize_t conversion: index, then range. */
    PyObject *i = PyNumber_Index(obj);
    if (i == NULL) {
        return -1;
    }
    Py_ssize_t v = PyLong_AsSsize_t(i);
    Py_DECREF(i);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = v;
    return 0;
}

/* os's uid_t/gid_t: -1 means "leave alone"; other negatives and anything
 * that does not survive the round trip through the 32-bit type are out of
 * range (the sign of the overflow picks the message, as os has it). */
static int
id_from_index(PyObject *obj, const char *what, int64_t *out)
{
    PyObject *i = PyNumber_Index(obj);
    if (i == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s should be integer, not %.200s",
                     what, _PyType_Name(Py_TYPE(obj)));
        return -1;
    }
    int overflow = 0;
    long v = PyLong_AsLongAndOverflow(i, &overflow);
    int too_big = 0, too_small = 0;
    if (v == -1 && PyErr_Occurred()) {
        Py_DECREF(i);
        return -1;
    }
    if (overflow < 0) {
        too_small = 1;
    }
    else if (overflow > 0) {
        unsigned long u = PyLong_AsUnsignedLong(i);
        if (u == (unsigned long)-1 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
                Py_DECREF(i);
                return -1;
            }
            PyErr_Clear();
        }
        too_big = 1;  /* above LONG_MAX: never a 32-bit id */
    }
    else if (v != -1 && (v < 0 || (long)(uint32_t)v != v)) {
        too_small = 1;  /* os reports a truncated value as below range */
    }
    Py_DECREF(i);
    if (too_big || too_small) {
        PyErr_Format(PyExc_OverflowError, "%s is %s", what,
                     too_big ? "greater than maximum" : "less than minimum");
        return -1;
    }
    *out = v == -1 ? -1 : (int64_t)(uint32_t)v;
    return 0;
}

int
afc_int_arg(PyObject *obj, int kind, int64_t *out)
{
    if ((kind == AFC_ARG_SSIZE || kind == AFC_ARG_LENGTH ||
         kind == AFC_ARG_INT) &&
        afc_refuse_float(obj, AFC_FLOAT_ARG_MSG)) {
        return -1;
    }
    switch (kind) {
    case AFC_ARG_SSIZE:
        return ssize_from_index(obj, out);
    case AFC_ARG_LENGTH:
        if (ssize_from_index(obj, out) < 0) {
            return -1;
        }
        if (*out < 0) {
            /* os.pread passes it on and the kernel refuses it */
            errno = EINVAL;
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        return 0;
    case AFC_ARG_SIZE: {
        if (obj == Py_None) {
            *out = -1;
            return 0;
        }
        if (!PyIndex_Check(obj)) {
            PyErr_Format(PyExc_TypeError,
                         "argument should be integer or None, not '%.200s'",
                         Py_TYPE(obj)->tp_name);
            return -1;
        }
        Py_ssize_t v = PyNumber_AsSsize_t(obj, PyExc_OverflowError);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        *out = v;
        return 0;
    }
    case AFC_ARG_OFFSET: {
        PyObject *i = PyNumber_Index(obj);
        if (i == NULL) {
            return -1;
        }
        long long v = PyLong_AsLongLong(i);
        Py_DECREF(i);
        if (v == -1 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
                return -1;
            }
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError,
                         "cannot fit '%.200s' into an offset-sized integer",
                         Py_TYPE(obj)->tp_name);
            return -1;
        }
        *out = v;
        return 0;
    }
    case AFC_ARG_LONG:
    case AFC_ARG_TIME: {
        long v = PyLong_AsLong(obj);
        if (v == -1 && PyErr_Occurred()) {
            if (kind == AFC_ARG_TIME &&
                PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyErr_SetString(PyExc_OverflowError,
                                "timestamp out of range for platform time_t");
            }
            return -1;
        }
        *out = v;
        return 0;
    }
    case AFC_ARG_INT: {
        long v = PyLong_AsLong(obj);
        if (v == -1 && PyErr_Occurred()) {
            if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyErr_SetString(PyExc_OverflowError,
                                "Python int too large to convert to C int");
            }
            return -1;
        }
        if (v < INT_MIN || v > INT_MAX) {
            PyErr_SetString(PyExc_OverflowError,
                            "Python int too large to convert to C int");
            return -1;
        }
        *out = v;
        return 0;
    }
    case AFC_ARG_FD: {
        PyObject *i = PyNumber_Index(obj);
        if (i == NULL) {
            return -1;
        }
        int overflow = 0;
        long v = PyLong_AsLongAndOverflow(i, &overflow);
        Py_DECREF(i);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (overflow != 0 || v < INT_MIN || v > INT_MAX) {
            PyErr_SetString(PyExc_OverflowError,
                            overflow > 0 || v > INT_MAX
                                ? "fd is greater than maximum"
                                : "fd is less than minimum");
            return -1;
        }
/* io and os warn about a bool descriptor from Python 3.13 on. */
#if PY_VERSION_HEX >= 0x030D0000
        if (PyBool_Check(obj) &&
            PyErr_WarnEx(PyExc_RuntimeWarning,
                         "bool is used as a file descriptor", 1) < 0) {
            return -1;
        }
#endif
        *out = v;
        return 0;
    }
    case AFC_ARG_FILENO: {
        int fd = PyObject_AsFileDescriptor(obj);
        if (fd < 0) {
            return -1;
        }
        *out = fd;
        return 0;
    }
    case AFC_ARG_UID:
        return id_from_index(obj, "uid", out);
    case AFC_ARG_GID:
        return id_from_index(obj, "gid", out);
    }
    PyErr_SetString(PyExc_SystemError, "bad integer argument kind");
    return -1;
}

int
afc_nargs(const char *fname, Py_ssize_t nargs, Py_ssize_t min,
          Py_ssize_t max, int words)
{
    if (nargs >= min && nargs <= max) {
        return 0;
    }
    Py_ssize_t bound = nargs < min ? min : max;
    const char *s = bound == 1 ? "" : "s";
    const char *how = min == max ? "" : nargs < min ? "at least "
                                                    : "at most ";
#if PY_VERSION_HEX >= 0x030C0000
    if (words == AFC_COUNT_CLINIC) {
        words = AFC_COUNT_TAKES;
    }
#else
    if (words == AFC_COUNT_CLINIC) {
        words = AFC_COUNT_IO;
    }
#endif
    switch (words) {
    case AFC_COUNT_TAKES:
        PyErr_Format(PyExc_TypeError, "%s() takes %s%zd argument%s "
                     "(%zd given)", fname, min == max ? "exactly " : how,
                     bound, s, nargs);
        break;
    case AFC_COUNT_ONE:
        PyErr_Format(PyExc_TypeError, "%s() takes exactly one argument "
                     "(%zd given)", fname, nargs);
        break;
    default:
        PyErr_Format(PyExc_TypeError, "%s expected %s%zd argument%s, got %zd",
                     fname, how, bound, s, nargs);
    }
    return -1;
}

int
afc_int_args_worded(const char *fname, int words, PyObject *const *args,
                    Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max,
                    const int *kinds, int64_t *out)
{
    if (afc_nargs(fname, nargs, min, max, words) < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        if (kinds[i] != AFC_ARG_OBJECT &&
            afc_int_arg(args[i], kinds[i], &out[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

int
afc_int_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
             Py_ssize_t min, Py_ssize_t max, const int *kinds, int64_t *out)
{
    return afc_int_args_worded(fname, AFC_COUNT_IO, args, nargs, min, max,
                               kinds, out);
}

/* _cext.int_arg(kind, value): the os calls written in Python convert their
 * integers here, with the names below for the kinds. */
PyObject *
afc_int_arg_py(PyObject *Py_UNUSED(module), PyObject *const *args,
               Py_ssize_t nargs)
{
    static const char *const names[] = {
        [AFC_ARG_SSIZE] = "ssize", [AFC_ARG_SIZE] = "size",
        [AFC_ARG_OFFSET] = "offset", [AFC_ARG_LONG] = "long",
        [AFC_ARG_TIME] = "time", [AFC_ARG_INT] = "int",
        [AFC_ARG_FD] = "fd", [AFC_ARG_FILENO] = "fileno",
        [AFC_ARG_UID] = "uid", [AFC_ARG_GID] = "gid",
        [AFC_ARG_LENGTH] = "length",
    };
    if (nargs != 2 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "int_arg(kind: str, value)");
        return NULL;
    }
    const char *kind = PyUnicode_AsUTF8(args[0]);
    if (kind == NULL) {
        return NULL;
    }
    for (int k = 0; k < (int)(sizeof(names) / sizeof(names[0])); k++) {
        if (strcmp(kind, names[k]) == 0) {
            int64_t v;
            if (afc_int_arg(args[1], k, &v) < 0) {
                return NULL;
            }
            return PyLong_FromLongLong(v);
        }
    }
    PyErr_Format(PyExc_ValueError, "unknown integer kind %R", args[0]);
    return NULL;
}

