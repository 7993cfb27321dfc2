// The two ways a command fails. main() prints what() on one line and exits with the code.
#pragma once
#include <stdexcept>
#include <string>

namespace beyond {

// Bad input from the user (config, override, data file, checkpoint, path): exit code 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A run that started and then failed (NaN loss, disk full): exit code 1.
struct RunError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace beyond
