#pragma once

namespace ringcast {

// Asks the process's allocator to return to the kernel what the calling thread has freed and
// holds only as a cache. mimalloc (the server links it, server/CMakeLists.txt) decommits freed
// pages lazily, on a later allocation or free in the thread that freed them: a shard that went
// quiet after a busy hour would keep its peak resident for good. Without mimalloc in the
// process this does nothing. Cheap enough for once a second (a walk of the thread's pages).
void ReturnThreadCache();

}  // namespace ringcast
