/* aiofiles_c.os's arguments: each os function's parameters, bound and
 * converted as os does it (its converters, its checks, its words), for the
 * calls fs.c runs. No job is built here. */
#include "afc.h"

#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- aiofiles_c.os: each call's arguments, checked as os checks them ----
 *
 * One row per os function: its parameters in order (the first npos
 * positional-or-keyword, the rest keyword-only, the first `required` of
 * them required), each with the converter os applies to it. _cext.os_args
 * binds a call's arguments to a row with the words of os's own argument
 * parser, converts them, and gives one value per parameter:
 *   path ('p', 'f': or an fd, 'n': or an fd or None) -> (bytes or None,
 *       fd or -1, names come back as str, the name an OSError carries)
 *   dir_fd ('d') -> an int (AT_FDCWD for None)
 *   'b' -> bool (truth value), 'i' C int, 'l' off_t, 'L' off_t or None,
 *   's' Py_ssize_t, 'u'/'g' uid/gid, 'F' fd or fileno(), 'o' as given;
 *   utime's times -> (times as given, (atime s, ns, mtime s, ns)).
 * aiofiles' own keywords loop= and executor= are accepted and ignored. */
typedef struct {
    const char *name;
    char kind;
    int dflt;  /* an absent optional's value ('o', 'L', 'n', 'd': None) */
} os_param;

/* os's checks of a descriptor given as the path (its fd_* helpers): a
 * dir_fd given with it, or follow_symlinks=False with a positive one. */
enum {
    FD_NO_DIR_FD = 1,      /* "can't specify dir_fd without matching path" */
    FD_NOT_BOTH = 2,       /* "can't specify both dir_fd and fd" */
    FD_FOLLOWS = 4,        /* "cannot use fd and follow_symlinks together" */
    UTIME_TIMES = 8,       /* utime's times and ns, checked before these */
};

typedef struct {
    const char *name;
    int npos, required;
    os_param p[6];
    int checks;
} os_sig;


#define DIR_FD(n) {n, 'd', 0}
#define FOLLOW {"follow_symlinks", 'b', 1}

static const os_sig os_sigs[OS_COUNT] = {
    [OS_STAT] = {"stat", 1, 1, {{"path", 'f', 0}, DIR_FD("dir_fd"), FOLLOW}},
    [OS_LSTAT] = {"lstat", 1, 1, {{"path", 'p', 0}, DIR_FD("dir_fd")}},
    [OS_FSTAT] = {"fstat", 1, 1, {{"fd", 'i', 0}}},
    [OS_ACCESS] = {"access", 2, 2,
                   {{"path", 'p', 0}, {"mode", 'i', 0}, DIR_FD("dir_fd"),
                    {"effective_ids", 'b', 0}, FOLLOW}},
    [OS_LISTDIR] = {"listdir", 1, 0, {{"path", 'n', 0}}},
    [OS_SCANDIR] = {"scandir", 1, 0, {{"path", 'n', 0}}},
    [OS_MKDIR] = {"mkdir", 2, 1,
                  {{"path", 'p', 0}, {"mode", 'i', 0777}, DIR_FD("dir_fd")}},
    [OS_RMDIR] = {"rmdir", 1, 1, {{"path", 'p', 0}, DIR_FD("dir_fd")}},
    [OS_REMOVE] = {"remove", 1, 1, {{"path", 'p', 0}, DIR_FD("dir_fd")}},
    [OS_UNLINK] = {"unlink", 1, 1, {{"path", 'p', 0}, DIR_FD("dir_fd")}},
    [OS_RENAME] = {"rename", 2, 2,
                   {{"src", 'p', 0}, {"dst", 'p', 0}, DIR_FD("src_dir_fd"),
                    DIR_FD("dst_dir_fd")}},
    [OS_REPLACE] = {"replace", 2, 2,
                    {{"src", 'p', 0}, {"dst", 'p', 0}, DIR_FD("src_dir_fd"),
                     DIR_FD("dst_dir_fd")}},
    [OS_LINK] = {"link", 2, 2,
                 {{"src", 'p', 0}, {"dst", 'p', 0}, DIR_FD("src_dir_fd"),
                  DIR_FD("dst_dir_fd"), FOLLOW}},
    [OS_SYMLINK] = {"symlink", 3, 2,
                    {{"src", 'p', 0}, {"dst", 'p', 0},
                     {"target_is_directory", 'b', 0}, DIR_FD("dir_fd")}},
    [OS_READLINK] = {"readlink", 1, 1, {{"path", 'p', 0}, DIR_FD("dir_fd")}},
    [OS_STATVFS] = {"statvfs", 1, 1, {{"path", 'f', 0}}},
    [OS_SENDFILE] = {"sendfile", 4, 4,
                     {{"out_fd", 'i', 0}, {"in_fd", 'i', 0},
                      {"offset", 'L', 0}, {"count", 's', 0}}},
    [OS_FSYNC] = {"fsync", 1, 1, {{"fd", 'F', 0}}},
    [OS_FDATASYNC] = {"fdatasync", 1, 1, {{"fd", 'F', 0}}},
    [OS_CHMOD] = {"chmod", 2, 2,
                  {{"path", 'f', 0}, {"mode", 'i', 0}, DIR_FD("dir_fd"),
                   FOLLOW}},
    [OS_CHOWN] = {"chown", 3, 3,
                  {{"path", 'f', 0}, {"uid", 'u', 0}, {"gid", 'g', 0},
                   DIR_FD("dir_fd"), FOLLOW},
                  FD_NOT_BOTH | FD_FOLLOWS},
    [OS_UTIME] = {"utime", 2, 1,
                  {{"path", 'f', 0}, {"times", 'o', 0}, {"ns", 'o', 0},
                   DIR_FD("dir_fd"), FOLLOW},
                  UTIME_TIMES | FD_NO_DIR_FD | FD_NOT_BOTH | FD_FOLLOWS},
    [OS_TRUNCATE] = {"truncate", 2, 2, {{"path", 'f', 0}, {"length", 'l', 0}}},
};

