/* The README's example: drive a kohlrabi device from a C program.
 * Build: cc example.c $(pkg-config --cflags --libs kohlrabi) */
#include <kohlrabi/kohlrabi.h>
#include <linux/virtio_gpu.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t shown; /* the first pixel the display received */

static void
on_update(void *user, const struct kr_scanout_info *info, const struct kr_rect *rect)
{
	(void)user;
	printf("scanout %u: %ux%u updated at %u,%u\n", info->scanout_id, rect->width, rect->height,
	       rect->x, rect->y);
	memcpy(&shown, info->pixels, 4);
}

/* One request: the request bytes in, the response bytes out. */
static uint32_t
send(struct kr_gpu *gpu, const void *req, size_t len)
{
	struct virtio_gpu_ctrl_hdr resp;
	struct iovec in = {(void *)req, len}, out = {&resp, sizeof(resp)};
	struct kr_chain chain = {.in = &in, .n_in = 1, .out = &out, .n_out = 1};
	size_t n;

	if (kr_gpu_ctrl(gpu, &chain, &n) < 0 || n < sizeof(resp))
		return 0;
	return resp.type;
}

int
main(void)
{
	struct kr_gpu_config cfg;
	struct kr_gpu_callbacks cbs = {.version = KR_GPU_CALLBACKS_VERSION,
				       .scanout_update = on_update};
	struct kr_gpu *gpu;
	enum { W = 64, H = 64 };

	kr_gpu_config_init(&cfg); /* 2d backend, one 1280x800 scanout */
	if (kr_gpu_create(&cfg, &cbs, NULL, &gpu) < 0)
		return 1;

	/* Guest RAM: here a plain buffer at guest physical address 1 MiB. */
	uint32_t *ram = calloc(W * H, 4);
	struct kr_mem_region region = {.gpa = 1 << 20, .size = W * H * 4, .host = ram};
	kr_gpu_set_memory(gpu, &region, 1);

	struct virtio_gpu_resource_create_2d create = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		.resource_id = 1,
		.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
		.width = W,
		.height = H,
	};
	struct {
		struct virtio_gpu_resource_attach_backing a;
		struct virtio_gpu_mem_entry e;
	} attach = {
		.a = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
		      .resource_id = 1,
		      .nr_entries = 1},
		.e = {.addr = 1 << 20, .length = W * H * 4},
	};
	struct virtio_gpu_transfer_to_host_2d transfer = {
		.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
		.r = {0, 0, W, H},
		.resource_id = 1,
	};
	struct virtio_gpu_set_scanout scanout = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT,
		.r = {0, 0, W, H},
		.scanout_id = 0,
		.resource_id = 1,
	};
	struct virtio_gpu_resource_flush flush = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH,
		.r = {0, 0, W, H},
		.resource_id = 1,
	};

	ram[0] = 0x00ff8000; /* the guest draws an orange pixel */
	int ok = send(gpu, &create, sizeof(create)) == VIRTIO_GPU_RESP_OK_NODATA &&
		 send(gpu, &attach, sizeof(attach)) == VIRTIO_GPU_RESP_OK_NODATA &&
		 send(gpu, &transfer, sizeof(transfer)) == VIRTIO_GPU_RESP_OK_NODATA &&
		 send(gpu, &scanout, sizeof(scanout)) == VIRTIO_GPU_RESP_OK_NODATA &&
		 send(gpu, &flush, sizeof(flush)) == VIRTIO_GPU_RESP_OK_NODATA;

	kr_gpu_destroy(gpu);
	free(ram);
	return ok && shown == 0x00ff8000 ? 0 : 1;
}
