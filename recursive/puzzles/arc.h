// ARC-AGI tasks (ARC-AGI-1 and -2 share one layout): a JSON file per task, named by the task id,
//   {"train": [{"input": grid, "output": grid}, ...], "test": [{"input": grid, "output": grid}, ...]}
// where a grid is a list of rows of colours 0-9, 1x1 to 30x30, every row the same length. A test
// pair may lack its "output" (a hidden test set); such a pair cannot be scored.
// Plain C++, no torch.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace beyond {

inline constexpr int kArcMaxGrid = 30;  // largest side of an ARC grid
inline constexpr int kArcColours = 10;  // colours 0..9; 0 is black (the background)

struct ArcGrid {
  int rows = 0, cols = 0;
  std::vector<uint8_t> cells;  // rows * cols colours, row-major

  uint8_t at(int r, int c) const { return cells[static_cast<size_t>(r * cols + c)]; }
  uint8_t& at(int r, int c) { return cells[static_cast<size_t>(r * cols + c)]; }
  bool operator==(const ArcGrid& o) const { return rows == o.rows && cols == o.cols && cells == o.cells; }
  bool operator!=(const ArcGrid& o) const { return !(*this == o); }
  bool empty() const { return rows == 0 || cols == 0; }
  // From rows of colours, e.g. {{0, 1}, {2, 3}}; every row as long as the first (not checked further).
  static ArcGrid from_rows(const std::vector<std::vector<int>>& rows);
};

struct ArcPair {
  ArcGrid input, output;
  bool has_output = true;  // false for a test pair whose file gives no "output"
};

struct ArcTask {
  std::string id;    // the file name without ".json"
  std::string path;  // where it was read from
  std::vector<ArcPair> train, test;
  int max_side() const;  // the largest side of any grid in the task
};

// Parses one task file. InputError naming the file and the field for: a file that is missing or
// not JSON; a missing or empty "train"/"test" list; a pair without "input" (or a train pair without
// "output"); a grid that is not a list of lists of ints, is empty, has rows of different lengths,
// is larger than 30x30, or holds a colour outside 0-9. E.g.
//   "arc/abc.json: train[1].output row 2: colour 12 is outside 0-9"
// (rows and cells are counted from 0, like the JSON list indices).
ArcTask load_arc_task(const std::string& path);

// Every "*.json" in `dir`, sorted by id. With `ids` non-empty, only those tasks, in that order
// (InputError naming the id that has no file). InputError when the folder does not exist.
std::vector<ArcTask> load_arc_dir(const std::string& dir, const std::vector<std::string>& ids = {});

// The task ids listed one per line in a text file (ARC-AGI-2's training.txt / evaluation.txt);
// blank lines and lines starting with '#' are skipped.
std::vector<std::string> read_arc_id_list(const std::string& path);

// Ids present in both sets. ARC-AGI-2's training set holds 376 of ARC-AGI-1's evaluation tasks under
// the same ids, so a run that trains on one and reports on the other is contaminated.
std::set<std::string> overlapping_ids(const std::vector<ArcTask>& a, const std::vector<ArcTask>& b);
// Logs a warning naming the count and up to 5 of the ids when `train` and `eval` overlap; returns
// the overlap size.
size_t warn_if_overlapping(const std::vector<ArcTask>& train, const std::vector<ArcTask>& eval,
                           const std::string& train_name, const std::string& eval_name);

// A JSON file's contents; InputError "PATH: no such file" or "PATH: not JSON (...)".
nlohmann::json read_arc_json(const std::string& path);
// A grid from its JSON value, checked as load_arc_task checks one; `where` names it in errors
// ("a.json: train[1].output"). With allow_empty, [] is the 0x0 grid (a blank answer in a submission).
ArcGrid arc_grid_from_json(const nlohmann::json& value, const std::string& where, bool allow_empty = false);

// JSON text of a grid, "[[0,1],[2,3]]", and back (InputError prefixed with `where`).
std::string arc_grid_json(const ArcGrid& grid);
ArcGrid parse_arc_grid_json(const std::string& text, const std::string& where);

}  // namespace beyond
