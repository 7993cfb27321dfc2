#include "recursive/puzzles/csv.h"

#include <charconv>
#include <fstream>

#include "core/errors.h"

namespace beyond {

std::vector<NumberedLine> read_numbered_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open the file");
  std::vector<NumberedLine> lines;
  std::string text;
  for (int number = 1; std::getline(in, text); ++number) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    lines.push_back({number, std::move(text)});
  }
  if (in.bad()) throw InputError(path + ": read error");
  return lines;
}

std::string file_line(const std::string& path, int line) { return path + ":" + std::to_string(line); }

std::vector<std::string> split_csv_row(const std::string& line, size_t expected, const std::string& where) {
  std::vector<std::string> fields;
  size_t start = 0;
  for (;;) {
    const size_t comma = line.find(',', start);
    fields.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (fields.size() != expected)
    throw InputError(where + ": " + std::to_string(fields.size()) + " fields, expected " + std::to_string(expected) + " (" +
                     kPuzzleCsvHeader + ")");
  return fields;
}

void check_puzzle_csv_header(const std::vector<NumberedLine>& lines, const std::string& path) {
  if (lines.empty() || lines[0].text != kPuzzleCsvHeader)
    throw InputError(file_line(path, 1) + ": expected the header '" + kPuzzleCsvHeader + "'" +
                     (lines.empty() ? std::string(", the file is empty") : ", got '" + lines[0].text.substr(0, 60) + "'"));
}

int64_t parse_int_field(const std::string& text, const std::string& field, const std::string& where) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    throw InputError(where + ": " + field + " '" + text.substr(0, 40) + "' is not an integer");
  return value;
}

}  // namespace beyond
