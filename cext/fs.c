/* aiofiles_c.os: file-system calls in the pool, and the Python objects
 * built from their results (os.stat_result, os.statvfs_result, names,
 * scandir batches). */
#include "op.h"
#include "fastpath.h"

#include <structmember.h>  /* PyMemberDef (in Python.h from 3.12 on) */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* ---- file-system calls: aiofiles_c.os ---- */

#if PY_VERSION_HEX >= 0x030D0000
/* The os function behind each operation, and its path arguments' names,
 * for the words of a refused path. */
static const char *
fs_os_name(int fsop)
{
    static const char *const names[AFC_FS_COUNT] = {
        [AFC_FS_STAT] = "stat", [AFC_FS_ACCESS] = "access",
        [AFC_FS_MKDIR] = "mkdir", [AFC_FS_RMDIR] = "rmdir",
        [AFC_FS_UNLINK] = "unlink", [AFC_FS_RENAME] = "rename",
        [AFC_FS_LINK] = "link", [AFC_FS_SYMLINK] = "symlink",
        [AFC_FS_READLINK] = "readlink", [AFC_FS_LISTDIR] = "listdir",
        [AFC_FS_STATVFS] = "statvfs", [AFC_FS_CHMOD] = "chmod",
        [AFC_FS_CHOWN] = "chown", [AFC_FS_UTIME] = "utime",
        [AFC_FS_TRUNCATE] = "truncate", [AFC_FS_SCANDIR] = "scandir",
        [AFC_FS_REALPATH] = "realpath", [AFC_FS_OPENAT] = "open",
        [AFC_FS_COPYFILE] = "open",
    };
    return names[fsop] != NULL ? names[fsop] : "fs";
}

static const char *
fs_arg_name(int fsop, int second)
{
    int two = fsop == AFC_FS_RENAME || fsop == AFC_FS_LINK ||
              fsop == AFC_FS_SYMLINK;
    return two ? (second ? "dst" : "src") : "path";
}
#endif

static PyObject *
fs_name(const char *s, Py_ssize_t n, int as_str)
{
    return as_str ? PyUnicode_DecodeFSDefaultAndSize(s, n)
                  : PyBytes_FromStringAndSize(s, n);
}

/* Store sec (int), the float seconds and the nanoseconds as os.stat does. */
static int
set_time(PyObject *v, int index, long long sec, long nsec)
{
    PyObject *s = PyLong_FromLongLong(sec);
    PyObject *fl = PyFloat_FromDouble((double)sec + (double)nsec * 1e-9);
    PyObject *billion = PyLong_FromLong(1000000000L);
    PyObject *prod = s && billion ? PyNumber_Multiply(s, billion) : NULL;
    PyObject *frac = PyLong_FromLong(nsec);
    PyObject *ns = prod && frac ? PyNumber_Add(prod, frac) : NULL;
    Py_XDECREF(billion);
    Py_XDECREF(prod);
    Py_XDECREF(frac);
    if (s == NULL || fl == NULL || ns == NULL) {
        Py_XDECREF(s);
        Py_XDECREF(fl);
        Py_XDECREF(ns);
        return -1;
    }
    PyStructSequence_SetItem(v, index, s);
    PyStructSequence_SetItem(v, index + 3, fl);
    PyStructSequence_SetItem(v, index + 6, ns);
    return 0;
}

/* Set v[start:start+n] to items (new references, any may be NULL): all
 * are consumed; -1 if one was NULL (an error is set). */
static int
set_items(PyObject *v, int start, PyObject **items, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (items[i] == NULL || rc < 0) {
            Py_XDECREF(items[i]);
            rc = -1;
            continue;
        }
        PyStructSequence_SetItem(v, start + i, items[i]);
    }
    return rc;
}

