/* The worker pool and the completion queues: plain C, no Python.h.
 *
 * A job is a small program over one file descriptor (flush pending bytes,
 * then one main action). Workers run it with no GIL and touch only the
 * memory the job points at; the loop thread that submitted the job owns
 * that memory (it keeps the Python objects behind it alive) until the job
 * comes back through its completion queue.
 */
#ifndef AFC_POOL_H
#define AFC_POOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "compat.h"

/* PEP 475: a system call that fails with EINTR is made again. Workers block
 * every signal (worker_main), so EINTR is rare here (a stopped and
 * continued process, a ptrace attach), but a call that reports it must
 * never pass it on to the user. close() is the exception: Linux releases
 * the descriptor even when it reports EINTR, so it is never repeated. */
#define AFC_RETRY(r, call)                        \
    do {                                          \
        (r) = (call);                             \
    } while ((r) < 0 && errno == EINTR)

/* CLOCK_MONOTONIC in nanoseconds (budgets and spin limits). */
static inline int64_t
afc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

enum afc_job_kind {
    AFC_JOB_NOP = 0,
    AFC_JOB_OPEN,      /* open(path, flags) + fstat + initial position */
    AFC_JOB_FSTAT,     /* fstat(fd): size, mode, blksize */
    AFC_JOB_PREAD,     /* read up to len at off into ptr, until minfill or EOF */
    AFC_JOB_READ,      /* read(2) once (non-seekable or raw semantics) */
    AFC_JOB_WRITE,     /* write all of ptr/len at off (or appending) */
    AFC_JOB_WRITE1,    /* one write(2) call (raw FileIO semantics) */
    AFC_JOB_SEEK,      /* lseek(fd, off, whence) */
    AFC_JOB_TRUNCATE,  /* ftruncate(fd, off) */
    AFC_JOB_CLOSE,     /* close(fd) */
    AFC_JOB_ISATTY,    /* isatty(fd) */
    AFC_JOB_FS,        /* a file-system call: see enum afc_fs_op */
    AFC_JOB_POSIO,     /* positional reads or writes: posio.c */
};

/* File-system calls (AFC_JOB_FS). Paths are NUL-terminated bytes owned by
 * the loop thread; results land in res, st, vfs, or a malloc'd out buffer
 * that the loop thread frees. */
enum afc_fs_op {
    AFC_FS_STAT,       /* fstatat(dir_fd, path, flags) or fstat(fd) */
    AFC_FS_ACCESS,     /* faccessat(dir_fd, path, mode, flags) */
    AFC_FS_MKDIR,      /* mkdirat(dir_fd, path, mode) */
    AFC_FS_RMDIR,      /* unlinkat(dir_fd, path, AT_REMOVEDIR) */
    AFC_FS_UNLINK,     /* unlinkat(dir_fd, path, 0) */
    AFC_FS_RENAME,     /* renameat(dir_fd, path, dir_fd2, path2) */
    AFC_FS_LINK,       /* linkat(dir_fd, path, dir_fd2, path2, flags) */
    AFC_FS_SYMLINK,    /* symlinkat(path, dir_fd2, path2) */
    AFC_FS_READLINK,   /* readlinkat(dir_fd, path) -> out */
    AFC_FS_LISTDIR,    /* names of path or fd -> out */
    AFC_FS_STATVFS,    /* statvfs(path) or fstatvfs(fd) */
    AFC_FS_SENDFILE,   /* sendfile(fd, fd2, off or -1, len) */
    AFC_FS_GETCWD,     /* getcwd() -> out */
    AFC_FS_FSYNC,      /* fsync(fd) */
    AFC_FS_FDATASYNC,  /* fdatasync(fd) */
    AFC_FS_CHMOD,      /* fchmodat(dir_fd, path, mode, flags) or fchmod(fd) */
    AFC_FS_CHOWN,      /* fchownat(dir_fd, path, uid=off, gid=len, flags) */
    AFC_FS_UTIME,      /* utimensat(dir_fd, path, times, flags) / futimens */
    AFC_FS_TRUNCATE,   /* truncate(path, off) or ftruncate(fd, off) */
    AFC_FS_SCANDIR,    /* up to len entries of path or fd (dir: the stream
                          from the batch before) with lstat (and, for
                          symlinks, stat) of those whose d_type is unknown
                          or a symlink -> out records */
    AFC_FS_COPYFILE,   /* copy path (or fd, which the job closes) to
                          path2: copy_file_range, sendfile, then
                          read/write; res = bytes copied, err_which = 0
                          source, 1 destination */
    AFC_FS_REALPATH,   /* realpath(path) -> out */
    /* rmtree's fd-based walk */
    AFC_FS_OPENAT,     /* res = openat(dir_fd, path, flags | O_CLOEXEC),
                          then fstat of it -> st (closed if that fails) */
    AFC_FS_CLOSE,      /* close(fd) */
    AFC_FS_READFILE,   /* a whole file: open(path) + fstat + read to EOF
                          into a malloc'd out + close (fastpath.c) */
    AFC_FS_COUNT       /* not an operation: one past the last */
};

