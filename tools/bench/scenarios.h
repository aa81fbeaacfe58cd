// The subcommands. Each scenario file adds its own subcommand with its own flags and, when that
// subcommand is the one given, creates the scenario into *chosen. Adding a scenario is one new
// file plus one line in main.cc.
#pragma once

#include <memory>

#include "tools/bench/scenario.h"

namespace CLI {
class App;
}

namespace ringcast::bench {

// Flags every subcommand shares (threads, pacing, durations, --json ...), bound to *options.
void AddCommonOptions(CLI::App* command, CommonOptions* options);

void AddEchoCommand(CLI::App* app, CommonOptions* options, std::unique_ptr<Scenario>* chosen);
void AddBroadcastCommand(CLI::App* app, CommonOptions* options, std::unique_ptr<Scenario>* chosen);
void AddFanoutCommand(CLI::App* app, CommonOptions* options, std::unique_ptr<Scenario>* chosen);
void AddIdleCommand(CLI::App* app, CommonOptions* options, std::unique_ptr<Scenario>* chosen);
void AddChatCommand(CLI::App* app, CommonOptions* options, std::unique_ptr<Scenario>* chosen);

}  // namespace ringcast::bench
