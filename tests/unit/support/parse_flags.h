// Runs FlagRegistry::Parse on `args` (after argv[0]) as main would, with stdout and stderr
// captured into *out and *err (either may be null).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/flags.h"

namespace ringcast::testing {

inline int ParseFlags(FlagRegistry& flags, std::vector<std::string> args, std::string* out,
                      std::string* err) {
  args.insert(args.begin(), "ringcast");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  ::testing::internal::CaptureStderr();
  ::testing::internal::CaptureStdout();
  const int status = flags.Parse(int(argv.size()), argv.data());
  std::string captured_err = ::testing::internal::GetCapturedStderr();
  std::string captured_out = ::testing::internal::GetCapturedStdout();
  if (err != nullptr) *err = std::move(captured_err);
  if (out != nullptr) *out = std::move(captured_out);
  return status;
}

}  // namespace ringcast::testing
