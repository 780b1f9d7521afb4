// The allocation bound of the stb_image decoder (implemented in stb_image_impl.cpp, used by
// image.cpp): while set, any single block stb asks for above `bytes` is refused on the calling
// thread, stb fails with "outofmem", and stb_allocation_refused() says it was the bound. decode_stb
// sets it from the image's dimensions, so that a small hostile file (a PNG whose zlib stream
// inflates far beyond its pixels) cannot make the decoder allocate gigabytes.
#pragma once
#include <cstddef>

namespace dice {

// Bounds this thread's stb allocations to `bytes` each (0: no bound); clears the refused flag.
void set_stb_allocation_cap(size_t bytes);
// Whether an allocation was refused since the last set_stb_allocation_cap() on this thread.
bool stb_allocation_refused();
// This thread's current bound (0: none).
size_t stb_allocation_cap();

}  // namespace dice
