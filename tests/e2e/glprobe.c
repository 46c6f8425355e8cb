/* SPDX-License-Identifier: MIT */
/*
 * glprobe: runs in the test guest (chrooted into the host's root over 9p, so
 * Mesa's virgl driver is the guest's).  Renders a known 64x64 image offscreen
 * with EGL (GBM platform, surfaceless context) and GLES 2, reads it back and
 * checks every pixel.  Prints "GLPROBE renderer=... mismatches=N"; exit 0 when
 * all pixels match.
 */
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES2/gl2.h>
#include <fcntl.h>
#include <gbm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#define S 64

/* The expected image: red, green bottom-left quarter (scissored clear), blue
   bottom-right quarter (two triangles drawn by a shader). */
static void
expected(int x, int y, uint8_t px[4])
{
	static const uint8_t red[4] = {255, 0, 0, 255}, green[4] = {0, 255, 0, 255},
			     blue[4] = {0, 0, 255, 255};
	const uint8_t *c = red;
	if (y < S / 2 && x < S / 2)
		c = green;
	else if (y < S / 2)
		c = blue;
	memcpy(px, c, 4);
}

static GLuint
shader(GLenum type, const char *src)
{
	GLuint s = glCreateShader(type);
	glShaderSource(s, 1, &src, NULL);
	glCompileShader(s);
	return s;
}

static GLuint
blue_quad_program(void)
{
	GLuint prog = glCreateProgram();
	glAttachShader(prog, shader(GL_VERTEX_SHADER,
				    "attribute vec2 p;\n"
				    "void main() { gl_Position = vec4(p, 0.0, 1.0); }\n"));
	glAttachShader(prog, shader(GL_FRAGMENT_SHADER,
				    "precision mediump float;\n"
				    "void main() { gl_FragColor = vec4(0.0, 0.0, 1.0, 1.0); }\n"));
	glBindAttribLocation(prog, 0, "p");
	glLinkProgram(prog);
	return prog;
}

/* The quadrant image at w x h into the current framebuffer. */
static void
draw(int w, int h)
{
	static const GLfloat quad[] = {0, -1, 1, -1, 0, 0, 1, -1, 1, 0, 0, 0};

	glViewport(0, 0, w, h);
	glClearColor(1, 0, 0, 1);
	glClear(GL_COLOR_BUFFER_BIT);
	glEnable(GL_SCISSOR_TEST);
	glScissor(0, 0, w / 2, h / 2);
	glClearColor(0, 1, 0, 1);
	glClear(GL_COLOR_BUFFER_BIT);
	glDisable(GL_SCISSOR_TEST);
	glUseProgram(blue_quad_program());
	glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 0, quad);
	glEnableVertexAttribArray(0);
	glDrawArrays(GL_TRIANGLES, 0, 6);
}

/*
 * --scanout: draw the image at the mode's size into a GBM scanout buffer, read
 * it back (the guest's own readback), show it on the CRTC with KMS and keep
 * it there.  Prints the readback's FNV-1a over RGB rows from the top, which
 * the host compares with its screendump.
 */
