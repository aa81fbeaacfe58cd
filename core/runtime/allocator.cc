#include "core/runtime/allocator.h"

#include <dlfcn.h>

namespace ringcast {
namespace {

using Collect = void (*)(bool force);

// Looked up rather than linked: core/ is built without mimalloc (the tests, the sanitizer builds),
// and only the server binary brings it.
Collect FindCollect() { return reinterpret_cast<Collect>(dlsym(RTLD_DEFAULT, "mi_collect")); }

}  // namespace

void ReturnThreadCache() {
  static const Collect collect = FindCollect();
  if (collect) collect(false);  // Not forced: pages freed within mimalloc's delay stay cached.
}

}  // namespace ringcast