/* One scandir entry in a batch (AFC_FS_SCANDIR's out): the head of this
 * record (AFC_SCAN_HEAD_SIZE bytes), then l if flags has LSTAT_OK, then s if
 * it has STAT_OK, then namelen bytes of name. Python reads it with the
 * struct formats below, exported by the module (_cext.SCAN_HEAD,
 * SCAN_STAT, SCAN_REC_SIZE: the largest record's head and stats). */
struct afc_scan_rec {
    uint16_t namelen;
    uint8_t dtype;      /* d_type (DT_UNKNOWN: the file system said none) */
    uint8_t flags;      /* AFC_SCAN_LSTAT_OK, AFC_SCAN_STAT_OK */
    int32_t lerr;       /* errno of lstat, or 0 */
    int32_t serr;       /* errno of stat (symlinks only), or 0 */
    int32_t pad;
    uint64_t ino;       /* d_ino: what DirEntry.inode() gives */
    uint64_t l[16];     /* lstat: mode ino dev nlink uid gid size, atime,
                           mtime, ctime (seconds, nanoseconds each),
                           blksize blocks rdev */
    uint64_t s[16];     /* stat, for symlinks, the same way */
};
#define AFC_SCAN_LSTAT_OK 1
#define AFC_SCAN_STAT_OK 2
#define AFC_SCAN_HEAD_SIZE offsetof(struct afc_scan_rec, l)
/* The SCANDIR job's flags: report every entry's type as unknown (so that
 * it is stat'ed), as some file systems do; for the tests. */
#define AFC_SCAN_TYPES_UNKNOWN 1
/* namelen dtype flags lerr serr pad ino */
#define AFC_SCAN_HEAD "=HBBiiiQ"
/* one of l or s: unsigned but for size, the times, blksize and blocks */
#define AFC_SCAN_STAT "=QQQQQQqqqqqqqqqQ"
_Static_assert(sizeof(struct afc_scan_rec) == 24 + 2 * 16 * 8,
               "AFC_SCAN_HEAD and AFC_SCAN_STAT describe the record");
_Static_assert(offsetof(struct afc_scan_rec, ino) == 16 &&
                   offsetof(struct afc_scan_rec, l) == 24,
               "AFC_SCAN_HEAD describes the record's head");

/* One positional transfer (posio.c builds them; a pool job's ptr is an
 * array of len of them, flags nonzero for writes). */
typedef struct {
    int64_t off;
    char *ptr;
    size_t len;
    size_t done;       /* bytes moved so far (inline part included) */
    int err;           /* errno that ended the segment, 0: none */
    int finished;      /* full, EOF, or an error: nothing left to do */
} afc_seg;

