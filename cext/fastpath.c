/* Opens and stats of cached paths on the loop thread.
 *
 * A pool hop costs tens of microseconds (more on a busy machine); an open
 * or a stat whose path the kernel has in its dentry cache costs one or two.
 * Linux can say which is which without waiting: openat2() with
 * RESOLVE_CACHED fails with EAGAIN where the lookup would have to wait for
 * the disk (or a server). The lookup is only half of it: the file system's
 * own open, getattr and release run after it, and on a network or FUSE file
 * system those may wait for the server. So the call is done here only on a
 * device known to be local:
 *
 *   1. openat2(O_PATH | RESOLVE_CACHED): the lookup alone (an O_PATH open
 *      calls no file-system open);
 *   2. statx(AT_STATX_DONT_SYNC) of that descriptor: its device and type
 *      (DONT_SYNC: a network file system answers from its attribute cache);
 *   3. the device must be in the table of local devices, which workers
 *      fill with fstatfs/statfs after their own opens and stats (those may
 *      wait; a first call on a device therefore always goes to the pool);
 *   4. stat: the statx of step 2 asked for every basic field, and gives
 *      the result (fstat of the O_PATH descriptor if a field is missing);
 *      open: the regular file opened again with RESOLVE_CACHED, then
 *      fstat as the pool does (the position of a new read-only open is 0,
 *      where the pool asks lseek).
 *
 * Local means ext2/3/4, XFS, Btrfs, F2FS, tmpfs, ramfs and overlayfs: their
 * getattr copies the in-memory inode, and opening or closing a read-only
 * regular file takes no lock a writer holds across disk I/O. Everything
 * else (NFS, CIFS, FUSE, 9p, Ceph, procfs, ...) stays in the pool.
 *
 * Known limits: fanotify permission events (an antivirus) make any open
 * wait for the listener, as they do for io_uring's non-blocking opens; and
 * a path renamed onto another device between steps 1 and 4 is opened
 * there (one open that may wait, never a wrong result). Only regular files
 * are opened here (a FIFO's open waits for a writer).
 *
 * No Python here: file.c decides when to try and folds the results.
 */
#include "fastpath.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#if defined(AFC_HAVE_OPENAT2) && defined(AFC_HAVE_PREADV2)
#define AFC_FAST 1
#include <linux/openat2.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#endif

static atomic_uint_fast64_t counts[AFC_COUNTS];  /* relaxed: tests only */

void
afc_fast_counts(uint64_t out[AFC_COUNTS])
{
    for (int i = 0; i < AFC_COUNTS; i++) {
        out[i] = atomic_load_explicit(&counts[i], memory_order_relaxed);
    }
}

void
afc_fast_count(int which)
{
    atomic_fetch_add_explicit(&counts[which], 1, memory_order_relaxed);
}

int
afc_read_whole(const char *path, char **out, size_t *outlen)
{
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return errno;
    }
    struct stat st;
    int e = 0;
    char *buf = NULL;
    size_t got = 0;
    if (fstat(fd, &st) < 0) {
        e = errno;
        goto done;
    }
    if (S_ISDIR(st.st_mode)) {
        e = EISDIR;
        goto done;
    }
    afc_fast_learn_fd(fd, &st);  /* for the inline reads that follow */
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 8192;
    buf = malloc(cap);
    if (buf == NULL) {
        e = ENOMEM;
        goto done;
    }
    for (;;) {
        if (got == cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                e = ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            e = errno;
            break;
        }
        if (r == 0) {
            break;
        }
        got += (size_t)r;
    }
done:
    close(fd);  /* read-only: nothing to report (io ignores it too) */
    if (e != 0) {
        free(buf);
        return e;
    }
    *out = buf;
    *outlen = got;
    return 0;
}

/* ---- the table of devices ----
 * Written by workers, read by loop threads; a mutex, as a lookup is rare
 * next to the syscalls around it. A full table forgets its oldest entry. */
#define DEV_SLOTS 64

static pthread_mutex_t dev_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    dev_t dev;
    int local;
} devs[DEV_SLOTS];
static int ndevs;

int
afc_fast_dev_local(dev_t dev)
{
    int r = -1;
    pthread_mutex_lock(&dev_mu);
    for (int i = 0; i < ndevs; i++) {
        if (devs[i].dev == dev) {
            r = devs[i].local;
            break;
        }
    }
    pthread_mutex_unlock(&dev_mu);
    return r;
}

#ifdef AFC_FAST

