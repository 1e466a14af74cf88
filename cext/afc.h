/* Shared declarations of the aiofiles_c._cext module: module state and the
 * object layouts used by more than one source file. */
#ifndef AFC_H
#define AFC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "compat.h"

#include "pool.h"

typedef struct {
    PyTypeObject *FileIO_type;       /* AsyncFileIO: raw, like io.FileIO */
    PyTypeObject *Buffered_type;     /* AsyncBufferedIOBase: writers */
    PyTypeObject *Reader_type;       /* AsyncBufferedReader: readers */
    PyTypeObject *Op_type;           /* the awaitable of every async call */
    PyTypeObject *Completion_type;   /* one per event loop */
    PyTypeObject *Text_type;         /* TextBase: native half of text */
    PyTypeObject *OpenCall_type;     /* what aiofiles_c.open() awaits */
    PyObject *get_running_loop;      /* asyncio.events._get_running_loop */
    PyObject *cq_factory;            /* aiofiles_c: loop -> Completion */
    PyObject *UnsupportedOperation;  /* io.UnsupportedOperation */
    PyObject *io_FileIO;             /* io.FileIO, for detach() and .raw */
    PyObject *str_create_future;
    PyObject *str_set_result;
    PyObject *str_done;
    PyObject *str_blocking;          /* "_asyncio_future_blocking" */
    PyObject *str_call_soon;
    PyObject *str_call_soon_threadsafe;
    PyObject *str_get_loop;
    PyObject *str_wake;              /* "_wake" */
    PyObject *str_wake_late;         /* "_wake_late" */
    PyObject *str_open;              /* "_open" */
    PyObject *str_throw;             /* "throw" */
    PyObject *str_close;             /* "close" */
    PyObject *fs_cq;                 /* completion queue for fs calls ... */
    PyObject *fs_cq_loop;            /* ... of this loop (identity only) */
    PyObject *stat_result;           /* os.stat_result */
    PyObject *entry_type;            /* the DirEntry class whose slots
                                        scan_entries fills ... */
    Py_ssize_t entry_off[9];         /* ... at these offsets (fs.c) */
    PyObject *statvfs_result;        /* os.statvfs_result */
    int64_t spin_streak;             /* when the inline budget's window
                                        opened (afc_budget_turn); 0: none */
    PyObject *budget_tick;           /* _cext._budget_tick, which closes
                                        the window on the loop's next
                                        iteration ... */
    int budget_tick_pending;         /* ... scheduled there already */
    struct AsyncOp *op_free[16];     /* freed Operations kept for reuse: one
                                        is made per await, 850 bytes ... */
    int n_op_free;                   /* ... (see afc_op_alloc) */
    int budget_parked;               /* a task was told to wait an
                                        iteration in this window */
    int64_t budget_ns;               /* the window's length: AFC_BUDGET_NS
                                        less what the last iterations ran
                                        past it (afc_budget_close) */
    int pool_now;                    /* past the budget: the call being
                                        started reads through the pool
                                        (afc_file_start) */
    int no_inline_reads;             /* set_inline_reads(False): files
                                        opened from now on read through the
                                        pool only (no RWF_NOWAIT) */
} afc_state;

typedef struct {
    PyObject_HEAD
    afc_cq *cq;
    unsigned long generation;
    int alive;
} CompletionObject;

extern PyModuleDef afc_module_def;

static inline afc_state *
afc_get_state(PyObject *module)
{
    return (afc_state *)PyModule_GetState(module);
}

/* inline.c: the inline budget shared by the calls one loop iteration
 * makes on the spot: 1 while it lasts (a window opens if none is open). */
int afc_budget_turn(afc_state *st);

/* inline.c: before work on the spot that could go to the pool instead
 * (an open, a stat, a whole-file read, a close): what the budget allows. */
enum afc_spot {
    AFC_SPOT_OK = 0,    /* within the budget: do it here */
    AFC_SPOT_LAST = 1,  /* spent: do it here, its task waits an iteration */
    AFC_SPOT_POOL = 2,  /* spent, and a task waits already: use the pool */
};
int afc_budget_spot(afc_state *st);

/* awaitable.c: release the freed Operations kept for reuse. */
void afc_op_free_all(afc_state *st);

/* inline.c: the loop ran the budget's tick: close the window. */
void afc_budget_close(afc_state *st);

/* awaitable.c: calls answered at once return a finished Operation, with a
 * value (stolen; NULL passes an error through) or the current exception. */