static int
os_nparams(const os_sig *sig)
{
    int n = 0;
    while (n < 6 && sig->p[n].name != NULL) {
        n++;
    }
    return n;
}

/* What a path argument may be, in os's words. */
static const char *
path_kinds(int allow_fd, int allow_none)
{
    if (allow_fd && allow_none) {
        return "string, bytes, os.PathLike, integer or None";
    }
    if (allow_fd) {
        return "string, bytes, os.PathLike or integer";
    }
    if (allow_none) {
        return "string, bytes, os.PathLike or None";
    }
    return "string, bytes or os.PathLike";
}

int
afc_has_nul(PyObject *bytes)
{
    return strlen(PyBytes_AS_STRING(bytes)) !=
           (size_t)PyBytes_GET_SIZE(bytes);
}

PyObject *
afc_nul_refused(const char *func, const char *arg, int from_str)
{
#if PY_VERSION_HEX < 0x030D0000
    if (from_str) {
        PyErr_SetString(PyExc_ValueError, "embedded null byte");
        return NULL;
    }
#else
    (void)from_str;
#endif
    PyErr_Format(PyExc_ValueError, "%s: embedded null character in %s",
                 func, arg);
    return NULL;
}

/* A path argument as os takes it: (bytes or None, fd or -1, whether names
 * come back as str, the name an OSError carries: the path after fspath,
 * or the fd). New reference. */
