// Every family's wires in one table, looked up by type and by STOMP destination. Built once, on
// first use (a function-local static: safe from any shard).
#include <vector>

#include "chat/ops/wire.h"

namespace ringcast::chat::ops {

std::span<const Wire> Wires() {
  static const std::vector<Wire> kAll = [] {
    std::vector<Wire> all;
    for (std::span<const Wire> family : {MessageWires(), ReceiptWires(), HistoryWires(),
                                         ThreadWires(), SessionWires(), CallWires()}) {
      all.insert(all.end(), family.begin(), family.end());
    }
    return all;
  }();
  return kAll;
}

const Wire* FindWire(std::string_view type) {
  for (const Wire& wire : Wires()) {
    if (wire.type == type) return &wire;
  }
  return nullptr;
}

const Wire* FindStompWire(std::string_view destination) {
  if (destination.empty()) return nullptr;
  for (const Wire& wire : Wires()) {
    if (wire.stomp_destination == destination) return &wire;
  }
  return nullptr;
}

}  // namespace ringcast::chat::ops
