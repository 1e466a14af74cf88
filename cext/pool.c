/* The worker pool and completion queues. No Python here: workers never take
 * the GIL and never touch a Python object. */
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#ifdef AFC_HAVE_EVENTFD
#include <sys/eventfd.h>
#endif
#include <time.h>
#ifdef AFC_HAVE_SENDFILE
#include <sys/sendfile.h>
#endif
#include <unistd.h>

#define AFC_MAX_THREADS 256

/* Everything below is guarded by pool_mu. */
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static afc_job *queue_head, *queue_tail;
static int nthreads;       /* workers started */
static int nidle;          /* workers waiting on pool_cv */
static int max_threads;    /* 0: not decided yet */

/* Finished jobs whose loop has gone away; reclaimed with the GIL held. */
static pthread_mutex_t orphan_mu = PTHREAD_MUTEX_INITIALIZER;
static afc_job *orphans;

/* Live completion queues, so a forked child can reset their locks. */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static afc_cq *registry;

/* Bumped in a forked child: queues made before are stale there (their
 * eventfd is shared with the parent). Only written by the child's single
 * thread during the atfork handler, read with the GIL held. */
static unsigned long fork_generation;

unsigned long
afc_fork_generation(void)
{
    return fork_generation;
}

/* ---- job execution (worker side) ---- */

static int
write_all(int fd, const char *p, size_t n, int64_t off, size_t *done)
{
    size_t w = 0;
    while (w < n) {
        ssize_t r;
        if (off >= 0) {
            r = pwrite(fd, p + w, n - w, (off_t)(off + (int64_t)w));
        }
        else {
            r = write(fd, p + w, n - w);
        }
        if (r < 0) {
            int e = errno;
            if (e == EINTR) {
                continue;
            }
            *done = w;
            return e;
        }
        w += (size_t)r;
    }
    *done = w;
    return 0;
}

#ifndef AFC_HAVE_SENDFILE
/* Portable sendfile(out, in, off, count): one read of at most 1 MiB (at
 * *off, which is advanced, or at in's own offset) and all of it written to
 * out. Returns the bytes written, or -1 and errno. */
static ssize_t
afc_copy_range(int out, int in, off_t *off, size_t count)
{
    if (fcntl(in, F_GETFL) < 0) {
        return -1;       /* EBADF: the input is checked first */
    }
    int fl = fcntl(out, F_GETFL);
    if (fl >= 0 && (fl & O_APPEND)) {
        errno = EINVAL;  /* as Linux's sendfile, which os.sendfile mirrors */
        return -1;
    }
    size_t n = count < (1 << 20) ? count : (1 << 20);
    char *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL) {
        errno = ENOMEM;
        return -1;
    }
    ssize_t r = off != NULL ? pread(in, buf, n, *off) : read(in, buf, n);
    if (r > 0) {
        size_t done = 0;
        int e = write_all(out, buf, (size_t)r, -1, &done);
        if (off != NULL) {
            *off += (off_t)done;
        }
        r = (ssize_t)done;
        if (e != 0 && done == 0) {
            errno = e;
            r = -1;
        }
    }
    int saved = errno;
    free(buf);
    errno = saved;
    return r;
}
#endif

#ifndef AFC_HAVE_EVENTFD
/* Portable wake-up: a non-blocking, close-on-exec pipe. Returns the read
 * end (the loop watches it) and stores the write end, or -1 and errno. */
static int
afc_self_pipe(int *wfd)
{
    int p[2];
    if (pipe(p) < 0) {
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (fcntl(p[i], F_SETFL, O_NONBLOCK) < 0 ||
            fcntl(p[i], F_SETFD, FD_CLOEXEC) < 0) {
            int e = errno;
            close(p[0]);
            close(p[1]);
            errno = e;
            return -1;
        }
    }
    *wfd = p[1];
    return p[0];
}
#endif

