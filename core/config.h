// TOML configs with command-line overrides, typed reads with ranges, and strict key checking.
//
// A config is read in two phases. First every consumer asks for the keys it knows
// (get_int("model.d_model", 128, 1, 65536) ...); each read records the value, default included,
// into the resolved config. Then check_all_used() rejects any key in the file or the overrides
// that nobody asked for, naming the file, line and a close spelling. All errors are InputError.
#pragma once
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"

namespace beyond {

class Config {
 public:
  // Parses a TOML file, then applies overrides "key.sub=value" in order. A value is parsed as a
  // TOML literal (42, 1e-3, true, "x", [1, 2]) and falls back to a bare string.
  static Config load(const std::string& path, const std::vector<std::string>& overrides = {});
  static Config parse(const std::string& toml_text, const std::string& source_name,
                      const std::vector<std::string>& overrides = {});

  Config();
  ~Config();
  Config(Config&&) noexcept;
  Config& operator=(Config&&) noexcept;
  Config(const Config&);
  Config& operator=(const Config&);

  // Typed reads. Keys are dotted paths ("train.lr"). A missing key yields the default.
  int64_t get_int(const std::string& key, int64_t def,
                  int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max());
  // Accepts integers too (lr = 1 is 1.0).
  double get_float(const std::string& key, double def,
                   double min = -std::numeric_limits<double>::infinity(),
                   double max = std::numeric_limits<double>::infinity());
  bool get_bool(const std::string& key, bool def);
  std::string get_string(const std::string& key, const std::string& def);
  // A string that must be one of `choices`; a wrong one is named with a close spelling.
  std::string get_choice(const std::string& key, const std::string& def,
                         const std::vector<std::string>& choices);
  std::vector<int64_t> get_int_list(const std::string& key, const std::vector<int64_t>& def,
                                    int64_t min = std::numeric_limits<int64_t>::min(),
                                    int64_t max = std::numeric_limits<int64_t>::max());

  std::vector<std::string> get_string_list(const std::string& key, const std::vector<std::string>& def);
  // The keys directly under a table, sorted ({} when the table is absent). Marks nothing.
  std::vector<std::string> keys(const std::string& table) const;

  // True when the file or an override sets the key (reads nothing, marks nothing).
  bool has(const std::string& key) const;
  // Marks every key under a table as known without reading it (for free-form tables).
  void allow_table(const std::string& table);

  // Throws InputError for the first key that was set but never read (only under `table` when
  // given: a command that reads one table of a larger config).
  void check_all_used(const std::string& table = "") const;

  // The resolved config: every key that was read with its value, as TOML text.
  std::string resolved_toml() const;
  // Where the config came from ("configs/x.toml", or the source name given to parse()).
  const std::string& source() const;

  // Builds an error naming the key and where it was set ("file.toml:3:5: model.d_model: ...").
  InputError error(const std::string& key, const std::string& message) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Damerau-Levenshtein-free plain edit distance, for "did you mean" hints.
size_t edit_distance(const std::string& a, const std::string& b);
// The closest candidate within a small distance, or "" when none is close.
std::string closest_spelling(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace beyond
