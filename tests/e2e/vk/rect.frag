#version 450
// vkcheck: one flat colour.
layout(push_constant) uniform P { vec4 rect; vec4 color; };
layout(location = 0) out vec4 o;
void main()
{
	o = color;
}