static ssize_t
read_once(int fd, char *p, size_t n, int64_t off, int *err)
{
    for (;;) {
        ssize_t r = off >= 0 ? pread(fd, p, n, (off_t)off) : read(fd, p, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        *err = r < 0 ? errno : 0;
        return r;
    }
}

/* scandir record: a fixed header, the lstat and stat fields, the name. */
struct scan_rec {
    uint16_t namelen;
    uint8_t dtype;
    uint8_t flags;      /* 1: lstat ok, 2: stat ok */
    int32_t lerr;       /* errno of lstat, or 0 */
    int32_t serr;       /* errno of stat (symlinks only), or 0 */
    int32_t pad;
    uint64_t ino;       /* d_ino: what DirEntry.inode() gives */
    uint64_t l[16];     /* lstat: see put_stat() */
    uint64_t s[16];     /* stat, for symlinks */
};

static void
put_stat(uint64_t *v, const struct stat *st)
{
    v[0] = st->st_mode;
    v[1] = st->st_ino;
    v[2] = st->st_dev;
    v[3] = st->st_nlink;
    v[4] = st->st_uid;
    v[5] = st->st_gid;
    v[6] = (uint64_t)st->st_size;
    v[7] = (uint64_t)st->st_atim.tv_sec;
    v[8] = (uint64_t)st->st_atim.tv_nsec;
    v[9] = (uint64_t)st->st_mtim.tv_sec;
    v[10] = (uint64_t)st->st_mtim.tv_nsec;
    v[11] = (uint64_t)st->st_ctim.tv_sec;
    v[12] = (uint64_t)st->st_ctim.tv_nsec;
    v[13] = (uint64_t)st->st_blksize;
    v[14] = (uint64_t)st->st_blocks;
    v[15] = st->st_rdev;
}

/* listdir: entries as [type:1][len:2][name] records, . and .. left out.
 * scandir: struct scan_rec + name per entry, with the stats done here so
 * that DirEntry methods never need a system call on the loop thread. */
static int
list_dir(afc_job *job)
{
    DIR *d = job->dir;
    if (d != NULL) {
        /* the next batch of a scandir */
    }
    else if (job->path != NULL) {
        d = opendir(job->path);
    }
    else {
        /* fdopendir takes the descriptor over: give it a copy, rewound,
         * as os.listdir(fd) does. */
        int fd = dup(job->fd);
        if (fd < 0) {
            job->res = 1;  /* os reports a failed dup with no file name */
            return errno;
        }
        d = fdopendir(fd);
        if (d == NULL) {
            int e = errno;
            close(fd);
            return e;
        }
        rewinddir(d);
    }
    if (d == NULL) {
        return errno;
    }
    size_t cap = 4096, len = 0, count = 0;
    char *buf = malloc(cap);
    int e = buf == NULL ? ENOMEM : 0;
    int at_end = 0;
    while (e == 0) {
        if (job->fsop == AFC_FS_SCANDIR && job->len > 0 && count >= job->len) {
            break;  /* a full batch: the stream stays open for the next */
        }
        errno = 0;
        struct dirent *ent = readdir(d);
        if (ent == NULL) {
            e = errno;
            at_end = 1;
            break;
        }
        const char *nm = ent->d_name;
        if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) {
            continue;
        }
        size_t n = strlen(nm);
        int scan = job->fsop == AFC_FS_SCANDIR;
        size_t need = (scan ? sizeof(struct scan_rec) : 3) + n;
        if (len + need > cap) {
            while (len + need > cap) {
                cap *= 2;
            }
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                e = ENOMEM;
                break;
            }
            buf = nb;
        }
        if (scan) {
            struct scan_rec rec;
            struct stat st;
            memset(&rec, 0, sizeof(rec));
            rec.namelen = (uint16_t)n;
            rec.dtype = ent->d_type;
            if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                rec.flags |= 1;
                put_stat(rec.l, &st);
                if (S_ISLNK(st.st_mode)) {
                    if (fstatat(dirfd(d), nm, &st, 0) == 0) {
                        rec.flags |= 2;
                        put_stat(rec.s, &st);
                    }
                    else {
                        rec.serr = errno;
                    }
                }
            }
            else {
                rec.lerr = errno;
            }
            rec.ino = ent->d_ino;
            memcpy(buf + len, &rec, sizeof(rec));
            memcpy(buf + len + sizeof(rec), nm, n);
            len += sizeof(rec) + n;
            count++;
            continue;
        }
        buf[len] = (char)ent->d_type;
        buf[len + 1] = (char)(n & 0xff);
        buf[len + 2] = (char)(n >> 8);
        memcpy(buf + len + 3, nm, n);
        len += 3 + n;
    }
    if (at_end || e != 0 || job->fsop != AFC_FS_SCANDIR) {
        closedir(d);
        d = NULL;
    }
    job->dir = d;
    if (e != 0) {
        free(buf);
        return e;
    }
    job->out = buf;
    job->outlen = len;
    return 0;
}

