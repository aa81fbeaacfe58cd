// The layers of the configuration: command line > RINGCAST_* environment > --config file >
// defaults, for every option of the CLI11 app (so a flag added later is covered with no extra
// code), secrets read from files (--jwt-secret-file, …), and --print-config.
//
// Why not CLI11's own config-file support (Debian 12 ships CLI11 2.1.2): it reads the file
// before the environment, so a file value beat its environment variable; its reader cuts a
// value at the first '#' even inside quotes (a password with '#') and splits a value holding a
// comma or a space into several; and its errors do not name the file. So the file is parsed
// here, and its values are handed to CLI11 only for the options that neither the command line
// nor the environment set, which keeps CLI11's conversions and range checks for them.
//
// Runs once, on the main thread, before anything starts.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace ringcast {

// One `key = value` line of a configuration file.
struct ConfigFileEntry {
  std::string key;  // As written: flag name without the dashes ('_' and '-' both accepted).
  std::string value;
  int line = 0;
};

// Reads a flat TOML or INI file: `key = value` lines; '#' or ';' comments (whole lines, or after
// a value outside quotes); values bare (true, 8080, info) or quoted, "basic" with \" \\ \n \t
// escapes or 'literal'; an optional [ringcast] section header (an INI habit), no other section.
// False with *error ("LINE: reason") when a line is none of these.
bool ParseConfigText(std::string_view text, std::vector<ConfigFileEntry>* entries,
                     std::string* error);

// The secret options that may be given as a file instead, and the flag naming the file.
struct SecretFile {
  const char* secret;  // Long name of the secret option ("jwt-secret").
  const char* flag;    // "--jwt-secret-file"
  const char* env;     // "RINGCAST_JWT_SECRET_FILE"
};

class ConfigLayers {
 public:
  enum class Source : uint8_t { kDefault, kFile, kEnvironment, kCommandLine };

  ConfigLayers(CLI::App& app, int argc, char** argv) : app_(app), argc_(argc), argv_(argv) {}

  // Before parsing: adds `flag` for each secret (a path; its file's content, less one trailing
  // newline, becomes the secret's value).
  void AddSecretFiles(const std::vector<SecretFile>& secrets);
  // After CLI11 parsed the command line and the environment: the file's values for the options
  // still unset. Returns false with *error naming the file, the line and the key (unknown key,
  // bad value, unreadable file).
  bool ApplyFile(const std::string& path, std::string* error);
  // After ApplyFile: reads each secret file whose flag outranks the secret itself. False with
  // *error naming the path when one cannot be read, or when both come from the same layer.
  bool ReadSecretFiles(std::string* error);

  Source SourceOf(const CLI::Option* option) const;

  // The effective configuration in the file's format: every option but the commands (--help,
  // --config, --print-config, --version), secrets redacted (commented out). `effective`
  // overrides the printed value of options normalized after parsing (--web-root).
  std::string Print(const std::map<std::string, std::function<std::string()>>& effective) const;

 private:
  bool OnCommandLine(const CLI::Option* option) const;

  CLI::App& app_;
  int argc_;
  char** argv_;
  std::vector<SecretFile> secrets_;
  std::vector<std::string> secret_paths_;             // Bound to the secrets' flags.
  std::vector<const CLI::Option*> from_file_;         // Options the config file set.
  std::vector<const CLI::Option*> from_secret_file_;  // Secrets read from their file.
};

// `url` with the password of a URL (scheme://user:password@…) or a libpq keyword string
// (password=…) replaced by "<redacted>"; unchanged when it holds none.
std::string RedactPassword(const std::string& url);

}  // namespace ringcast
