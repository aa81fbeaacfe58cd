#include "core/config_file.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ringcast {
namespace {

constexpr std::string_view kBlanks = " \t";
// Options that are commands, not settings: never read from a file, never printed.
constexpr const char* kCommands[] = {"help", "config", "print-config", "version"};
constexpr const char* kRedacted = "<redacted>";

std::string_view Trim(std::string_view text) {
  size_t begin = text.find_first_not_of(kBlanks);
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(kBlanks);
  return text.substr(begin, end - begin + 1);
}

bool IsCommand(std::string_view name) {
  return std::any_of(std::begin(kCommands), std::end(kCommands),
                     [&](const char* command) { return name == command; });
}

// After a value: nothing, or a comment.
bool OnlyComment(std::string_view rest) {
  rest = Trim(rest);
  return rest.empty() || rest.front() == '#' || rest.front() == ';';
}

// A quoted value starting at text[0]; false when unterminated or followed by more than a comment.
bool ParseQuoted(std::string_view text, std::string* value, std::string* error) {
  const char quote = text.front();
  size_t i = 1;
  for (; i < text.size() && text[i] != quote; ++i) {
    if (quote == '"' && text[i] == '\\' && i + 1 < text.size()) {
      switch (text[++i]) {
        case 'n':
          value->push_back('\n');
          break;
        case 't':
          value->push_back('\t');
          break;
        case 'r':
          value->push_back('\r');
          break;
        case '"':
        case '\\':
        case '/':
          value->push_back(text[i]);
          break;
        default:
          *error = std::string("unknown escape \\") + text[i];
          return false;
      }
      continue;
    }
    value->push_back(text[i]);
  }
  if (i == text.size()) {
    *error = "unterminated string";
    return false;
  }
  if (!OnlyComment(text.substr(i + 1))) {
    *error = "unexpected text after the closing quote";
    return false;
  }
  return true;
}

std::string Normalized(std::string_view key) {
  std::string name(key);
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

const std::string& LongName(const CLI::Option* option) {
  static const std::string none;
  return option->get_lnames().empty() ? none : option->get_lnames().front();
}

bool IsFlag(const CLI::Option* option) { return option->get_expected_max() == 0; }

// A value as the file takes it back: numbers and booleans bare, text as a basic string.
std::string Quoted(std::string_view value, bool bare) {
  if (value == "true" || value == "false" ||
      (bare && !value.empty() && value.find_first_not_of("0123456789.+-") == std::string::npos)) {
    return std::string(value);
  }
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (c == '\r') {
      out.append("\\r");
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

bool ReadWholeFile(const std::string& path, size_t limit, std::string* content,
                   std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    *error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  *content = buffer.str();
  if (content->size() > limit) {
    *error = path + " is larger than " + std::to_string(limit) + " bytes";
    return false;
  }
  return true;
}

}  // namespace

bool ParseConfigText(std::string_view text, std::vector<ConfigFileEntry>* entries,
                     std::string* error) {
  int number = 0;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view raw = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    ++number;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    std::string_view line = Trim(raw);
    auto fail = [&](const std::string& reason) {
      *error = std::to_string(number) + ": " + reason;
      return false;
    };
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      size_t close = line.find(']');
      if (close == std::string_view::npos || !OnlyComment(line.substr(close + 1))) {
        return fail("malformed section header");
      }
      std::string_view section = Trim(line.substr(1, close - 1));
      if (section != "ringcast") {
        return fail("unknown section [" + std::string(section) +
                    "]: keys go at the top level, or under [ringcast]");
      }
      continue;
    }
    size_t equals = line.find('=');
    if (equals == std::string_view::npos) return fail("expected key = value");
    std::string_view key = Trim(line.substr(0, equals));
    if (key.size() >= 2 && key.front() == '"' && key.back() == '"') {
      key = key.substr(1, key.size() - 2);
    }
    if (key.empty() ||
        key.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
            std::string_view::npos) {
      return fail("expected key = value");
    }
    std::string_view rest = Trim(line.substr(equals + 1));
    ConfigFileEntry entry{std::string(key), {}, number};
    if (!rest.empty() && (rest.front() == '"' || rest.front() == '\'')) {
      std::string reason;
      if (!ParseQuoted(rest, &entry.value, &reason)) {
        return fail(std::string(key) + ": " + reason);
      }
    } else {
      // A bare value ends at a comment that follows a blank; quote a value holding " #".
      size_t comment = rest.npos;
      for (size_t i = 1; i < rest.size(); ++i) {
        if ((rest[i] == '#' || rest[i] == ';') && (rest[i - 1] == ' ' || rest[i - 1] == '\t')) {
          comment = i;
          break;
        }
      }
      entry.value = std::string(Trim(rest.substr(0, comment)));
    }
    for (const ConfigFileEntry& other : *entries) {
      if (Normalized(other.key) == Normalized(entry.key)) {
        return fail(std::string(key) + " given twice (also on line " + std::to_string(other.line) +
                    ")");
      }
    }
    entries->push_back(std::move(entry));
  }
  return true;
}

void ConfigLayers::AddSecretFiles(const std::vector<SecretFile>& secrets) {
  secrets_ = secrets;
  secret_paths_.resize(secrets.size());
  for (size_t i = 0; i < secrets.size(); ++i) {
    std::string secret = secrets[i].secret;
    app_.add_option(secrets[i].flag, secret_paths_[i],
                    "A file holding --" + secret +
                        " (its content, less a trailing newline), so the secret is neither in "
                        "argv nor in the environment")
        ->envname(secrets[i].env);
  }
}

bool ConfigLayers::OnCommandLine(const CLI::Option* option) const {
  for (int i = 1; i < argc_; ++i) {
    std::string_view arg = argv_[i];
    if (arg == "--") break;
    if (arg.substr(0, 2) != "--") continue;
    std::string name(arg.substr(2, arg.find('=') == arg.npos ? arg.npos : arg.find('=') - 2));
    if (option->check_lname(name)) return true;
  }
  return false;
}

ConfigLayers::Source ConfigLayers::SourceOf(const CLI::Option* option) const {
  if (OnCommandLine(option)) return Source::kCommandLine;
  if (std::find(from_file_.begin(), from_file_.end(), option) != from_file_.end()) {
    return Source::kFile;
  }
  return option->count() > 0 ? Source::kEnvironment : Source::kDefault;
}

bool ConfigLayers::ApplyFile(const std::string& path, std::string* error) {
  std::string text;
  std::string reason;
  if (!ReadWholeFile(path, 1 << 20, &text, &reason)) {
    *error = "--config: " + reason;
    return false;
  }
  std::vector<ConfigFileEntry> entries;
  if (!ParseConfigText(text, &entries, &reason)) {
    *error = path + ":" + reason;
    return false;
  }
  for (const ConfigFileEntry& entry : entries) {
    const std::string where = path + ":" + std::to_string(entry.line) + ": ";
    const std::string name = Normalized(entry.key);
    CLI::Option* option = IsCommand(name) ? nullptr : app_.get_option_no_throw("--" + name);
    if (option == nullptr) {
      *error = where + "unknown key '" + entry.key + "' (keys are the flags of ringcast --help)";
      return false;
    }
    // The command line and the environment outrank the file. A variable set to "" counts as
    // set (CLI11 then leaves the default in place).
    const std::string env = option->get_envname();
    if (option->count() > 0 || (!env.empty() && std::getenv(env.c_str()) != nullptr)) continue;
    try {
      option->add_result(entry.value);
      option->run_callback();
    } catch (const CLI::Error& failure) {
      *error = where + entry.key + ": " + failure.what();
      return false;
    }
    from_file_.push_back(option);
  }
  return true;
}

bool ConfigLayers::ReadSecretFiles(std::string* error) {
  for (size_t i = 0; i < secrets_.size(); ++i) {
    const SecretFile& pair = secrets_[i];
    CLI::Option* secret = app_.get_option_no_throw(std::string("--") + pair.secret);
    const CLI::Option* file = app_.get_option_no_throw(pair.flag);
    const Source file_source = SourceOf(file);
    if (file_source == Source::kDefault || secret_paths_[i].empty()) continue;
    const Source secret_source = SourceOf(secret);
    if (secret_source > file_source) continue;
    if (secret_source == file_source) {
      *error = std::string("--") + pair.secret + " and " + pair.flag +
               " are both given at the same level: give one";
      return false;
    }
    std::string content;
    std::string reason;
    if (!ReadWholeFile(secret_paths_[i], 64 * 1024, &content, &reason)) {
      *error = std::string(pair.flag) + ": " + reason;
      return false;
    }
    if (!content.empty() && content.back() == '\n') content.pop_back();
    if (!content.empty() && content.back() == '\r') content.pop_back();
    try {
      secret->clear();
      secret->add_result(content);
      secret->run_callback();
    } catch (const CLI::Error& failure) {
      *error = std::string(pair.flag) + ": " + failure.what();
      return false;
    }
    from_secret_file_.push_back(secret);
  }
  return true;
}

std::string ConfigLayers::Print(
    const std::map<std::string, std::function<std::string()>>& effective) const {
  std::string out =
      "# ringcast configuration, as `ringcast --config FILE` reads it (TOML; INI works too).\n"
      "# Precedence: command line > RINGCAST_* environment > this file > defaults.\n"
      "# Secrets are never printed: their lines are commented out; give them with the\n"
      "# *-file keys (jwt-secret-file, database-url-file, database-read-url-file,\n"
      "# redis-url-file, admin-token-file, notify-webhook-secret-file, amqp-url-file).\n";
  for (const CLI::Option* option : app_.get_options()) {
    const std::string& name = LongName(option);
    if (name.empty() || IsCommand(name)) continue;
    std::string value;
    bool bare = option->get_type_name().rfind("TEXT", 0) != 0;
    if (auto found = effective.find(name); found != effective.end()) {
      value = found->second();
    } else if (IsFlag(option)) {
      bool on = option->count() > 0 ? option->as<bool>()
                                    : CLI::detail::to_flag_value(option->get_default_str()) > 0;
      value = on ? "true" : "false";
    } else if (option->count() > 0) {
      value = option->results().empty() ? "" : option->results().back();
    } else {
      value = option->get_default_str();
    }
    auto secret = std::find_if(secrets_.begin(), secrets_.end(),
                               [&](const SecretFile& pair) { return name == pair.secret; });
    if (secret != secrets_.end() && !value.empty()) {
      if (std::find(from_secret_file_.begin(), from_secret_file_.end(), option) !=
          from_secret_file_.end()) {
        out.append("# ").append(name).append(": read from ").append(secret->flag + 2).append("\n");
        continue;
      }
      const bool url = name == "database-url" || name == "database-read-url" || name == "redis" ||
                       name == "amqp" || name == "smtp";
      std::string redacted = url ? RedactPassword(value) : kRedacted;
      if (redacted != value) {
        out.append("# ").append(name).append(" = ").append(Quoted(redacted, false));
        out.append("\n");
        continue;
      }
    }
    out.append(name).append(" = ").append(Quoted(value, bare)).append("\n");
  }
  return out;
}

std::string RedactPassword(const std::string& url) {
  std::string out = url;
  // Every URL of a list (--redis redis://:a@x,redis://:b@y) has its password redacted.
  for (size_t scheme = out.find("://"); scheme != std::string::npos;
       scheme = out.find("://", scheme + 3)) {
    const size_t authority = scheme + 3;
    const size_t next = out.find("://", authority);
    const size_t at = out.find('@', authority);
    const size_t colon = out.find(':', authority);
    if (at != std::string::npos && at < next && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, kRedacted);
    }
  }
  // libpq keyword strings (password=…) and URL parameters (?password=…).
  for (size_t pos = out.find("password"); pos != std::string::npos;
       pos = out.find("password", pos + 1)) {
    size_t start = out.find_first_not_of(' ', pos + 8);
    if (start == std::string::npos || out[start] != '=') continue;
    start = out.find_first_not_of(' ', start + 1);
    if (start == std::string::npos) break;
    size_t end = start;
    if (out[end] == '\'') {
      end = out.find('\'', end + 1);
      end = end == std::string::npos ? out.size() : end + 1;
    } else {
      while (end < out.size() && out[end] != ' ' && out[end] != '&') ++end;
    }
    out.replace(start, end - start, kRedacted);
  }
  return out;
}

}  // namespace ringcast
