/* The system calls a pool job makes, on a worker thread: plain C, no
 * Python, no GIL. A job's results (res, err, st, out, ...) are read by the
 * loop thread after the job comes back through its completion queue. */
#include "pool.h"
#include "fastpath.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>   /* renameat */
#include <stdlib.h>
#include <string.h>
#ifdef AFC_HAVE_SENDFILE
#include <sys/sendfile.h>
#endif
#include <sys/uio.h>
#include <unistd.h>

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

/* The fields in the order AFC_SCAN_STAT gives them. */
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
 * scandir: per entry, the head of struct afc_scan_rec, the stats it says
 * were taken, and the name (see below). */
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
    if (job->fsop == AFC_FS_SCANDIR && job->dir == NULL) {
        /* The entries' stat() is taken on the loop thread where the
         * directory's file system allows it (fastpath.c): learn it. */
        struct stat ds;
        if (fstat(dirfd(d), &ds) == 0) {
            afc_fast_learn_fd(dirfd(d), &ds);
        }
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
        size_t need = (scan ? sizeof(struct afc_scan_rec) : 3) + n;
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
            /* The record's head, then the stats taken (l, then s), then
             * the name: an entry whose type the directory gave is not
             * stat'ed here (os.scandir does not either); one of unknown
             * type is lstat'ed, and a symlink also stat'ed, so that
             * is_dir()/is_file() never make a system call. */
            struct afc_scan_rec rec;
            struct stat st;
            memset(&rec, 0, AFC_SCAN_HEAD_SIZE);
            rec.namelen = (uint16_t)n;
            rec.dtype = (job->flags & AFC_SCAN_TYPES_UNKNOWN) ? DT_UNKNOWN
                                                              : ent->d_type;
            size_t at = len + AFC_SCAN_HEAD_SIZE;
            int sr;
            if (rec.dtype == DT_UNKNOWN || rec.dtype == DT_LNK) {
                AFC_RETRY(sr, fstatat(dirfd(d), nm, &st,
                                      AT_SYMLINK_NOFOLLOW));
                if (sr == 0) {
                    rec.flags |= AFC_SCAN_LSTAT_OK;
                    put_stat(rec.l, &st);
                    memcpy(buf + at, rec.l, sizeof(rec.l));
                    at += sizeof(rec.l);
                    if (S_ISLNK(st.st_mode)) {
                        AFC_RETRY(sr, fstatat(dirfd(d), nm, &st, 0));
                        if (sr == 0) {
                            rec.flags |= AFC_SCAN_STAT_OK;
                            put_stat(rec.s, &st);
                            memcpy(buf + at, rec.s, sizeof(rec.s));
                            at += sizeof(rec.s);
                        }
                        else {
                            rec.serr = errno;
                        }
                    }
                }
                else {
                    rec.lerr = errno;
                }
            }
            rec.ino = ent->d_ino;
            memcpy(buf + len, &rec, AFC_SCAN_HEAD_SIZE);
            memcpy(buf + at, nm, n);
            len = at + n;
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
        if (r == 0 && job->path != NULL) {
            afc_fast_learn_path(job->dir_fd, job->path, &job->st,
                                job->flags & AT_SYMLINK_NOFOLLOW);
        }
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
    case AFC_FS_READFILE:
        e = afc_read_whole(job->path, &job->out, &job->outlen);
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
        afc_fast_learn_fd(fd, &job->st);  /* for the inline opens */
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
    }
}

/* Every job's frame: the flush prefix, the seek before, the main action,
 * the position after. */
static void
job_run(afc_job *job, void (*main_action)(afc_job *))
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
    main_action(job);
    /* After a failed main action too: the flush moved the offset. */
    if (job->want_pos && job->werr == 0) {
        off_t p = lseek(job->fd, 0, SEEK_CUR);
        job->pos = p < 0 ? -1 : (int64_t)p;
    }
    if (job->sync_pos && job->err == 0) {
        (void)lseek(job->fd, (off_t)job->sync_to, SEEK_SET);
    }
}

void
afc_work_file(afc_job *job)
{
    job_run(job, run_main);
}

void
afc_work_fs(afc_job *job)
{
    job_run(job, run_fs);
}

void
afc_work_posio(afc_job *job)
{
    job_run(job, run_posio);
}

/* ---- what the pool asks about a job (no switch over kinds there) ---- */

int
afc_job_may_block(const afc_job *job)
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
        return job->fsop == AFC_FS_SENDFILE || job->fsop == AFC_FS_COPYFILE ||
               job->fsop == AFC_FS_READFILE;
    default:
        return job->wlen > 0;
    }
}

/* A path open may block indefinitely (a FIFO waits for its other end, a
 * tty or device may wait for a carrier), and the path alone does not say
 * which. A path open goes to the regular lane first; there the worker
 * stats the path, and unless it names a regular file or a directory (or
 * nothing yet: O_CREAT makes a regular file), the job moves to the slow
 * lane before any open(2). A path swapped for a FIFO between the stat and
 * the open can still block a regular worker: that race costs one worker,
 * never a wrong result. */
int
afc_job_probe_slow(const afc_job *job)
{
    struct stat st;
    int r;
    if (job->kind == AFC_JOB_OPEN && job->path != NULL) {
        AFC_RETRY(r, fstatat(AT_FDCWD, job->path, &st,
                             (job->flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW
                                                       : 0));
    }
    else if (job->kind == AFC_JOB_FS && (job->fsop == AFC_FS_COPYFILE ||
                                         job->fsop == AFC_FS_READFILE)) {
        /* the source: a copy's may be open already; else copy_file and
         * read_bytes open it by path */
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

int
afc_job_drop_fd(afc_job *job, int owned)
{
    int opened = job->kind == AFC_JOB_OPEN
                     ? job->path != NULL || owned
                     : job->kind == AFC_JOB_FS && job->fsop == AFC_FS_OPENAT;
    if (!opened || job->err != 0 || job->res < 0) {
        return 0;
    }
    close((int)job->res);
    job->res = -1;
    return 1;
}
