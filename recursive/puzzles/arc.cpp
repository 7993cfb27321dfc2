#include "recursive/puzzles/arc.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/errors.h"
#include "core/log/log.h"

namespace beyond {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// One cell as a colour; `where` names the row ("train[1].output row 2").
uint8_t parse_colour(const json& cell, const std::string& where, size_t col) {
  if (!cell.is_number_integer())
    throw InputError(where + ": cell " + std::to_string(col) + " is " + cell.dump() + ", not an integer colour");
  // Unsigned first: a value past INT64_MAX must not wrap into range.
  const bool in_range = cell.is_number_unsigned() ? cell.get<uint64_t>() <= 9
                                                   : cell.get<int64_t>() >= 0 && cell.get<int64_t>() <= 9;
  if (!in_range) throw InputError(where + ": colour " + cell.dump() + " is outside 0-9");
  return static_cast<uint8_t>(cell.get<int64_t>());
}

}  // namespace

// Rows and cells in messages are 0-based, like the JSON indices in `where`.
ArcGrid arc_grid_from_json(const json& value, const std::string& where, bool allow_empty) {
  if (!value.is_array()) throw InputError(where + ": expected a list of rows, got " + std::string(value.type_name()));
  if (value.empty() && allow_empty) return {};
  if (value.empty()) throw InputError(where + ": empty grid (no rows)");
  if (value.size() > static_cast<size_t>(kArcMaxGrid))
    throw InputError(where + ": " + std::to_string(value.size()) + " rows, more than " + std::to_string(kArcMaxGrid));
  ArcGrid grid;
  grid.rows = static_cast<int>(value.size());
  for (size_t r = 0; r < value.size(); ++r) {
    const json& row = value[r];
    const std::string row_where = where + " row " + std::to_string(r);
    if (!row.is_array()) throw InputError(row_where + ": expected a list of colours, got " + std::string(row.type_name()));
    if (row.empty()) throw InputError(row_where + ": empty row");
    if (row.size() > static_cast<size_t>(kArcMaxGrid))
      throw InputError(row_where + ": " + std::to_string(row.size()) + " columns, more than " + std::to_string(kArcMaxGrid));
    if (r == 0) grid.cols = static_cast<int>(row.size());
    if (row.size() != static_cast<size_t>(grid.cols))
      throw InputError(row_where + ": " + std::to_string(row.size()) + " columns, row 0 has " + std::to_string(grid.cols) +
                       " (ragged grid)");
    for (size_t c = 0; c < row.size(); ++c) grid.cells.push_back(parse_colour(row[c], row_where, c));
  }
  return grid;
}