static int
read_link(afc_job *job)
{
    size_t cap = 256;
    for (;;) {
        char *buf = malloc(cap);
        if (buf == NULL) {
            return ENOMEM;
        }
        ssize_t n = readlinkat(job->dir_fd, job->path, buf, cap);
        if (n < 0) {
            int e = errno;
            free(buf);
            return e;
        }
        if ((size_t)n < cap) {
            job->out = buf;
            job->outlen = (size_t)n;
            return 0;
        }
        free(buf);
        cap *= 4;
    }
}

static int
get_cwd(afc_job *job)
{
    size_t cap = 1024;
    for (;;) {
        char *buf = malloc(cap);
        if (buf == NULL) {
            return ENOMEM;
        }
        if (getcwd(buf, cap) != NULL) {
            job->out = buf;
            job->outlen = strlen(buf);
            return 0;
        }
        int e = errno;
        free(buf);
        if (e != ERANGE) {
            return e;
        }
        cap *= 4;
    }
}

/* Copy one file into another in the kernel: copy_file_range, falling back
 * to sendfile, then to read/write through a buffer of the job's own. */
static int
copy_file(afc_job *job)
{
    int in = open(job->path, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        job->err_which = 0;
        return errno;
    }
    struct stat st;
    if (fstat(in, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(in);
        job->err_which = 0;
        return EISDIR;
    }
    int out = open(job->path2, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                   0666);
    if (out < 0) {
        int e = errno;
        close(in);
        job->err_which = 1;
        return e;
    }
    int e = 0;
    int64_t total = 0;
    int method = 0;  /* 0 copy_file_range, 1 sendfile, 2 read/write */
#if !defined(AFC_HAVE_COPY_FILE_RANGE) || !defined(AFC_HAVE_SENDFILE)
    (void)method;    /* portable: the copy loop only */
#endif
    char *buf = NULL;
    for (;;) {
        ssize_t n;
#if defined(AFC_HAVE_COPY_FILE_RANGE) && defined(AFC_HAVE_SENDFILE)
        if (method == 0) {
            n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
            if (n < 0 && (errno == EXDEV || errno == ENOSYS ||
                          errno == EINVAL || errno == EOPNOTSUPP ||
                          errno == EPERM) && total == 0) {
                method = 1;
                continue;
            }
        }
        else if (method == 1) {
            n = sendfile(out, in, NULL, 1 << 30);
            if (n < 0 && (errno == EINVAL || errno == ENOSYS) && total == 0) {
                method = 2;
                continue;
            }
        }
        else
#endif
        {
            if (buf == NULL && (buf = malloc(1 << 20)) == NULL) {
                e = ENOMEM;
                break;
            }
            n = read(in, buf, 1 << 20);
            if (n > 0) {
                size_t done = 0;
                int we = 0;
                we = write_all(out, buf, (size_t)n, -1, &done);
                if (we != 0) {
                    errno = we;
                    n = -1;
                }
            }
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            e = errno;
            break;
        }
        if (n == 0) {
            break;
        }
        total += n;
    }
    free(buf);
    close(in);
    if (close(out) < 0 && e == 0 && errno != EINTR) {
        e = errno;
    }
    job->err_which = 1;
    job->res = total;
    return e;
}

static void
run_fs(afc_job *job)
{
    int r = 0;
    int e = 0;
    switch (job->fsop) {
    case AFC_FS_STAT:
        r = job->path != NULL
                ? fstatat(job->dir_fd, job->path, &job->st, job->flags)
                : fstat(job->fd, &job->st);
        break;
    case AFC_FS_ACCESS:
        r = faccessat(job->dir_fd, job->path, job->mode, job->flags);
        break;
    case AFC_FS_MKDIR:
        r = mkdirat(job->dir_fd, job->path, (mode_t)job->mode);
        break;
    case AFC_FS_RMDIR:
        r = unlinkat(job->dir_fd, job->path, AT_REMOVEDIR);
        break;
    case AFC_FS_UNLINK:
        r = unlinkat(job->dir_fd, job->path, 0);
        break;
    case AFC_FS_RENAME:
        r = renameat(job->dir_fd, job->path, job->dir_fd2, job->path2);
        break;
    case AFC_FS_LINK:
        r = linkat(job->dir_fd, job->path, job->dir_fd2, job->path2,
                   job->flags);
        break;
    case AFC_FS_SYMLINK:
        r = symlinkat(job->path, job->dir_fd2, job->path2);
        break;
    case AFC_FS_READLINK:
        e = read_link(job);
        break;
    case AFC_FS_LISTDIR:
    case AFC_FS_SCANDIR:
        e = list_dir(job);
        break;
    case AFC_FS_STATVFS:
        do {
            r = job->path != NULL ? statvfs(job->path, &job->vfs)
                                  : fstatvfs(job->fd, &job->vfs);
        } while (r < 0 && errno == EINTR);
        break;
    case AFC_FS_SENDFILE: {
        off_t off = (off_t)job->off;
        ssize_t n;
        do {
#ifdef AFC_HAVE_SENDFILE
            n = sendfile(job->fd, job->fd2, job->off >= 0 ? &off : NULL,
                         job->len);
#else
            n = afc_copy_range(job->fd, job->fd2, job->off >= 0 ? &off : NULL,
                               job->len);
#endif
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            r = -1;
        }
        else {
            job->res = n;
        }
        break;
    }
    case AFC_FS_GETCWD:
        e = get_cwd(job);
        break;
    case AFC_FS_FSYNC:
        r = fsync(job->fd);
        break;
    case AFC_FS_FDATASYNC:
        r = fdatasync(job->fd);
        break;
    case AFC_FS_CHMOD:
        r = job->path != NULL
                ? fchmodat(job->dir_fd, job->path, (mode_t)job->mode,
                           job->flags)
                : fchmod(job->fd, (mode_t)job->mode);
        break;
    case AFC_FS_CHOWN:
        r = job->path != NULL
                ? fchownat(job->dir_fd, job->path, (uid_t)job->off,
                           (gid_t)job->len, job->flags)
                : fchown(job->fd, (uid_t)job->off, (gid_t)job->len);
        break;
    case AFC_FS_UTIME: {
        struct timespec ts[2];
        struct timespec *tp = ts;
        if (job->times[1] < 0) {
            tp = NULL;  /* now */
        }
        else {
            ts[0].tv_sec = (time_t)job->times[0];
            ts[0].tv_nsec = (long)job->times[1];
            ts[1].tv_sec = (time_t)job->times[2];
            ts[1].tv_nsec = (long)job->times[3];
        }
        r = job->path != NULL
                ? utimensat(job->dir_fd, job->path, tp, job->flags)
                : futimens(job->fd, tp);
        break;
    }
    case AFC_FS_TRUNCATE:
        do {
            r = job->path != NULL ? truncate(job->path, (off_t)job->off)
                                  : ftruncate(job->fd, (off_t)job->off);
        } while (r < 0 && errno == EINTR);
        break;
    case AFC_FS_COPYFILE:
        e = copy_file(job);
        break;
    case AFC_FS_REALPATH: {
        char *rp = realpath(job->path, NULL);
        if (rp == NULL) {
            e = errno;
        }
        else {
            job->out = rp;
            job->outlen = strlen(rp);
        }
        break;
    }
    }
    job->err = r < 0 ? errno : e;
}

static void
run_main(afc_job *job)
{
    int e = 0;
    ssize_t r;
    switch (job->kind) {
    case AFC_JOB_NOP:
        break;
    case AFC_JOB_OPEN: {
        int fd = job->fd;
        if (job->path != NULL) {
            do {
                fd = open(job->path, job->flags | O_CLOEXEC, 0666);
            } while (fd < 0 && errno == EINTR);
            if (fd < 0) {
                job->err = errno;
                return;
            }
        }
        if (fstat(fd, &job->st) < 0) {
            job->err = errno;
        }
        else if (S_ISDIR(job->st.st_mode)) {
            job->err = EISDIR;
        }
        if (job->err != 0) {
            if (job->path != NULL || job->own_fd) {
                close(fd);
            }
            return;
        }
        job->res = fd;
        off_t p = lseek(fd, 0, job->whence);
        job->pos = p < 0 ? -1 : (int64_t)p;
        break;
    }
    case AFC_JOB_FSTAT:
        if (fstat(job->fd, &job->st) < 0) {
            job->err = errno;
        }
        break;
    case AFC_JOB_PREAD: {
        size_t got = 0;
        while (got < job->len) {
            r = read_once(job->fd, job->ptr + got, job->len - got,
                          job->off < 0 ? -1 : job->off + (int64_t)got, &e);
            if (r <= 0) {
                break;
            }
            got += (size_t)r;
            if (got >= job->minfill) {
                break;
            }
        }
        job->res = (int64_t)got;
        job->err = e;
        break;
    }
    case AFC_JOB_READ:
        r = read_once(job->fd, job->ptr, job->len, job->off, &e);
        job->res = r;
        job->err = e;
        break;
    case AFC_JOB_WRITE: {
        size_t done = 0;
        job->err = write_all(job->fd, job->ptr, job->len, job->off, &done);
        job->res = (int64_t)done;
        break;
    }
    case AFC_JOB_WRITE1:
        for (;;) {
            r = job->off >= 0 ? pwrite(job->fd, job->ptr, job->len,
                                       (off_t)job->off)
                              : write(job->fd, job->ptr, job->len);
            if (r < 0 && errno == EINTR) {
                continue;
            }
            break;
        }
        job->res = r;
        job->err = r < 0 ? errno : 0;
        break;
    case AFC_JOB_SEEK: {
        off_t p = lseek(job->fd, (off_t)job->off, job->whence);
        job->res = p;
        job->err = p < 0 ? errno : 0;
        break;
    }
    case AFC_JOB_TRUNCATE:
        for (;;) {
            if (ftruncate(job->fd, (off_t)job->off) == 0) {
                job->res = job->off;
                break;
            }
            if (errno != EINTR) {
                job->err = errno;
                break;
            }
        }
        break;
    case AFC_JOB_CLOSE:
        if (job->fd >= 0 && close(job->fd) < 0 && errno != EINTR) {
            /* Linux releases the descriptor even when close() is
             * interrupted, so EINTR is not an error and never retried. */
            job->err = errno;
        }
        break;
    case AFC_JOB_ISATTY:
        job->res = isatty(job->fd);
        break;
    case AFC_JOB_FS:
        run_fs(job);
        break;
    }
}

void
afc_job_run(afc_job *job)
{
    job->err = 0;
    job->werr = 0;
    job->res = 0;
    job->wdone = 0;
    if (job->wlen > 0) {
        job->werr = write_all(job->fd, job->wbuf, job->wlen, job->woff,
                              &job->wdone);
        if (job->werr != 0 && job->kind != AFC_JOB_CLOSE) {
            /* The main action depends on the flush having happened; a
             * close releases the descriptor all the same, as io does. */
            return;
        }
    }
    if (job->preseek && lseek(job->fd, (off_t)job->off_pre, SEEK_SET) < 0) {
        job->err = errno;
        return;
    }
    run_main(job);
    /* After a failed main action too: the flush moved the offset. */
    if (job->want_pos && job->werr == 0) {
        off_t p = lseek(job->fd, 0, SEEK_CUR);
        job->pos = p < 0 ? -1 : (int64_t)p;
    }
    if (job->sync_pos && job->err == 0) {
        (void)lseek(job->fd, (off_t)job->sync_to, SEEK_SET);
    }
}

/* ---- completion queues ---- */

static void
cq_lock(afc_cq *cq)
{
    pthread_mutex_lock((pthread_mutex_t *)cq->mu);
}

static void
cq_unlock(afc_cq *cq)
{
    pthread_mutex_unlock((pthread_mutex_t *)cq->mu);
}

afc_cq *
afc_cq_new(void)
{
    afc_cq *cq = calloc(1, sizeof(*cq));
    pthread_mutex_t *mu = malloc(sizeof(*mu));
    if (cq == NULL || mu == NULL) {
        free(cq);
        free(mu);
        errno = ENOMEM;
        return NULL;
    }
#ifdef AFC_HAVE_EVENTFD
    cq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
#else
    cq->efd = afc_self_pipe(&cq->wfd);
#endif
    if (cq->efd < 0) {
        int e = errno;
        free(cq);
        free(mu);
        errno = e;
        return NULL;
    }
    pthread_mutex_init(mu, NULL);
    cq->mu = mu;
    atomic_init(&cq->refs, 1);
    pthread_mutex_lock(&reg_mu);
    cq->generation = fork_generation;
    cq->reg_next = registry;
    if (registry != NULL) {
        registry->reg_prev = cq;
    }
    registry = cq;
    pthread_mutex_unlock(&reg_mu);
    return cq;
}

void
afc_cq_incref(afc_cq *cq)
{
    /* Relaxed is enough: a new reference is always taken from an existing
     * one, whose holder keeps the queue alive meanwhile. */
    atomic_fetch_add_explicit(&cq->refs, 1, memory_order_relaxed);
}

void
afc_cq_decref(afc_cq *cq)
{
    /* acq_rel: the thread that frees must see every write made by the
     * holders of the other references before they dropped them. */
    if (atomic_fetch_sub_explicit(&cq->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    pthread_mutex_lock(&reg_mu);
    if (cq->reg_prev != NULL) {
        cq->reg_prev->reg_next = cq->reg_next;
    }
    else {
        registry = cq->reg_next;
    }
    if (cq->reg_next != NULL) {
        cq->reg_next->reg_prev = cq->reg_prev;
    }
    pthread_mutex_unlock(&reg_mu);
    close(cq->efd);
#ifndef AFC_HAVE_EVENTFD
    close(cq->wfd);
#endif
    pthread_mutex_destroy((pthread_mutex_t *)cq->mu);
    free(cq->mu);
    free(cq);
}

/* Worker side: hand a finished job to its loop. */
static void
cq_push(afc_job *job)
{
    afc_cq *cq = job->cq;
    job->next = NULL;
    cq_lock(cq);
    if (cq->orphaned) {
        cq_unlock(cq);
        pthread_mutex_lock(&orphan_mu);
        job->next = orphans;
        orphans = job;
        pthread_mutex_unlock(&orphan_mu);
        return;
    }
    int was_empty = cq->head == NULL;
    if (was_empty) {
        cq->head = job;
    }
    else {
        cq->tail->next = job;
    }
    cq->tail = job;
    atomic_store_explicit(&cq->ready, 1, memory_order_release);
    if (was_empty) {
        /* Written under the lock: once it is released, the loop thread may
         * take this job and drop the last reference to the queue. */
        uint64_t one = 1;
        ssize_t r;
        do {
#ifdef AFC_HAVE_EVENTFD
            r = write(cq->efd, &one, sizeof(one));
#else
            r = write(cq->wfd, &one, 1);
#endif
        } while (r < 0 && errno == EINTR);
    }
    cq_unlock(cq);
}

void
afc_cq_ack(afc_cq *cq)
{
    uint64_t v;
    ssize_t r;
    do {
        r = read(cq->efd, &v, sizeof(v));
#ifndef AFC_HAVE_EVENTFD
        /* A pipe keeps every byte: read until it is empty. */
    } while ((r < 0 && errno == EINTR) || r == (ssize_t)sizeof(v));
#else
    } while (r < 0 && errno == EINTR);
#endif
}

afc_job *
afc_cq_take(afc_cq *cq)
{
    cq_lock(cq);
    afc_job *list = cq->head;
    cq->head = cq->tail = NULL;
    atomic_store_explicit(&cq->ready, 0, memory_order_relaxed);
    cq_unlock(cq);
    return list;
}

int
afc_cq_wait_ready(afc_cq *cq, long ns)
{
    int64_t deadline = afc_now_ns() + ns;
    while (!atomic_load_explicit(&cq->ready, memory_order_acquire)) {
        if (afc_now_ns() >= deadline) {
            return 0;
        }
    }
    return 1;
}

afc_job *
afc_cq_orphan(afc_cq *cq)
{
    cq_lock(cq);
    cq->orphaned = 1;
    afc_job *list = cq->head;
    cq->head = cq->tail = NULL;
    cq_unlock(cq);
    return list;
}

afc_job *
afc_take_orphans(void)
{
    pthread_mutex_lock(&orphan_mu);
    afc_job *list = orphans;
    orphans = NULL;
    pthread_mutex_unlock(&orphan_mu);
    return list;
}

/* ---- the pool ---- */

/* One idle worker at a time keeps polling the queue for a short while
 * before it sleeps: a program that awaits one call after another hands the
 * next job over within microseconds, and waking a sleeping thread (on a
 * virtual machine, an idle CPU) costs tens of them. */
#define AFC_SPIN_NS (200 * 1000)

static int nspinning;            /* guarded by pool_mu */
static int nbusy;                /* workers running a job; pool_mu */
static atomic_int queued;        /* jobs in the queue; the spinner polls it:
                                    release by submit, acquire here */

static void *
worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool_mu);
    for (;;) {
        /* Spin only when no other worker is busy: on a small machine a
         * spinner next to a busy worker would take the loop's CPU. */
        if (queue_head == NULL && nspinning == 0 && nbusy == 0) {
            nspinning++;
            pthread_mutex_unlock(&pool_mu);
            int64_t deadline = afc_now_ns() + AFC_SPIN_NS;
            while (atomic_load_explicit(&queued, memory_order_acquire) == 0 &&
                   afc_now_ns() < deadline) {
            }
            pthread_mutex_lock(&pool_mu);
            nspinning--;
        }
        while (queue_head == NULL) {
            nidle++;
            pthread_cond_wait(&pool_cv, &pool_mu);
            nidle--;
        }
        afc_job *job = queue_head;
        queue_head = job->next;
        if (queue_head == NULL) {
            queue_tail = NULL;
        }
        atomic_fetch_sub_explicit(&queued, 1, memory_order_relaxed);
        nbusy++;
        pthread_mutex_unlock(&pool_mu);
        afc_job_run(job);
        cq_push(job);
        pthread_mutex_lock(&pool_mu);
        nbusy--;
    }
    return NULL;
}

