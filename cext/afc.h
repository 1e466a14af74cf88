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
    PyTypeObject *Op_type;           /* the awaitable every method returns */
    PyTypeObject *Completion_type;   /* one per event loop */
    PyTypeObject *Done_type;         /* a finished text-file call */
    PyTypeObject *Text_type;         /* TextBase: native half of text */
    PyObject *get_running_loop;      /* asyncio.events._get_running_loop */
    PyObject *cq_factory;            /* aiofiles_c: loop -> Completion */
    PyObject *UnsupportedOperation;  /* io.UnsupportedOperation */
    PyObject *io_FileIO;             /* io.FileIO, for detach() and .raw */
    PyObject *str_create_future;
    PyObject *str_set_result;
    PyObject *str_done;
    PyObject *str_blocking;          /* "_asyncio_future_blocking" */
    PyObject *str_call_soon;
    PyObject *fs_cq;                 /* completion queue for fs calls ... */
    PyObject *fs_cq_loop;            /* ... of this loop (identity only) */
    PyObject *stat_result;           /* os.stat_result */
    PyObject *statvfs_result;        /* os.statvfs_result */
    int64_t spin_streak;             /* when the current run of awaits
                                        resolved on the spot began; 0: none */
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

/* file.c */
extern PyType_Spec afc_fileio_spec;
extern PyType_Spec afc_buffered_spec;
extern PyType_Spec afc_reader_spec;
extern PyType_Spec afc_op_spec;
void afc_job_done(afc_job *job);      /* loop thread, GIL held */
void afc_job_discard(afc_job *job);   /* loop gone: release, no callbacks */
extern int afc_inline_reads;
PyObject *afc_fs_call(PyObject *module, PyObject *args);
/* For the text layer: served from memory or not at all (NULL/0 without an
 * exception means "needs the pool"). */
PyObject *afc_file_read1_nowait(afc_state *st, PyObject *f, Py_ssize_t n);
int afc_file_write_nowait(afc_state *st, PyObject *f, const char *data,
                          Py_ssize_t len);
int afc_file_closed(afc_state *st, PyObject *f);
/* The exception a coroutine's throw(typ[, val[, tb]]) raises (new ref). */
PyObject *afc_throw_exc(PyObject *const *args, Py_ssize_t nargs);
/* An am_send result as tp_iternext gives it (StopIteration(value)). */
PyObject *afc_send_to_next(PySendResult r, PyObject *res);

/* text.c */
extern PyType_Spec afc_done_spec;
extern PyType_Spec afc_text_spec;

/* module.c */
extern PyType_Spec afc_completion_spec;
int afc_cq_is_live(CompletionObject *c);
void afc_reclaim_orphans(void);
void afc_drain(afc_cq *cq);               /* resolve every finished job */

#endif
