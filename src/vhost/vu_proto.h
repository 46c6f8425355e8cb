/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user wire protocol (QEMU docs/interop/vhost-user.rst) and the
 * vhost-user-gpu display protocol (docs/interop/vhost-user-gpu.rst): message
 * numbers, flags and payload layouts, all little-endian and packed.
 */
#ifndef KR_VU_PROTO_H
#define KR_VU_PROTO_H

#include <stdint.h>

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_GPU_SET_SOCKET = 33,
	VU_RESET_DEVICE = 34,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
	VU_SET_STATUS = 39,
	VU_GET_STATUS = 40,
	VU_GET_SHMEM_CONFIG = 44,
};

/* Backend -> frontend requests on the backend channel (SET_BACKEND_REQ_FD). */
enum vu_backend_request {
	VU_BACKEND_SHMEM_MAP = 9,
	VU_BACKEND_SHMEM_UNMAP = 10,
};

#define VU_VERSION	     0x1u
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_FLAG_REPLY	     (1u << 2)
#define VU_FLAG_NEED_REPLY   (1u << 3)
#define VU_FLAGS_KNOWN	     (VU_FLAG_VERSION_MASK | VU_FLAG_REPLY | VU_FLAG_NEED_REPLY)

/* Virtio and vhost-user feature bits. */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX	    29
#define VU_F_PROTOCOL_FEATURES	    30
#define VIRTIO_F_VERSION_1	    32

/* Protocol feature bits. */
#define VU_PROTOCOL_F_MQ		  0
#define VU_PROTOCOL_F_REPLY_ACK		  3
#define VU_PROTOCOL_F_BACKEND_REQ	  5
#define VU_PROTOCOL_F_CONFIG		  9
#define VU_PROTOCOL_F_RESET_DEVICE	  13
#define VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VU_PROTOCOL_F_STATUS		  16

#define VU_MAX_REGIONS 8 /* in one SET_MEM_TABLE */
/* Regions of the memory table with CONFIGURE_MEM_SLOTS (ADD/REM_MEM_REG):
   QEMU maps each blob the guest maps as a region of its own. */
#define VU_MAX_MEM_SLOTS  64
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD	  (1u << 8)
#define VU_HDR_SIZE	  12
/* Largest payload we accept (GET/SET_CONFIG carry at most 256 bytes). */
#define VU_MAX_PAYLOAD 512

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr; /* the frontend's virtual address */
	uint64_t mmap_offset;
} __attribute__((packed));

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_region regions[VU_MAX_REGIONS];
} __attribute__((packed));

struct vu_mem_single {
	uint64_t padding;
	struct vu_region region;
} __attribute__((packed));

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
} __attribute__((packed));

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t payload[256];
} __attribute__((packed));

#define VU_CONFIG_HDR 12

/* VU_BACKEND_SHMEM_MAP / _UNMAP payload. */
struct vu_mmap {
	uint8_t shmid;
	uint8_t padding[7];
	uint64_t fd_offset;
	uint64_t shm_offset;
	uint64_t len;
	uint64_t flags; /* VU_MMAP_RW: read-write, else read-only */
} __attribute__((packed));

#define VU_MMAP_RW 1u

/* GET_SHMEM_CONFIG reply: region sizes indexed by shmid. */
#define VU_MAX_SHMEM 8
struct vu_shmem_config {
	uint32_t nregions;
	uint32_t padding;
	uint64_t memory_sizes[VU_MAX_SHMEM];
} __attribute__((packed));

/* vhost-user-gpu display protocol (backend -> frontend on the GPU socket). */
enum vugpu_request {
	VUGPU_GET_PROTOCOL_FEATURES = 1,
	VUGPU_SET_PROTOCOL_FEATURES = 2,
	VUGPU_GET_DISPLAY_INFO = 3,
	VUGPU_CURSOR_POS = 4,
	VUGPU_CURSOR_POS_HIDE = 5,
	VUGPU_CURSOR_UPDATE = 6,
	VUGPU_SCANOUT = 7,
	VUGPU_UPDATE = 8,
	VUGPU_DMABUF_SCANOUT = 9,
	VUGPU_DMABUF_UPDATE = 10,
	VUGPU_GET_EDID = 11,
	VUGPU_DMABUF_SCANOUT2 = 12,
};

#define VUGPU_FLAG_REPLY      0x4u
#define VUGPU_PROTOCOL_F_EDID 0

struct vugpu_cursor_pos {
	uint32_t scanout_id;
	uint32_t x;
	uint32_t y;
} __attribute__((packed));

struct vugpu_cursor_update {
	struct vugpu_cursor_pos pos;
	uint32_t hot_x;
	uint32_t hot_y;
	uint32_t data[64 * 64];
} __attribute__((packed));

struct vugpu_scanout {
	uint32_t scanout_id;
	uint32_t width;
	uint32_t height;
} __attribute__((packed));

/* Followed by width * height * 4 bytes of x8r8g8b8 pixels. */
struct vugpu_update {
	uint32_t scanout_id;
	uint32_t x;
	uint32_t y;
	uint32_t width;
	uint32_t height;
} __attribute__((packed));

#endif
