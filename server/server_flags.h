// Every module's flags on one FlagRegistry (core/flags.h), and the rules that span modules.
#pragma once

#include "chat/config.h"
#include "core/flags.h"

namespace ringcast::server {

// Registers the flags of every module into `config`'s parts, and the checks across modules
// (cluster mode needs a shared store). Then flags.Parse(argc, argv) fills them.
void RegisterServerFlags(FlagRegistry& flags, chat::Config* config);

}  // namespace ringcast::server