namespace {

ArcPair parse_pair(const json& value, const std::string& where, bool output_required) {
  if (!value.is_object()) throw InputError(where + ": expected an object with \"input\" and \"output\"");
  if (!value.contains("input")) throw InputError(where + ": no \"input\"");
  ArcPair pair;
  pair.input = arc_grid_from_json(value["input"], where + ".input");
  if (value.contains("output")) {
    pair.output = arc_grid_from_json(value["output"], where + ".output");
  } else if (output_required) {
    throw InputError(where + ": no \"output\"");
  } else {
    pair.has_output = false;
  }
  return pair;
}

std::vector<ArcPair> parse_pairs(const json& doc, const std::string& path, const std::string& key) {
  if (!doc.contains(key)) throw InputError(path + ": no \"" + key + "\" list");
  const json& list = doc[key];
  if (!list.is_array()) throw InputError(path + ": \"" + key + "\" is not a list");
  if (list.empty()) throw InputError(path + ": \"" + key + "\" is empty");
  std::vector<ArcPair> pairs;
  for (size_t i = 0; i < list.size(); ++i)
    pairs.push_back(parse_pair(list[i], path + ": " + key + "[" + std::to_string(i) + "]", key == "train"));
  return pairs;
}

json parse_json_text(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw InputError(where + ": not JSON (" + e.what() + ")");
  }
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in || fs::is_directory(path)) throw InputError(path + ": no such file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

json read_arc_json(const std::string& path) { return parse_json_text(read_text(path), path); }

ArcGrid ArcGrid::from_rows(const std::vector<std::vector<int>>& rows) {
  ArcGrid g;
  g.rows = static_cast<int>(rows.size());
  g.cols = rows.empty() ? 0 : static_cast<int>(rows[0].size());
  for (const auto& row : rows)
    for (int v : row) g.cells.push_back(static_cast<uint8_t>(v));
  return g;
}

int ArcTask::max_side() const {
  int side = 0;
  for (const auto* pairs : {&train, &test})
    for (const auto& p : *pairs) side = std::max({side, p.input.rows, p.input.cols, p.output.rows, p.output.cols});
  return side;
}

ArcTask load_arc_task(const std::string& path) {
  const json doc = read_arc_json(path);
  if (!doc.is_object()) throw InputError(path + ": expected a JSON object with \"train\" and \"test\"");
  ArcTask task;
  task.id = fs::path(path).stem().string();
  task.path = path;
  task.train = parse_pairs(doc, path, "train");
  task.test = parse_pairs(doc, path, "test");
  return task;
}

std::vector<ArcTask> load_arc_dir(const std::string& dir, const std::vector<std::string>& ids) {
  if (!fs::is_directory(dir)) throw InputError(dir + ": no such folder of ARC tasks");
  std::vector<ArcTask> tasks;
  if (!ids.empty()) {
    for (const auto& id : ids) {
      const auto path = fs::path(dir) / (id + ".json");
      if (!fs::is_regular_file(path)) throw InputError(dir + ": no task file for id " + id + " (" + path.string() + ")");
      tasks.push_back(load_arc_task(path.string()));
    }
    return tasks;
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return a.stem() < b.stem(); });
  for (const auto& f : files) tasks.push_back(load_arc_task(f.string()));
  return tasks;
}

std::vector<std::string> read_arc_id_list(const std::string& path) {
  std::istringstream in(read_text(path));
  std::vector<std::string> ids;
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const auto last = line.find_last_not_of(" \t\r");
    ids.push_back(line.substr(first, last - first + 1));
  }
  return ids;
}

std::set<std::string> overlapping_ids(const std::vector<ArcTask>& a, const std::vector<ArcTask>& b) {
  std::set<std::string> in_a;
  for (const auto& t : a) in_a.insert(t.id);
  std::set<std::string> both;
  for (const auto& t : b)
    if (in_a.count(t.id)) both.insert(t.id);
  return both;
}

size_t warn_if_overlapping(const std::vector<ArcTask>& train, const std::vector<ArcTask>& eval,
                           const std::string& train_name, const std::string& eval_name) {
  const auto both = overlapping_ids(train, eval);
  if (both.empty()) return 0;
  std::string examples;
  int shown = 0;
  for (const auto& id : both) {
    if (shown++ == 5) {
      examples += ", ...";
      break;
    }
    examples += (examples.empty() ? "" : ", ") + id;
  }
  const bool one = both.size() == 1;
  log::warn(std::to_string(both.size()) + (one ? " task of " : " tasks of ") + eval_name + (one ? " is" : " are") +
            " also in " + train_name + " (" + examples + "): scores on them are not held out");
  return both.size();
}

std::string arc_grid_json(const ArcGrid& grid) {
  std::string out = "[";
  for (int r = 0; r < grid.rows; ++r) {
    out += r ? ",[" : "[";
    for (int c = 0; c < grid.cols; ++c) {
      if (c) out += ',';
      out += std::to_string(grid.at(r, c));
    }
    out += "]";
  }
  return out + "]";
}

ArcGrid parse_arc_grid_json(const std::string& text, const std::string& where) {
  return arc_grid_from_json(parse_json_text(text, where), where);
}

}  // namespace beyond
