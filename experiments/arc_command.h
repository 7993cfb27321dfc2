// `beyond arc show TASK.json [--prediction FILE] [--color auto|always|never]`: prints a task's
// train pairs and test inputs (with their outputs when the file has them) as coloured grids on a
// terminal, and with --prediction (an ARC Prize submission.json, or a file holding one grid as
// JSON) the predicted attempts beside the true output, marked right or wrong.
// main() creates one ArcCli before parsing and calls run() when selected() after.
#pragma once
#include <string>

namespace CLI {
class App;
}

namespace beyond {

struct ArcArgs {
  std::string task;        // TASK.json
  std::string prediction;  // "" = none
  std::string color = "auto";  // auto: colour when stdout is a terminal and NO_COLOR is unset or empty
};

class ArcCli {
 public:
  explicit ArcCli(CLI::App& app);  // adds the `arc` command and its `show` subcommand
  ArcCli(const ArcCli&) = delete;
  ArcCli& operator=(const ArcCli&) = delete;
  bool selected() const;
  int run() const;  // InputError for bad input (exit 2)

 private:
  ArcArgs args_;
  CLI::App* show_ = nullptr;
};

}  // namespace beyond
