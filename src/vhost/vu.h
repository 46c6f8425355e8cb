/* SPDX-License-Identifier: MIT */
/*
 * A vhost-user backend connection: reads the frontend's messages, keeps the
 * memory table and the virtqueues, and calls the device through vu_ops.
 * Generic over the device; the GPU glue lives in src/cli.
 */
#ifndef KR_VU_H
#define KR_VU_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/log.h"
#include "vring.h"
#include "vu_mem.h"

#define VU_MAX_QUEUES 2

struct vu_dev;

struct vu_ops {
	/* Device feature bits (the virtio-gpu ones). */
	uint64_t (*features)(void *user);
	/* The driver's accepted feature bits (all of them). */
	int (*set_features)(void *user, uint64_t features);
	int (*get_config)(void *user, uint32_t offset, void *buf, uint32_t len);
	int (*set_config)(void *user, uint32_t offset, const void *buf, uint32_t len);
	/* The memory table changed (regions are in dev->mem). */
	int (*mem_changed)(void *user, const struct vu_mem *mem);
	/* Queue q has work (after a kick, or when it starts). */
	void (*queue_kick)(void *user, unsigned q);
	/* Queue q started (true) or stopped (false): its kick fd is to be
	   watched or no longer. */
	void (*queue_state)(void *user, unsigned q, bool started);
	/* The frontend handed a display socket (ownership passes). */
	void (*gpu_socket)(void *user, int fd);
	/* Device reset: free all device state. */
	void (*reset)(void *user);
};

struct vu_msg;

struct vu_dev {
	int fd; /* owned: the connection, -1 when none */
	uint64_t features;
	uint64_t protocol_features;
	bool features_set;
	bool owner;
	struct vu_mem mem;
	struct vring vq[VU_MAX_QUEUES];
	bool vq_used_since_reset; /* a queue processed requests since reset */
	const struct vu_ops *cb;  /* borrowed: the device's callbacks */
	void *user;		  /* borrowed: handed to cb */
	struct logger *log;	  /* borrowed */
	uint64_t messages;	  /* received on this connection */
	int backend_fd;		  /* owned: backend -> frontend channel, -1 when none */
	/* Shared memory regions (VIRTIO shmid 1: the host-visible window).  Set
	   before attach; shmem_size 0 = none.  The protocol-feature bit of
	   SHMEM differs between frontends (QEMU's series 20, rust-vmm 21,
	   crosvm 22); shmem_bit < 0 disables it. */
	uint64_t shmem_size;
	int shmem_bit;
	/* owned: memory-table messages (SET_MEM_TABLE, ADD/REM_MEM_REG) taken
	   in and acknowledged while a backend request waited, in arrival order
	   (a SET_MEM_TABLE drops those before it: a table is complete);
	   applied by vu_dev_apply_deferred or the next vu_dev_dispatch, freed
	   by vu_dev_detach. */
	struct vu_msg *deferred[2 * VU_MAX_MEM_SLOTS + 2];
	unsigned n_deferred;
	/* The map-commit wait (see vu_dev_shmem_map): 1 once this frontend
	   announced a mapping in its memory table, -1 once it did not in time
	   (not waited for again), 0 before the first map. */
	int map_commit;
	struct {
		bool active, seen;
		dev_t dev;
		ino_t ino;
	} awaited; /* the file of the mapping being waited for */
};

void vu_dev_init(struct vu_dev *d, const struct vu_ops *ops, void *user, struct logger *log);
/* Adopt a connected socket (fd ownership passes). */
int vu_dev_attach(struct vu_dev *d, int fd);
/* Drop the connection: close fds, unmap memory, reset the device. */
void vu_dev_detach(struct vu_dev *d);
/*
 * Read and execute one message.  0 on success; a negative errno means the
 * connection must be dropped (-ECONNRESET: the frontend hung up cleanly,
 * anything else: a malformed message, logged).
 */
int vu_dev_dispatch(struct vu_dev *d);
/* Ask the frontend to map fd [fd_offset, +len) at shm_offset of region
   shmid, or to unmap that range.  Needs the SHMEM protocol feature and a
   backend channel (-EOPNOTSUPP otherwise); waits for the frontend's ack when
   REPLY_ACK was negotiated (-EIO when it refuses), at most
   VU_BACKEND_ACK_TIMEOUT_MS: a missing, late or malformed ack closes the
   channel (-ETIMEDOUT / -EPROTO) until the next SET_BACKEND_REQ_FD.  A
   memory-table message the frontend sends meanwhile is acknowledged at once
   and kept in d->deferred (the caller's request may still use the current
   table): call vu_dev_apply_deferred when that request is done.
   QEMU 11.1 acks a map before it commits the guest's new memory layout and
   announces the commit with a memory table holding the mapped file: after
   the ack vu_dev_shmem_map waits for that table (VU_MAP_COMMIT_FIRST_MS the
   first time, VU_MAP_COMMIT_MS once the frontend has shown it sends one),
   so the guest never touches the region before the frontend has mapped it
   (it would read zeros and lose writes).  A frontend that sends no table
   in time is not waited for again (a warning says so). */
int vu_dev_shmem_map(struct vu_dev *d, uint8_t shmid, int fd, uint64_t fd_offset,
		     uint64_t shm_offset, uint64_t len, bool writable);
int vu_dev_shmem_unmap(struct vu_dev *d, uint8_t shmid, uint64_t shm_offset, uint64_t len);
/* Apply the deferred memory-table messages (see vu_dev_shmem_map), if any.  0, or
   -errno when it was refused: the connection is then shut down (the loop
   sees the hang-up). */
int vu_dev_apply_deferred(struct vu_dev *d);
/* Features offered to the frontend (ring + vhost-user + device). */
uint64_t vu_dev_offered(const struct vu_dev *d);

#endif
