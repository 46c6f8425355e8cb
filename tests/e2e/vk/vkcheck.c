/* SPDX-License-Identifier: MIT */
/*
 * vkcheck: a guest Vulkan program that proves a Vulkan device computes and
 * renders correctly into memory the guest reads directly (HOST_VISIBLE |
 * HOST_COHERENT: on virtio-gpu Venus, a host blob mapped into the device's
 * host-visible region).
 *
 *   vkcheck [--bytes N] [--frames N] [--size WxH]
 *
 * 1. compute: a shader writes (i * 2654435761) ^ seed to every 32-bit word
 *    of an N-byte host-visible buffer (default 1 MiB); every word is checked.
 * 2. frames: N times (default 60) a render pass clears a WxH RGBA8 image
 *    (default 256x256) and draws a rectangle, both in colours that change
 *    every frame; the image is copied into a host-visible buffer and every
 *    byte is checked against the image computed here.
 *
 * Prints one line:
 *   VKCHECK device=<name> driver=<name> api=<x.y.z> compute_bytes=N
 *   compute_mismatches=N frames=N frame_bytes=N frame_mismatches=N fps=F
 * and exits 0 only when nothing mismatched.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vulkan/vulkan.h>

#include "fill.comp.h"
#include "rect.frag.h"
#include "rect.vert.h"

#define FMT VK_FORMAT_R8G8B8A8_UNORM

struct buf {
	VkBuffer buf;
	VkDeviceMemory mem;
	void *map;
	VkDeviceSize size;
};

struct vk {
	VkInstance inst;
	VkPhysicalDevice pdev;
	VkDevice dev;
	VkQueue queue;
	uint32_t family;
	VkCommandPool pool;
	VkCommandBuffer cmd;
	VkFence fence;
	VkPhysicalDeviceMemoryProperties mem;
};

static _Noreturn void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("vkcheck: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

#define VK(call)                                                                                   \
	do {                                                                                       \
		VkResult r_ = (call);                                                              \
		if (r_ != VK_SUCCESS)                                                              \
			die("%s failed: %d", #call, (int)r_);                                      \
	} while (0)

static uint32_t
mem_type(const struct vk *v, uint32_t bits, VkMemoryPropertyFlags want)
{
	for (uint32_t i = 0; i < v->mem.memoryTypeCount; i++) {
		if ((bits & (1u << i)) && (v->mem.memoryTypes[i].propertyFlags & want) == want)
			return i;
	}
	die("no memory type with properties 0x%x", (unsigned)want);
}

static void
open_device(struct vk *v, char *name, size_t name_len, char *driver, size_t driver_len,
	    uint32_t *api)
{
	VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
				 .pApplicationName = "vkcheck",
				 .apiVersion = VK_API_VERSION_1_2};
	VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
				    .pApplicationInfo = &app};
	uint32_t n = 1, nq = 0;

	VK(vkCreateInstance(&ici, NULL, &v->inst));
	VkResult r = vkEnumeratePhysicalDevices(v->inst, &n, &v->pdev);
	if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || n == 0)
		die("no Vulkan device");
	VkPhysicalDeviceDriverProperties drv = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
	VkPhysicalDeviceProperties2 props = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &drv};
	vkGetPhysicalDeviceProperties2(v->pdev, &props);
	snprintf(name, name_len, "%s", props.properties.deviceName);
	snprintf(driver, driver_len, "%s", drv.driverName);
	*api = props.properties.apiVersion;
	vkGetPhysicalDeviceMemoryProperties(v->pdev, &v->mem);
	vkGetPhysicalDeviceQueueFamilyProperties(v->pdev, &nq, NULL);
	VkQueueFamilyProperties qf[16];
	nq = nq > 16 ? 16 : nq;
	vkGetPhysicalDeviceQueueFamilyProperties(v->pdev, &nq, qf);
	v->family = UINT32_MAX;
	for (uint32_t i = 0; i < nq && v->family == UINT32_MAX; i++) {
		if ((qf[i].queueFlags & (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT)) ==
		    (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT))
			v->family = i;
	}
	if (v->family == UINT32_MAX)
		die("no graphics+compute queue");
	float prio = 1.0f;
	VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
				       .queueFamilyIndex = v->family,
				       .queueCount = 1,
				       .pQueuePriorities = &prio};
	VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
				  .queueCreateInfoCount = 1,
				  .pQueueCreateInfos = &qci};
	VK(vkCreateDevice(v->pdev, &dci, NULL, &v->dev));
	vkGetDeviceQueue(v->dev, v->family, 0, &v->queue);
	VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
				       .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
				       .queueFamilyIndex = v->family};
	VK(vkCreateCommandPool(v->dev, &pci, NULL, &v->pool));
	VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
					   .commandPool = v->pool,
					   .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
					   .commandBufferCount = 1};
	VK(vkAllocateCommandBuffers(v->dev, &cai, &v->cmd));
	VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
	VK(vkCreateFence(v->dev, &fci, NULL, &v->fence));
}

/* A host-visible, coherent buffer, mapped. */
static void
host_buffer(struct vk *v, VkDeviceSize size, VkBufferUsageFlags usage, struct buf *b)
{
	VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
				  .size = size,
				  .usage = usage,
				  .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
	VkMemoryRequirements req;

	VK(vkCreateBuffer(v->dev, &bci, NULL, &b->buf));
	vkGetBufferMemoryRequirements(v->dev, b->buf, &req);
	VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
				    .allocationSize = req.size,
				    .memoryTypeIndex =
					    mem_type(v, req.memoryTypeBits,
						     VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
							     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)};
	VK(vkAllocateMemory(v->dev, &mai, NULL, &b->mem));
	VK(vkBindBufferMemory(v->dev, b->buf, b->mem, 0));
	VK(vkMapMemory(v->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map));
	b->size = size;
}