static void
dev_remember(dev_t dev, int local)
{
    static int dev_next;  /* dev_mu: the slot a full table reuses next */
    pthread_mutex_lock(&dev_mu);
    for (int i = 0; i < ndevs; i++) {
        if (devs[i].dev == dev) {
            devs[i].local = local;
            pthread_mutex_unlock(&dev_mu);
            return;
        }
    }
    int slot = ndevs < DEV_SLOTS ? ndevs++ : dev_next++ % DEV_SLOTS;
    devs[slot].dev = dev;
    devs[slot].local = local;
    pthread_mutex_unlock(&dev_mu);
}

/* 1 on; 0 once the kernel lacked openat2 or RESOLVE_CACHED (before 5.12),
 * or a seccomp filter refused the call as missing. Relaxed: a stale 1
 * costs one more failed try. */
static atomic_int fast_on = 1;

int
afc_fast_available(void)
{
    return atomic_load_explicit(&fast_on, memory_order_relaxed);
}

static int
magic_is_local(unsigned long magic)
{
    switch (magic) {
    case 0xEF53UL:      /* ext2, ext3, ext4 */
    case 0x58465342UL:  /* XFS */
    case 0x9123683EUL:  /* Btrfs */
    case 0xF2F52010UL:  /* F2FS */
    case 0x01021994UL:  /* tmpfs */
    case 0x858458F6UL:  /* ramfs */
    case 0x794C7630UL:  /* overlayfs */
        return 1;
    default:
        return 0;
    }
}

void
afc_fast_learn_fd(int fd, const struct stat *st)
{
    if (afc_fast_dev_local(st->st_dev) >= 0) {
        return;
    }
    struct statfs sf;
    int r;
    do {
        r = fstatfs(fd, &sf);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
        dev_remember(st->st_dev, magic_is_local((unsigned long)sf.f_type));
    }
}

void
afc_fast_learn_path(int dir_fd, const char *path, const struct stat *st,
                    int nofollow)
{
    if ((nofollow && S_ISLNK(st->st_mode)) ||
        afc_fast_dev_local(st->st_dev) >= 0) {
        return;  /* (statfs would follow the link to another device) */
    }
    int fd;
    do {
        fd = openat(dir_fd, path, O_PATH | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return;
    }
    struct stat again;
    if (fstat(fd, &again) == 0 && again.st_dev == st->st_dev) {
        afc_fast_learn_fd(fd, st);
    }
    close(fd);
}

/* openat2 with RESOLVE_CACHED. Returns the descriptor, or -1 with errno;
 * a missing call or flag turns the fast path off for the process. */
static int
cached_open(int dir_fd, const char *path, int flags)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_CACHED;
    long fd;
    do {
        fd = syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0 && (errno == ENOSYS || errno == EINVAL || errno == E2BIG)) {
        /* EINVAL: a kernel before 5.12 (no RESOLVE_CACHED); the path and
         * flags cannot cause it, they were valid for O_PATH too. */
        int e = errno;
        atomic_store_explicit(&fast_on, 0, memory_order_relaxed);
        errno = e;
    }
    return (int)fd;
}

/* Steps 1-3: a lookup from the cache and the device check. Returns the
 * O_PATH descriptor (st_mode and st_dev in *kind, with the fields of want
 * the file system filled), -1 to use the pool, or -2 with *err set for a
 * lookup that failed from the cache. */
static int
cached_lookup(int dir_fd, const char *path, int nofollow, unsigned want,
              struct statx *kind, int *err)
{
    if (!afc_fast_available()) {
        return -1;
    }
    int p = cached_open(dir_fd, path, O_PATH | (nofollow ? O_NOFOLLOW : 0));
    if (p < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            *err = errno;
            return -2;
        }
        return -1;  /* EAGAIN: not cached; anything else: the pool says */
    }
    int r = statx(p, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC |
                             AT_SYMLINK_NOFOLLOW,
                  want, kind);
    if (r < 0 ||
        afc_fast_dev_local(makedev(kind->stx_dev_major,
                                   kind->stx_dev_minor)) != 1) {
        close(p);
        return -1;
    }
    return p;
}

/* The struct stat fstat gives, from a statx of the same inode with all
 * the basic fields. On the local file systems of magic_is_local getattr
 * fills both from the in-memory inode and ignores the sync flags, so the
 * fields are the same; this saves fstat's second trip to the kernel. */
