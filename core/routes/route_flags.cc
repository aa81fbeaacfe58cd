#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "core/flags.h"
#include "core/routes/route_options.h"

namespace ringcast {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

// A folder shipped with this binary, found from the executable's own location (not the working
// directory, which a service manager chooses): installed, <prefix>/bin/ringcast serves
// <prefix>/share/ringcast/<name> (the Docker image's layout); in a build tree,
// build/<preset>/core/ringcast serves the checkout's folder (`from_binary`, the relative path
// CMake computed). "" when neither exists.
std::string ShippedFolder(const std::string& name, const std::string& from_binary) {
  std::error_code error;
  const std::filesystem::path binary = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "";
  const std::filesystem::path dir = binary.parent_path();
  for (const std::filesystem::path& candidate :
       {dir / "../share/ringcast" / name, dir / from_binary}) {
    std::string path = candidate.lexically_normal().string();
    if (IsDirectory(path)) return path;
  }
  return "";
}

// A served folder (--web-root, --sdk-root): the shipped one when neither the flag nor its
// variable is given; an empty value (flag or variable: CLI11 ignores an empty variable, so it
// is read here) serves none. Absolute, but not resolved: a root that is a symbolic link
// (switched at each deploy) is followed afresh by every request. False when it is no directory.
bool ResolveServedFolder(const CLI::Option& option, std::string value, const std::string& shipped,
                         std::string* out, bool* not_found) {
  const char* env = std::getenv(option.get_envname().c_str());
  if (option.count() == 0 && env == nullptr) {
    *out = shipped;
    *not_found = shipped.empty();
    return true;
  }
  if (option.count() == 0) value = env;
  if (value.empty()) {
    out->clear();
    return true;
  }
  if (!IsDirectory(value)) {
    std::fprintf(stderr, "ringcast: %s: %s is not a directory\n", option.get_name().c_str(),
                 value.c_str());
    return false;
  }
  *out = std::filesystem::absolute(value).lexically_normal().string();
  return true;
}

// What tells --web-root and --sdk-root apart; the rest of their handling is one.
struct ServedFolder {
  const char* flag;
  const char* help;
  const char* default_shown;  // In --help: the path is known only once the flags are parsed.
  const char* shipped_name;   // ShippedFolder's arguments.
  const char* shipped_from_binary;
  std::string RouteOptions::*root;
  bool RouteOptions::*not_found;
};

void AddServedFolder(FlagRegistry& flags, RouteOptions* options, const ServedFolder& folder) {
  std::string* text = flags.Scratch();
  CLI::Option* option =
      flags.Add({folder.flag, text, folder.help})->default_str(folder.default_shown);
  flags.AddCheck([=] {
    return ResolveServedFolder(*option, *text,
                               ShippedFolder(folder.shipped_name, folder.shipped_from_binary),
                               &(options->*folder.root), &(options->*folder.not_found));
  });
  // Resolved after parsing: its effective path, not the help text's "shipped".
  flags.AddEffective(folder.flag, [options, root = folder.root] { return options->*root; });
}

}  // namespace

void RegisterRouteFlags(FlagRegistry& flags, RouteOptions* options) {
  flags.Add({
      {"echo", &options->echo,
       "Enable the unauthenticated /echo WebSocket route (every message comes back: for "
       "tests, benchmarks and protocol checkers); off: /echo answers 404"},
      {"raw-channels", &options->raw_channels,
       "Enable the unauthenticated /raw/{channel} fan-out route"},
  });
  AddServedFolder(flags, options,
                  {"web-root",
                   "Directory whose files are served at / (the web app); empty: none. Default: the "
                   "web/ folder shipped with the binary (<prefix>/share/ringcast/web, or the "
                   "checkout's web/ for a build tree)",
                   "shipped web/", "web", RINGCAST_WEB_FROM_BINARY, &RouteOptions::web_root,
                   &RouteOptions::web_root_not_found});
  AddServedFolder(
      flags, options,
      {"sdk-root",
       "Directory whose files are served at /sdk/ (the JavaScript SDK's modules, for "
       "pages that import it); empty: none. Default: the SDK shipped with the binary "
       "(<prefix>/share/ringcast/sdk, or the checkout's clients/js/src for a build tree)",
       "shipped SDK", "sdk", RINGCAST_SDK_FROM_BINARY, &RouteOptions::sdk_root,
       &RouteOptions::sdk_root_not_found});
  flags.Add({
      Bounded("max-static-bytes", &options->max_static_bytes, uint64_t{1}, uint64_t{1} << 30,
              "Largest file served from --web-root, bytes (a bigger one is answered 500)"),
      Bounded("static-max-age", &options->static_max_age_s, 0, 366 * 86400,
              "Seconds browsers may use a cached file from --web-root other than HTML without "
              "asking again (HTML: always revalidated); 0: always revalidate"),
      Bounded("max-static-reads", &options->max_static_reads, 1, 1 << 16,
              "File reads from --web-root queued or running on the workers per shard (more: 503)"),
  });
}

}  // namespace ringcast
