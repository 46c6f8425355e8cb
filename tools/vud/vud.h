/* SPDX-License-Identifier: MIT */
/*
 * vud: a vhost-user-gpu *frontend* for tests, benchmarks and fuzzing.  It
 * plays QEMU's part against any vhost-user-gpu backend: guest memory in a
 * memfd, split virtqueues set up through the real socket and eventfds, and a
 * display thread that answers the backend's queries and records what it
 * shows.
 */
#ifndef KR_VUD_H
#define KR_VUD_H

#include <linux/virtio_gpu.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VUD_QUEUE_SIZE 64
#define VUD_GPA_BASE   0x100000ull
#define VUD_MAX_CURSOR 4

/* What the display thread saw. */
struct vud_display {
	pthread_mutex_t lock;
	uint32_t width, height; /* last SCANOUT */
	uint32_t *fb;		/* owned: x8r8g8b8 frame built from UPDATEs */
	unsigned n_scanout, n_update, n_cursor_update, n_cursor_pos, n_cursor_hide;
	unsigned n_queries;
	uint32_t cursor_x, cursor_y, cursor_hot_x, cursor_hot_y;
	uint32_t cursor[64 * 64];
	uint32_t mode_w, mode_h; /* what we answer to GET_DISPLAY_INFO */
	int lie;		 /* enum vud_display_lie: how we answer it */
	bool closed;		 /* the backend closed the display socket */
	bool paused;		 /* stop reading the socket (a frozen frontend) */
};

/* How the display answers GET_DISPLAY_INFO (vud_display.lie, under its lock). */
enum vud_display_lie {
	VUD_DISPLAY_TRUTH,	 /* mode_w x mode_h, enabled */
	VUD_DISPLAY_ZERO,	 /* enabled, 0x0 */
	VUD_DISPLAY_HUGE,	 /* enabled, 65535x65535 */
	VUD_DISPLAY_SHORT_REPLY, /* a reply 4 bytes short of the structure */
};

/* How our end of the backend channel answers SHMEM_MAP/UNMAP
   (vud.backend_peer, an atomic). */
enum vud_backend_peer {
	VUD_PEER_ANSWER,	 /* the ack of the request */
	VUD_PEER_WRONG_REQUEST,	 /* an ack carrying another request's code */
	VUD_PEER_OVERSIZED,	 /* an ack of 16 payload bytes instead of 8 */
	VUD_PEER_LATE,		 /* the right ack, 1.5 s late */
	VUD_PEER_SILENT,	 /* reads nothing, answers nothing; kept open by
				    vud_disconnect until vud_stop */
	VUD_PEER_MEMTABLE_FIRST, /* as QEMU 11.1: a SET_MEM_TABLE on the front
				    channel (its reply awaited) before the ack */
	VUD_PEER_COMMIT_AFTER,	 /* as QEMU 11.1 too: the ack, then (50 ms
				    later) the memory-table message that adds
				    the mapped region (ADD_MEM_REG, or
				    SET_MEM_TABLE without mem slots) or
				    removes it; n_map_commits counts the adds */
};

struct vud_ring {
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t num; /* entries the backend was told (SET_VRING_NUM) */
	uint16_t avail_idx, used_seen;
	uint16_t next_desc; /* bump allocator over descriptors */
	int kick, call;	    /* owned eventfds */
};

