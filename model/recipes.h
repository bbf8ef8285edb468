// Named training recipes (vdsr_train --recipe NAME): each expands to vdsr_train flags, applied
// where the command line does not give the flag itself. docs/training.md lists them with their
// reasoning; tests/test_train.cpp checks that the list there and vdsr_train --help match this table.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace vdsr {

struct Recipe {
  const char* name;
  const char* summary;  // one line: what it is and how sure we are of it
  std::vector<std::pair<std::string, std::string>> flags;  // {"--lr", "0.01"}; a switch has ""
};

const std::vector<Recipe>& recipes();
const Recipe& find_recipe(const std::string& name);  // an Error naming the known ones otherwise
std::string recipe_flags_text(const Recipe& r);     // "--optimizer adam --lr 0.0002 ..."

}  // namespace vdsr
