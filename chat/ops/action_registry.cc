// The actions, by the wires' order: a request's wire leads to its action without a second
// lookup by name.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "chat/ops/actions.h"

namespace ringcast::chat::ops {
namespace {

struct Table {
  std::vector<Action> by_wire;  // Wires()' order.
  std::string faults;
};

const Table& Actions() {
  static const Table kTable = [] {
    Table table;
    std::span<const Wire> wires = Wires();
    table.by_wire.assign(wires.size(), nullptr);
    for (std::span<const ActionRow> family : {MessageActions(), ReceiptActions(), HistoryActions(),
                                              ThreadActions(), SessionActions(), CallActions()}) {
      for (const ActionRow& row : family) {
        const Wire* wire = FindWire(row.type);
        if (wire == nullptr) {
          table.faults += "action without a wire: " + std::string(row.type) + "\n";
        } else if (table.by_wire[wire - wires.data()] != nullptr) {
          table.faults += "two actions: " + std::string(row.type) + "\n";
        } else {
          table.by_wire[wire - wires.data()] = row.run;
        }
      }
    }
    for (size_t i = 0; i < wires.size(); ++i) {
      if (table.by_wire[i] == nullptr) {
        table.faults += "wire without an action: " + std::string(wires[i].type) + "\n";
      }
    }
    return table;
  }();
  return kTable;
}

}  // namespace

Action ActionOf(const Wire& wire) {
  const Table& table = Actions();
  // A build whose table is unsound must not serve: caught by the unit test before it ships.
  if (!table.faults.empty()) {
    std::fprintf(stderr, "chat operations registry: %s", table.faults.c_str());
    std::abort();
  }
  return table.by_wire[&wire - Wires().data()];
}

std::string RegistryFaults() { return Actions().faults; }

}  // namespace ringcast::chat::ops