static PyObject *
os_path(const char *func, const char *arg, PyObject *value, int allow_fd,
        int allow_none)
{
    if (allow_none && value == Py_None) {
        return Py_BuildValue("(yiOs)", ".", -1, Py_True, ".");
    }
    if (allow_fd && PyIndex_Check(value)) {
        int64_t fd;
        if (afc_int_arg(value, AFC_ARG_FD, &fd) < 0) {
            return NULL;
        }
        return Py_BuildValue("(OLOO)", Py_None, (long long)fd, Py_True,
                             value);
    }
    PyObject *p = PyOS_FSPath(value);
    if (p == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
            return NULL;
        }
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        int has = PyObject_HasAttrString((PyObject *)Py_TYPE(value),
                                         "__fspath__");
        if (has) {
            PyErr_Restore(et, ev, tb);
            return NULL;  /* its __fspath__ failed: os's own words */
        }
        Py_XDECREF(et);
        Py_XDECREF(ev);
        Py_XDECREF(tb);
#if PY_VERSION_HEX < 0x030C0000
        /* other bytes-like objects: taken, with a warning, until 3.12 */
        if (PyObject_CheckBuffer(value)) {
            PyObject *b = PyBytes_FromObject(value);
            if (b == NULL) {
                return NULL;
            }
            if (PyErr_WarnFormat(PyExc_DeprecationWarning, 1,
                                 "%s: %s should be %s, not %.200s", func,
                                 arg, path_kinds(allow_fd, allow_none),
                                 _PyType_Name(Py_TYPE(value))) < 0) {
                Py_DECREF(b);
                return NULL;
            }
            if (afc_has_nul(b)) {
                Py_DECREF(b);
                return afc_nul_refused(func, arg, 0);
            }
            PyObject *r = Py_BuildValue("(NiOO)", b, -1, Py_False, value);
            return r;
        }
#endif
        PyErr_Format(PyExc_TypeError, "%s: %s should be %s, not %.200s",
                     func, arg, path_kinds(allow_fd, allow_none),
                     _PyType_Name(Py_TYPE(value)));
        return NULL;
    }
    if (PyUnicode_Check(p)) {
        PyObject *b = PyUnicode_EncodeFSDefault(p);
        if (b == NULL) {
            Py_DECREF(p);
            return NULL;
        }
        if (afc_has_nul(b)) {
            Py_DECREF(b);
            Py_DECREF(p);
            return afc_nul_refused(func, arg, 1);
        }
        return Py_BuildValue("(NiON)", b, -1, Py_True, p);
    }
    if (afc_has_nul(p)) {
        Py_DECREF(p);
        return afc_nul_refused(func, arg, 0);
    }
    return Py_BuildValue("(OiON)", p, -1, Py_False, p);
}

