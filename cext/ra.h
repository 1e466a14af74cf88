/* Adaptive read-ahead of the buffered reader.
 *
 * A refill reads at most a window of bytes, not always the whole buffer:
 * a seek that leaves the buffer shrinks the window to AFC_RA_SEEK, so a
 * random reader (seek, read 4 KiB) reads about what it asked for (a copy
 * of 4 KiB from the page cache instead of a buffer's worth); each refill
 * that follows without a seek doubles it, until it covers the buffer,
 * from when on a sequential reader refills as before (window 0: no limit).
 * The kernel's own read-ahead grows its window the same way. A file
 * starts at 0: reading from the start is the common sequential case.
 * Loop thread only, like the rest of the file's buffer state. */
#ifndef AFC_RA_H
#define AFC_RA_H

#include <stddef.h>

#define AFC_RA_SEEK 4096

/* The length of the next refill into `room` bytes of buffer when at least
 * `need` are wanted; advances the window *ra. */
static inline size_t
afc_ra_next(Py_ssize_t *ra, size_t room, size_t need)
{
    if (*ra <= 0) {
        return room;
    }
    size_t len = (size_t)*ra > need ? (size_t)*ra : need;
    if (len >= room) {
        *ra = 0;
        return room;
    }
    *ra = (Py_ssize_t)len * 2;
    return len;
}

#endif