static int
default_size(void)
{
    const char *s = getenv("AIOFILES_C_THREADS");
    if (s != NULL && *s) {
        long n = strtol(s, NULL, 10);
        if (n >= 1 && n <= AFC_MAX_THREADS) {
            return (int)n;
        }
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int n = ncpu > 0 ? (int)ncpu * 2 : 4;
    return n < 4 ? 4 : (n > 32 ? 32 : n);
}

void
afc_pool_set_size(int n)
{
    if (n < 1) {
        n = 1;
    }
    if (n > AFC_MAX_THREADS) {
        n = AFC_MAX_THREADS;
    }
    pthread_mutex_lock(&pool_mu);
    max_threads = n;
    pthread_mutex_unlock(&pool_mu);
}

int
afc_pool_size(void)
{
    pthread_mutex_lock(&pool_mu);
    if (max_threads == 0) {
        max_threads = default_size();
    }
    int n = max_threads;
    pthread_mutex_unlock(&pool_mu);
    return n;
}

int
afc_pool_submit(afc_job *job)
{
    int rc = 0;
    job->next = NULL;
    pthread_mutex_lock(&pool_mu);
    if (max_threads == 0) {
        max_threads = default_size();
    }
    if (queue_tail != NULL) {
        queue_tail->next = job;
    }
    else {
        queue_head = job;
    }
    queue_tail = job;
    atomic_fetch_add_explicit(&queued, 1, memory_order_release);
    if (nspinning > 0) {
        /* The spinning worker takes it: no wake-up needed. */
    }
    else if (nidle > 0) {
        /* Wake one idle worker, only when one is idle. */
        pthread_cond_signal(&pool_cv);
    }
    else if (nthreads < max_threads) {
        /* Workers start lazily, one more each time none is idle. */
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 1024 * 1024);
        rc = pthread_create(&t, &attr, worker_main, NULL);
        pthread_attr_destroy(&attr);
        if (rc == 0) {
            nthreads++;
        }
        else if (nthreads > 0) {
            /* A running worker will get to the job. */
            rc = 0;
        }
        else {
            /* No worker at all: take the job back. */
            queue_head = queue_tail = NULL;
            atomic_fetch_sub_explicit(&queued, 1, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&pool_mu);
    return rc;
}

/* ---- fork ---- */

static void
atfork_prepare(void)
{
    pthread_mutex_lock(&reg_mu);
    pthread_mutex_lock(&pool_mu);
    pthread_mutex_lock(&orphan_mu);
}

static void
atfork_parent(void)
{
    pthread_mutex_unlock(&orphan_mu);
    pthread_mutex_unlock(&pool_mu);
    pthread_mutex_unlock(&reg_mu);
}

static void
atfork_child(void)
{
    /* Only this thread exists now. Queued and running jobs belong to the
     * parent's workers; the child starts with an empty pool and makes new
     * completion queues on first use. The parent's queues may have been
     * locked by a worker at the time of fork: reset their locks. */
    pthread_mutex_init(&orphan_mu, NULL);
    pthread_mutex_init(&pool_mu, NULL);
    pthread_cond_init(&pool_cv, NULL);
    queue_head = queue_tail = NULL;
    nthreads = 0;
    nidle = 0;
    nspinning = 0;
    nbusy = 0;
    atomic_store(&queued, 0);
    orphans = NULL;
    for (afc_cq *cq = registry; cq != NULL; cq = cq->reg_next) {
        pthread_mutex_init((pthread_mutex_t *)cq->mu, NULL);
    }
    fork_generation++;
    pthread_mutex_init(&reg_mu, NULL);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void
init_pool(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void
afc_pool_init_once(void)
{
    pthread_once(&init_once, init_pool);
}
