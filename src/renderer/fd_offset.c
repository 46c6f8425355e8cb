/* SPDX-License-Identifier: MIT */
/* Where a mapping lies in the file it maps (see fd_offset.h). */
#include "fd_offset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* An opaque fd is the Vulkan driver's own format (Mesa's lavapipe puts a
   header page before the memory), so where the memory starts can only be
   learnt from the mapping the driver itself made of it.  One line of
   /proc/self/maps: "start-end perms offset major:minor inode [path]". */
int
fd_offset_of(int fd, const void *p, uint64_t len, uint64_t *off)
{
	struct stat st;
	char *line = NULL;
	size_t cap = 0;
	int ret = -ENOENT;
	uintptr_t a = (uintptr_t)p;

	if (fstat(fd, &st) < 0)
		return -errno;
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	while (ret == -ENOENT && getline(&line, &cap, f) > 0) {
		unsigned long start, end, foff, ino;
		unsigned maj, mnr;
		char perms[5];
		if (sscanf(line, "%lx-%lx %4s %lx %x:%x %lu", &start, &end, perms, &foff, &maj,
			   &mnr, &ino) != 7)
			continue;
		if (a < start || a >= end || len > end - a)
			continue;
		ret = -ESRCH; /* the mapping holding p: is it fd's file, shared? */
		if (ino == st.st_ino && makedev(maj, mnr) == st.st_dev && perms[3] == 's') {
			*off = foff + (a - start);
			ret = 0;
		}
	}
	free(line);
	fclose(f);
	return ret == -ESRCH ? -ENOENT : ret;
}
