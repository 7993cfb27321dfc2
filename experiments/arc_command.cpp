#include "experiments/arc_command.h"

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "core/errors.h"
#include "recursive/puzzles/arc.h"
#include "recursive/puzzles/arc_vote.h"

namespace beyond {

namespace {

struct Rgb {
  int r, g, b;
};

// The colours the ARC testing interface draws, by colour number.
constexpr Rgb kArcPalette[kArcColours] = {
    {0x00, 0x00, 0x00},  // 0 black
    {0x00, 0x74, 0xD9},  // 1 blue
    {0xFF, 0x41, 0x36},  // 2 red
    {0x2E, 0xCC, 0x40},  // 3 green
    {0xFF, 0xDC, 0x00},  // 4 yellow
    {0xAA, 0xAA, 0xAA},  // 5 grey
    {0xF0, 0x12, 0xBE},  // 6 magenta
    {0xFF, 0x85, 0x1B},  // 7 orange
    {0x7F, 0xDB, 0xFF},  // 8 light blue
    {0x87, 0x0C, 0x25},  // 9 maroon
};

constexpr const char* kGap = "   ";  // between grids side by side

bool use_colour(const std::string& mode) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  if (mode != "auto") throw InputError("--color " + mode + ": expected auto, always or never");
  const char* no_color = std::getenv("NO_COLOR");  // https://no-color.org: set and non-empty
  return ::isatty(STDOUT_FILENO) == 1 && !(no_color && *no_color);
}

std::string count_of(size_t n, const std::string& thing) { return std::to_string(n) + " " + thing + (n == 1 ? "" : "s"); }

std::string dims(const ArcGrid& g) { return std::to_string(g.rows) + "x" + std::to_string(g.cols); }

// One row of a grid, two columns per cell (so a coloured cell is roughly square): a background
// colour with two spaces, or the colour's digit and a space.
std::string grid_row(const ArcGrid& g, int r, bool colour) {
  std::string out;
  for (int c = 0; c < g.cols; ++c) {
    const int v = g.at(r, c);
    if (colour) {
      const Rgb& p = kArcPalette[v];
      out += "\x1b[48;2;" + std::to_string(p.r) + ";" + std::to_string(p.g) + ";" + std::to_string(p.b) + "m  ";
    } else {
      out += static_cast<char>('0' + v);
      out += ' ';
    }
  }
  if (colour && g.cols > 0) out += "\x1b[0m";
  return out;
}

struct Panel {
  std::string label;
  const ArcGrid* grid;
};

std::string rstrip(std::string s) {
  s.erase(s.find_last_not_of(' ') + 1);
  return s;
}

// Grids side by side, top-aligned, each under its label when `labels`.
void print_panels(std::ostream& out, const std::vector<Panel>& panels, bool colour, bool labels) {
  std::vector<size_t> widths;
  int rows = 0;
  for (const auto& p : panels) {
    widths.push_back(std::max(labels ? p.label.size() : 0, static_cast<size_t>(2 * p.grid->cols)));
    rows = std::max(rows, p.grid->rows);
  }
  if (labels) {
    std::string line;
    for (size_t i = 0; i < panels.size(); ++i) line += (i ? kGap : "") + panels[i].label + std::string(widths[i] - panels[i].label.size(), ' ');
    out << rstrip(line) << "\n";
  }
  for (int r = 0; r < rows; ++r) {
    std::string line;
    for (size_t i = 0; i < panels.size(); ++i) {
      const ArcGrid& g = *panels[i].grid;
      line += i ? kGap : "";
      line += r < g.rows ? grid_row(g, r, colour) : "";
      line += std::string(widths[i] - (r < g.rows ? static_cast<size_t>(2 * g.cols) : 0), ' ');
    }
    out << rstrip(line) << "\n";
  }
}

std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open the " + what);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The predicted attempts per test input of `task` (an empty list: no prediction for that input).
// A file starting with '{' is a submission.json; anything else should be one grid.
std::vector<std::vector<ArcGrid>> load_prediction(const std::string& path, const ArcTask& task) {
  const std::string text = read_file(path, "prediction file");
  const size_t first = text.find_first_not_of(" \t\r\n");
  std::vector<std::vector<ArcGrid>> attempts(task.test.size());
  if (first == std::string::npos || text[first] != '{') {
    attempts[0] = {parse_arc_grid_json(text, path)};  // for test input 1 (the only one, usually)
    return attempts;
  }
  const auto submission = read_arc_submission(path);
  const auto entry = submission.find(task.id);
  if (entry == submission.end()) throw InputError(path + ": no entry for task " + task.id);
  if (entry->second.size() != task.test.size())
    throw InputError(path + ": " + task.id + " has " + std::to_string(entry->second.size()) + " test entries, the task has " +
                     std::to_string(task.test.size()) + " test inputs");
  return entry->second;
}

std::string verdicts(const std::vector<ArcGrid>& attempts, const ArcPair& pair) {
  if (!pair.has_output) return "no output to compare";
  std::string out;
  for (size_t i = 0; i < attempts.size(); ++i)
    out += (i ? ", " : "") + std::string("attempt ") + std::to_string(i + 1) + " " + (attempts[i] == pair.output ? "right" : "wrong");
  return out;
}

int show(const ArcArgs& a) {
  const bool colour = use_colour(a.color);
  const ArcTask task = load_arc_task(a.task);
  const auto predictions = a.prediction.empty() ? std::vector<std::vector<ArcGrid>>{} : load_prediction(a.prediction, task);
  std::ostream& out = std::cout;
  out << "task " << task.id << ": " << count_of(task.train.size(), "train pair") << ", " << count_of(task.test.size(), "test input") << "\n";
  for (size_t i = 0; i < task.train.size(); ++i) {
    const ArcPair& p = task.train[i];
    out << "\ntrain " << i + 1 << "/" << task.train.size() << ": " << dims(p.input) << " -> " << dims(p.output) << "\n";
    print_panels(out, {{"input", &p.input}, {"output", &p.output}}, colour, false);
  }
  int scored = 0, solved = 0;
  for (size_t i = 0; i < task.test.size(); ++i) {
    const ArcPair& p = task.test[i];
    out << "\ntest " << i + 1 << "/" << task.test.size() << ": " << dims(p.input) << " -> "
        << (p.has_output ? dims(p.output) : "? (no output in the file)") << "\n";
    std::vector<Panel> panels = {{"input", &p.input}};
    if (p.has_output) panels.push_back({"output", &p.output});
    const std::vector<ArcGrid>* attempts = predictions.empty() || predictions[i].empty() ? nullptr : &predictions[i];
    for (size_t k = 0; attempts && k < attempts->size(); ++k) panels.push_back({"attempt " + std::to_string(k + 1), &(*attempts)[k]});
    print_panels(out, panels, colour, attempts != nullptr);
    if (!attempts) continue;
    out << verdicts(*attempts, p) << "\n";
    if (!p.has_output) continue;
    scored += 1;
    solved += std::find(attempts->begin(), attempts->end(), p.output) != attempts->end();
  }
  if (!predictions.empty() && scored > 0)
    out << "\nsolved " << solved << " of " << scored << " test inputs with a prediction and an output (by any attempt)\n";
  return 0;
}

}  // namespace

