#version 450
// vkcheck: a rectangle (two triangles) given in NDC by the push constants.
layout(push_constant) uniform P { vec4 rect; vec4 color; };
void main()
{
	const int corner[6] = int[](0, 1, 2, 2, 1, 3);
	int c = corner[gl_VertexIndex];
	float x = (c & 1) != 0 ? rect.z : rect.x;
	float y = (c & 2) != 0 ? rect.w : rect.y;
	gl_Position = vec4(x, y, 0.0, 1.0);
}
