/* SPDX-License-Identifier: MIT */
#include "vring.h"

#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* avail: flags, idx, ring[num], used_event.  used: flags, idx, elems, avail_event. */
#define AVAIL_IDX(vr)	  (&(vr)->avail[1])
#define AVAIL_RING(vr, i) (&(vr)->avail[2 + (i)])
#define USED_EVENT(vr)	  (&(vr)->avail[2 + (vr)->num])
#define USED_IDX(vr)	  (&(vr)->used[1])
#define USED_ELEMS(vr)	  ((struct vring_used_elem *)(void *)&(vr)->used[2])
#define AVAIL_EVENT(vr)	  ((uint16_t *)(void *)&USED_ELEMS(vr)[(vr)->num])

/* Ring fields are little-endian (VERSION_1): every load and store converts. */
static uint16_t
load16(const uint16_t *p, int order)
{
	return le16toh(__atomic_load_n(p, order));
}

static void
store16(uint16_t *p, uint16_t v, int order)
{
	__atomic_store_n(p, htole16(v), order);
}

/* One copy of a guest descriptor, in host order. */
static void
desc_load(struct vring_desc *d, const struct vring_desc *guest)
{
	memcpy(d, guest, sizeof(*d));
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

void
vring_init(struct vring *vr)
{
	memset(vr, 0, sizeof(*vr));
	vr->kick_fd = -1;
	vr->call_fd = -1;
}

void
vring_reset(struct vring *vr)
{
	if (vr->kick_fd >= 0)
		close(vr->kick_fd);
	if (vr->call_fd >= 0)
		close(vr->call_fd);
	vring_init(vr);
}

int
vring_map(struct vring *vr, const struct vu_mem *mem)
{
	uint64_t n = vr->num;

	if (!n)
		return -EINVAL;
	if (vr->desc_ua % 16 || vr->avail_ua % 2 || vr->used_ua % 4)
		return -EINVAL;
	vr->desc = vu_mem_uva(mem, vr->desc_ua, 16 * n);
	vr->avail = vu_mem_uva(mem, vr->avail_ua, 6 + 2 * n);
	vr->used = vu_mem_uva(mem, vr->used_ua, 6 + 8 * n);
	if (!vr->desc || !vr->avail || !vr->used) {
		vr->desc = NULL;
		vr->avail = vr->used = NULL;
		return -EINVAL;
	}
	return 0;
}

bool
vring_has_avail(const struct vring *vr)
{
	return vr->avail && load16(AVAIL_IDX(vr), __ATOMIC_ACQUIRE) != vr->last_avail;
}

static int
broken(struct vring *vr)
{
	vr->broken = true;
	return -EIO;
}

/* Add one buffer's iovecs to req; readable ones may not follow writable ones. */
static int
add_buffer(struct vring_req *req, const struct vu_mem *mem, const struct vring_desc *d)
{
	size_t n = req->n_in + req->n_out;
	bool write = d->flags & VRING_DESC_F_WRITE;

	if (!write && req->n_out)
		return -EINVAL;
	if (d->len == 0)
		return 0;
	if (vu_mem_gpa_iov(mem, d->addr, d->len, req->iov, VRING_MAX_IOV, &n) < 0)
		return -EINVAL;
	if (write)
		req->n_out = n - req->n_in;
	else
		req->n_in = n;
	return 0;
}

/* Walk an indirect table (no nesting): its entries chain through next. */
static int
walk_indirect(struct vring_req *req, const struct vu_mem *mem, const struct vring_desc *outer)
{
	const struct vring_desc *table;
	uint32_t count = outer->len / sizeof(struct vring_desc);
	uint16_t i = 0;

	if (outer->len == 0 || outer->len % sizeof(struct vring_desc) || count > VRING_MAX_NUM)
		return -EINVAL;
	table = vu_mem_gpa(mem, outer->addr, outer->len);
	if (!table || (uintptr_t)table % 8)
		return -EINVAL;
	for (uint32_t steps = 0;; steps++) {
		struct vring_desc d;
		if (steps >= count || i >= count)
			return -EINVAL; /* loop or index outside the table */
		desc_load(&d, &table[i]);
		if (d.flags & VRING_DESC_F_INDIRECT)
			return -EINVAL;
		if (add_buffer(req, mem, &d) < 0)
			return -EINVAL;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

int
vring_pop(struct vring *vr, const struct vu_mem *mem, struct vring_req *req)
{
	uint16_t avail_idx, head, i;

	if (vr->broken || !vr->avail)
		return vr->broken ? -EIO : 0;
	avail_idx = load16(AVAIL_IDX(vr), __ATOMIC_ACQUIRE);
	if (avail_idx == vr->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - vr->last_avail) > vr->num)
		return broken(vr);
	head = load16(AVAIL_RING(vr, vr->last_avail % vr->num), __ATOMIC_RELAXED);
	if (head >= vr->num)
		return broken(vr);
	req->head = head;
	req->n_in = req->n_out = 0;
	i = head;
	for (uint32_t steps = 0;; steps++) {
		struct vring_desc d;
		if (steps >= vr->num || i >= vr->num)
			return broken(vr);
		desc_load(&d, &vr->desc[i]); /* one copy of guest data */
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!vr->indirect || (d.flags & VRING_DESC_F_NEXT) ||
			    walk_indirect(req, mem, &d) < 0)
				return broken(vr);
			break;
		}
		if (add_buffer(req, mem, &d) < 0)
			return broken(vr);
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		i = d.next;
	}
	vr->last_avail++;
	return 1;
}

void
vring_unpop(struct vring *vr)
{
	vr->last_avail--;
}

void
vring_push(struct vring *vr, uint16_t head, uint32_t len)
{
	struct vring_used_elem e = {htole32(head), htole32(len)};

	memcpy(&USED_ELEMS(vr)[vr->used_idx % vr->num], &e, sizeof(e));
	vr->used_idx++;
	vr->pending_used++;
}

void
vring_set_avail_event(struct vring *vr)
{
	if (vr->event_idx && vr->used)
		store16(AVAIL_EVENT(vr), vr->last_avail, __ATOMIC_RELAXED);
}

/* virtio's vring_need_event: did new_idx pass event since old? */
static bool
need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

void
vring_flush(struct vring *vr)
{
	bool notify;

	if (!vr->pending_used || !vr->used)
		return;
	store16(USED_IDX(vr), vr->used_idx, __ATOMIC_RELEASE);
	vr->pending_used = 0;
	/* The used index must be visible before we read the driver's wishes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vr->event_idx) {
		uint16_t old = vr->signalled_used;
		uint16_t event = load16(USED_EVENT(vr), __ATOMIC_RELAXED);
		notify = !vr->signalled_valid || need_event(event, vr->used_idx, old);
		vr->signalled_used = vr->used_idx;
		vr->signalled_valid = true;
	} else {
		notify = !(load16(&vr->avail[0], __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
	}
	if (notify && vr->call_fd >= 0) {
		uint64_t one = 1;
		ssize_t r = write(vr->call_fd, &one, sizeof(one));
		(void)r; /* a full eventfd counter already means "interrupt pending" */
	}
}