static int
os_dir_fd(PyObject *value, int *out)
{
    if (value == Py_None) {
        *out = AT_FDCWD;
        return 0;
    }
    if (!PyIndex_Check(value)) {
        PyErr_Format(PyExc_TypeError,
                     "argument should be integer or None, not %.200s",
                     _PyType_Name(Py_TYPE(value)));
        return -1;
    }
    int64_t v;
    if (afc_int_arg(value, AFC_ARG_FD, &v) < 0) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* One parameter's value, converted (value NULL: absent). New reference. */
static PyObject *
os_convert(const os_sig *sig, const os_param *pp, PyObject *value)
{
    int kind = 0;
    switch (pp->kind) {
    case 'p':
    case 'f':
    case 'n':
        if (value == NULL) {
            value = Py_None;
        }
        return os_path(sig->name, pp->name, value, pp->kind != 'p',
                       pp->kind == 'n');
    case 'd': {
        int fd;
        if (os_dir_fd(value == NULL ? Py_None : value, &fd) < 0) {
            return NULL;
        }
        return PyLong_FromLong(fd);
    }
    case 'b': {
        int b = value == NULL ? pp->dflt : PyObject_IsTrue(value);
        return b < 0 ? NULL : PyBool_FromLong(b);
    }
    case 'o':
        return Py_NewRef(value == NULL ? Py_None : value);
    case 'L':
        if (value == NULL || value == Py_None) {
            Py_RETURN_NONE;
        }
        kind = AFC_ARG_LONG;
        break;
    case 'i':
        kind = AFC_ARG_INT;
        break;
    case 'l':
        kind = AFC_ARG_LONG;
        break;
    case 's':
        kind = AFC_ARG_SSIZE;
        break;
    case 'u':
        kind = AFC_ARG_UID;
        break;
    case 'g':
        kind = AFC_ARG_GID;
        break;
    case 'F':
        kind = AFC_ARG_FILENO;
        break;
    }
    if (value == NULL) {
        return PyLong_FromLong(pp->dflt);
    }
    int64_t v;
    if (afc_int_arg(value, kind, &v) < 0) {
        return NULL;
    }
    return PyLong_FromLongLong(v);
}

/* Bind args (a tuple) and kwargs (a dict or None) to sig's parameters in
 * the words of os's argument parser: vals[i] is the i-th parameter's
 * object, or NULL when absent (borrowed). */
static int
os_bind(const os_sig *sig, PyObject *args, PyObject *kwargs,
        PyObject **vals)
{
    int n = os_nparams(sig);
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    for (int i = 0; i < n; i++) {
        vals[i] = i < nargs ? PyTuple_GET_ITEM(args, i) : NULL;
    }
    Py_ssize_t nkw = 0, taken = 0;
    if (kwargs != NULL && kwargs != Py_None) {
        nkw = PyDict_GET_SIZE(kwargs);
        /* aiofiles' own keywords */
        for (int k = 0; k < 2; k++) {
            PyObject *v = PyDict_GetItemString(kwargs,
                                               k ? "executor" : "loop");
            nkw -= v != NULL;
        }
    }
    if (nargs + nkw > n) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes at most %d %sargument%s (%zd given)",
                     sig->name, n, nargs == 0 ? "keyword " : "",
                     n == 1 ? "" : "s", nargs + nkw);
        return -1;
    }
    if (nargs > sig->npos) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes %s %d positional argument%s (%zd given)",
                     sig->name, sig->required < sig->npos ? "at most"
                                                         : "exactly",
                     sig->npos, sig->npos == 1 ? "" : "s", nargs);
        return -1;
    }
    for (int i = (int)nargs; i < n && nkw > 0; i++) {
        PyObject *v = PyDict_GetItemString(kwargs, sig->p[i].name);
        if (v != NULL) {
            vals[i] = v;
            taken++;
        }
    }
    for (int i = (int)nargs; i < sig->required; i++) {
        if (vals[i] == NULL) {
            PyErr_Format(PyExc_TypeError,
                         "%s() missing required argument '%s' (pos %d)",
                         sig->name, sig->p[i].name, i + 1);
            return -1;
        }
    }
    if (taken == nkw) {
        return 0;
    }
    /* A keyword that names no parameter left: one given twice, or one os
     * does not know. */
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(kwargs, &pos, &key, &value)) {
        const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        if (k == NULL) {
            PyErr_Clear();
            continue;
        }
        for (int i = 0; i < nargs && i < sig->npos; i++) {
            if (strcmp(k, sig->p[i].name) == 0) {
                PyErr_Format(PyExc_TypeError,
                             "argument for %s() given by name ('%s') and "
                             "position (%d)", sig->name, k, i + 1);
                return -1;
            }
        }
    }
    pos = 0;
    while (PyDict_Next(kwargs, &pos, &key, &value)) {
        const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        int known = k != NULL && (strcmp(k, "loop") == 0 ||
                                  strcmp(k, "executor") == 0);
        for (int i = (int)nargs; k != NULL && !known && i < n; i++) {
            known = strcmp(k, sig->p[i].name) == 0;
        }
        if (!known) {
#if PY_VERSION_HEX >= 0x030D0000
            PyErr_Format(PyExc_TypeError,
                         "%s() got an unexpected keyword argument '%S'",
                         sig->name, key);
#else
            PyErr_Format(PyExc_TypeError,
                         "'%S' is an invalid keyword argument for %s()", key,
                         sig->name);
#endif
            return -1;
        }
    }
    PyErr_SetString(PyExc_SystemError, "os_bind: keywords unaccounted for");
    return -1;
}

/* One of utime's times as (seconds, nanoseconds): a float is split as
 * os splits it (the nanoseconds rounded down), anything else is whole
 * seconds. */
static int
utime_one(PyObject *t, long long *sec, long long *nsec)
{
    if (PyFloat_Check(t)) {
        double d = PyFloat_AS_DOUBLE(t);
        if (isnan(d)) {
            PyErr_SetString(PyExc_ValueError,
                            "Invalid value NaN (not a number)");
            return -1;
        }
        double whole;
        double ns = floor(modf(d, &whole) * 1e9);
        if (!(whole >= -9223372036854775808.0 &&
              whole < 9223372036854775808.0)) {
            PyErr_SetString(PyExc_OverflowError,
                            "timestamp out of range for platform time_t");
            return -1;
        }
        *sec = (long long)whole;
        *nsec = (long long)ns;
        if (*nsec >= 1000000000) {
            *nsec -= 1000000000;
            *sec += 1;
        }
        else if (*nsec < 0) {
            *nsec += 1000000000;
            *sec -= 1;
        }
        return 0;
    }
    int64_t v;
    if (afc_int_arg(t, AFC_ARG_TIME, &v) < 0) {
        return -1;
    }
    *sec = v;
    *nsec = 0;
    return 0;
}