typedef struct afc_cq afc_cq;
typedef struct afc_job afc_job;

/* What a job does and what happens when it is back, carried by the job
 * itself (as libuv's uv_work_t does), so that neither the pool nor the
 * drain knows the kinds of jobs. work runs on a worker with no GIL (sys.c
 * has one per family: file, fs, posio); done runs on the loop thread with
 * the GIL, from the drain, with AFC_DONE_OK, or AFC_DONE_DISCARD when the
 * loop that submitted the job is gone (release what the job holds; call
 * nobody). A job that was in flight at fork() comes back to done in the
 * child with err AFC_ERR_FORKED. */
typedef void (*afc_work_fn)(afc_job *job);
typedef void (*afc_done_fn)(afc_job *job, int status);
enum { AFC_DONE_OK = 0, AFC_DONE_DISCARD = 1 };

struct afc_job {
    afc_job *next;     /* link in the pool queue or a completion list */
    afc_work_fn work;  /* set by the submitter, with done */
    afc_done_fn done;
    unsigned long seq; /* pool: submission order across the two lanes */
    afc_cq *cq;        /* where the finished job is delivered */
    int kind;
    int fd;
    int slow;          /* may block indefinitely (pipe, FIFO, tty, socket,
                          character device): runs in the slow lane, see
                          afc_pool_submit. Set by the submitter, or by the
                          worker's probe of a path open */
    /* Flush prefix: written before the main action (wlen == 0: none). */
    const char *wbuf;
    size_t wlen;
    int64_t woff;      /* offset for pwrite; -1: write(2) at the fd offset */
    /* Main action. */
    char *ptr;
    size_t len;
    size_t minfill;    /* PREAD: keep reading until this many bytes or EOF */
    int64_t off;       /* -1: use read/write(2) at the fd offset */
    int whence;
    int flags;         /* OPEN: open(2) flags */
    int own_fd;        /* OPEN with fd: close it if the checks fail */
    int want_pos;      /* afterwards, res pos = lseek(fd, 0, SEEK_CUR) */
    int preseek;       /* before the action, lseek(fd, off_pre, SEEK_SET) */
    int64_t off_pre;
    int sync_pos;      /* after the action, lseek(fd, sync_to, SEEK_SET) */
    int64_t sync_to;
    const char *path;
    /* AFC_JOB_FS */
    int fsop;
    int dir_fd;        /* AT_FDCWD when not given */
    int dir_fd2;
    int fd2;
    int mode;
    const char *path2;
    char *out;         /* malloc'd by the worker, freed on the loop thread */
    int64_t times[4];  /* UTIME: atime s, ns, mtime s, ns (ns < 0: now) */
    int err_which;     /* COPYFILE: which path the error is about */
    void *dir;         /* SCANDIR: the open DIR* between batches (NULL:
                          open it); the worker sets it back to NULL at the
                          end of the directory, when it closes it */
    size_t outlen;
    /* Results, written by the worker, read by the loop thread after the
     * completion queue hands the job back (the queue mutex orders them). */
    int64_t res;       /* bytes moved, new offset, fd, ... */
    int64_t pos;       /* OPEN / want_pos: the fd offset afterwards */
    int err;           /* errno of the main action, 0 on success;
                          AFC_ERR_FORKED: see afc_fork_take_stale */
    int werr;          /* errno of the flush prefix, 0 on success */
    size_t wdone;      /* bytes of the flush prefix written */
    struct stat st;    /* OPEN, FSTAT, FS_STAT */
    struct statvfs vfs;
};

/* job->err of a job that was queued or running when the process forked:
 * the child has none of the parent's workers, so it never ran there. */
#define AFC_ERR_FORKED (-1)

/* A completion queue belongs to one event loop. Workers append finished
 * jobs and write the eventfd only when the list goes from empty to
 * non-empty; the loop thread swaps the whole list out. */