PyObject *afc_op_done(afc_state *st, PyObject *value);
PyObject *afc_op_error(afc_state *st);
/* ... and one that lets the loop run first, as a call past the inline
 * budget does (its task resumes behind the ones woken meanwhile). */
PyObject *afc_op_yield(afc_state *st);
/* spare (a finished Operation, or NULL) made to return value again, when
 * it has been awaited and nobody else holds it: a new reference, value
 * stolen. Else NULL, value untouched. */
PyObject *afc_op_reuse(PyObject *spare, PyObject *value);

/* the file family (op.h has the rest) */
extern PyType_Spec afc_fileio_spec;
extern PyType_Spec afc_buffered_spec;
extern PyType_Spec afc_reader_spec;
extern PyType_Spec afc_op_spec;
/* fs.c: aiofiles_c.os */
PyObject *afc_fs_call(PyObject *module, PyObject *args, PyObject *kwds);
int afc_fs_add_constants(PyObject *module);
/* For the text layer: served from memory or not at all (NULL/0 without an
 * exception means "needs the pool"). */
PyObject *afc_file_read1_nowait(afc_state *st, PyObject *f, Py_ssize_t n);
/* Buffers data: 1, or 2 when the pending writes now hold pending_max bytes
 * or more (the caller flushes them); 0: they do not fit (the pool). On a
 * regular file the pending writes may hold up to pending_max bytes (0: the
 * buffer's size), more than the buffer's size: io's TextIOWrapper keeps
 * that many encoded bytes (_CHUNK_SIZE) before it hands them to its
 * buffered file, which then writes them in one write(2). */
int afc_file_write_nowait(afc_state *st, PyObject *f, const char *data,
                          Py_ssize_t len, Py_ssize_t pending_max);
/* Whether f is an idle, writable regular file (not appending, no failed
 * flush kept) whose pending writes may grow to pending_max as above. */
int afc_file_holds_pending(afc_state *st, PyObject *f);
int afc_file_closed(afc_state *st, PyObject *f);
/* Integers from Python, converted and range-checked as io/os do it for
 * the kind of argument: 0, or -1 with io's/os's exception set. */
enum afc_arg_kind {
    AFC_ARG_SSIZE,   /* Py_ssize_t (read1, peek, sendfile count) */
    AFC_ARG_SIZE,    /* io's optional size: None is -1 (read, readline) */
    AFC_ARG_OFFSET,  /* a buffered seek target (ValueError when too big) */
    AFC_ARG_LONG,    /* off_t as FileIO and os take it (seek, truncate) */
    AFC_ARG_TIME,    /* time_t seconds (os.utime) */
    AFC_ARG_INT,     /* C int (whence, mode bits) */
    AFC_ARG_FD,      /* an os descriptor argument (path or dir_fd) */
    AFC_ARG_FILENO,  /* an int or an object with fileno() (fsync) */
    AFC_ARG_UID,
    AFC_ARG_GID,
    AFC_ARG_LENGTH,  /* a Py_ssize_t length; negative: OSError(EINVAL), as
                        os.pread's kernel call gives it (read_at) */
    AFC_ARG_OBJECT,  /* in afc_int_args' kinds: not an integer, left alone */
};
int afc_int_arg(PyObject *obj, int kind, int64_t *out);
/* A method's positional integers: min to max of them (io's TypeError when
 * the count is off), args[i] converted as kinds[i] says into out[i]; an
 * absent one leaves out[i] as it was. */
int afc_int_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
                 Py_ssize_t min, Py_ssize_t max, const int *kinds,
                 int64_t *out);
/* The words of a wrong argument count, by the parser the method mirrors:
 * io's ("f expected at most 1 argument, got 2"), the METH_VARARGS ones
 * ("f() takes exactly 2 arguments (1 given)"), METH_O's ("f() takes
 * exactly one argument (0 given)"), or argument clinic's, which are io's
 * before Python 3.12 and the METH_VARARGS ones from then on. */
enum { AFC_COUNT_IO, AFC_COUNT_TAKES, AFC_COUNT_ONE, AFC_COUNT_CLINIC };
int afc_nargs(const char *fname, Py_ssize_t nargs, Py_ssize_t min,
              Py_ssize_t max, int words);
/* afc_int_args with the count's words chosen (afc_int_args: io's). */
int afc_int_args_worded(const char *fname, int words, PyObject *const *args,
                        Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max,
                        const int *kinds, int64_t *out);

/* osargs.c: aiofiles_c.os's calls, one row each in its table of os's
 * parameters (exported as _cext.OS_<NAME>). */
