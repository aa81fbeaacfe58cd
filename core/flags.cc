#include "core/flags.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdio>
#include <type_traits>
#include <utility>

namespace ringcast {
namespace {

// A validator for the number flags: empty when `text` reads as a number (its range is checked
// next), else the message.
std::string NumberCheck(std::string& text) {
  long double number = 0;
  if (CLI::detail::lexical_cast(text, number)) return "";
  return "'" + text + "' is not a number";
}

}  // namespace

FlagRegistry::FlagRegistry(const std::string& description, std::function<void()> print_version)
    : app_(std::make_unique<CLI::App>(description)), print_version_(std::move(print_version)) {
  app_->option_defaults()->always_capture_default();
  app_->add_option("--config", config_file_,
                   "A TOML or INI file of settings (key = flag name without the dashes); the "
                   "command line and RINGCAST_* variables override it")
      ->envname("RINGCAST_CONFIG");
  app_->add_flag("--print-config", print_config_,
                 "Print the effective configuration (secrets redacted) in the --config format, "
                 "and exit");
  app_->add_flag("--version", print_version_flag_,
                 "Print the version, the commit and the io_uring features this kernel grants, "
                 "and exit");
}

FlagRegistry::~FlagRegistry() = default;

void FlagRegistry::Add(std::initializer_list<Flag> flags) {
  for (const Flag& flag : flags) Add(flag);
}

CLI::Option* FlagRegistry::Add(const Flag& flag) {
  std::string env = "RINGCAST_";
  if (flag.env != nullptr) {
    env = flag.env;
  } else {
    for (const char* c = flag.name; *c != 0; ++c) {
      env += *c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
    }
  }
  CLI::Option* option = std::visit(
      [&](auto* value) {
        using Value = std::remove_pointer_t<decltype(value)>;
        if constexpr (std::is_same_v<Value, bool>) {
          const std::string names = std::string("--") + flag.name + ",!--no-" + flag.name;
          return app_->add_flag(names, *value, flag.help)->default_str(*value ? "on" : "off");
        } else {
          CLI::Option* added = app_->add_option(std::string("--") + flag.name, *value, flag.help);
          // First, before the range check.
          if constexpr (std::is_arithmetic_v<Value>) {
            added->check(CLI::Validator(NumberCheck, "NUMBER"));
          }
          return added;
        }
      },
      flag.value);
  option->envname(env);
  if (flag.check) option->check(*flag.check);
  return option;
}

std::string* FlagRegistry::Scratch() { return &scratch_.emplace_back(); }

void FlagRegistry::AddSecretFile(const SecretFile& secret) { secrets_.push_back(secret); }

void FlagRegistry::AddCheck(std::function<bool()> check) { checks_.push_back(std::move(check)); }

void FlagRegistry::AddEffective(const std::string& name, std::function<std::string()> value) {
  effective_[name] = std::move(value);
}

int FlagRegistry::Parse(int argc, char** argv) {
  ConfigLayers layers(*app_, argc, argv);
  // Last, so that the *-file flags follow every other in --help and --print-config.
  layers.AddSecretFiles(secrets_);
  try {
    app_->parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app_->help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& error) {
    std::string what = error.what();
    for (char& c : what) c = c == '\n' ? ' ' : c;
    std::fprintf(stderr, "ringcast: %s (see --help)\n", what.c_str());
    return 2;
  }
  if (print_version_flag_) {
    print_version_();
    return 0;
  }
  std::string layer_error;
  if ((!config_file_.empty() && !layers.ApplyFile(config_file_, &layer_error)) ||
      !layers.ReadSecretFiles(&layer_error)) {
    std::fprintf(stderr, "ringcast: %s\n", layer_error.c_str());
    return 2;
  }
  for (const auto& check : checks_) {
    if (!check()) return 2;
  }
  if (print_config_) {
    std::string text = layers.Print(effective_);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  return -1;
}

}  // namespace ringcast
