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
#include <signal.h>
#include <stdint.h>
#ifdef AFC_HAVE_EVENTFD
#include <sys/eventfd.h>
#endif
#include <time.h>
#ifdef AFC_HAVE_SENDFILE
#include <sys/sendfile.h>
#endif
#include <unistd.h>

#define AFC_MAX_THREADS 256

/* PEP 475: a system call that fails with EINTR is made again. Workers block
 * every signal (worker_main), so EINTR is rare here (a stopped and
 * continued process, a ptrace attach), but a call that reports it must
 * never pass it on to the user. close() is the exception: Linux releases
 * the descriptor even when it reports EINTR, so it is never repeated. */
#define AFC_RETRY(r, call)                        \
    do {                                          \
        (r) = (call);                             \
    } while ((r) < 0 && errno == EINTR)

/* The pool's state (see "the pool" below) is guarded by pool_mu. */
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;

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
    if ((ssize_t)count < 0) {
        errno = EINVAL;  /* Linux refuses a count with the sign bit next */
        return -1;
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
        do {
            d = opendir(job->path);
        } while (d == NULL && errno == EINTR);
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
            int sr;
            AFC_RETRY(sr, fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW));
            if (sr == 0) {
                rec.flags |= 1;
                put_stat(rec.l, &st);
                if (S_ISLNK(st.st_mode)) {
                    AFC_RETRY(sr, fstatat(dirfd(d), nm, &st, 0));
                    if (sr == 0) {
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
        ssize_t n;
        AFC_RETRY(n, readlinkat(job->dir_fd, job->path, buf, cap));
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
 * to sendfile, then to read/write through a buffer of the job's own. The
 * source is job->fd when the caller opened it (the job then owns and
 * closes it), else path. */
static int
copy_file(afc_job *job)
{
    int in = job->fd, r;
    if (in < 0) {
        AFC_RETRY(in, open(job->path, O_RDONLY | O_CLOEXEC));
        if (in < 0) {
            job->err_which = 0;
            return errno;
        }
        struct stat st;
        AFC_RETRY(r, fstat(in, &st));
        if (r == 0 && S_ISDIR(st.st_mode)) {
            close(in);
            job->err_which = 0;
            return EISDIR;
        }
    }
    int out;
    AFC_RETRY(out, open(job->path2, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                        0666));
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

/* rmtree opens each directory relative to its parent's descriptor; the
 * fstat lets the loop thread check it is the directory it listed. */
static int
open_at(afc_job *job)
{
    int fd;
    do {
        fd = openat(job->dir_fd, job->path, job->flags | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return errno;
    }
    if (fstat(fd, &job->st) < 0) {
        int e = errno;
        close(fd);
        return e;
    }
    job->res = fd;
    return 0;
}

static void
run_fs(afc_job *job)
{
    int r = 0;
    int e = 0;
    switch (job->fsop) {
    case AFC_FS_STAT:
        AFC_RETRY(r, job->path != NULL ? fstatat(job->dir_fd, job->path,
                                                 &job->st, job->flags)
                                       : fstat(job->fd, &job->st));
        break;
    case AFC_FS_ACCESS:
        AFC_RETRY(r, faccessat(job->dir_fd, job->path, job->mode,
                               job->flags));
        break;
    case AFC_FS_MKDIR:
        AFC_RETRY(r, mkdirat(job->dir_fd, job->path, (mode_t)job->mode));
        break;
    case AFC_FS_RMDIR:
        AFC_RETRY(r, unlinkat(job->dir_fd, job->path, AT_REMOVEDIR));
        break;
    case AFC_FS_UNLINK:
        AFC_RETRY(r, unlinkat(job->dir_fd, job->path, 0));
        break;
    case AFC_FS_RENAME:
        AFC_RETRY(r, renameat(job->dir_fd, job->path, job->dir_fd2,
                              job->path2));
        break;
    case AFC_FS_LINK:
        AFC_RETRY(r, linkat(job->dir_fd, job->path, job->dir_fd2, job->path2,
                            job->flags));
        break;
    case AFC_FS_SYMLINK:
        AFC_RETRY(r, symlinkat(job->path, job->dir_fd2, job->path2));
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
        AFC_RETRY(r, fsync(job->fd));
        break;
    case AFC_FS_FDATASYNC:
        AFC_RETRY(r, fdatasync(job->fd));
        break;
    case AFC_FS_CHMOD:
        AFC_RETRY(r, job->path != NULL
                         ? fchmodat(job->dir_fd, job->path,
                                    (mode_t)job->mode, job->flags)
                         : fchmod(job->fd, (mode_t)job->mode));
        break;
    case AFC_FS_CHOWN:
        AFC_RETRY(r, job->path != NULL
                         ? fchownat(job->dir_fd, job->path, (uid_t)job->off,
                                    (gid_t)job->len, job->flags)
                         : fchown(job->fd, (uid_t)job->off,
                                  (gid_t)job->len));
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
        AFC_RETRY(r, job->path != NULL
                         ? utimensat(job->dir_fd, job->path, tp, job->flags)
                         : futimens(job->fd, tp));
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
        char *rp;
        do {
            rp = realpath(job->path, NULL);
        } while (rp == NULL && errno == EINTR);
        if (rp == NULL) {
            e = errno;
        }
        else {
            job->out = rp;
            job->outlen = strlen(rp);
        }
        break;
    }
    case AFC_FS_OPENAT:
        e = open_at(job);
        break;
    case AFC_FS_CLOSE:
        /* Linux frees the descriptor even when close reports EINTR: a
         * retry could close one another thread has just been given. */
        r = close(job->fd);
        if (r < 0 && errno == EINTR) {
            r = 0;
        }
        break;
    }
    job->err = r < 0 ? errno : e;
}

/* Positional I/O: pread until full or EOF, pwrite until all written,
 * retrying EINTR; each segment stops at its first error. */
static void
run_posio(afc_job *job)
{
    afc_seg *segs = (afc_seg *)job->ptr;
    for (size_t i = 0; i < job->len; i++) {
        afc_seg *s = &segs[i];
        while (!s->finished) {
            off_t at = (off_t)(s->off + (int64_t)s->done);
            size_t want = s->len - s->done;
            ssize_t r = job->flags
                            ? pwrite(job->fd, s->ptr + s->done, want, at)
                            : pread(job->fd, s->ptr + s->done, want, at);
            if (r < 0) {
                if (errno == EINTR) {
                    continue;
                }
                s->err = errno;
                s->finished = 1;
                break;
            }
            s->done += (size_t)r;
            if (r == 0 || s->done == s->len) {
                s->finished = 1;
            }
        }
    }
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
        int r2;
        AFC_RETRY(r2, fstat(fd, &job->st));
        if (r2 < 0) {
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
        AFC_RETRY(e, fstat(job->fd, &job->st));
        if (e < 0) {
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
    case AFC_JOB_POSIO:
        run_posio(job);
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

/* ---- adaptive spinning ----
 *
 * Both waits that spin (an idle worker waiting for the next job, a loop
 * thread waiting a few microseconds for the one job it has in the pool)
 * pay only when the thread they wait for runs on another CPU meanwhile.
 * On a contended machine the spinner takes the CPU that thread needs, and
 * the spin ends by its time limit, not by the event. So a spin happens
 * only when (1) the load average (getloadavg, sampled at most every 50 ms) is
 * below the number of CPUs, and (2) recent spins of that kind paid: a score
 * gains one for a spin that saw its event and loses two for one that timed
 * out; at zero only one chance in 32 spins, to notice when spinning pays
 * again. Scores are updated with plain atomic loads and stores: a lost
 * update between two threads only nudges a heuristic. */
#define AFC_SPIN_SCORE_MAX 16
#ifndef SI_LOAD_SHIFT
#define SI_LOAD_SHIFT 16
#endif

struct afc_spin {
    atomic_int score;
    atomic_uint chances;
};

static struct afc_spin worker_spin = {AFC_SPIN_SCORE_MAX / 2, 0};
static struct afc_spin loop_spin = {AFC_SPIN_SCORE_MAX / 2, 0};
static atomic_llong load_sampled_ns;     /* relaxed: a sampling clock */
static atomic_int machine_busy;          /* relaxed: a hint */
static atomic_uint worker_spins;         /* relaxed: spins begun (tests) */
static long ncpu_online = 1;             /* set once, by init_pool */

static int
machine_contended(void)
{
    int64_t now = afc_now_ns();
    long long last =
        atomic_load_explicit(&load_sampled_ns, memory_order_relaxed);
    if (now - last > 50 * 1000000LL) {
        double load;
        atomic_store_explicit(&load_sampled_ns, now, memory_order_relaxed);
        int busy = getloadavg(&load, 1) == 1 && load >= (double)ncpu_online;
        atomic_store_explicit(&machine_busy, busy, memory_order_relaxed);
    }
    return atomic_load_explicit(&machine_busy, memory_order_relaxed);
}

static int
spin_may(struct afc_spin *sp)
{
    if (machine_contended()) {
        return 0;
    }
    if (atomic_load_explicit(&sp->score, memory_order_relaxed) > 0) {
        return 1;
    }
    return (atomic_fetch_add_explicit(&sp->chances, 1,
                                      memory_order_relaxed) & 31) == 0;
}

static void
spin_done(struct afc_spin *sp, int paid)
{
    int sc = atomic_load_explicit(&sp->score, memory_order_relaxed);
    if (paid) {
        sc = sc < AFC_SPIN_SCORE_MAX ? sc + 1 : AFC_SPIN_SCORE_MAX;
    }
    else {
        sc = sc > 2 ? sc - 2 : 0;
    }
    atomic_store_explicit(&sp->score, sc, memory_order_relaxed);
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

static void
cq_init_sync(afc_cq *cq)
{
    pthread_condattr_t ca;
    pthread_mutex_init((pthread_mutex_t *)cq->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init((pthread_cond_t *)cq->cv, &ca);
    pthread_condattr_destroy(&ca);
}

afc_cq *
afc_cq_new(const void *owner)
{
    afc_cq *cq = calloc(1, sizeof(*cq));
    pthread_mutex_t *mu = malloc(sizeof(*mu));
    pthread_cond_t *cv = malloc(sizeof(*cv));
    if (cq == NULL || mu == NULL || cv == NULL) {
        free(cq);
        free(mu);
        free(cv);
        errno = ENOMEM;
        return NULL;
    }
    /* Failing to make the eventfd (every descriptor in use) is not an
     * error: the loop then learns of completions through afc_cq_wait, from
     * a thread that schedules the drain with call_soon_threadsafe, so calls
     * that need no descriptor of their own (stat, ...) still work. */
#ifdef AFC_HAVE_EVENTFD
    cq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
#else
    cq->efd = afc_self_pipe(&cq->wfd);
#endif
    cq->mu = mu;
    cq->cv = cv;
    cq_init_sync(cq);
    cq->owner = owner;
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
    if (cq->efd >= 0) {
        close(cq->efd);
#ifndef AFC_HAVE_EVENTFD
        close(cq->wfd);
#endif
    }
    pthread_mutex_destroy((pthread_mutex_t *)cq->mu);
    pthread_cond_destroy((pthread_cond_t *)cq->cv);
    free(cq->mu);
    free(cq->cv);
    free(cq);
}

/* Worker side: hand a finished job to its loop. *slot is the worker's
 * record of the job it runs (for fork); it is cleared inside the same
 * critical section that publishes the job, so a child forked at any
 * moment finds the job in exactly one of the two places. */
static void
cq_push(afc_job *job, afc_job **slot)
{
    afc_cq *cq = job->cq;
    job->next = NULL;
    cq_lock(cq);
    if (cq->orphaned) {
        cq_unlock(cq);
        if (job->kind == AFC_JOB_OPEN && job->path != NULL &&
            job->err == 0 && job->res >= 0) {
            /* Nobody will ever adopt this descriptor. */
            close((int)job->res);
            job->res = -1;
            job->err = ECANCELED;
        }
        pthread_mutex_lock(&orphan_mu);
        job->next = orphans;
        orphans = job;
        *slot = NULL;
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
    *slot = NULL;
    atomic_store_explicit(&cq->ready, 1, memory_order_release);
    if (was_empty) {
        /* Under the lock: once it is released, the loop thread may take
         * this job and drop the last reference to the queue. */
        if (cq->efd >= 0) {
            ssize_t r;
#ifdef AFC_HAVE_EVENTFD
            uint64_t one = 1;
            AFC_RETRY(r, write(cq->efd, &one, sizeof(one)));
#else
            char one = 1;
            AFC_RETRY(r, write(cq->wfd, &one, 1));
#endif
            (void)r;
        }
        if (cq->nwaiters > 0) {
            pthread_cond_broadcast((pthread_cond_t *)cq->cv);
        }
    }
    cq_unlock(cq);
}

void
afc_cq_ack(afc_cq *cq)
{
    if (cq->efd < 0) {
        return;
    }
    uint64_t v;
    ssize_t r;
#ifdef AFC_HAVE_EVENTFD
    AFC_RETRY(r, read(cq->efd, &v, sizeof(v)));
#else
    /* A pipe keeps every byte: read until it is empty. */
    do {
        AFC_RETRY(r, read(cq->efd, &v, sizeof(v)));
    } while (r == (ssize_t)sizeof(v));
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
    if (atomic_load_explicit(&cq->ready, memory_order_acquire)) {
        return 1;
    }
    if (!spin_may(&loop_spin)) {
        return 0;
    }
    int64_t deadline = afc_now_ns() + ns;
    while (!atomic_load_explicit(&cq->ready, memory_order_acquire)) {
        if (afc_now_ns() >= deadline) {
            spin_done(&loop_spin, 0);
            return 0;
        }
    }
    spin_done(&loop_spin, 1);
    return 1;
}

int
afc_cq_wait(afc_cq *cq, long ns)
{
    int64_t deadline = afc_now_ns() + ns;
    struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000),
                          .tv_nsec = (long)(deadline % 1000000000)};
    cq_lock(cq);
    cq->nwaiters++;
    while (cq->head == NULL && !cq->orphaned) {
        if (pthread_cond_timedwait((pthread_cond_t *)cq->cv,
                                   (pthread_mutex_t *)cq->mu,
                                   &ts) == ETIMEDOUT) {
            break;
        }
    }
    cq->nwaiters--;
    int ready = cq->head != NULL;
    cq_unlock(cq);
    return ready;
}

afc_job *
afc_cq_orphan(afc_cq *cq)
{
    cq_lock(cq);
    cq->orphaned = 1;
    afc_job *list = cq->head;
    cq->head = cq->tail = NULL;
    pthread_cond_broadcast((pthread_cond_t *)cq->cv);
    cq_unlock(cq);
    return list;
}

afc_job *
afc_take_orphans(const void *owner)
{
    afc_job *mine = NULL;
    pthread_mutex_lock(&orphan_mu);
    afc_job **pp = &orphans;
    while (*pp != NULL) {
        afc_job *job = *pp;
        if (job->cq->owner == owner) {
            *pp = job->next;
            job->next = mine;
            mine = job;
        }
        else {
            pp = &job->next;
        }
    }
    pthread_mutex_unlock(&orphan_mu);
    return mine;
}

afc_job *
afc_fork_take_stale(const void *owner)
{
    afc_job *list = NULL;
    pthread_mutex_lock(&reg_mu);
    for (afc_cq *cq = registry; cq != NULL; cq = cq->reg_next) {
        if (cq->generation == fork_generation || cq->owner != owner) {
            continue;
        }
        cq_lock(cq);
        if (cq->head != NULL) {
            cq->tail->next = list;
            list = cq->head;
            cq->head = cq->tail = NULL;
        }
        cq_unlock(cq);
    }
    pthread_mutex_unlock(&reg_mu);
    return list;
}

/* ---- the pool ----
 *
 * Two lanes. Jobs on descriptors that can block indefinitely (job->slow)
 * wait in the slow lane; the others in the regular lane. Each lane may
 * have at most max_threads jobs on workers at a time (the pool size), and
 * the pool has at most twice that many threads, started as needed. So jobs
 * on slow descriptors hold at most half of the pool's threads (libuv's
 * bound), and however many pipe reads or FIFO opens are stuck, regular
 * files keep the pool size's worth of workers, for every loop. A program
 * with only regular files never has more than max_threads threads; slow
 * jobs keep the capacity they had before the lanes (max_threads), which
 * matters when they wait for each other (a pipe's reader and writer, the
 * two ends of a FIFO being opened). Within the pool, the oldest runnable
 * job goes first.
 *
 * Wake-ups. Every runnable job must have a worker committed to taking it
 * within bounded time, or every worker is busy. The committed workers
 * ("takers") are: the spinner (it polls submit_seq and, at the latest when
 * its spin ends, takes the pool lock and looks at the queues), the idle
 * workers that were sent a wake-up (nwake: each wake-up is a token that
 * exactly one sleeper consumes, so a spurious wake-up cannot lose one), and
 * the workers just created (nstarting). ensure_takers() runs under pool_mu
 * after anything that can make a job runnable and, while the runnable jobs
 * outnumber the takers, wakes one more sleeper or starts one more worker.
 * So a job submitted while a worker spins no longer relies on that one
 * spinner when there is already a job for it: the spinner accounts for one
 * job only, and a second job in the same window wakes someone else (the
 * lost wake-up that deadlocked a pipe's reader and writer). A worker that
 * finishes a job looks at the queues before it spins or sleeps, so a job
 * left waiting because every worker was busy is taken as soon as one is
 * free. */

/* One idle worker at a time keeps polling the queue for a short while
 * before it sleeps: a program that awaits one call after another hands the
 * next job over within microseconds, and waking a sleeping thread (on a
 * virtual machine, an idle CPU) costs tens of them. */
#define AFC_SPIN_NS (200 * 1000)

static afc_job *fast_head, *fast_tail;   /* pool_mu: regular-file lane */
static afc_job *slow_head, *slow_tail;   /* pool_mu: slow lane */
static int nfast, nslow;                 /* pool_mu: jobs in each lane */
static int nslow_running;                /* pool_mu: slow jobs on workers */
static int nfast_running;                /* pool_mu: regular jobs on them */
static unsigned long job_seq;            /* pool_mu: submission order */
static int nthreads;                     /* pool_mu: workers started */
static int max_threads;                  /* pool_mu: 0: not decided yet */
static int nidle;                        /* pool_mu: asleep on pool_cv */
static int nwake;                        /* pool_mu: wake-ups not taken */
static int nstarting;                    /* pool_mu: created, not running */
static int nspinning;                    /* pool_mu */
static int fail_next, fail_err;          /* pool_mu: test hook */
static afc_job *running[2 * AFC_MAX_THREADS]; /* the job worker i runs: set
                                            under pool_mu, cleared in
                                            cq_push (see there); read by
                                            the fork child only */
/* Bumped by every submission (release), polled by the spinner (acquire). */
static atomic_uint submit_seq;

/* Jobs of one lane that may run at once. */
static int
lane_limit(void)
{
    return max_threads;
}

static int
runnable_locked(void)
{
    int sroom = lane_limit() - nslow_running;
    int froom = lane_limit() - nfast_running;
    sroom = sroom < 0 ? 0 : sroom;
    froom = froom < 0 ? 0 : froom;
    return (nfast < froom ? nfast : froom) + (nslow < sroom ? nslow : sroom);
}

static void *worker_main(void *arg);

static int
spawn_locked(void)
{
    pthread_t t;
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 1024 * 1024);
    /* The new thread inherits this mask: it is born with every signal
     * blocked, so none can be delivered to it before worker_main runs. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&t, &attr, worker_main,
                            (void *)(intptr_t)nthreads);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc == 0) {
        nthreads++;
        nstarting++;
    }
    return rc;
}

/* Make sure every runnable job has a taker (see above). Returns 0, or the
 * error of a failed pthread_create. */
static int
ensure_takers_locked(void)
{
    int need = runnable_locked() - (nspinning + nwake + nstarting);
    while (need > 0) {
        if (nidle > nwake) {
            nwake++;
            pthread_cond_signal(&pool_cv);
        }
        else if (nthreads < 2 * max_threads) {
            int rc = spawn_locked();
            if (rc != 0) {
                return rc;
            }
        }
        else {
            break;  /* all busy: the first to finish takes it */
        }
        need--;
    }
    return 0;
}

static int
enqueue_locked(afc_job *job)
{
    job->next = NULL;
    job->seq = ++job_seq;
    if (job->slow) {
        if (slow_tail != NULL) {
            slow_tail->next = job;
        }
        else {
            slow_head = job;
        }
        slow_tail = job;
        nslow++;
    }
    else {
        if (fast_tail != NULL) {
            fast_tail->next = job;
        }
        else {
            fast_head = job;
        }
        fast_tail = job;
        nfast++;
    }
    atomic_fetch_add_explicit(&submit_seq, 1, memory_order_release);
    return ensure_takers_locked();
}

static void
unlink_locked(afc_job *job)
{
    afc_job **head = job->slow ? &slow_head : &fast_head;
    afc_job **tail = job->slow ? &slow_tail : &fast_tail;
    afc_job *prev = NULL;
    for (afc_job *j = *head; j != NULL; prev = j, j = j->next) {
        if (j != job) {
            continue;
        }
        if (prev != NULL) {
            prev->next = j->next;
        }
        else {
            *head = j->next;
        }
        if (*tail == j) {
            *tail = prev;
        }
        if (job->slow) {
            nslow--;
        }
        else {
            nfast--;
        }
        return;
    }
}

/* The oldest runnable job, or NULL. */
static afc_job *
take_locked(void)
{
    int slow_ok = slow_head != NULL && nslow_running < lane_limit();
    int fast_ok = fast_head != NULL && nfast_running < lane_limit();
    afc_job *job;
    if (fast_ok && (!slow_ok || fast_head->seq < slow_head->seq)) {
        job = fast_head;
        fast_head = job->next;
        if (fast_head == NULL) {
            fast_tail = NULL;
        }
        nfast--;
        nfast_running++;
    }
    else if (slow_ok) {
        job = slow_head;
        slow_head = job->next;
        if (slow_head == NULL) {
            slow_tail = NULL;
        }
        nslow--;
        nslow_running++;
    }
    else {
        return NULL;
    }
    job->next = NULL;
    return job;
}

/* A path open may block indefinitely (a FIFO waits for its other end, a
 * tty or device may wait for a carrier), and the path alone does not say
 * which. A path open goes to the regular lane first; there the worker
 * stats the path, and unless it names a regular file or a directory (or
 * nothing yet: O_CREAT makes a regular file), the job moves to the slow
 * lane before any open(2). A path swapped for a FIFO between the stat and
 * the open can still block a regular worker: that race costs one worker,
 * never a wrong result. */
static int
probe_is_slow(afc_job *job)
{
    struct stat st;
    int r;
    if (job->kind == AFC_JOB_OPEN && job->path != NULL) {
        AFC_RETRY(r, fstatat(AT_FDCWD, job->path, &st,
                             (job->flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW
                                                       : 0));
    }
    else if (job->kind == AFC_JOB_FS && job->fsop == AFC_FS_COPYFILE) {
        /* the source: open already, or opened by path in copy_file */
        AFC_RETRY(r, job->fd >= 0 ? fstat(job->fd, &st)
                                  : stat(job->path, &st));
    }
    else if (job->kind == AFC_JOB_FS && job->fsop == AFC_FS_SENDFILE) {
        /* a socket or pipe to send to can block for as long as its
         * reader likes; fd2 (the source) is usually a regular file */
        AFC_RETRY(r, fstat(job->fd, &st));
        if (r == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
            AFC_RETRY(r, fstat(job->fd2, &st));
        }
    }
    else {
        return 0;
    }
    return r == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) &&
           !S_ISBLK(st.st_mode);
}

static void *
worker_main(void *arg)
{
    int idx = (int)(intptr_t)arg;
    sigset_t all;
    /* Signals are the main thread's business (Python runs its handlers
     * there); a worker never takes one, so its system calls are not
     * interrupted by them (already blocked since birth: spawn_locked). */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_setname_np(pthread_self(), "afc-worker");
    pthread_mutex_lock(&pool_mu);
    nstarting--;
    int spun = 0;
    for (;;) {
        afc_job *job = take_locked();
        if (job != NULL) {
            running[idx] = job;
            pthread_mutex_unlock(&pool_mu);
            spun = 0;
            if (!job->slow && probe_is_slow(job)) {
                pthread_mutex_lock(&pool_mu);
                nfast_running--;
                running[idx] = NULL;
                job->slow = 1;
                (void)enqueue_locked(job);
                continue;
            }
            int was_slow = job->slow;  /* job is not ours after cq_push */
            afc_job_run(job);
            cq_push(job, &running[idx]);
            pthread_mutex_lock(&pool_mu);
            if (was_slow) {
                nslow_running--;
            }
            else {
                nfast_running--;
            }
            continue;
        }
        /* Spin only when no other worker is busy on a regular file (on a
         * small machine a spinner next to a busy worker would take the
         * loop's CPU; a worker blocked on a pipe uses none), and only when
         * spinning pays (see adaptive spinning). */
        if (!spun && nspinning == 0 && nfast_running == 0 &&
            spin_may(&worker_spin)) {
            spun = 1;
            nspinning++;
            atomic_fetch_add_explicit(&worker_spins, 1, memory_order_relaxed);
            unsigned seq0 =
                atomic_load_explicit(&submit_seq, memory_order_relaxed);
            pthread_mutex_unlock(&pool_mu);
            int64_t deadline = afc_now_ns() + AFC_SPIN_NS;
            int paid = 1;
            while (atomic_load_explicit(&submit_seq, memory_order_acquire) ==
                   seq0) {
                if (afc_now_ns() >= deadline) {
                    paid = 0;
                    break;
                }
            }
            spin_done(&worker_spin, paid);
            pthread_mutex_lock(&pool_mu);
            nspinning--;
            continue;
        }
        nidle++;
        while (nwake == 0) {
            pthread_cond_wait(&pool_cv, &pool_mu);
        }
        nwake--;
        nidle--;
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
    (void)ensure_takers_locked();  /* a larger pool may take more now */
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
afc_pool_slow_limit(void)
{
    pthread_mutex_lock(&pool_mu);
    if (max_threads == 0) {
        max_threads = default_size();
    }
    int n = lane_limit();
    pthread_mutex_unlock(&pool_mu);
    return n;
}

unsigned
afc_pool_spins(void)
{
    return atomic_load_explicit(&worker_spins, memory_order_relaxed);
}

void
afc_pool_fail_submits(int n, int err)
{
    pthread_mutex_lock(&pool_mu);
    fail_next = n;
    fail_err = err;
    pthread_mutex_unlock(&pool_mu);
}

/* Whether a job on a slow descriptor can actually wait on it: reads,
 * writes (a flush prefix too) and opens can; a seek, fstat, isatty, or a
 * close with nothing to flush cannot, and needs no slow-lane worker (so
 * it does not queue behind blocked reads of other files). */
static int
job_may_block(const afc_job *job)
{
    switch (job->kind) {
    case AFC_JOB_READ:
    case AFC_JOB_PREAD:
    case AFC_JOB_WRITE:
    case AFC_JOB_WRITE1:
        return 1;
    case AFC_JOB_OPEN:
        return job->path != NULL;
    case AFC_JOB_FS:
        return job->fsop == AFC_FS_SENDFILE || job->fsop == AFC_FS_COPYFILE;
    default:
        return job->wlen > 0;
    }
}

int
afc_pool_submit(afc_job *job)
{
    if (job->slow && !job_may_block(job)) {
        job->slow = 0;
    }
    pthread_mutex_lock(&pool_mu);
    if (max_threads == 0) {
        max_threads = default_size();
    }
    if (fail_next > 0) {
        fail_next--;
        int e = fail_err;
        pthread_mutex_unlock(&pool_mu);
        return e;
    }
    int rc = enqueue_locked(job);
    if (rc != 0) {
        if (nthreads == 0) {
            /* No worker at all: take the job back. */
            unlink_locked(job);
        }
        else {
            rc = 0;  /* a running worker will get to it */
        }
    }
    pthread_mutex_unlock(&pool_mu);
    return rc;
}

/* ---- fork ---- */

static void
atfork_prepare(void)
{
    /* Every lock a worker may hold, so that the child sees each list
     * either before or after any change, never in the middle of one. */
    pthread_mutex_lock(&reg_mu);
    pthread_mutex_lock(&pool_mu);
    for (afc_cq *cq = registry; cq != NULL; cq = cq->reg_next) {
        cq_lock(cq);
    }
    pthread_mutex_lock(&orphan_mu);
}

static void
atfork_parent(void)
{
    pthread_mutex_unlock(&orphan_mu);
    for (afc_cq *cq = registry; cq != NULL; cq = cq->reg_next) {
        cq_unlock(cq);
    }
    pthread_mutex_unlock(&pool_mu);
    pthread_mutex_unlock(&reg_mu);
}

/* Child: a job the parent had queued or running will never be run here;
 * hand it to its queue as failed (AFC_ERR_FORKED), for the interpreter's
 * after-fork hook (afc_fork_take_stale) to complete. Never the queue's
 * eventfd: the parent shares it. */
static void
fork_fail_job(afc_job *job)
{
    afc_cq *cq = job->cq;
    job->err = AFC_ERR_FORKED;
    job->next = NULL;
    if (cq->orphaned) {
        job->next = orphans;
        orphans = job;
        return;
    }
    if (cq->head == NULL) {
        cq->head = job;
    }
    else {
        cq->tail->next = job;
    }
    cq->tail = job;
}

static void
atfork_child(void)
{
    /* Only this thread exists now, and it holds every lock (prepare). */
    afc_job *lanes[2] = {fast_head, slow_head};
    for (int i = 0; i < 2; i++) {
        afc_job *job = lanes[i];
        while (job != NULL) {
            afc_job *next = job->next;
            fork_fail_job(job);
            job = next;
        }
    }
    for (int i = 0; i < nthreads && i < 2 * AFC_MAX_THREADS; i++) {
        if (running[i] != NULL) {
            fork_fail_job(running[i]);
            running[i] = NULL;
        }
    }
    fast_head = fast_tail = slow_head = slow_tail = NULL;
    nfast = nslow = nslow_running = nfast_running = 0;
    nthreads = nidle = nwake = nstarting = nspinning = 0;
    pthread_mutex_init(&orphan_mu, NULL);
    pthread_mutex_init(&pool_mu, NULL);
    pthread_cond_init(&pool_cv, NULL);
    for (afc_cq *cq = registry; cq != NULL; cq = cq->reg_next) {
        cq_init_sync(cq);
    }
    fork_generation++;
    pthread_mutex_init(&reg_mu, NULL);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void
init_pool(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    ncpu_online = n > 0 ? n : 1;
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void
afc_pool_init_once(void)
{
    pthread_once(&init_once, init_pool);
}
