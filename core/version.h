// What this binary is: its version and the commit it was built from (CMake asks git at
// configure time; "unknown" outside a git checkout), for --version and the node registry.
#pragma once

#include <cstdio>

namespace ringcast {

extern const char* const kVersion;
extern const char* const kCommit;

// `ringcast --version`: version, commit, and the io_uring features the running kernel grants
// (probed on a throwaway ring, as each shard does at start), or why io_uring is unavailable.
void PrintVersion(FILE* out);

}  // namespace ringcast