static int
scanout(const char *card)
{
	int fd = open(card, O_RDWR);
	drmModeRes *res = fd >= 0 ? drmModeGetResources(fd) : NULL;
	drmModeConnector *conn = NULL;

	for (int i = 0; res && i < res->count_connectors && !conn; i++) {
		conn = drmModeGetConnector(fd, res->connectors[i]);
		if (conn && (conn->connection != DRM_MODE_CONNECTED || !conn->count_modes)) {
			drmModeFreeConnector(conn);
			conn = NULL;
		}
	}
	if (!conn || !res->count_crtcs) {
		fprintf(stderr, "glprobe: no connected output on %s\n", card);
		return 2;
	}
	drmModeModeInfo mode = conn->modes[0];
	for (int i = 0; i < conn->count_modes; i++) {
		if (conn->modes[i].type & DRM_MODE_TYPE_PREFERRED)
			mode = conn->modes[i];
	}
	int w = mode.hdisplay, h = mode.vdisplay;
	struct gbm_device *gbm = gbm_create_device(fd);
	struct gbm_surface *surf = gbm_surface_create(gbm, w, h, GBM_FORMAT_XRGB8888,
						      GBM_BO_USE_SCANOUT | GBM_BO_USE_RENDERING);
	PFNEGLGETPLATFORMDISPLAYEXTPROC get_display =
		(PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
	EGLDisplay dpy = get_display(EGL_PLATFORM_GBM_KHR, gbm, NULL);
	EGLint major, minor, n = 0;
	static const EGLint cfg_attr[] = {EGL_SURFACE_TYPE,
					  EGL_WINDOW_BIT,
					  EGL_RENDERABLE_TYPE,
					  EGL_OPENGL_ES2_BIT,
					  EGL_RED_SIZE,
					  8,
					  EGL_GREEN_SIZE,
					  8,
					  EGL_BLUE_SIZE,
					  8,
					  EGL_NONE};
	static const EGLint ctx_attr[] = {EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE};
	EGLConfig cfgs[64], cfg = NULL;
	eglInitialize(dpy, &major, &minor);
	eglBindAPI(EGL_OPENGL_ES_API);
	eglChooseConfig(dpy, cfg_attr, cfgs, 64, &n);
	for (int i = 0; i < n && !cfg; i++) {
		EGLint id;
		eglGetConfigAttrib(dpy, cfgs[i], EGL_NATIVE_VISUAL_ID, &id);
		if (id == GBM_FORMAT_XRGB8888)
			cfg = cfgs[i];
	}
	EGLContext ctx = cfg ? eglCreateContext(dpy, cfg, EGL_NO_CONTEXT, ctx_attr) : NULL;
	EGLSurface es = ctx ? eglCreateWindowSurface(dpy, cfg, (EGLNativeWindowType)surf, NULL)
			    : EGL_NO_SURFACE;
	if (es == EGL_NO_SURFACE || !eglMakeCurrent(dpy, es, es, ctx)) {
		fprintf(stderr, "glprobe: no window surface for scanout\n");
		return 2;
	}
	draw(w, h);
	uint8_t *px = malloc((size_t)w * h * 4);
	glReadPixels(0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE, px);
	unsigned bad = 0; /* the readback must be the image first */
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			const uint8_t *p = px + ((size_t)y * w + x) * 4;
			int blue = y < h / 2 && x >= w / 2, green = y < h / 2 && x < w / 2;
			bad += p[0] != (blue || green ? 0 : 255) || p[1] != (green ? 255 : 0) ||
			       p[2] != (blue ? 255 : 0);
		}
	uint32_t hash = 2166136261u; /* FNV-1a over R, G, B, rows top to bottom */
	for (int y = h - 1; y >= 0; y--)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < 3; c++)
				hash = (hash ^ px[((size_t)y * w + x) * 4 + c]) * 16777619u;
	eglSwapBuffers(dpy, es);
	struct gbm_bo *bo = gbm_surface_lock_front_buffer(surf);
	uint32_t fb = 0;
	if (!bo ||
	    drmModeAddFB(fd, w, h, 24, 32, gbm_bo_get_stride(bo), gbm_bo_get_handle(bo).u32, &fb) ||
	    drmModeSetCrtc(fd, res->crtcs[0], fb, 0, 0, &conn->connector_id, 1, &mode)) {
		fprintf(stderr, "glprobe: cannot show the buffer\n");
		return 2;
	}
	printf("GLPROBE-SCANOUT %dx%d fnv=%08x mismatches=%u\n", w, h, hash, bad);
	fflush(stdout);
	pause(); /* keep the CRTC until killed */
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--scanout") == 0)
		return scanout(argv[2]);
	const char *node = argc > 1 ? argv[1] : "/dev/dri/renderD128";
	int fd = open(node, O_RDWR);
	if (fd < 0) {
		perror(node);
		return 2;
	}
	struct gbm_device *gbm = gbm_create_device(fd);
	PFNEGLGETPLATFORMDISPLAYEXTPROC get_display =
		(PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
	EGLDisplay dpy = get_display ? get_display(EGL_PLATFORM_GBM_KHR, gbm, NULL) : NULL;
	EGLint major, minor, n;
	if (!gbm || !dpy || !eglInitialize(dpy, &major, &minor)) {
		fprintf(stderr, "glprobe: no EGL display on %s\n", node);
		return 2;
	}
	static const EGLint cfg_attr[] = {EGL_RENDERABLE_TYPE, EGL_OPENGL_ES2_BIT, EGL_NONE};
	static const EGLint ctx_attr[] = {EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE};
	EGLConfig cfg;
	eglBindAPI(EGL_OPENGL_ES_API);
	if (!eglChooseConfig(dpy, cfg_attr, &cfg, 1, &n) || n < 1) {
		fprintf(stderr, "glprobe: no GLES2 config\n");
		return 2;
	}
	EGLContext ctx = eglCreateContext(dpy, cfg, EGL_NO_CONTEXT, ctx_attr);
	if (ctx == EGL_NO_CONTEXT || !eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx)) {
		fprintf(stderr, "glprobe: no surfaceless GLES2 context\n");
		return 2;
	}
	GLuint fb, rb;
	glGenFramebuffers(1, &fb);
	glGenRenderbuffers(1, &rb);
	glBindRenderbuffer(GL_RENDERBUFFER, rb);
	glRenderbufferStorage(GL_RENDERBUFFER, GL_RGBA4, S, S); /* replaced below if possible */
	glRenderbufferStorage(GL_RENDERBUFFER, 0x8058 /* GL_RGBA8_OES */, S, S);
	glBindFramebuffer(GL_FRAMEBUFFER, fb);
	glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_RENDERBUFFER, rb);
	if (glCheckFramebufferStatus(GL_FRAMEBUFFER) != GL_FRAMEBUFFER_COMPLETE) {
		fprintf(stderr, "glprobe: framebuffer incomplete\n");
		return 2;
	}
	draw(S, S);
	static uint8_t pixels[S * S * 4];
	glReadPixels(0, 0, S, S, GL_RGBA, GL_UNSIGNED_BYTE, pixels);
	unsigned bad = 0;
	for (int y = 0; y < S; y++)
		for (int x = 0; x < S; x++) {
			uint8_t want[4];
			expected(x, y, want);
			if (memcmp(pixels + (y * S + x) * 4, want, 4))
				bad++;
		}
	printf("GLPROBE renderer=%s version=%s mismatches=%u glerror=0x%x\n",
	       (const char *)glGetString(GL_RENDERER), (const char *)glGetString(GL_VERSION), bad,
	       glGetError());
	eglTerminate(dpy);
	gbm_device_destroy(gbm);
	close(fd);
	return bad ? 1 : 0;
}
