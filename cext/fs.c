/* aiofiles_c.os: file-system calls in the pool, and the Python objects
 * built from their results (os.stat_result, os.statvfs_result, names,
 * scandir batches). */
#include "op.h"
#include "fastpath.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
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
    if (fsop == AFC_FS_STAT && j->path != NULL && !st->no_inline_reads &&
        (flags & ~AT_SYMLINK_NOFOLLOW) == 0 &&
        afc_fast_stat(dir_fd, j->path, flags != 0, &j->st, &j->err) ==
            AFC_FAST_DONE) {
        op->yield_first = !afc_inline_turn(st);
        fs_done(op);  /* a cached path on a local file system */
        return (PyObject *)op;
    }
    if (fsop == AFC_FS_READFILE && !st->no_inline_reads) {
        PyObject *data = NULL;
        if (afc_read_file_inline(j->path, &data) == AFC_FAST_DONE) {
            op->yield_first = !afc_inline_turn(st);
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

enum {
    OS_STAT, OS_LSTAT, OS_FSTAT, OS_ACCESS, OS_LISTDIR, OS_SCANDIR,
    OS_MKDIR, OS_RMDIR, OS_REMOVE, OS_UNLINK, OS_RENAME, OS_REPLACE,
    OS_LINK, OS_SYMLINK, OS_READLINK, OS_STATVFS, OS_SENDFILE, OS_FSYNC,
    OS_FDATASYNC, OS_CHMOD, OS_CHOWN, OS_UTIME, OS_TRUNCATE, OS_COUNT
};

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

static int
has_nul(PyObject *bytes)
{
    return strlen(PyBytes_AS_STRING(bytes)) !=
           (size_t)PyBytes_GET_SIZE(bytes);
}

static PyObject *
nul_refused(const char *func, const char *arg, int from_str)
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
            if (has_nul(b)) {
                Py_DECREF(b);
                return nul_refused(func, arg, 0);
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
        if (has_nul(b)) {
            Py_DECREF(b);
            Py_DECREF(p);
            return nul_refused(func, arg, 1);
        }
        return Py_BuildValue("(NiON)", b, -1, Py_True, p);
    }
    if (has_nul(p)) {
        Py_DECREF(p);
        return nul_refused(func, arg, 0);
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
static PyObject *
os_values(int call, PyObject *args, PyObject *kwargs)
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
    return os_values(call, args[1], args[2]);
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
        if (has_nul(b)) {
            Py_DECREF(b);
            return nul_refused("stat", "path", 1);
        }
        r.path = b;
        r.fn1 = s;
        PyObject *op = fs_start(afc_get_state(module), &r);
        Py_DECREF(b);
        return op;
    }
    PyObject *v = os_values(call, a, args[2]);
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
    {"os_args", (PyCFunction)(void (*)(void))os_args_py, METH_FASTCALL,
     "os_args(call, args, kwargs): a call's arguments bound and converted "
     "as os does it."},
    {"os_stat", (PyCFunction)(void (*)(void))os_stat_py, METH_FASTCALL,
     "os_stat(call, args, kwargs): os.stat/lstat/fstat, off the loop."},
    {"path_arg", (PyCFunction)(void (*)(void))path_arg_py, METH_FASTCALL,
     "path_arg(func, arg, value, allow_fd, allow_none): a path argument."},
    {"dir_fd_arg", dir_fd_arg_py, METH_O,
     "dir_fd_arg(value): a dir_fd argument (None: AT_FDCWD)."},
    {NULL, NULL, 0, NULL},
};

/* The entry points above and the os calls' numbers (_cext.OS_<NAME>). */
static int
fs_add_os_calls(PyObject *module)
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
    return PyModule_AddFunctions(module, fs_methods);
}