/* One of utime's ns: whole nanoseconds split into seconds (a time_t) and
 * the rest (a C long), as os converts them. */
static int
utime_one_ns(PyObject *v, long long *sec, long long *nsec)
{
    PyObject *billion = PyLong_FromLong(1000000000L);
    PyObject *qr = billion != NULL ? PyNumber_Divmod(v, billion) : NULL;
    Py_XDECREF(billion);
    if (qr == NULL) {
        return -1;
    }
    int64_t s, n;
    int rc = -1;
    if (PyTuple_Check(qr) && PyTuple_GET_SIZE(qr) == 2 &&
        afc_int_arg(PyTuple_GET_ITEM(qr, 0), AFC_ARG_TIME, &s) == 0 &&
        afc_int_arg(PyTuple_GET_ITEM(qr, 1), AFC_ARG_LONG, &n) == 0) {
        *sec = s;
        *nsec = n;
        rc = 0;
    }
    Py_DECREF(qr);
    return rc;
}

/* utime's times and ns, checked and converted in os's order: the times
 * value becomes (times as given, (atime s, ns, mtime s, ns)), ns < 0
 * meaning "now". */
static int
utime_times(PyObject *out)
{
    PyObject *times = PyTuple_GET_ITEM(out, 1);
    PyObject *ns = PyTuple_GET_ITEM(out, 2);
    long long t[4] = {0, -1, 0, -1};
    if (times != Py_None && ns != Py_None) {
        PyErr_SetString(PyExc_ValueError, "utime: you may specify either "
                                          "'times' or 'ns' but not both");
        return -1;
    }
    if (times != Py_None) {
        if (!PyTuple_CheckExact(times) || PyTuple_GET_SIZE(times) != 2) {
            PyErr_SetString(PyExc_TypeError, "utime: 'times' must be either "
                                             "a tuple of two ints or None");
            return -1;
        }
        if (utime_one(PyTuple_GET_ITEM(times, 0), &t[0], &t[1]) < 0 ||
            utime_one(PyTuple_GET_ITEM(times, 1), &t[2], &t[3]) < 0) {
            return -1;
        }
    }
    else if (ns != Py_None) {
        if (!PyTuple_CheckExact(ns) || PyTuple_GET_SIZE(ns) != 2) {
            PyErr_SetString(PyExc_TypeError,
                            "utime: 'ns' must be a tuple of two ints");
            return -1;
        }
        if (utime_one_ns(PyTuple_GET_ITEM(ns, 0), &t[0], &t[1]) < 0 ||
            utime_one_ns(PyTuple_GET_ITEM(ns, 1), &t[2], &t[3]) < 0) {
            return -1;
        }
    }
    PyObject *pair = Py_BuildValue("(O(LLLL))", times, t[0], t[1], t[2],
                                   t[3]);
    if (pair == NULL) {
        return -1;
    }
    PyTuple_SET_ITEM(out, 1, pair);
    Py_DECREF(times);
    return 0;
}

/* os's checks of a descriptor given as the path, after the conversions
 * (sig->checks says which the call makes). */
static int
fd_checks(const os_sig *sig, PyObject *out)
{
    PyObject *path = PyTuple_GET_ITEM(out, 0);
    long fd = PyLong_AsLong(PyTuple_GET_ITEM(path, 1));
    int n = os_nparams(sig);
    long dir_fd = AT_FDCWD;
    int follow = 1;
    for (int i = 1; i < n; i++) {
        if (sig->p[i].kind == 'd') {
            dir_fd = PyLong_AsLong(PyTuple_GET_ITEM(out, i));
        }
        else if (strcmp(sig->p[i].name, "follow_symlinks") == 0) {
            follow = PyTuple_GET_ITEM(out, i) == Py_True;
        }
    }
    const char *bad = NULL;
    if ((sig->checks & FD_NO_DIR_FD) &&
        PyTuple_GET_ITEM(path, 0) == Py_None && dir_fd != AT_FDCWD) {
        bad = "can't specify dir_fd without matching path";
    }
    else if ((sig->checks & FD_NOT_BOTH) && fd != -1 && dir_fd != AT_FDCWD) {
        bad = "can't specify both dir_fd and fd";
    }
    else if ((sig->checks & FD_FOLLOWS) && fd > 0 && !follow) {
        bad = "cannot use fd and follow_symlinks together";
    }
    if (bad != NULL) {
        PyErr_Format(PyExc_ValueError, "%s: %s", sig->name, bad);
        return -1;
    }
    return 0;
}

