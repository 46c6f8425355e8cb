#version 450
// vkcheck: every word of the buffer gets (index * 2654435761) ^ seed.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Out { uint v[]; };
layout(push_constant) uniform P { uint seed; uint n; };
void main()
{
	uint i = gl_GlobalInvocationID.x;
	if (i < n)
		v[i] = (i * 2654435761u) ^ seed;
}
