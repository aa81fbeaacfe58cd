// The subcommands. Each scenario file adds its own subcommand with its own flags and, when that
// subcommand is the one given, creates the scenario into *chosen. Adding a scenario is one new
// file plus one line in main.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tools/bench/scenario.h"

namespace CLI {
class App;
}

namespace ringcast::bench {

// Flags every subcommand shares (threads, pacing, durations, --json ...), bound to *options.
void AddCommonOptions(CLI::App* command, CommonOptions* options);

// The subcommand `name` with the common flags. When it is the one given, *chosen becomes
// make(), called once the flags (those the caller binds to the returned command too) are parsed.
CLI::App* AddScenarioCommand(CLI::App* app, CommonOptions* common,
                             std::unique_ptr<Scenario>* chosen, const std::string& name,
                             const std::string& help,
                             std::function<std::unique_ptr<Scenario>()> make);

// A scenario's subcommand and the options its own flags bind to.
template <typename Options>
struct ScenarioCommand {
  CLI::App* command;
  Options* options;  // Kept alive by the subcommand's callback, so as long as the App.
};

// AddScenarioCommand for ScenarioT, constructed from the parsed Options.
template <typename ScenarioT, typename Options>
ScenarioCommand<Options> AddScenarioCommand(CLI::App* app, CommonOptions* common,
                                            std::unique_ptr<Scenario>* chosen,
                                            const std::string& name, const std::string& help) {
  auto options = std::make_shared<Options>();
  CLI::App* command = AddScenarioCommand(
      app, common, chosen, name, help, [options] { return std::make_unique<ScenarioT>(*options); });
  return {command, options.get()};
}

// A count flag checked to [min, max], its default shown in --help.
void AddBoundedOption(CLI::App* command, const std::string& names, uint32_t* value,
                      const std::string& help, uint32_t min, uint32_t max);

// A flag of seconds (or another real quantity) checked to be > 0 or >= 0, its default shown.
enum class Sign : uint8_t { kPositive, kNonNegative };
void AddRealOption(CLI::App* command, const std::string& names, double* value,
                   const std::string& help, Sign sign);

void AddEchoCommand(CLI::App* app, CommonOptions* options, std::unique_ptr<Scenario>* chosen);
void AddBroadcastCommand(CLI::App* app, CommonOptions* options, std::unique_ptr<Scenario>* chosen);
void AddFanoutCommand(CLI::App* app, CommonOptions* options, std::unique_ptr<Scenario>* chosen);
void AddIdleCommand(CLI::App* app, CommonOptions* options, std::unique_ptr<Scenario>* chosen);
void AddChatCommand(CLI::App* app, CommonOptions* options, std::unique_ptr<Scenario>* chosen);

}  // namespace ringcast::bench