ArcCli::ArcCli(CLI::App& app) {
  auto* arc = app.add_subcommand("arc", "ARC-AGI tasks: show a task's grids, and predicted attempts beside the true outputs");
  arc->require_subcommand(1);
  arc->footer("Example: beyond arc show ../shared/data/arc1/training/007bbfb7.json");
  show_ = arc->add_subcommand("show", "Print a task's train pairs and test inputs as coloured grids (and their outputs when known)");
  show_->add_option("task", args_.task, "an ARC task file, TASK_ID.json")->required();
  show_->add_option("--prediction", args_.prediction,
                    "a submission.json (its entry for TASK_ID) or a file holding one grid as JSON (for test input 1): "
                    "each attempt beside the true output, marked right or wrong");
  show_->add_option("--color", args_.color, "auto | always | never (auto: on a terminal, unless NO_COLOR is set)")->capture_default_str();
  show_->footer("Example: beyond arc show ../shared/data/arc1/training/007bbfb7.json --color never\n"
                "Example: beyond arc show ../shared/data/arc1/evaluation/00576224.json --prediction runs/arc/submission.json");
}

bool ArcCli::selected() const { return show_->parsed(); }

int ArcCli::run() const { return show_->parsed() ? show(args_) : 0; }

}  // namespace beyond