static PyObject *
make_stat_result(afc_state *st, const struct stat *s)
{
    PyObject *v = PyStructSequence_New((PyTypeObject *)st->stat_result);
    if (v == NULL) {
        return NULL;
    }
    PyObject *items[] = {
        PyLong_FromLong((long)s->st_mode),
        PyLong_FromUnsignedLongLong((unsigned long long)s->st_ino),
        PyLong_FromUnsignedLongLong((unsigned long long)s->st_dev),
        PyLong_FromLong((long)s->st_nlink),
        PyLong_FromUnsignedLong((unsigned long)s->st_uid),
        PyLong_FromUnsignedLong((unsigned long)s->st_gid),
        PyLong_FromLongLong((long long)s->st_size),
    };
    if (set_items(v, 0, items, 7) < 0) {
        Py_DECREF(v);
        return NULL;
    }
    if (set_time(v, 7, (long long)s->st_atim.tv_sec, s->st_atim.tv_nsec) ||
        set_time(v, 8, (long long)s->st_mtim.tv_sec, s->st_mtim.tv_nsec) ||
        set_time(v, 9, (long long)s->st_ctim.tv_sec, s->st_ctim.tv_nsec)) {
        Py_DECREF(v);
        return NULL;
    }
    PyObject *tail[] = {
        PyLong_FromLong((long)s->st_blksize),
        PyLong_FromLongLong((long long)s->st_blocks),
        PyLong_FromUnsignedLongLong((unsigned long long)s->st_rdev),
    };
    if (set_items(v, 16, tail, 3) < 0) {
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

static PyObject *
make_statvfs_result(afc_state *st, const struct statvfs *s)
{
    PyObject *v = PyStructSequence_New((PyTypeObject *)st->statvfs_result);
    if (v == NULL) {
        return NULL;
    }
    unsigned long long vals[] = {
        s->f_bsize, s->f_frsize, s->f_blocks, s->f_bfree, s->f_bavail,
        s->f_files, s->f_ffree,  s->f_favail, s->f_flag,  s->f_namemax,
        s->f_fsid,
    };
    for (int i = 0; i < 11; i++) {
        PyObject *x = PyLong_FromUnsignedLongLong(vals[i]);
        if (x == NULL) {
            Py_DECREF(v);
            return NULL;
        }
        PyStructSequence_SetItem(v, i, x);
    }
    return v;
}

static PyObject *
fs_list(afc_job *j, int as_str)
{
    PyObject *lst = PyList_New(0);
    size_t i = 0;
    while (lst != NULL && i + 3 <= j->outlen) {
        size_t n = (unsigned char)j->out[i + 1] |
                   ((size_t)(unsigned char)j->out[i + 2] << 8);
        PyObject *nm = fs_name(j->out + i + 3, (Py_ssize_t)n, as_str);
        if (nm == NULL || PyList_Append(lst, nm) < 0) {
            Py_XDECREF(nm);
            Py_CLEAR(lst);
            break;
        }
        Py_DECREF(nm);
        i += 3 + n;
    }
    return lst;
}

#define AFC_DIR_CAPSULE "aiofiles_c.DIR"
/* The capsule's context: NULL while the stream is open and idle, CLOSED once
 * the worker closed it, BUSY while a job reads it (a second job on the same
 * DIR* would race with the first, which may close it). */
#define AFC_DIR_CLOSED ((void *)1)
#define AFC_DIR_BUSY ((void *)2)

/* The capsule owns the directory stream until the worker closes it at the
 * end of the directory (its context then says "closed"). A busy capsule is
 * never freed: the job's arguments hold it until the job has settled. */
static void
dir_capsule_free(PyObject *cap)
{
    DIR *d = PyCapsule_GetPointer(cap, AFC_DIR_CAPSULE);
    if (d != NULL && PyCapsule_GetContext(cap) == NULL) {
        closedir(d);
    }
}

/* After a scandir batch that gives no result (an error, or nobody left to
 * take it): the stream is the capsule's, or closed here if it has none. */
static void
scandir_settle(AsyncOp *op, afc_job *j)
{
    PyObject *handle = PyTuple_GET_ITEM(op->arg, 4);
    if (j->dir == NULL) {
        if (handle != Py_None) {
            PyCapsule_SetContext(handle, AFC_DIR_CLOSED);  /* worker did */
        }
    }
    else if (handle == Py_None) {
        closedir((DIR *)j->dir);
    }
    else {
        PyCapsule_SetContext(handle, NULL);  /* idle again */
    }
    j->dir = NULL;
}

static PyObject *
scandir_result(AsyncOp *op, afc_job *j)
{
    PyObject *handle = PyTuple_GET_ITEM(op->arg, 4);
    PyObject *blob = NULL, *r = NULL;
    if (j->dir == NULL) {
        if (handle != Py_None) {
            /* the worker closed the stream */
            PyCapsule_SetContext(handle, AFC_DIR_CLOSED);
        }
        handle = Py_None;
        Py_INCREF(handle);
    }
    else if (handle != Py_None) {
        PyCapsule_SetContext(handle, NULL);  /* idle again */
        Py_INCREF(handle);
    }
    else {
        handle = PyCapsule_New(j->dir, AFC_DIR_CAPSULE, dir_capsule_free);
        if (handle == NULL) {
            closedir((DIR *)j->dir);
            return NULL;
        }
    }
    blob = PyBytes_FromStringAndSize(j->out, (Py_ssize_t)j->outlen);
    if (blob != NULL) {
        r = Py_BuildValue("(OOO)", blob, handle,
                          j->dir == NULL ? Py_True : Py_False);
    }
    Py_XDECREF(blob);
    Py_DECREF(handle);
    return r;
}

/* A file-system job came back: build what os would return. */
static void
fs_done(AsyncOp *op)
{
    afc_job *j = &op->job;
    afc_state *st = op->st;
    PyObject *fn1 = PyTuple_GET_ITEM(op->arg, 2);
    PyObject *fn2 = PyTuple_GET_ITEM(op->arg, 3);
    int as_str = (int)op->n;
    PyObject *r = NULL;
    if (j->fsop == AFC_FS_ACCESS) {
        r = PyBool_FromLong(j->err == 0);
    }
    else if (j->err != 0) {
        if (j->fsop == AFC_FS_SCANDIR) {
            scandir_settle(op, j);
        }
        if ((j->fsop == AFC_FS_LISTDIR || j->fsop == AFC_FS_SCANDIR) &&
            j->res == 1) {
            fn1 = Py_None;
        }
        if (j->fsop == AFC_FS_COPYFILE) {
            /* The error is about one of the two files. */
            fn1 = j->err_which ? fn2 : fn1;
            fn2 = Py_None;
        }
        errno = j->err;
        PyErr_SetFromErrnoWithFilenameObjects(
            PyExc_OSError, fn1 == Py_None ? NULL : fn1,
            fn2 == Py_None ? NULL : fn2);
    }
    else {
        switch (j->fsop) {
        case AFC_FS_STAT:
            r = make_stat_result(st, &j->st);
            break;
        case AFC_FS_STATVFS:
            r = make_statvfs_result(st, &j->vfs);
            break;
        case AFC_FS_READLINK:
        case AFC_FS_GETCWD:
        case AFC_FS_REALPATH:
            r = fs_name(j->out, (Py_ssize_t)j->outlen, as_str);
            break;
        case AFC_FS_LISTDIR:
            r = fs_list(j, as_str);
            break;
        case AFC_FS_SCANDIR:
            /* (records, handle, at_end): one bytes object per batch, made
             * into entries as they are iterated; the handle keeps the
             * directory stream open for the next batch. */
            r = scandir_result(op, j);
            break;
        case AFC_FS_READFILE:
            r = PyBytes_FromStringAndSize(j->out, (Py_ssize_t)j->outlen);
            break;
        case AFC_FS_SENDFILE:
        case AFC_FS_COPYFILE:
            r = PyLong_FromLongLong(j->res);
            break;
        case AFC_FS_OPENAT:
            if (op->abandoned) {
                afc_job_drop_fd(j, 0);
                Py_INCREF(Py_None);
                r = Py_None;
                break;
            }
            /* (fd, fstat of it) */
            r = make_stat_result(st, &j->st);
            if (r != NULL) {
                r = Py_BuildValue("(LN)", (long long)j->res, r);
            }
            if (r == NULL) {
                afc_job_drop_fd(j, 0);
            }
            break;
        default:
            Py_INCREF(Py_None);
            r = Py_None;
        }
    }
    free(j->out);
    j->out = NULL;
    afc_op_finish(op, r);
}

/* The done function of a file-system job. */
static void
fs_job_done(afc_job *job, int status)
{
    AsyncOp *op = afc_op_job_back(job);
    if (status == AFC_DONE_DISCARD || job->err == AFC_ERR_FORKED) {
        if (job->fsop == AFC_FS_SCANDIR) {
            scandir_settle(op, job);
        }
        if (status == AFC_DONE_DISCARD) {
            afc_op_job_discard(op);
        }
        else {
            afc_op_forked(op);
        }
        return;
    }
    fs_done(op);
    if (PyErr_Occurred()) {
        PyErr_WriteUnraisable((PyObject *)op);
    }
    Py_DECREF(op);
}

/* ---- the call table ----
 *
 * One row per aiofiles_c.os call (enum afc_fs_op, pool.h): the name it is
 * exported under (_cext.FS_<name>, which aiofiles_c/_fs.py uses) and the
 * paths its job cannot do without, checked before a job is built. */
enum { NEEDS_PATH = 1, NEEDS_PATH2 = 2 };

static const struct {
    const char *name;
    int needs;
} fs_table[AFC_FS_COUNT] = {
    [AFC_FS_STAT] = {"STAT", 0},  /* a path, or fd */
    [AFC_FS_ACCESS] = {"ACCESS", NEEDS_PATH},
    [AFC_FS_MKDIR] = {"MKDIR", NEEDS_PATH},
    [AFC_FS_RMDIR] = {"RMDIR", NEEDS_PATH},
    [AFC_FS_UNLINK] = {"UNLINK", NEEDS_PATH},
    [AFC_FS_RENAME] = {"RENAME", NEEDS_PATH | NEEDS_PATH2},
    [AFC_FS_LINK] = {"LINK", NEEDS_PATH | NEEDS_PATH2},
    [AFC_FS_SYMLINK] = {"SYMLINK", NEEDS_PATH | NEEDS_PATH2},
    [AFC_FS_READLINK] = {"READLINK", NEEDS_PATH},
    [AFC_FS_LISTDIR] = {"LISTDIR", 0},    /* a path, or fd */
    [AFC_FS_STATVFS] = {"STATVFS", 0},    /* a path, or fd */
    [AFC_FS_SENDFILE] = {"SENDFILE", 0},  /* fd, fd2 */
    [AFC_FS_GETCWD] = {"GETCWD", 0},
    [AFC_FS_FSYNC] = {"FSYNC", 0},        /* fd */
    [AFC_FS_FDATASYNC] = {"FDATASYNC", 0},
    [AFC_FS_CHMOD] = {"CHMOD", 0},        /* a path, or fd */
    [AFC_FS_CHOWN] = {"CHOWN", 0},
    [AFC_FS_UTIME] = {"UTIME", 0},
    [AFC_FS_TRUNCATE] = {"TRUNCATE", 0},
    [AFC_FS_SCANDIR] = {"SCANDIR", 0},    /* a path, fd, or a stream */
    [AFC_FS_COPYFILE] = {"COPYFILE", NEEDS_PATH2},  /* path, or fd */
    [AFC_FS_REALPATH] = {"REALPATH", NEEDS_PATH},
    [AFC_FS_OPENAT] = {"OPENAT", NEEDS_PATH},
    [AFC_FS_CLOSE] = {"CLOSE", 0},        /* fd */
    [AFC_FS_READFILE] = {"READFILE", NEEDS_PATH},
};

/* _cext.scan_stat(path, dir_fd, nofollow): a scandir entry's stat or
 * lstat (bytes path, relative to dir_fd) on the loop thread, where the
 * fast path can answer it without waiting (a cached path on a local file
 * system, fastpath.c): an os.stat_result, or the errno the cache answered
 * (ENOENT, ENOTDIR); None when only a system call that may wait can tell
 * (the caller makes it). */
static PyObject *
scan_stat(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    afc_state *st = afc_get_state(module);
    if (nargs != 3 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "scan_stat(path: bytes, dir_fd, nofollow)");
        return NULL;
    }
    int dir_fd = afc_long_as_int(args[1]);
    int nofollow = PyObject_IsTrue(args[2]);
    if ((dir_fd == -1 && PyErr_Occurred()) || nofollow < 0) {
        return NULL;
    }
    const char *path = PyBytes_AS_STRING(args[0]);
    if (st->no_inline_reads ||
        strlen(path) != (size_t)PyBytes_GET_SIZE(args[0])) {
        Py_RETURN_NONE;
    }
    struct stat sb;
    int err = 0;
    if (afc_fast_stat(dir_fd, path, nofollow, &sb, &err) != AFC_FAST_DONE) {
        Py_RETURN_NONE;
    }
    if (err != 0) {
        return PyLong_FromLong(err);
    }
    return make_stat_result(st, &sb);
}

/* One stat of a batch record (put_stat's order, sys.c) as the tuple of 16
 * ints _scandir._stat_result takes. */
static PyObject *
scan_fields(const char *at)
{
    uint64_t v[16];
    memcpy(v, at, sizeof(v));
    PyObject *t = PyTuple_New(16);
    if (t == NULL) {
        return NULL;
    }
    for (int i = 0; i < 16; i++) {
        /* unsigned but for size, the times, blksize and blocks (the
         * struct format AFC_SCAN_STAT says the same) */
        PyObject *x = (i < 6 || i == 15)
                          ? PyLong_FromUnsignedLongLong(v[i])
                          : PyLong_FromLongLong((long long)v[i]);
        if (x == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, x);
    }
    return t;
}

/* The slots of the DirEntry class, in the order of make()'s arguments.
 * When make is a class whose attributes of these names are all object
 * slots, scan_entries fills a new instance's slots itself, as its
 * __init__ would (no Python run per entry). */
static const char *const entry_slots[9] = {
    "name", "path", "_dtype", "_ino", "_lstat", "_lerr", "_stat", "_serr",
    "_dir_fd",
};

/* 1 if make's slots are known (st->entry_off), 0 if make is to be called,
 * -1 on error. */
static int
entry_layout(afc_state *st, PyObject *make)
{
    if (make == st->entry_type) {
        return 1;
    }
    if (!PyType_Check(make)) {
        return 0;
    }
    Py_ssize_t off[9];
    for (int i = 0; i < 9; i++) {
        PyObject *d = PyObject_GetAttrString(make, entry_slots[i]);
        if (d == NULL) {
            PyErr_Clear();
            return 0;
        }
        int ok = Py_IS_TYPE(d, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)d)->d_member->type ==
                     Py_T_OBJECT_EX;
        if (ok) {
            off[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        }
        Py_DECREF(d);
        if (!ok) {
            return 0;
        }
    }
    Py_XSETREF(st->entry_type, Py_NewRef(make));
    memcpy(st->entry_off, off, sizeof off);
    return 1;
}

/* _cext.scan_entries(blob, off, count, joined, as_str, dir_fd, make):
 * up to count entries of a scandir batch from byte off, each made by
 * make(name, path, dtype, ino, lstat, lerr, stat, serr, dir_fd) (the
 * DirEntry class): (list of them, last first; the offset after them).
 * path is joined + name, or name when joined is None. */
static PyObject *
scan_entries(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    afc_state *st = afc_get_state(module);
    if (nargs != 7 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "scan_entries(blob, off, count, joined, as_str, "
                        "dir_fd, make)");
        return NULL;
    }
    const char *blob = PyBytes_AS_STRING(args[0]);
    Py_ssize_t end = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t off = PyLong_AsSsize_t(args[1]);
    Py_ssize_t count = PyLong_AsSsize_t(args[2]);
    PyObject *joined = args[3];
    int as_str = PyObject_IsTrue(args[4]);
    PyObject *dir_fd = args[5], *make = args[6];
    if ((off == -1 || count == -1) && PyErr_Occurred()) {
        return NULL;
    }
    if (as_str < 0) {
        return NULL;
    }
    if (off < 0 || off > end) {
        PyErr_SetString(PyExc_ValueError, "scan_entries: bad offset");
        return NULL;
    }
    int fill = entry_layout(st, make);
    PyTypeObject *tp = (PyTypeObject *)make;
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    while (off < end && PyList_GET_SIZE(out) < count) {
        struct afc_scan_rec rec;
        if (end - off < (Py_ssize_t)AFC_SCAN_HEAD_SIZE) {
            goto bad;
        }
        memcpy(&rec, blob + off, AFC_SCAN_HEAD_SIZE);
        Py_ssize_t at = off + (Py_ssize_t)AFC_SCAN_HEAD_SIZE;
        Py_ssize_t one = (Py_ssize_t)sizeof(rec.l);
        Py_ssize_t need = rec.namelen +
                          ((rec.flags & AFC_SCAN_LSTAT_OK) ? one : 0) +
                          ((rec.flags & AFC_SCAN_STAT_OK) ? one : 0);
        if (end - at < need) {
            goto bad;
        }
        PyObject *lv = Py_None, *sv = Py_None;
        Py_INCREF(lv);
        Py_INCREF(sv);
        PyObject *name = NULL, *path = NULL, *entry = NULL;
        if (rec.flags & AFC_SCAN_LSTAT_OK) {
            Py_SETREF(lv, scan_fields(blob + at));
            at += one;
        }
        if (lv != NULL && (rec.flags & AFC_SCAN_STAT_OK)) {
            Py_SETREF(sv, scan_fields(blob + at));
            at += one;
        }
        if (lv != NULL && sv != NULL) {
            name = as_str ? PyUnicode_DecodeFSDefaultAndSize(blob + at,
                                                             rec.namelen)
                          : PyBytes_FromStringAndSize(blob + at,
                                                      rec.namelen);
        }
        if (name != NULL) {
            if (joined == Py_None) {
                path = Py_NewRef(name);
            }
            else if (as_str) {
                path = PyUnicode_Concat(joined, name);
            }
            else {
                path = PyNumber_Add(joined, name);
            }
        }
        if (path != NULL) {
            PyObject *margs[9];
            margs[0] = name;
            margs[1] = path;
            margs[2] = PyLong_FromLong(rec.dtype);
            margs[3] = PyLong_FromUnsignedLongLong(rec.ino);
            margs[4] = lv;
            margs[5] = PyLong_FromLong(rec.lerr);
            margs[6] = sv;
            margs[7] = PyLong_FromLong(rec.serr);
            margs[8] = dir_fd;
            if (margs[2] == NULL || margs[3] == NULL || margs[5] == NULL ||
                margs[7] == NULL) {
                /* entry stays NULL: the MemoryError */
            }
            else if (fill) {
                entry = tp->tp_alloc(tp, 0);
                for (int i = 0; entry != NULL && i < 9; i++) {
                    *(PyObject **)((char *)entry + st->entry_off[i]) =
                        Py_NewRef(margs[i]);
                }
            }
            else {
                entry = PyObject_Vectorcall(make, margs, 9, NULL);
            }
            Py_XDECREF(margs[2]);
            Py_XDECREF(margs[3]);
            Py_XDECREF(margs[5]);
            Py_XDECREF(margs[7]);
        }
        Py_XDECREF(lv);
        Py_XDECREF(sv);
        Py_XDECREF(name);
        Py_XDECREF(path);
        if (entry == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        int rc = PyList_Append(out, entry);
        Py_DECREF(entry);
        if (rc < 0) {
            Py_DECREF(out);
            return NULL;
        }
        off = at + rec.namelen;
    }
    if (PyList_Reverse(out) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return Py_BuildValue("(Nn)", out, off);
bad:
    Py_DECREF(out);
    PyErr_SetString(PyExc_ValueError, "scan_entries: truncated record");
    return NULL;
}

static PyMethodDef fs_functions[] = {
    {"scan_stat", (PyCFunction)(void (*)(void))scan_stat, METH_FASTCALL,
     "A scandir entry's stat done on the loop thread where it cannot wait "
     "(used by aiofiles_c.os.DirEntry)."},
    {"scan_entries", (PyCFunction)(void (*)(void))scan_entries,
     METH_FASTCALL,
     "Entries of a scandir batch, made by a DirEntry class (used by "
     "aiofiles_c.os.scandir)."},
    {NULL, NULL, 0, NULL},
};

/* The module's constants for aiofiles_c.os (module_exec): the operation
 * codes, the *at() flags and AT_FDCWD, and the scandir record layout
 * (struct afc_scan_rec, pool.h) as struct formats with its flags. */
static int fs_add_os_calls(PyObject *module);

int
afc_fs_add_constants(PyObject *module)
{
    char name[32];
    for (int op = 0; op < AFC_FS_COUNT; op++) {
        PyOS_snprintf(name, sizeof(name), "FS_%s", fs_table[op].name);
        if (PyModule_AddIntConstant(module, name, op) < 0) {
            return -1;
        }
    }
    if (PyModule_AddIntConstant(module, "FS_COUNT", AFC_FS_COUNT) < 0 ||
        PyModule_AddIntConstant(module, "AT_FDCWD", AT_FDCWD) < 0 ||
        PyModule_AddIntConstant(module, "AT_SYMLINK_NOFOLLOW",
                                AT_SYMLINK_NOFOLLOW) < 0 ||
        PyModule_AddIntConstant(module, "AT_SYMLINK_FOLLOW",
                                AT_SYMLINK_FOLLOW) < 0 ||
        PyModule_AddIntConstant(module, "AT_EACCESS", AT_EACCESS) < 0 ||
        PyModule_AddStringConstant(module, "SCAN_HEAD", AFC_SCAN_HEAD) < 0 ||
        PyModule_AddStringConstant(module, "SCAN_STAT", AFC_SCAN_STAT) < 0 ||
        PyModule_AddIntConstant(module, "SCAN_REC_SIZE",
                                (long)sizeof(struct afc_scan_rec)) < 0 ||
        PyModule_AddIntConstant(module, "SCAN_LSTAT_OK", AFC_SCAN_LSTAT_OK) <
            0 ||
        PyModule_AddIntConstant(module, "SCAN_STAT_OK", AFC_SCAN_STAT_OK) <
            0 ||
        PyModule_AddIntConstant(module, "SCAN_HEAD_SIZE",
                                (long)AFC_SCAN_HEAD_SIZE) < 0 ||
        PyModule_AddIntConstant(module, "SCAN_TYPES_UNKNOWN",
                                AFC_SCAN_TYPES_UNKNOWN) < 0 ||
        PyModule_AddFunctions(module, fs_functions) < 0 ||
        PyModule_AddIntConstant(module, "DT_UNKNOWN", DT_UNKNOWN) < 0 ||
        PyModule_AddIntConstant(module, "DT_DIR", DT_DIR) < 0 ||
        PyModule_AddIntConstant(module, "DT_REG", DT_REG) < 0 ||
        PyModule_AddIntConstant(module, "DT_LNK", DT_LNK) < 0 ||
        fs_add_os_calls(module) < 0) {
        return -1;
    }
    return 0;
}

/* One file-system call, as afc_fs_call and the os entry points below
 * describe it (the objects are borrowed). */
typedef struct {
    int fsop, fd, fd2, dir_fd, dir_fd2, flags, mode, as_str;
    long long off;
    Py_ssize_t length;
    long long times[4];
    PyObject *path, *path2, *fn1, *fn2, *handle;
} fs_req;

static void
fs_req_init(fs_req *r, int fsop)
{
    *r = (fs_req){.fsop = fsop, .fd = -1, .fd2 = -1, .dir_fd = AT_FDCWD,
                  .dir_fd2 = AT_FDCWD, .as_str = 1, .off = -1,
                  .times = {0, -1, 0, -1}, .path = Py_None,
                  .path2 = Py_None, .fn1 = Py_None, .fn2 = Py_None,
                  .handle = Py_None};
}

static PyObject *fs_start(afc_state *st, const fs_req *r);

/* _cext.fs(op, path=None, path2=None, fd=-1, fd2=-1, dir_fd=AT_FDCWD,
 *          dir_fd2=AT_FDCWD, flags=0, mode=0, off=-1, length=0,
 *          filename=None, filename2=None, as_str=True, times=(0, -1, 0, -1),
 *          handle=None): start a file-system call in the pool; the
 * awaitable gives what the os function returns. Paths are bytes (or None);
 * filename/filename2 name them in an OSError; times are utime's (seconds,
 * nanoseconds; nanoseconds < 0: now); handle is a scandir stream.
 * COPYFILE with an fd takes it: once an awaitable is returned, the fd is
 * closed by the job (or here, when it could not be submitted). */
PyObject *
afc_fs_call(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {
        "op",      "path",     "path2",     "fd",     "fd2",   "dir_fd",
        "dir_fd2", "flags",    "mode",      "off",    "length", "filename",
        "filename2", "as_str", "times",     "handle", NULL};
    fs_req r;
    fs_req_init(&r, 0);
    if (!PyArg_ParseTupleAndKeywords(
            args, kwds, "i|OOiiiiiiLnOOp(LLLL)O:fs", kwlist, &r.fsop,
            &r.path, &r.path2, &r.fd, &r.fd2, &r.dir_fd, &r.dir_fd2,
            &r.flags, &r.mode, &r.off, &r.length, &r.fn1, &r.fn2, &r.as_str,
            &r.times[0], &r.times[1], &r.times[2], &r.times[3],
            &r.handle)) {
        return NULL;
    }
    return fs_start(afc_get_state(module), &r);
}

static PyObject *
fs_start(afc_state *st, const fs_req *r)
{
    int fsop = r->fsop, fd = r->fd, flags = r->flags, dir_fd = r->dir_fd;
    PyObject *path = r->path, *path2 = r->path2, *handle = r->handle;
    void *dir = NULL;
    if (handle != Py_None) {
        dir = PyCapsule_GetPointer(handle, AFC_DIR_CAPSULE);
        if (dir == NULL) {
            return NULL;
        }
        void *ctx = PyCapsule_GetContext(handle);
        if (ctx == AFC_DIR_BUSY) {
            PyErr_SetString(PyExc_RuntimeError,
                            "scandir: another fetch from this directory "
                            "stream is in flight");
            return NULL;
        }
        if (ctx != NULL) {
            PyErr_SetString(PyExc_ValueError, "directory stream is closed");
            return NULL;
        }
    }
    if (fsop < 0 || fsop >= AFC_FS_COUNT) {
        PyErr_Format(PyExc_ValueError, "invalid file-system operation %d",
                     fsop);
        return NULL;
    }
    if ((path != Py_None && !PyBytes_Check(path)) ||
        (path2 != Py_None && !PyBytes_Check(path2))) {
        PyErr_SetString(PyExc_TypeError, "fs paths must be bytes or None");
        return NULL;
    }
    if (((fs_table[fsop].needs & NEEDS_PATH) && path == Py_None) ||
        ((fs_table[fsop].needs & NEEDS_PATH2) && path2 == Py_None)) {
        PyErr_Format(PyExc_TypeError, "fs: %s needs %s", fs_table[fsop].name,
                     path == Py_None ? "a path" : "a second path");
        return NULL;
    }
    /* A worker sees a C string: a NUL inside would cut the path short and
     * name another file. aiofiles_c.os refuses such a path before this
     * point; here os's words for a str path are repeated, which from
     * Python 3.13 on name the call and the argument. */
    PyObject *paths[2] = {path, path2};
    for (int i = 0; i < 2; i++) {
        if (paths[i] != Py_None &&
            strlen(PyBytes_AS_STRING(paths[i])) !=
                (size_t)PyBytes_GET_SIZE(paths[i])) {
#if PY_VERSION_HEX >= 0x030D0000
            PyErr_Format(PyExc_ValueError,
                         "%s: embedded null character in %s",
                         fs_os_name(fsop), fs_arg_name(fsop, i));
#else
            PyErr_SetString(PyExc_ValueError, "embedded null byte");
#endif
            return NULL;
        }
    }
    AsyncOp *op = afc_op_alloc(st, NULL, K_FS, NULL);
    if (op == NULL) {
        return NULL;
    }
    op->state = S_RUNNING;
    op->n = r->as_str;
    /* The tuple keeps alive what the worker uses: the paths, the stream. */
    op->arg = PyTuple_Pack(5, path, path2, r->fn1, r->fn2, handle);
    PyObject_GC_Track(op);
    if (op->arg == NULL) {
        Py_DECREF(op);
        return NULL;
    }
    afc_job *j = &op->job;
    j->kind = AFC_JOB_FS;
    j->work = afc_work_fs;
    j->done = fs_job_done;
    j->fsop = fsop;
    j->path = path == Py_None ? NULL : PyBytes_AS_STRING(path);
    j->path2 = path2 == Py_None ? NULL : PyBytes_AS_STRING(path2);
    j->fd = fd;
    j->fd2 = r->fd2;
    j->dir_fd = dir_fd;
    j->dir_fd2 = r->dir_fd2;
    j->flags = flags;
    j->mode = r->mode;
    j->off = r->off;
    j->len = (size_t)r->length;
    j->woff = -1;
    for (int i = 0; i < 4; i++) {
        j->times[i] = r->times[i];
    }
    j->dir = dir;
    j->res = -1;  /* OPENAT: no descriptor yet (see afc_job_drop_fd) */
    /* A cached path on a local file system: stat and read_bytes done
     * here, within the iteration's budget (see afc_budget_spot). */
    int spot = AFC_SPOT_POOL;
    if ((fsop == AFC_FS_STAT || fsop == AFC_FS_READFILE) &&
        !st->no_inline_reads) {
        spot = afc_budget_spot(st);
    }
    if (spot != AFC_SPOT_POOL && fsop == AFC_FS_STAT && j->path != NULL &&
        (flags & ~AT_SYMLINK_NOFOLLOW) == 0 &&
        afc_fast_stat(dir_fd, j->path, flags != 0, &j->st, &j->err) ==
            AFC_FAST_DONE) {
        op->yield_first = spot == AFC_SPOT_LAST;
        fs_done(op);
        return (PyObject *)op;
    }
    if (spot != AFC_SPOT_POOL && fsop == AFC_FS_READFILE) {
        PyObject *data = NULL;
        if (afc_read_file_inline(j->path, &data) == AFC_FAST_DONE) {
            op->yield_first = spot == AFC_SPOT_LAST;
            afc_op_finish(op, data);
            return (PyObject *)op;
        }
    }
    if (dir != NULL) {
        PyCapsule_SetContext(handle, AFC_DIR_BUSY);
    }
    afc_op_submit(op, P_NONE);
    if (dir != NULL && !op->in_pool) {
        PyCapsule_SetContext(handle, NULL);  /* not submitted: still idle */
    }
    if (fsop == AFC_FS_COPYFILE && fd >= 0 && !op->in_pool) {
        close(fd);  /* the job would have: the op is returned, failed */
    }
    return (PyObject *)op;
}


/* os's answer to a path given as the descriptor -1 ("no path"): the call
 * fails with EFAULT, naming -1. */
static PyObject *
null_fd_refused(void)
{
    PyObject *minus1 = PyLong_FromLong(-1);
    if (minus1 != NULL) {
        errno = EFAULT;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, minus1);
        Py_DECREF(minus1);
    }
    return NULL;
}

/* _cext.os_stat(call, args, kwargs): os.stat, os.lstat, os.fstat, all in
 * C: the arguments bound and checked as os does, then the stat (on the
 * spot for a cached path on a local file system, else in the pool). */
static PyObject *
os_stat_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    int call = nargs == 3 && PyLong_Check(args[0])
                   ? (int)PyLong_AsLong(args[0]) : -1;
    if (call != OS_STAT && call != OS_LSTAT && call != OS_FSTAT) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "os_stat(call, args, kwargs)");
        return NULL;
    }
    fs_req r;
    fs_req_init(&r, AFC_FS_STAT);
    PyObject *a = args[1];
    PyObject *path = NULL;
    /* the common call, os.stat(str): nothing to bind */
    if (call == OS_STAT && args[2] == Py_None && PyTuple_Check(a) &&
        PyTuple_GET_SIZE(a) == 1 &&
        PyUnicode_CheckExact(PyTuple_GET_ITEM(a, 0))) {
        PyObject *s = PyTuple_GET_ITEM(a, 0);
        PyObject *b = PyUnicode_EncodeFSDefault(s);
        if (b == NULL) {
            return NULL;
        }
        if (afc_has_nul(b)) {
            Py_DECREF(b);
            return afc_nul_refused("stat", "path", 1);
        }
        r.path = b;
        r.fn1 = s;
        PyObject *op = fs_start(afc_get_state(module), &r);
        Py_DECREF(b);
        return op;
    }
    PyObject *v = afc_os_values(call, a, args[2]);
    if (v == NULL) {
        return NULL;
    }
    if (call == OS_FSTAT) {
        r.fd = (int)PyLong_AsLong(PyTuple_GET_ITEM(v, 0));
    }
    else {
        path = PyTuple_GET_ITEM(v, 0);
        r.path = PyTuple_GET_ITEM(path, 0);
        r.fd = (int)PyLong_AsLong(PyTuple_GET_ITEM(path, 1));
        r.fn1 = PyTuple_GET_ITEM(path, 3);
        r.dir_fd = (int)PyLong_AsLong(PyTuple_GET_ITEM(v, 1));
        int follow = call == OS_STAT && PyTuple_GET_ITEM(v, 2) == Py_True;
        r.flags = follow ? 0 : AT_SYMLINK_NOFOLLOW;
        if (r.path == Py_None) {
            /* a descriptor: os's checks, in its order */
            const char *bad = NULL;
            if (r.dir_fd != AT_FDCWD) {
                bad = "stat: can't specify dir_fd without matching path";
            }
            else if (r.fd > 0 && !follow) {
                bad = "stat: cannot use fd and follow_symlinks together";
            }
            if (bad != NULL || r.fd == -1) {
                Py_DECREF(v);
                if (bad != NULL) {
                    PyErr_SetString(PyExc_ValueError, bad);
                    return NULL;
                }
                return null_fd_refused();
            }
        }
    }
    PyObject *op = fs_start(afc_get_state(module), &r);
    Py_DECREF(v);
    return op;
}

static PyMethodDef fs_methods[] = {
    {"os_stat", (PyCFunction)(void (*)(void))os_stat_py, METH_FASTCALL,
     "os_stat(call, args, kwargs): os.stat/lstat/fstat, off the loop."},
    {NULL, NULL, 0, NULL},
};

/* _cext.os_stat, and the os calls' table (osargs.c). */
static int
fs_add_os_calls(PyObject *module)
{
    if (afc_os_args_add(module) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, fs_methods);
}
