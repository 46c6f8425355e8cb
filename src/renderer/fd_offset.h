/* SPDX-License-Identifier: MIT */
#ifndef KR_RENDERER_FD_OFFSET_H
#define KR_RENDERER_FD_OFFSET_H

#include <stdint.h>

/* Where p..p+len, a shared mapping someone in this process made of fd's
   file, starts in that file: 0 and *off, or -ENOENT when no one mapping of
   fd's file (shared) covers the whole range.  Reads /proc/self/maps; p is
   not dereferenced.  For fds whose layout only their driver knows (Vulkan
   opaque fds): the driver's own mapping tells where the memory is. */
int fd_offset_of(int fd, const void *p, uint64_t len, uint64_t *off);

#endif