static void
free_buffer(struct vk *v, struct buf *b)
{
	vkUnmapMemory(v->dev, b->mem);
	vkDestroyBuffer(v->dev, b->buf, NULL);
	vkFreeMemory(v->dev, b->mem, NULL);
}

static VkShaderModule
shader(struct vk *v, const uint32_t *code, size_t size)
{
	VkShaderModuleCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
				       .codeSize = size,
				       .pCode = code};
	VkShaderModule m;

	VK(vkCreateShaderModule(v->dev, &ci, NULL, &m));
	return m;
}

static void
begin(struct vk *v)
{
	VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
				       .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};

	VK(vkResetCommandBuffer(v->cmd, 0));
	VK(vkBeginCommandBuffer(v->cmd, &bi));
}

/* End, submit, wait for the fence. */
static void
submit(struct vk *v)
{
	VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
			   .commandBufferCount = 1,
			   .pCommandBuffers = &v->cmd};

	VK(vkEndCommandBuffer(v->cmd));
	VK(vkResetFences(v->dev, 1, &v->fence));
	VK(vkQueueSubmit(v->queue, 1, &si, v->fence));
	VK(vkWaitForFences(v->dev, 1, &v->fence, VK_TRUE, 60ull * 1000000000ull));
}

/* The compute check: mismatching words. */
static uint64_t
compute_check(struct vk *v, uint32_t bytes)
{
	struct buf b;
	uint32_t n = bytes / 4, seed = 0x6b6f686cu; /* "kohl" */
	uint64_t bad = 0;

	host_buffer(v, bytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, &b);
	memset(b.map, 0xa5, bytes); /* what a shader that never ran leaves */
	VkDescriptorSetLayoutBinding bind = {.binding = 0,
					     .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
					     .descriptorCount = 1,
					     .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
	VkDescriptorSetLayoutCreateInfo dli = {
		.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
		.bindingCount = 1,
		.pBindings = &bind};
	VkDescriptorSetLayout dsl;
	VK(vkCreateDescriptorSetLayout(v->dev, &dli, NULL, &dsl));
	VkPushConstantRange pcr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, 8};
	VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
					  .setLayoutCount = 1,
					  .pSetLayouts = &dsl,
					  .pushConstantRangeCount = 1,
					  .pPushConstantRanges = &pcr};
	VkPipelineLayout pl;
	VK(vkCreatePipelineLayout(v->dev, &pli, NULL, &pl));
	VkShaderModule sm = shader(v, fill_comp, sizeof(fill_comp));
	VkComputePipelineCreateInfo cpi = {
		.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
		.stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
			  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
			  .module = sm,
			  .pName = "main"},
		.layout = pl};
	VkPipeline pipe;
	VK(vkCreateComputePipelines(v->dev, VK_NULL_HANDLE, 1, &cpi, NULL, &pipe));
	VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1};
	VkDescriptorPoolCreateInfo dpi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
					  .maxSets = 1,
					  .poolSizeCount = 1,
					  .pPoolSizes = &ps};
	VkDescriptorPool dp;
	VK(vkCreateDescriptorPool(v->dev, &dpi, NULL, &dp));
	VkDescriptorSetAllocateInfo dai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
					   .descriptorPool = dp,
					   .descriptorSetCount = 1,
					   .pSetLayouts = &dsl};
	VkDescriptorSet ds;
	VK(vkAllocateDescriptorSets(v->dev, &dai, &ds));
	VkDescriptorBufferInfo dbi = {b.buf, 0, VK_WHOLE_SIZE};
	VkWriteDescriptorSet w = {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
				  .dstSet = ds,
				  .descriptorCount = 1,
				  .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
				  .pBufferInfo = &dbi};
	vkUpdateDescriptorSets(v->dev, 1, &w, 0, NULL);
	uint32_t pc[2] = {seed, n};
	begin(v);
	vkCmdBindPipeline(v->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
	vkCmdBindDescriptorSets(v->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pl, 0, 1, &ds, 0, NULL);
	vkCmdPushConstants(v->cmd, pl, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(pc), pc);
	vkCmdDispatch(v->cmd, (n + 63) / 64, 1, 1);
	VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
			      .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
			      .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
	vkCmdPipelineBarrier(v->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
			     VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
	submit(v);
	const uint32_t *words = b.map;
	for (uint32_t i = 0; i < n; i++)
		bad += words[i] != ((i * 2654435761u) ^ seed);
	vkDestroyPipeline(v->dev, pipe, NULL);
	vkDestroyShaderModule(v->dev, sm, NULL);
	vkDestroyDescriptorPool(v->dev, dp, NULL);
	vkDestroyPipelineLayout(v->dev, pl, NULL);
	vkDestroyDescriptorSetLayout(v->dev, dsl, NULL);
	free_buffer(v, &b);
	return bad;
}

struct target {
	uint32_t w, h;
	VkImage img;
	VkDeviceMemory mem;
	VkImageView view;
	VkRenderPass pass;
	VkFramebuffer fb;
	VkPipelineLayout layout;
	VkPipeline pipe;
	VkShaderModule vs, fs;
};

static void
make_image(struct vk *v, struct target *t)
{
	VkImageCreateInfo ii = {.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO,
				.imageType = VK_IMAGE_TYPE_2D,
				.format = FMT,
				.extent = {t->w, t->h, 1},
				.mipLevels = 1,
				.arrayLayers = 1,
				.samples = VK_SAMPLE_COUNT_1_BIT,
				.tiling = VK_IMAGE_TILING_OPTIMAL,
				.usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT |
					 VK_IMAGE_USAGE_TRANSFER_SRC_BIT,
				.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED};
	VkMemoryRequirements req;

	VK(vkCreateImage(v->dev, &ii, NULL, &t->img));
	vkGetImageMemoryRequirements(v->dev, t->img, &req);
	VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
				    .allocationSize = req.size,
				    .memoryTypeIndex = mem_type(v, req.memoryTypeBits, 0)};
	VK(vkAllocateMemory(v->dev, &mai, NULL, &t->mem));
	VK(vkBindImageMemory(v->dev, t->img, t->mem, 0));
	VkImageViewCreateInfo vi = {.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO,
				    .image = t->img,
				    .viewType = VK_IMAGE_VIEW_TYPE_2D,
				    .format = FMT,
				    .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
	VK(vkCreateImageView(v->dev, &vi, NULL, &t->view));
	VkAttachmentDescription ad = {.format = FMT,
				      .samples = VK_SAMPLE_COUNT_1_BIT,
				      .loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR,
				      .storeOp = VK_ATTACHMENT_STORE_OP_STORE,
				      .stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE,
				      .stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE,
				      .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED,
				      .finalLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL};
	VkAttachmentReference ar = {0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
	VkSubpassDescription sd = {.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS,
				   .colorAttachmentCount = 1,
				   .pColorAttachments = &ar};
	VkRenderPassCreateInfo rpi = {.sType = VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO,
				      .attachmentCount = 1,
				      .pAttachments = &ad,
				      .subpassCount = 1,
				      .pSubpasses = &sd};
	VK(vkCreateRenderPass(v->dev, &rpi, NULL, &t->pass));
	VkFramebufferCreateInfo fbi = {.sType = VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO,
				       .renderPass = t->pass,
				       .attachmentCount = 1,
				       .pAttachments = &t->view,
				       .width = t->w,
				       .height = t->h,
				       .layers = 1};
	VK(vkCreateFramebuffer(v->dev, &fbi, NULL, &t->fb));
}

static void
make_pipeline(struct vk *v, struct target *t)
{
	VkPushConstantRange pcr = {VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0,
				   32};
	VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
					  .pushConstantRangeCount = 1,
					  .pPushConstantRanges = &pcr};
	VK(vkCreatePipelineLayout(v->dev, &pli, NULL, &t->layout));
	t->vs = shader(v, rect_vert, sizeof(rect_vert));
	t->fs = shader(v, rect_frag, sizeof(rect_frag));
	VkPipelineShaderStageCreateInfo st[2] = {
		{.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
		 .stage = VK_SHADER_STAGE_VERTEX_BIT,
		 .module = t->vs,
		 .pName = "main"},
		{.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
		 .stage = VK_SHADER_STAGE_FRAGMENT_BIT,
		 .module = t->fs,
		 .pName = "main"}};
	VkPipelineVertexInputStateCreateInfo vin = {
		.sType = VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO};
	VkPipelineInputAssemblyStateCreateInfo ia = {
		.sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO,
		.topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST};
	VkViewport vp = {0, 0, (float)t->w, (float)t->h, 0, 1};
	VkRect2D sc = {{0, 0}, {t->w, t->h}};
	VkPipelineViewportStateCreateInfo vps = {
		.sType = VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO,
		.viewportCount = 1,
		.pViewports = &vp,
		.scissorCount = 1,
		.pScissors = &sc};
	VkPipelineRasterizationStateCreateInfo rs = {
		.sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO,
		.polygonMode = VK_POLYGON_MODE_FILL,
		.cullMode = VK_CULL_MODE_NONE,
		.lineWidth = 1.0f};
	VkPipelineMultisampleStateCreateInfo ms = {
		.sType = VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO,
		.rasterizationSamples = VK_SAMPLE_COUNT_1_BIT};
	VkPipelineColorBlendAttachmentState cba = {.colorWriteMask = 0xf};
	VkPipelineColorBlendStateCreateInfo cb = {
		.sType = VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO,
		.attachmentCount = 1,
		.pAttachments = &cba};
	VkGraphicsPipelineCreateInfo gpi = {.sType =
						    VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO,
					    .stageCount = 2,
					    .pStages = st,
					    .pVertexInputState = &vin,
					    .pInputAssemblyState = &ia,
					    .pViewportState = &vps,
					    .pRasterizationState = &rs,
					    .pMultisampleState = &ms,
					    .pColorBlendState = &cb,
					    .layout = t->layout,
					    .renderPass = t->pass};
	VK(vkCreateGraphicsPipelines(v->dev, VK_NULL_HANDLE, 1, &gpi, NULL, &t->pipe));
}

/* Frame f's colours (RGBA bytes) and rectangle (pixels: x0, y0, x1, y1). */
static void
frame_params(uint32_t f, const struct target *t, uint8_t bg[4], uint8_t fg[4], uint32_t r[4])
{
	for (int i = 0; i < 3; i++) {
		bg[i] = (uint8_t)(f * (17 + 29 * i) + 40 * i);
		fg[i] = (uint8_t)(255 - bg[i]);
	}
	bg[3] = fg[3] = 255;
	r[0] = (f * 7) % (t->w / 2);
	r[1] = (f * 5) % (t->h / 2);
	r[2] = r[0] + t->w / 4 + f % 16;
	r[3] = r[1] + t->h / 3 + f % 8;
}

/* Render frame f, copy it into out, count the bytes that differ. */
static uint64_t
frame(struct vk *v, struct target *t, struct buf *out, uint32_t f)
{
	uint8_t bg[4], fg[4];
	uint32_t r[4];
	uint64_t bad = 0;

	frame_params(f, t, bg, fg, r);
	float pc[8] = {2.0f * r[0] / t->w - 1, 2.0f * r[1] / t->h - 1, 2.0f * r[2] / t->w - 1,
		       2.0f * r[3] / t->h - 1};
	VkClearValue clear;
	for (int i = 0; i < 4; i++) {
		pc[4 + i] = fg[i] / 255.0f;
		clear.color.float32[i] = bg[i] / 255.0f;
	}
	memset(out->map, 0, out->size);
	begin(v);
	VkRenderPassBeginInfo rbi = {.sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO,
				     .renderPass = t->pass,
				     .framebuffer = t->fb,
				     .renderArea = {{0, 0}, {t->w, t->h}},
				     .clearValueCount = 1,
				     .pClearValues = &clear};
	vkCmdBeginRenderPass(v->cmd, &rbi, VK_SUBPASS_CONTENTS_INLINE);
	vkCmdBindPipeline(v->cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, t->pipe);
	vkCmdPushConstants(v->cmd, t->layout,
			   VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0, sizeof(pc),
			   pc);
	vkCmdDraw(v->cmd, 6, 1, 0, 0);
	vkCmdEndRenderPass(v->cmd);
	VkBufferImageCopy bic = {.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
				 .imageExtent = {t->w, t->h, 1}};
	vkCmdCopyImageToBuffer(v->cmd, t->img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, out->buf, 1,
			       &bic);
	VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
			      .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
			      .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
	vkCmdPipelineBarrier(v->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0,
			     1, &mb, 0, NULL, 0, NULL);
	submit(v);
	const uint8_t *p = out->map;
	for (uint32_t y = 0; y < t->h; y++) {
		for (uint32_t x = 0; x < t->w; x++, p += 4) {
			bool in = x >= r[0] && x < r[2] && y >= r[1] && y < r[3];
			bad += memcmp(p, in ? fg : bg, 4) != 0;
		}
	}
	return bad;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	uint32_t bytes = 1u << 20, frames = 60, w = 256, h = 256, api;
	char name[256], driver[256];
	struct vk v = {0};
	struct target t = {0};
	struct buf out;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--bytes"))
			bytes = (uint32_t)strtoul(argv[i + 1], NULL, 0) & ~3u;
		else if (!strcmp(argv[i], "--frames"))
			frames = (uint32_t)strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--size") && sscanf(argv[i + 1], "%ux%u", &w, &h) == 2)
			;
		else
			die("usage: vkcheck [--bytes N] [--frames N] [--size WxH]");
	}
	if (!bytes || w < 16 || h < 16 || w > 4096 || h > 4096)
		die("bad --bytes or --size");
	open_device(&v, name, sizeof(name), driver, sizeof(driver), &api);
	uint64_t cbad = compute_check(&v, bytes);
	t.w = w;
	t.h = h;
	make_image(&v, &t);
	make_pipeline(&v, &t);
	host_buffer(&v, (VkDeviceSize)w * h * 4, VK_BUFFER_USAGE_TRANSFER_DST_BIT, &out);
	uint64_t fbad = 0;
	double t0 = now();
	for (uint32_t f = 0; f < frames; f++)
		fbad += frame(&v, &t, &out, f);
	double dt = now() - t0;
	printf("VKCHECK device=%s driver=%s api=%u.%u.%u compute_bytes=%u "
	       "compute_mismatches=%" PRIu64 " frames=%u frame_bytes=%u frame_mismatches=%" PRIu64
	       " fps=%.1f\n",
	       name, driver, VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api),
	       VK_API_VERSION_PATCH(api), bytes, cbad, frames, w * h * 4, fbad,
	       dt > 0 ? frames / dt : 0.0);
	free_buffer(&v, &out);
	vkDestroyPipeline(v.dev, t.pipe, NULL);
	vkDestroyShaderModule(v.dev, t.vs, NULL);
	vkDestroyShaderModule(v.dev, t.fs, NULL);
	vkDestroyPipelineLayout(v.dev, t.layout, NULL);
	vkDestroyFramebuffer(v.dev, t.fb, NULL);
	vkDestroyRenderPass(v.dev, t.pass, NULL);
	vkDestroyImageView(v.dev, t.view, NULL);
	vkDestroyImage(v.dev, t.img, NULL);
	vkFreeMemory(v.dev, t.mem, NULL);
	vkDestroyFence(v.dev, v.fence, NULL);
	vkDestroyCommandPool(v.dev, v.pool, NULL);
	vkDestroyDevice(v.dev, NULL);
	vkDestroyInstance(v.inst, NULL);
	return cbad || fbad ? 1 : 0;
}
