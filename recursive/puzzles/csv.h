// The small text-file helpers the puzzle loaders share: lines with their numbers, and HRM's
// four-column CSV (no quoting: HRM's sources, questions and answers never contain commas).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace beyond {

struct NumberedLine {
  int number;        // 1-based
  std::string text;  // without the line ending ("\n" or "\r\n")
};

// Every line of the file; InputError naming the path when it cannot be read.
std::vector<NumberedLine> read_numbered_lines(const std::string& path);

// "path:line".
std::string file_line(const std::string& path, int line);

// The fields between commas; InputError (`where: N fields, expected 4 (source,question,answer,rating)`)
// when there are not `expected` of them.
std::vector<std::string> split_csv_row(const std::string& line, size_t expected, const std::string& where);

inline constexpr const char* kPuzzleCsvHeader = "source,question,answer,rating";

// Requires the first line to be the header above.
void check_puzzle_csv_header(const std::vector<NumberedLine>& lines, const std::string& path);

// A decimal integer field; InputError naming the field otherwise.
int64_t parse_int_field(const std::string& text, const std::string& field, const std::string& where);

}  // namespace beyond