struct vud {
	int sock;	/* owned: vhost-user connection */
	int display_fd; /* owned: our end of the display socket */
	pthread_t display_thread;
	bool display_running;
	struct vud_display disp;
	int memfd;    /* owned */
	uint8_t *mem; /* owned mapping */
	size_t mem_size;
	uint64_t heap; /* bump allocator for buffers (gpa) */
	uint64_t features, protocol_features;
	struct vud_ring q[2];
	pid_t child;	 /* a backend we started, 0 if none (or reaped by vud_wait_exit) */
	int exit_status; /* what vud_wait_exit reaped, when reaped */
	bool reaped;
	bool stopped; /* vud_stop() ran: a second call does nothing */
	/* The frontend user address of guest memory that SET_MEM_TABLE and
	   SET_VRING_ADDR announce: set uaddr_set and uaddr before vud_start to
	   announce another than the real mapping's (the backend never
	   dereferences it). */
	bool uaddr_set;
	uint64_t uaddr;
	/* Negotiate CONFIGURE_MEM_SLOTS (before vud_start): the memory comes as
	   ADD_MEM_REG, as QEMU sends it when the backend offers the feature. */
	bool want_mem_slots;
	/* Host-visible region (VIRTIO shmid 1): set want_shmem and shmem_bit
	   (the SHMEM protocol-feature bit) before vud_start. */
	bool want_shmem;
	unsigned shmem_bit;
	uint8_t *shmem; /* owned: the region, PROT_NONE where nothing is mapped */
	uint64_t shmem_size;
	int backend_fd;	  /* owned: our end of the backend channel, -1 when none */
	int backend_held; /* owned: a silent channel kept open past vud_disconnect, or -1 */
	pthread_t backend_thread;
	bool backend_running, backend_stop;
	unsigned n_shmem_map, n_shmem_unmap, n_shmem_refused; /* atomics */
	unsigned n_map_commits; /* atomic: VUD_PEER_COMMIT_AFTER's adds, counted as they go out */
	unsigned n_backend_req; /* atomic: requests read on the backend channel */
	bool shmem_refuse;	/* answer MAP requests with failure */
	int backend_peer;	/* atomic: enum vud_backend_peer */
	char sock_dir[64];	/* temp dir of its socket, removed by vud_stop */
	/* VUD_SPAWN_LOG: the backend's stderr, copied to ours and to log_path. */
	int log_fd; /* owned: read end of the backend's stderr, -1 when none */
	pthread_t log_thread;
	bool log_running;
	char log_path[96];
};

/* One request of a batch (vud_submit / vud_collect). */
struct vud_req {
	const void *req; /* borrowed: request bytes, copied into guest memory */
	size_t len;
	void *resp; /* borrowed, may be NULL: gets the response */
	size_t cap;
	int used;	   /* out: the used length, or -ETIMEDOUT */
	uint64_t resp_gpa; /* private */
};

/* Start a backend: argv with "{socket}" replaced by a fresh socket path.
   Waits for the socket and connects.  -errno on failure. */
int vud_spawn(struct vud *v, char *const argv[]);
/* vud_spawn with flags: VUD_SPAWN_LOG tees the backend's stderr into a file
   (v->log_path, removed by vud_stop) besides the test's stderr. */
#define VUD_SPAWN_LOG 1u
int vud_spawn_flags(struct vud *v, char *const argv[], unsigned flags);
/* Wait until the backend's stderr (VUD_SPAWN_LOG) holds n complete lines
   containing text. */
bool vud_wait_log(struct vud *v, const char *text, unsigned n, int timeout_ms);
/* Wait for the spawned backend to exit: its exit status (128 + signal when
   killed), or -ETIMEDOUT.  vud_stop then returns the same status. */
int vud_wait_exit(struct vud *v, int timeout_ms);
/* Connect to an existing backend socket. */
int vud_connect(struct vud *v, const char *path);
/* Negotiate features (want = device feature bits wanted), map memory (mem_mb
   MiB), set up both queues and the display socket, as QEMU does at
   DRIVER_OK.  Returns 0 or -errno. */
int vud_start(struct vud *v, uint64_t want, unsigned mem_mb);
/* Close everything; wait for a spawned backend and return its exit status
   (or -1). */
int vud_stop(struct vud *v);
/* Hang up: close the connection and everything set up on it (memory, rings,
   display and backend channels), keeping the spawned backend. */
void vud_disconnect(struct vud *v);
/* Hang up and connect again to the same socket (a backend run with
   --reconnect); vud_start sets the new session up. */
int vud_reconnect(struct vud *v);

/* Send the memory table again (same memfd, same addresses: the backend
   unmaps the old mapping and maps anew), acknowledged.  0 or -errno. */
int vud_set_mem_table(struct vud *v);
/* Hand the backend a new backend channel (SET_BACKEND_REQ_FD), ending ours:
   0 or -errno. */
int vud_new_backend_channel(struct vud *v);

/* CLOCK_MONOTONIC in ms. */
int64_t vud_now_ms(void);

void *vud_host(struct vud *v, uint64_t gpa);
/* The frontend user address of guest address gpa (see vud.uaddr). */
uint64_t vud_uaddr(const struct vud *v, uint64_t gpa);
uint64_t vud_alloc(struct vud *v, size_t size);
void vud_reset_heap(struct vud *v);