static void
stat_from_statx(const struct statx *x, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
    st->st_ino = (ino_t)x->stx_ino;
    st->st_mode = (mode_t)x->stx_mode;
    st->st_nlink = (nlink_t)x->stx_nlink;
    st->st_uid = (uid_t)x->stx_uid;
    st->st_gid = (gid_t)x->stx_gid;
    st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
    st->st_size = (off_t)x->stx_size;
    st->st_blksize = (blksize_t)x->stx_blksize;
    st->st_blocks = (blkcnt_t)x->stx_blocks;
    st->st_atim.tv_sec = (time_t)x->stx_atime.tv_sec;
    st->st_atim.tv_nsec = (long)x->stx_atime.tv_nsec;
    st->st_mtim.tv_sec = (time_t)x->stx_mtime.tv_sec;
    st->st_mtim.tv_nsec = (long)x->stx_mtime.tv_nsec;
    st->st_ctim.tv_sec = (time_t)x->stx_ctime.tv_sec;
    st->st_ctim.tv_nsec = (long)x->stx_ctime.tv_nsec;
}

int
afc_fast_stat(int dir_fd, const char *path, int nofollow, struct stat *st,
              int *err)
{
    struct statx kind;
    *err = 0;
    int p = cached_lookup(dir_fd, path, nofollow, STATX_BASIC_STATS, &kind,
                          err);
    if (p == -2) {
        afc_fast_count(AFC_COUNT_STAT);
        return AFC_FAST_DONE;
    }
    if (p < 0) {
        return AFC_FAST_POOL;
    }
    int r = 0;
    if ((kind.stx_mask & STATX_BASIC_STATS) == STATX_BASIC_STATS) {
        stat_from_statx(&kind, st);  /* what fstat would copy out */
    }
    else {
        r = fstat(p, st);
    }
    close(p);  /* an O_PATH descriptor: nothing to release */
    if (r < 0) {
        return AFC_FAST_POOL;
    }
    afc_fast_count(AFC_COUNT_STAT);
    return AFC_FAST_DONE;
}

int
afc_fast_read_cached(int fd, char *buf, size_t cap, size_t size,
                     size_t *got)
{
    size_t n = 0;
    for (;;) {
        struct iovec iov = {buf + n, cap - n};
        ssize_t r;
        if (n == cap) {
            return 0;  /* the file grew past its fstat size */
        }
        if (n == size && n > 0) {
            /* All its fstat size: the read that would see EOF is left
             * out (bytes appended since are as if appended after). */
            *got = n;
            return 1;
        }
        do {
            r = preadv2(fd, &iov, 1, (off_t)n, RWF_NOWAIT);
        } while (r < 0 && errno == EINTR);
        if (r < 0) {
            return 0;  /* EAGAIN: not all cached */
        }
        if (r == 0) {
            *got = n;
            return 1;
        }
        n += (size_t)r;
    }
}

int
afc_fast_open(int dir_fd, const char *path, int flags, int *fd,
              struct stat *st, int64_t *pos)
{
    struct statx kind;
    int err = 0;
    int p = cached_lookup(dir_fd, path, (flags & O_NOFOLLOW) != 0,
                          STATX_TYPE, &kind, &err);
    if (p < 0) {
        return AFC_FAST_POOL;  /* errors too: the pool words them */
    }
    close(p);
    if (!S_ISREG(kind.stx_mode)) {
        return AFC_FAST_POOL;
    }
    int f = cached_open(dir_fd, path, flags);
    if (f < 0) {
        return AFC_FAST_POOL;
    }
    if (fstat(f, st) < 0 || !S_ISREG(st->st_mode)) {
        close(f);  /* a regular file opened read-only: close cannot wait */
        return AFC_FAST_POOL;
    }
    *pos = 0;  /* a new open file description, not O_APPEND */
    *fd = f;
    afc_fast_count(AFC_COUNT_OPEN);
    return AFC_FAST_DONE;
}

#else /* no openat2: every open and stat goes to the pool */

int
afc_fast_read_cached(int fd, char *buf, size_t cap, size_t size,
                     size_t *got)
{
    (void)fd, (void)buf, (void)cap, (void)size, (void)got;
    return 0;
}

int
afc_fast_available(void)
{
    return 0;
}

void
afc_fast_learn_fd(int fd, const struct stat *st)
{
    (void)fd, (void)st;
}

void
afc_fast_learn_path(int dir_fd, const char *path, const struct stat *st,
                    int nofollow)
{
    (void)dir_fd, (void)path, (void)st, (void)nofollow;
}

int
afc_fast_stat(int dir_fd, const char *path, int nofollow, struct stat *st,
              int *err)
{
    (void)dir_fd, (void)path, (void)nofollow, (void)st;
    *err = 0;
    return AFC_FAST_POOL;
}

int
afc_fast_open(int dir_fd, const char *path, int flags, int *fd,
              struct stat *st, int64_t *pos)
{
    (void)dir_fd, (void)path, (void)flags, (void)fd, (void)st, (void)pos;
    return AFC_FAST_POOL;
}

#endif