/* The values of a call's parameters, bound and converted (a new tuple). */
PyObject *
afc_os_values(int call, PyObject *args, PyObject *kwargs)
{
    if (call < 0 || call >= OS_COUNT || !PyTuple_Check(args) ||
        (kwargs != Py_None && !PyDict_Check(kwargs))) {
        PyErr_SetString(PyExc_TypeError,
                        "os_args(call, args: tuple, kwargs: dict | None)");
        return NULL;
    }
    const os_sig *sig = &os_sigs[call];
    PyObject *vals[6];
    if (os_bind(sig, args, kwargs, vals) < 0) {
        return NULL;
    }
    int n = os_nparams(sig);
    PyObject *out = PyTuple_New(n);
    for (int i = 0; out != NULL && i < n; i++) {
        PyObject *v = os_convert(sig, &sig->p[i], vals[i]);
        if (v == NULL) {
            Py_CLEAR(out);
            break;
        }
        PyTuple_SET_ITEM(out, i, v);
    }
    if (out != NULL &&
        (((sig->checks & UTIME_TIMES) && utime_times(out) < 0) ||
         ((sig->checks & ~UTIME_TIMES) && fd_checks(sig, out) < 0))) {
        Py_CLEAR(out);
    }
    return out;
}

/* _cext.os_args(call, args, kwargs): see the table above. */
static PyObject *
os_args_py(PyObject *Py_UNUSED(module), PyObject *const *args,
           Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "os_args takes 3 arguments");
        return NULL;
    }
    int call = PyLong_Check(args[0]) ? PyLong_AsLong(args[0]) : -1;
    if (call == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return afc_os_values(call, args[1], args[2]);
}

/* _cext.path_arg(func, arg, value, allow_fd, allow_none): one path
 * argument, as os_args converts it (for the shutil-like calls). */
static PyObject *
path_arg_py(PyObject *Py_UNUSED(module), PyObject *const *args,
            Py_ssize_t nargs)
{
    const char *func, *arg;
    if (nargs != 5 || (func = PyUnicode_AsUTF8(args[0])) == NULL ||
        (arg = PyUnicode_AsUTF8(args[1])) == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "path_arg takes 5 arguments");
        }
        return NULL;
    }
    int allow_fd = PyObject_IsTrue(args[3]);
    int allow_none = PyObject_IsTrue(args[4]);
    if (allow_fd < 0 || allow_none < 0) {
        return NULL;
    }
    return os_path(func, arg, args[2], allow_fd, allow_none);
}

/* _cext.dir_fd_arg(value): a dir_fd argument (None: AT_FDCWD). */
static PyObject *
dir_fd_arg_py(PyObject *Py_UNUSED(module), PyObject *value)
{
    int fd;
    if (os_dir_fd(value, &fd) < 0) {
        return NULL;
    }
    return PyLong_FromLong(fd);
}

static PyMethodDef os_arg_methods[] = {
    {"os_args", (PyCFunction)(void (*)(void))os_args_py, METH_FASTCALL,
     "os_args(call, args, kwargs): a call's arguments bound and converted "
     "as os does it."},
    {"path_arg", (PyCFunction)(void (*)(void))path_arg_py, METH_FASTCALL,
     "path_arg(func, arg, value, allow_fd, allow_none): a path argument."},
    {"dir_fd_arg", dir_fd_arg_py, METH_O,
     "dir_fd_arg(value): a dir_fd argument (None: AT_FDCWD)."},
    {NULL, NULL, 0, NULL},
};

int
afc_os_args_add(PyObject *module)
{
    char name[32];
    for (int c = 0; c < OS_COUNT; c++) {
        int k = PyOS_snprintf(name, sizeof(name), "OS_%s", os_sigs[c].name);
        for (int i = 3; i < k; i++) {
            name[i] = (char)(name[i] - ('a' <= name[i] && name[i] <= 'z'
                                            ? 'a' - 'A' : 0));
        }
        if (PyModule_AddIntConstant(module, name, c) < 0) {
            return -1;
        }
    }
    return PyModule_AddFunctions(module, os_arg_methods);
}
