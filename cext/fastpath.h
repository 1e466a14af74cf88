/* Opens and stats done on the loop thread when they cannot block: plain C,
 * no Python.h (fastpath.c). */
#ifndef AFC_FASTPATH_H
#define AFC_FASTPATH_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* What a fast-path attempt came to. */
enum afc_fast_result {
    AFC_FAST_POOL = 0,   /* not tried, or could block: use the pool */
    AFC_FAST_DONE = 1,   /* done here (see the out arguments) */
};

/* open(path, flags) as the pool's open job does it (O_CLOEXEC, fstat,
 * the position: 0, as lseek(0, SEEK_CUR) says of a new open), for a read-only open of a regular file whose path
 * the kernel has cached, on a local file system. DONE: *fd, *st, *pos set.
 * Errors are never reported from here (the pool reproduces them). */
int afc_fast_open(int dir_fd, const char *path, int flags, int *fd,
                  struct stat *st, int64_t *pos);

/* fstatat(dir_fd, path, st, nofollow ? AT_SYMLINK_NOFOLLOW : 0) for a
 * cached path on a local file system. DONE: *err is 0 and *st set, or
 * *err is ENOENT or ENOTDIR (the lookup's answer from the cache). */
int afc_fast_stat(int dir_fd, const char *path, int nofollow,
                  struct stat *st, int *err);

/* Whether st_dev is known to be a local file system whose open, getattr
 * and close of a read-only file do not wait (1), known not to be (0), or
 * not known yet (-1). */
int afc_fast_dev_local(dev_t dev);

/* Pool side: learn the file system of a device from a descriptor on it
 * (fstatfs) or a path whose stat gave st (statfs); no-ops once known.
 * These may block: workers only. */
void afc_fast_learn_fd(int fd, const struct stat *st);
void afc_fast_learn_path(int dir_fd, const char *path, const struct stat *st,
                         int nofollow);

/* Pool side of read_bytes: open(path, O_RDONLY), fstat (a directory is
 * EISDIR, as io says), read to EOF into a malloc'd *out (sized by fstat,
 * grown if the file grows), close. Returns 0 or an errno. */
int afc_read_whole(const char *path, char **out, size_t *outlen);

/* Loop side: read fd from offset 0 into buf[0:cap] with RWF_NOWAIT until
 * EOF, or until size bytes (its fstat size; 0: to EOF) are in. Returns 1
 * with *got set when EOF or size was reached within cap; 0 when the data
 * is not all cached or does not fit (the pool must do it). */
int afc_fast_read_cached(int fd, char *buf, size_t cap, size_t size,
                         size_t *got);

/* Counters for the tests (relaxed) of what was done on the loop thread. */
enum { AFC_COUNT_OPEN, AFC_COUNT_STAT, AFC_COUNT_CLOSE, AFC_COUNT_READ,
       AFC_COUNTS };
void afc_fast_counts(uint64_t out[AFC_COUNTS]);
void afc_fast_count(int which);

/* 0 after openat2 or RESOLVE_CACHED turned out to be missing (ENOSYS,
 * EINVAL, E2BIG), and always on a build without openat2. */
int afc_fast_available(void);

#endif