enum {
    OS_STAT, OS_LSTAT, OS_FSTAT, OS_ACCESS, OS_LISTDIR, OS_SCANDIR,
    OS_MKDIR, OS_RMDIR, OS_REMOVE, OS_UNLINK, OS_RENAME, OS_REPLACE,
    OS_LINK, OS_SYMLINK, OS_READLINK, OS_STATVFS, OS_SENDFILE, OS_FSYNC,
    OS_FDATASYNC, OS_CHMOD, OS_CHOWN, OS_UTIME, OS_TRUNCATE, OS_COUNT
};
/* A call's arguments (a tuple, a dict or None) bound and converted as os
 * does it: one value per parameter (a new tuple), or NULL. */
PyObject *afc_os_values(int call, PyObject *args, PyObject *kwargs);
/* Whether a path's bytes hold a NUL; os's ValueError for one (from_str:
 * the path was a str). */
int afc_has_nul(PyObject *bytes);
PyObject *afc_nul_refused(const char *func, const char *arg, int from_str);
/* _cext.os_args, path_arg, dir_fd_arg and the OS_* numbers. */
int afc_os_args_add(PyObject *module);
PyObject *afc_int_arg_py(PyObject *module, PyObject *const *args,
                         Py_ssize_t nargs);
/* The exception a coroutine's throw(typ[, val[, tb]]) raises (new ref). */
PyObject *afc_throw_exc(PyObject *const *args, Py_ssize_t nargs);
/* An am_send result as tp_iternext gives it (StopIteration(value)). */
PyObject *afc_send_to_next(PySendResult r, PyObject *res);

/* opencall.c: the awaitable of aiofiles_c.open()'s common call. */
extern PyType_Spec afc_open_call_spec;
PyObject *afc_open_call(PyObject *module, PyObject *const *args,
                        Py_ssize_t nargs);

/* posio.c: positional I/O (read_at, write_at, ...) on the binary files.
 * file.c owns the ops and files; posio.c the arguments, the segment
 * batch a job carries (ctx, a capsule) and the syscalls. */
PyObject *afc_File_read_at(PyObject *, PyObject *const *, Py_ssize_t);
PyObject *afc_File_readinto_at(PyObject *, PyObject *const *, Py_ssize_t);
PyObject *afc_File_write_at(PyObject *, PyObject *const *, Py_ssize_t);
PyObject *afc_File_read_many(PyObject *, PyObject *const *, Py_ssize_t);
PyObject *afc_File_write_many(PyObject *, PyObject *const *, Py_ssize_t);
#define AFC_POSIO_METH(name, fn, doc) \
    {name, (PyCFunction)(void (*)(void))fn, METH_FASTCALL, doc}
#define AFC_POSIO_METHODS                                                   \
    AFC_POSIO_METH("read_at", afc_File_read_at,                             \
                   "read_at(offset, n): up to n bytes at offset (pread)."), \
    AFC_POSIO_METH("readinto_at", afc_File_readinto_at,                     \
                   "readinto_at(offset, buf): fill buf from offset."),      \
    AFC_POSIO_METH("write_at", afc_File_write_at,                           \
                   "write_at(offset, data): write data at offset."),        \
    AFC_POSIO_METH("read_many", afc_File_read_many,                         \
                   "read_many([(offset, n), ...]): one submission."),       \
    AFC_POSIO_METH("write_many", afc_File_write_many,                       \
                   "write_many([(offset, data), ...]): one submission.")
void afc_posio_prepare(afc_job *job, PyObject *ctx);
int afc_posio_inline(afc_job *job, PyObject *ctx, int fd, int nowait);
PyObject *afc_posio_result(afc_job *job, PyObject *ctx);
int afc_posio_dup(int fd);
/* file.c, for posio.c */
int afc_pos_refused(PyObject *file, int writing);
PyObject *afc_pos_op(PyObject *file, PyObject *ctx);   /* steals ctx */
PyObject *afc_pos_fail(PyObject *op);  /* finish with the exception */
PyObject *afc_pos_go(PyObject *op);    /* run it; the reference passes */
/* The descriptor a read may use right here (an idle, open, readable file
 * whose reads may be tried with RWF_NOWAIT), else -1; nowait_off: the
 * file system said no, stop trying. */
int afc_pos_inline_fd(PyObject *file, int nowait_off);

/* text.c */
extern PyType_Spec afc_text_spec;

/* completion.c */
extern PyType_Spec afc_completion_spec;
void afc_deliver_forked(void);            /* forked child: see there */
int afc_cq_is_live(CompletionObject *c);
void afc_reclaim_orphans(void);
void afc_drain(afc_cq *cq);               /* resolve every finished job */

#endif
