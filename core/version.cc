#include "core/version.h"

#include <cstring>
#include <string>

#include "core/io/ring.h"

namespace ringcast {

const char* const kVersion = RINGCAST_VERSION;
const char* const kCommit = RINGCAST_COMMIT;

void PrintVersion(FILE* out) {
  std::fprintf(out, "ringcast %s (commit %s)\n", kVersion, kCommit);
  Ring ring;
  int rc = ring.Init(8);
  if (rc < 0) {
    std::fprintf(out,
                 "io_uring: unavailable here (io_uring_setup: %s; sysctl "
                 "kernel.io_uring_disabled, a seccomp profile, or the memlock limit)\n",
                 std::strerror(-rc));
    return;
  }
  std::string missing = ring.features().Missing();
  std::fprintf(out, "io_uring features: %s\n", ring.features().Describe().c_str());
  if (!missing.empty()) {
    std::fprintf(out, "missing (ringcast cannot run on this kernel): %s\n", missing.c_str());
  }
}

}  // namespace ringcast
