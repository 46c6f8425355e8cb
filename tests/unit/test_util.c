/* SPDX-License-Identifier: MIT */
/* iovec helpers, the guest memory map, backings, the resource table, logging. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "guestmem.h"
#include "renderer/fd_offset.h"
#include "restab.h"
#include "util/iov.h"
#include "util/log.h"

static void
test_iov(void **state)
{
	uint8_t a[3] = {1, 2, 3}, b[1], c[5] = {4, 5, 6, 7, 8}, buf[16];
	struct iovec iov[] = {{a, 3}, {b, 0}, {c, 5}};

	(void)state;
	assert_int_equal(iov_size(iov, 3), 8);
	assert_int_equal(iov_to_buf(iov, 3, 0, buf, 16), 8);
	assert_memory_equal(buf, ((uint8_t[]){1, 2, 3, 4, 5, 6, 7, 8}), 8);
	assert_int_equal(iov_to_buf(iov, 3, 2, buf, 3), 3);
	assert_memory_equal(buf, ((uint8_t[]){3, 4, 5}), 3);
	assert_int_equal(iov_to_buf(iov, 3, 8, buf, 3), 0);
	assert_int_equal(iov_to_buf(iov, 3, 100, buf, 3), 0);
	uint8_t src[4] = {9, 9, 9, 9};
	assert_int_equal(iov_from_buf(iov, 3, 1, src, 4), 4);
	assert_memory_equal(a, ((uint8_t[]){1, 9, 9}), 3);
	assert_memory_equal(c, ((uint8_t[]){9, 9, 6, 7, 8}), 5);
	assert_int_equal(iov_from_buf(iov, 3, 6, src, 4), 2);
	assert_memory_equal(c, ((uint8_t[]){9, 9, 6, 9, 9}), 5);
	struct iovec huge[] = {{a, SIZE_MAX}, {b, 2}};
	assert_int_equal(iov_size(huge, 2), SIZE_MAX);

	struct iov_cursor cur;
	iov_cursor_init(&cur, iov, 3);
	assert_true(iov_cursor_read(&cur, 0, buf, 2));
	assert_memory_equal(buf, ((uint8_t[]){1, 9}), 2);
	assert_true(iov_cursor_read(&cur, 2, buf, 3));
	assert_memory_equal(buf, ((uint8_t[]){9, 9, 9}), 3);
	assert_true(iov_cursor_read(&cur, 5, buf, 3));
	assert_memory_equal(buf, ((uint8_t[]){6, 9, 9}), 3);
	assert_false(iov_cursor_read(&cur, 7, buf, 2));
	assert_false(iov_cursor_read(&cur, 8, buf, 1));
	assert_true(iov_cursor_read(&cur, 1, buf, 1)); /* backwards restarts */
	assert_int_equal(buf[0], 9);
}