struct afc_cq {
    atomic_int refs;   /* the owner object + one per job in flight */
    int efd;           /* eventfd; closed when refs drops to zero. -1 when
                          none could be made (no free descriptor): the
                          loop then waits with afc_cq_wait, in a thread */
    void *cv;          /* pthread_cond_t*, signalled by cq_push when
                          efd < 0 and a thread waits (nwaiters, under mu) */
    int nwaiters;
    const void *owner; /* the interpreter whose objects the jobs hold */
#ifndef AFC_HAVE_EVENTFD
    int wfd;           /* portable: efd is a pipe's read end, this its
                          write end (one byte per empty-to-non-empty) */
#endif
    int orphaned;      /* under mu: the loop is gone, park jobs elsewhere */
    afc_job *head, *tail;
    void *mu;          /* pthread_mutex_t*, kept opaque here */
    afc_cq *reg_next;  /* registry of live queues, for fork */
    afc_cq *reg_prev;
    unsigned long generation; /* fork generation the eventfd belongs to */
    atomic_int ready;  /* the list is not empty: set by cq_push (release),
                          polled by a loop thread that spins (acquire) */
    int inflight;      /* jobs submitted and not yet drained; only touched
                          by the loop thread, with the GIL */
};

/* Pool. */
int afc_pool_submit(afc_job *job);        /* 0 or errno */
void afc_pool_fail_submits(int n, int err); /* tests: fail the next n */
int afc_pool_slow_limit(void);            /* workers the slow lane may hold */
unsigned afc_pool_spins(void);            /* idle-worker spins begun so far */
void afc_pool_set_size(int n);            /* before first use, or grows */
int afc_pool_size(void);
unsigned long afc_fork_generation(void);
void afc_pool_init_once(void);

/* Completion queues. */
afc_cq *afc_cq_new(const void *owner);   /* NULL + errno on failure */
void afc_cq_incref(afc_cq *cq);
void afc_cq_decref(afc_cq *cq);
afc_job *afc_cq_take(afc_cq *cq);         /* loop thread: swap the list */
void afc_cq_ack(afc_cq *cq);              /* loop thread: read the eventfd */
afc_job *afc_cq_orphan(afc_cq *cq);       /* mark orphaned, return its list */
afc_job *afc_take_orphans(const void *owner); /* jobs finished for dead
                                             loops of this owner */
int afc_cq_wait_ready(afc_cq *cq, long ns); /* spin until ready or ns pass */
int afc_cq_wait(afc_cq *cq, long ns);     /* sleep until ready or ns pass */
/* In a forked child: the jobs of owner that were queued, running or
 * undelivered in the parent at fork() (queues of an older generation),
 * with err = AFC_ERR_FORKED for those that never finished. */
afc_job *afc_fork_take_stale(const void *owner);

/* sys.c: the work functions (on a worker, no GIL). */
void afc_work_file(afc_job *job);   /* AFC_JOB_NOP .. AFC_JOB_ISATTY */
void afc_work_fs(afc_job *job);     /* AFC_JOB_FS */
void afc_work_posio(afc_job *job);  /* AFC_JOB_POSIO */
/* What the pool asks about a job. may_block: whether a job on a slow
 * descriptor can actually wait on it (reads, writes, a flush prefix,
 * opens can; a seek, fstat, isatty or a close with nothing to flush
 * cannot, and needs no slow-lane worker). probe_slow: on a worker, before
 * the job runs, whether the file it names turns out to be slow (see
 * there). */
int afc_job_may_block(const afc_job *job);
int afc_job_probe_slow(const afc_job *job);
/* The descriptor a job opened, when nobody will adopt it (its loop is
 * gone, its awaiter is): closed, res set to -1 so it is closed once.
 * Path opens, opens of a descriptor the file owns (owned), and the
 * file-system openat. Returns 1 if it closed one. Any thread. */
int afc_job_drop_fd(afc_job *job, int owned);

#endif
