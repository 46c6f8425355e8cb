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
#include <string.h>
#include <unistd.h>

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

int
main(int argc, char **argv)
{
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
	glViewport(0, 0, S, S);
	glClearColor(1, 0, 0, 1);
	glClear(GL_COLOR_BUFFER_BIT);
	glEnable(GL_SCISSOR_TEST);
	glScissor(0, 0, S / 2, S / 2);
	glClearColor(0, 1, 0, 1);
	glClear(GL_COLOR_BUFFER_BIT);
	glDisable(GL_SCISSOR_TEST);
	GLuint prog = glCreateProgram();
	glAttachShader(prog, shader(GL_VERTEX_SHADER, "attribute vec2 p;\n"
						      "void main() { gl_Position = vec4(p, 0.0, 1.0); }\n"));
	glAttachShader(prog, shader(GL_FRAGMENT_SHADER,
				    "precision mediump float;\n"
				    "void main() { gl_FragColor = vec4(0.0, 0.0, 1.0, 1.0); }\n"));
	glBindAttribLocation(prog, 0, "p");
	glLinkProgram(prog);
	glUseProgram(prog);
	static const GLfloat quad[] = {0, -1, 1, -1, 0, 0, 1, -1, 1, 0, 0, 0};
	glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 0, quad);
	glEnableVertexAttribArray(0);
	glDrawArrays(GL_TRIANGLES, 0, 6);
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