static void
test_guestmem(void **state)
{
	struct guest_mem m = {0};
	uint8_t *mem = malloc(0x3000);
	struct iovec out[4];
	size_t n;

	(void)state;
	struct kr_mem_region r[] = {
		{0x2000, 0x1000, mem + 0x1000},
		{0x1000, 0x1000, mem},
		{0x10000, 0x1000, mem + 0x2000},
	};
	assert_int_equal(guestmem_set(&m, r, 3), 0);
	assert_int_equal(m.regions[0].gpa, 0x1000); /* sorted */
	assert_int_equal(guestmem_translate(&m, 0x1800, 0x1000, out, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_ptr_equal(out[0].iov_base, mem + 0x800);
	assert_int_equal(out[0].iov_len, 0x800);
	assert_ptr_equal(out[1].iov_base, mem + 0x1000);
	assert_int_equal(out[1].iov_len, 0x800);
	assert_int_equal(guestmem_translate(&m, 0x2fff, 2, out, 4, &n), -EFAULT);
	assert_int_equal(guestmem_translate(&m, 0xfff, 2, out, 4, &n), -EFAULT);
	assert_int_equal(guestmem_translate(&m, 0x10fff, 1, out, 4, &n), 0);
	assert_int_equal(guestmem_translate(&m, 0x10fff, 2, out, 4, &n), -EFAULT);
	assert_int_equal(guestmem_translate(&m, 0x1000, 0, out, 4, &n), -EINVAL);
	assert_int_equal(guestmem_translate(&m, UINT64_MAX, 2, out, 4, &n), -EINVAL);
	assert_int_equal(guestmem_translate(&m, 0x1000, 0x2000, NULL, 0, &n), 0);
	assert_int_equal(n, 2);
	/* Output bounded by max even when more pieces are needed. */
	assert_int_equal(guestmem_translate(&m, 0x1000, 0x2000, out, 1, &n), 0);
	assert_int_equal(n, 2);

	struct kr_mem_region bad_overlap[] = {{0x1000, 0x1001, mem}, {0x2000, 0x10, mem}};
	assert_int_equal(guestmem_set(&m, bad_overlap, 2), -EINVAL);
	struct kr_mem_region bad_null = {0x1000, 0x10, NULL};
	assert_int_equal(guestmem_set(&m, &bad_null, 1), -EINVAL);
	struct kr_mem_region bad_wrap = {UINT64_MAX, 2, mem};
	assert_int_equal(guestmem_set(&m, &bad_wrap, 1), -EINVAL);
	struct kr_mem_region top = {UINT64_MAX - 0xfff, 0x1000, mem}; /* ends at 2^64 - 1 */
	assert_int_equal(m.n, 3); /* failures left the old map */
	assert_int_equal(guestmem_set(&m, &top, 1), 0);
	assert_int_equal(guestmem_translate(&m, UINT64_MAX, 1, out, 4, &n), 0);
	assert_int_equal(guestmem_set(&m, NULL, 0), 0);
	assert_int_equal(guestmem_translate(&m, 0x1000, 1, out, 4, &n), -EFAULT);
	guestmem_finish(&m);
	free(mem);
}

static void
test_backing(void **state)
{
	struct guest_mem m = {0};
	uint8_t *mem = malloc(0x2000);
	struct backing *b = NULL;

	(void)state;
	struct kr_mem_region r = {0x1000, 0x2000, mem};
	assert_int_equal(guestmem_set(&m, &r, 1), 0);
	struct mem_entry e[] = {{0x1000, 0x100}, {0x2f00, 0x100}};
	assert_int_equal(backing_create(&m, e, 2, &b), 0);
	assert_int_equal(b->size, 0x200);
	assert_int_equal(b->n_iov, 2);
	assert_ptr_equal(b->iov[1].iov_base, mem + 0x1f00);
	/* The map moves: remap follows; the map shrinks: unmapped. */
	uint8_t *mem2 = malloc(0x2000);
	struct kr_mem_region r2 = {0x1000, 0x2000, mem2};
	assert_int_equal(guestmem_set(&m, &r2, 1), 0);
	assert_int_equal(backing_remap(b, &m), 0);
	assert_ptr_equal(b->iov[0].iov_base, mem2);
	struct kr_mem_region r3 = {0x1000, 0x1000, mem2};
	assert_int_equal(guestmem_set(&m, &r3, 1), 0);
	assert_int_equal(backing_remap(b, &m), -EFAULT);
	assert_null(b->iov);
	backing_destroy(b);
	backing_destroy(NULL);

	struct mem_entry zero[] = {{0x1000, 0}};
	b = NULL;
	assert_int_equal(backing_create(&m, zero, 1, &b), -EINVAL);
	assert_null(b);
	struct mem_entry wrap[] = {{UINT64_MAX - 10, 100}};
	assert_int_equal(backing_create(&m, wrap, 1, &b), -EINVAL);
	struct mem_entry out[] = {{0x1000, 0x10}, {0x5000, 0x10}};
	assert_int_equal(backing_create(&m, out, 2, &b), -EFAULT);
	assert_int_equal(backing_create(&m, out, 0, &b), -EINVAL);
	assert_int_equal(backing_create(&m, out, BACKING_MAX_ENTRIES + 1, &b), -EINVAL);
	assert_null(b);
	guestmem_finish(&m);
	free(mem);
	free(mem2);
}

static void
test_restab(void **state)
{
	struct restab t;
	const uint32_t n = 5000;
	struct resource *res = calloc(n, sizeof(*res)), *r;

	(void)state;
	assert_int_equal(restab_init(&t), 0);
	assert_null(restab_first(&t));
	for (uint32_t i = 0; i < n; i++) {
		res[i].id = i * 2654435761u + 1; /* spread, including large ids */
		assert_int_equal(restab_insert(&t, &res[i]), 0);
	}
	assert_int_equal(t.count, n);
	assert_true(t.n_buckets >= n);
	for (uint32_t i = 0; i < n; i++)
		assert_ptr_equal(restab_lookup(&t, res[i].id), &res[i]);
	struct resource dup = {.id = res[7].id};
	assert_int_equal(restab_insert(&t, &dup), -EEXIST);
	assert_null(restab_lookup(&t, 2));
	uint32_t seen = 0;
	restab_for_each(&t, r) seen++;
	assert_int_equal(seen, n);
	for (uint32_t i = 0; i < n; i += 2)
		assert_ptr_equal(restab_remove(&t, res[i].id), &res[i]);
	assert_null(restab_remove(&t, res[0].id));
	assert_int_equal(t.count, n / 2);
	for (uint32_t i = 0; i < n; i++)
		assert_ptr_equal(restab_lookup(&t, res[i].id), i % 2 ? &res[i] : NULL);
	while ((r = restab_first(&t)))
		restab_remove(&t, r->id);
	assert_int_equal(t.count, 0);
	restab_finish(&t);
	free(res);
}

static unsigned log_count;
static enum kr_log_level log_last_level;
static char log_last[300];

static void
log_fn(void *user, enum kr_log_level level, const char *msg)
{
	(void)user;
	log_count++;
	log_last_level = level;
	strncpy(log_last, msg, sizeof(log_last) - 1);
}

static void
test_log(void **state)
{
	struct logger lg;
	char longer[1000];

	(void)state;
	logger_init(&lg, KR_LOG_INFO, log_fn, NULL);
	log_count = 0;
	log_msg(&lg, KR_LOG_DEBUG, "hidden");
	assert_int_equal(log_count, 0);
	log_msg(&lg, KR_LOG_INFO, "shown %d", 5);
	assert_int_equal(log_count, 1);
	assert_string_equal(log_last, "shown 5");
	/* Guest messages: a burst, then silence; truncated to a bounded length. */
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = 0;
	for (int i = 0; i < 100; i++)
		log_bug_guest(&lg, "bad %s", longer);
	assert_int_equal(log_count, 1 + LOG_GUEST_BURST);
	assert_int_equal(log_last_level, KR_LOG_WARN);
	assert_true(strlen(log_last) < 256);
	assert_memory_equal(log_last, "guest: bad xxx", 14);
	assert_int_equal(lg.suppressed, 100 - LOG_GUEST_BURST);
	/* After the window the count of suppressed messages is reported. */
	lg.window_start_ns -= LOG_GUEST_WINDOW_NS;
	log_bug_guest(&lg, "again");
	assert_int_equal(log_count, 3 + LOG_GUEST_BURST);
	assert_string_equal(log_last, "guest: again");
	/* Level ERROR drops guest warnings entirely. */
	logger_init(&lg, KR_LOG_ERROR, log_fn, NULL);
	log_bug_guest(&lg, "dropped");
	assert_int_equal(log_count, 3 + LOG_GUEST_BURST);
}

/* fd_offset_of() finds where a mapping made by someone else lies in the fd
   (Venus's opaque fds: lavapipe maps its memory one page into the file). */
static void
test_fd_offset(void **state)
{
	uint64_t off = 0;
	int fd = memfd_create("kr-test", MFD_CLOEXEC),
	    other = memfd_create("kr-other", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0 && other >= 0);
	assert_int_equal(ftruncate(fd, 4 * 4096), 0);
	assert_int_equal(ftruncate(other, 4 * 4096), 0);
	uint8_t *m = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 4096);
	assert_true(m != MAP_FAILED);
	assert_int_equal(fd_offset_of(fd, m, 2 * 4096, &off), 0);
	assert_int_equal(off, 4096);
	assert_int_equal(fd_offset_of(fd, m + 100, 4096, &off), 0);
	assert_int_equal(off, 4196);
	/* More than the mapping holds, another file's fd, an address nothing maps. */
	assert_int_equal(fd_offset_of(fd, m, 3 * 4096, &off), -ENOENT);
	assert_int_equal(fd_offset_of(other, m, 4096, &off), -ENOENT);
	assert_int_equal(munmap(m, 2 * 4096), 0);
	assert_int_equal(fd_offset_of(fd, m, 4096, &off), -ENOENT);
	/* A private mapping is not the memory the fd shares. */
	m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(fd_offset_of(fd, m, 4096, &off), -ENOENT);
	munmap(m, 4096);
	assert_int_equal(fd_offset_of(-1, &off, 1, &off), -EBADF);
	close(fd);
	close(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iov),	cmocka_unit_test(test_guestmem),
		cmocka_unit_test(test_backing), cmocka_unit_test(test_restab),
		cmocka_unit_test(test_log),	cmocka_unit_test(test_fd_offset),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