/* One control (q 0) or cursor (q 1) request: request bytes are copied into
   guest memory; the response lands in resp.  Returns the used length, or
   -ETIMEDOUT when the backend did not answer within timeout_ms. */
int vud_request(struct vud *v, unsigned q, const void *req, size_t len, void *resp, size_t cap,
		int timeout_ms);
/* A batch: publish n requests on queue q (n <= its size / 2) with one kick,
   so that the backend takes them all before answering any. */
int vud_submit(struct vud *v, unsigned q, struct vud_req *r, unsigned n);
/* Wait for the n used entries of a batch (r[i].used, r[i].resp): 0, or
   -ETIMEDOUT when not all came within timeout_ms. */
int vud_collect(struct vud *v, unsigned q, struct vud_req *r, unsigned n, int timeout_ms);
/* Both. */
int vud_requests(struct vud *v, unsigned q, struct vud_req *r, unsigned n, int timeout_ms);
/* Convenience: a control request answered by a header; returns its type. */
uint32_t vud_cmd(struct vud *v, const void *req, size_t len);

/* Raw vhost-user message (for hostile tests).  fds may be NULL. */
int vud_send_raw(struct vud *v, uint32_t request, uint32_t flags, const void *payload,
		 uint32_t size, const int *fds, unsigned n_fds);
/* A message acknowledged through REPLY_ACK: 0, -EIO when the backend
   refused it, or -errno. */
int vud_msg_ack(struct vud *v, uint32_t request, const void *payload, uint32_t size, const int *fds,
		unsigned n_fds);
/* Read a reply of exactly size bytes; -errno on failure/EOF. */
int vud_recv_reply(struct vud *v, uint32_t request, void *payload, uint32_t size);
/* Is the backend's end of the connection closed (EOF within timeout)? */
bool vud_peer_closed(struct vud *v, int timeout_ms);

/* A control request answered by a bare header: 0 when OK_NODATA, else
   -EPROTO (said on stderr). */
int vud_cmd_ok(struct vud *v, const void *req, size_t len);
/* Stop queue q (GET_VRING_BASE); *last_avail (may be NULL) gets the index
   the backend reached. */
int vud_stop_queue(struct vud *v, uint32_t q, uint32_t *last_avail);
/* The spawned backend's resident set (KiB) and open fds; -1 if unknown. */
long vud_backend_rss_kib(const struct vud *v);
long vud_backend_fds(const struct vud *v);

/* Driver helpers: one command each, returning the response type. */
uint32_t vud_create_2d(struct vud *v, uint32_t id, uint32_t format, uint32_t w, uint32_t h);
/* ATTACH_BACKING of one entry: len bytes at gpa. */
uint32_t vud_attach(struct vud *v, uint32_t id, uint64_t gpa, uint32_t len);
/* CTX_CREATE of ctx (context_init: the capset id, CONTEXT_INIT). */
uint32_t vud_ctx_create(struct vud *v, uint32_t ctx, uint32_t context_init);
/* A mappable HOST3D blob of ctx. */
uint32_t vud_blob_host3d(struct vud *v, uint32_t ctx, uint32_t id, uint64_t blob_id, uint64_t size);

/* Wait until the display has seen at least n updates. */
bool vud_wait_updates(struct vud *v, unsigned n, int timeout_ms);
/* Wait until a counter of v->disp (read under its lock) reaches n. */
bool vud_wait_count(struct vud *v, const unsigned *counter, unsigned n, int timeout_ms);
/* Wait until the displayed frame (x8r8g8b8) equals want (w x h). */
bool vud_wait_frame(struct vud *v, const uint32_t *want, uint32_t w, uint32_t h, int timeout_ms);
void vud_pause_display(struct vud *v, bool paused);

/* Raw access for ring tests. */
struct vring_desc_raw {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));
struct vring_desc_raw *vud_desc(struct vud *v, unsigned q);
/* Publish head on the available ring and kick. */
void vud_publish(struct vud *v, unsigned q, uint16_t head);
void vud_kick(struct vud *v, unsigned q);
/* The used index the backend wrote. */
uint16_t vud_used_idx(struct vud *v, unsigned q);
/* Wait for a used entry; returns its length or -ETIMEDOUT. */
int vud_wait_used(struct vud *v, unsigned q, int timeout_ms, uint32_t *id);

#endif
