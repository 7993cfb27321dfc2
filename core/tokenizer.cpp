// Character-level and byte-level BPE tokenizers. Torch-free so data tools and tests can use it
// without LibTorch.
#include "core/tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <queue>
#include <sstream>
#include <string_view>
#include <unordered_set>

#include "core/errors.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace beyond {

namespace {

constexpr int kFormatVersion = 1;
constexpr int64_t kByteTokens = 256;

// ---- small text helpers ----------------------------------------------------------------------

// Length of the valid UTF-8 sequence at s[pos] (its code point in *cp), or 0 when it is invalid:
// truncated, bad continuation byte, overlong, surrogate or above U+10FFFF.
size_t utf8_decode(std::string_view s, size_t pos, uint32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t len;
  uint32_t value, min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, value = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, value = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, value = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (pos + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[pos + k]);
    if ((b & 0xC0) != 0x80) return 0;
    value = (value << 6) | (b & 0x3F);
  }
  if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
  *cp = value;
  return len;
}

std::string code_point_label(uint32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", cp);
  return buf;
}

// Whether a code point can be shown inside a one-line message: no controls, line or paragraph
// separators, invisible format characters.
bool is_printable(uint32_t cp) {
  if (cp < 0x80) return cp >= 0x20 && cp < 0x7F;
  if (cp < 0xA0 || cp == 0xAD || cp == 0xFEFF) return false;
  if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F)) return false;
  return !(cp >= 0xFFF9 && cp <= 0xFFFB);
}

// "'Z' (U+005A)", or just "U+000A" when the character would break the message.
std::string describe_char(std::string_view utf8, uint32_t cp) {
  if (!is_printable(cp)) return code_point_label(cp);
  return "'" + std::string(utf8) + "' (" + code_point_label(cp) + ")";
}

// A string from a file or a caller, quoted with control bytes escaped so messages stay on one line.
std::string quote_text(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7F || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", b);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void check_specials(const std::vector<std::string>& specials) {
  for (size_t i = 0; i < specials.size(); ++i) {
    const std::string& name = specials[i];
    if (std::find(kSpecialTokens.begin(), kSpecialTokens.end(), name) == kSpecialTokens.end()) {
      std::string known;
      for (const auto& k : kSpecialTokens) known += (known.empty() ? "" : ", ") + k;
      throw InputError("specials[" + std::to_string(i) + "] " + quote_text(name) + " is not a special token (known: " +
                       known + ")");
    }
    for (size_t j = 0; j < i; ++j)
      if (specials[j] == name)
        throw InputError("specials[" + std::to_string(i) + "] " + quote_text(name) + " repeats specials[" +
                         std::to_string(j) + "]");
  }
}

// Write "<path>.tmp", flush, then rename, so a crash never leaves a half-written tokenizer file.
void write_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw RunError("cannot write tokenizer file '" + tmp + "': " + std::strerror(errno));
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw RunError("cannot write tokenizer file '" + tmp + "'");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw RunError("cannot rename '" + tmp + "' to '" + path + "': " + why);
  }
}

// One top-level field per line; values compact so a 2000-merge file stays ~2000 short lines wide.
std::string fields_to_json(const std::vector<std::pair<std::string, json>>& fields) {
  std::string out = "{\n";
  for (size_t i = 0; i < fields.size(); ++i) {
    out += "  " + json(fields[i].first).dump() + ": " + fields[i].second.dump();
    out += i + 1 < fields.size() ? ",\n" : "\n";
  }
  return out + "}\n";
}

std::string id_out_of_range(int64_t id, int64_t vocab_size, const std::string& kind) {
  return "token id " + std::to_string(id) + " is outside the " + kind + " tokenizer's vocabulary (ids 0.." +
         std::to_string(vocab_size - 1) + ")";
}

// ---- BPE pre-tokenisation ----------------------------------------------------------------------

enum class ByteClass { kSpace, kLetter, kDigit, kOther };

ByteClass byte_class(char c) {
  const auto b = static_cast<unsigned char>(c);
  if (b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r') return ByteClass::kSpace;
  // Bytes >= 0x80 count as letters so a multi-byte UTF-8 character never splits across chunks.
  if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80) return ByteClass::kLetter;
  if (b >= '0' && b <= '9') return ByteClass::kDigit;
  return ByteClass::kOther;
}

// Calls f(chunk) for each chunk of text, in order; the chunks concatenate back to text. As GPT-2's
// pattern ` ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` without the contraction rules:
// a word, number or punctuation run takes one leading space; a whitespace run followed by a
// non-space leaves its last character to the next chunk.
template <typename F>
void for_each_chunk(std::string_view text, F&& f) {
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const size_t start = i;
    if (text[i] == ' ' && i + 1 < n && byte_class(text[i + 1]) != ByteClass::kSpace) ++i;
    const ByteClass cls = byte_class(text[i]);
    size_t j = i + 1;
    while (j < n && byte_class(text[j]) == cls) ++j;
    if (cls == ByteClass::kSpace && j < n && j - i > 1) --j;
    f(text.substr(start, j - start));
    i = j;
  }
}

uint64_t pair_key(int64_t a, int64_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b); }

// Replaces every non-overlapping occurrence of (a, b), left to right, by id. Returns whether any.
bool merge_pair(std::vector<int32_t>& syms, int32_t a, int32_t b, int32_t id) {
  size_t out = 0;
  bool changed = false;
  for (size_t i = 0; i < syms.size(); ++i) {
    if (i + 1 < syms.size() && syms[i] == a && syms[i + 1] == b) {
      syms[out++] = id;
      ++i;
      changed = true;
    } else {
      syms[out++] = syms[i];
    }
  }
  syms.resize(out);
  return changed;
}

}  // namespace

// ---- Tokenizer ---------------------------------------------------------------------------------

int64_t Tokenizer::special_id(const std::string& name) const {
  const auto it = std::find(specials_.begin(), specials_.end(), name);
  return it == specials_.end() ? -1 : base_vocab_ + (it - specials_.begin());
}

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  const std::string where = "tokenizer file '" + path + "'";
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(where + " does not exist");
  if (fs::is_directory(path, ec)) throw InputError(where + " is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read " + where + ": " + std::strerror(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();

  json root;
  try {
    root = json::parse(buffer.str());
  } catch (const json::parse_error& e) {
    throw InputError(where + " is not valid JSON: " + e.what());
  }
  if (!root.is_object()) throw InputError(where + ": top level must be a JSON object, got " + root.type_name());

  const auto field = [&](const char* key) -> const json& {
    const auto it = root.find(key);
    if (it == root.end()) throw InputError(where + ": field '" + key + "' is missing");
    return *it;
  };
  const auto bad_type = [&](const std::string& name, const char* expected, const json& value) {
    return InputError(where + ": field '" + name + "' must be " + expected + ", got " + value.type_name());
  };

  const json& format = field("format");
  if (!format.is_number_integer()) throw bad_type("format", "an integer", format);
  if (format.get<int64_t>() != kFormatVersion)
    throw InputError(where + ": field 'format' is " + format.dump() + ", this build reads format " +
                     std::to_string(kFormatVersion));
  const json& kind = field("kind");
  if (!kind.is_string()) throw bad_type("kind", "a string", kind);
  const std::string kind_name = kind.get<std::string>();
  if (kind_name != "char" && kind_name != "bpe")
    throw InputError(where + ": field 'kind' is " + quote_text(kind_name) + ", expected \"char\" or \"bpe\"");
  const char* vocab_field = kind_name == "char" ? "chars" : "merges";
  for (const auto& [key, value] : root.items())
    if (key != "format" && key != "kind" && key != "specials" && key != vocab_field)
      throw InputError(where + ": unknown field " + quote_text(key) + " for kind \"" + kind_name + "\"");

  const json& specials_json = field("specials");
  if (!specials_json.is_array()) throw bad_type("specials", "an array of strings", specials_json);
  std::vector<std::string> specials;
  for (size_t i = 0; i < specials_json.size(); ++i) {
    if (!specials_json[i].is_string())
      throw bad_type("specials[" + std::to_string(i) + "]", "a string", specials_json[i]);
    specials.push_back(specials_json[i].get<std::string>());
  }

  // The constructors validate the content (duplicates, ranges); their messages name the field.
  try {
    if (kind_name == "char") {
      const json& chars_json = field("chars");
      if (!chars_json.is_array()) throw bad_type("chars", "an array of strings", chars_json);
      std::vector<std::string> chars;
      for (size_t i = 0; i < chars_json.size(); ++i) {
        if (!chars_json[i].is_string()) throw bad_type("chars[" + std::to_string(i) + "]", "a string", chars_json[i]);
        chars.push_back(chars_json[i].get<std::string>());
      }
      return std::make_unique<CharTokenizer>(std::move(chars), std::move(specials));
    }
    const json& merges_json = field("merges");
    if (!merges_json.is_array()) throw bad_type("merges", "an array of [id, id] pairs", merges_json);
    std::vector<std::pair<int64_t, int64_t>> merges;
    for (size_t i = 0; i < merges_json.size(); ++i) {
      const json& m = merges_json[i];
      const std::string name = "merges[" + std::to_string(i) + "]";
      if (!m.is_array()) throw bad_type(name, "an [id, id] pair", m);
      if (m.size() != 2)
        throw InputError(where + ": field '" + name + "' must be an [id, id] pair, got " + std::to_string(m.size()) +
                         " elements");
      for (const json& id : m)
        if (!id.is_number_integer() ||
            (id.is_number_unsigned() && id.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)))
          throw InputError(where + ": field '" + name + "' must be a pair of integer ids, got " + id.dump());
      merges.emplace_back(m[0].get<int64_t>(), m[1].get<int64_t>());
    }
    return std::make_unique<BPETokenizer>(std::move(merges), std::move(specials));
  } catch (const InputError& e) {
    const std::string what = e.what();
    if (what.rfind(where, 0) == 0) throw;
    throw InputError(where + ": " + what);
  }
}

// ---- CharTokenizer -----------------------------------------------------------------------------

CharTokenizer CharTokenizer::from_corpus(const std::string& corpus, const std::vector<std::string>& specials) {
  if (corpus.empty()) throw InputError("char tokenizer corpus is empty");
  std::vector<bool> seen(0x110000, false);
  for (size_t pos = 0; pos < corpus.size();) {
    uint32_t cp;
    const size_t len = utf8_decode(corpus, pos, &cp);
    if (len == 0) throw InputError("char tokenizer corpus is not valid UTF-8 at byte " + std::to_string(pos));
    seen[cp] = true;
    pos += len;
  }
  // Re-encode each seen code point; walking `seen` in order gives the sorted vocabulary.
  std::vector<std::string> chars;
  for (uint32_t cp = 0; cp < seen.size(); ++cp) {
    if (!seen[cp]) continue;
    std::string c;
    if (cp < 0x80) {
      c += static_cast<char>(cp);
    } else if (cp < 0x800) {
      c += static_cast<char>(0xC0 | (cp >> 6));
      c += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      c += static_cast<char>(0xE0 | (cp >> 12));
      c += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      c += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      c += static_cast<char>(0xF0 | (cp >> 18));
      c += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      c += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      c += static_cast<char>(0x80 | (cp & 0x3F));
    }
    chars.push_back(std::move(c));
  }
  return CharTokenizer(std::move(chars), specials);
}

CharTokenizer::CharTokenizer(std::vector<std::string> chars, std::vector<std::string> specials)
    : chars_(std::move(chars)) {
  if (chars_.empty()) throw InputError("char tokenizer needs at least one character (chars is empty)");
  for (size_t i = 0; i < chars_.size(); ++i) {
    uint32_t cp = 0;
    const size_t len = chars_[i].empty() ? 0 : utf8_decode(chars_[i], 0, &cp);
    if (len == 0 || len != chars_[i].size())
      throw InputError("chars[" + std::to_string(i) + "] " + quote_text(chars_[i]) +
                       " is not exactly one UTF-8 encoded code point");
    const auto [it, inserted] = index_.emplace(cp, static_cast<int64_t>(i));
    if (!inserted)
      throw InputError("chars[" + std::to_string(i) + "] " + describe_char(chars_[i], cp) + " repeats chars[" +
                       std::to_string(it->second) + "]");
  }
  check_specials(specials);
  specials_ = std::move(specials);
  base_vocab_ = static_cast<int64_t>(chars_.size());
}

std::vector<int64_t> CharTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    uint32_t cp;
    const size_t len = utf8_decode(text, pos, &cp);
    if (len == 0) throw InputError("text to encode is not valid UTF-8 at byte " + std::to_string(pos));
    const auto it = index_.find(cp);
    if (it == index_.end())
      throw InputError("character " + describe_char(std::string_view(text).substr(pos, len), cp) + " at byte " +
                       std::to_string(pos) + " is not in the char tokenizer's vocabulary (" +
                       std::to_string(chars_.size()) + " characters)");
    ids.push_back(it->second);
    pos += len;
  }
  return ids;
}

std::string CharTokenizer::token_text(int64_t id) const {
  if (id >= 0 && id < base_vocab_) return chars_[static_cast<size_t>(id)];
  if (id >= base_vocab_ && id < vocab_size()) return specials_[static_cast<size_t>(id - base_vocab_)];
  throw InputError(id_out_of_range(id, vocab_size(), "char"));
}

std::string CharTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string text;
  text.reserve(ids.size());
  for (const int64_t id : ids) text += token_text(id);
  return text;
}

int64_t CharTokenizer::vocab_size() const { return base_vocab_ + static_cast<int64_t>(specials_.size()); }

void CharTokenizer::save(const std::string& path) const {
  write_atomic(path, fields_to_json({{"format", kFormatVersion},
                                     {"kind", "char"},
                                     {"chars", chars_},
                                     {"specials", specials_}}));
}

// ---- BPETokenizer ------------------------------------------------------------------------------

BPETokenizer BPETokenizer::train(const std::string& corpus, int64_t vocab_size,
                                 const std::vector<std::string>& specials) {
  if (vocab_size < kByteTokens)
    throw InputError("BPE vocab_size must be at least 256 (the byte tokens), got " + std::to_string(vocab_size));
  if (vocab_size > (int64_t{1} << 31))
    throw InputError("BPE vocab_size " + std::to_string(vocab_size) + " is too large");
  check_specials(specials);

  // Merges never cross chunks, so training only needs each distinct chunk and how often it occurs.
  std::unordered_map<std::string_view, int64_t> chunk_counts;
  for_each_chunk(corpus, [&](std::string_view chunk) { ++chunk_counts[chunk]; });
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> word_counts;
  words.reserve(chunk_counts.size());
  for (const auto& [chunk, count] : chunk_counts) {
    words.emplace_back(chunk.begin(), chunk.end());
    for (auto& s : words.back()) s = static_cast<unsigned char>(s);
    word_counts.push_back(count);
  }

  // Pair counts (weighted by chunk frequency) are kept up to date incrementally: a merge only
  // touches the words listed under its pair. Lists may hold stale or repeated word indices.
  std::unordered_map<uint64_t, int64_t> pair_counts;
  std::unordered_map<uint64_t, std::vector<int32_t>> pair_words;
  for (size_t w = 0; w < words.size(); ++w) {
    const auto& syms = words[w];
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      const uint64_t key = pair_key(syms[i], syms[i + 1]);
      pair_counts[key] += word_counts[w];
      pair_words[key].push_back(static_cast<int32_t>(w));
    }
  }

  // Max-heap of (count, pair) with lazy deletion: an entry is live only while its count is the
  // pair's current count. Ties go to the smallest pair (a, then b) so training is deterministic.
  struct Entry {
    int64_t count;
    uint64_t key;
  };
  const auto lower = [](const Entry& x, const Entry& y) {
    return x.count < y.count || (x.count == y.count && x.key > y.key);
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(lower)> heap(lower);
  for (const auto& [key, count] : pair_counts) heap.push({count, key});

  std::vector<std::pair<int64_t, int64_t>> merges;
  std::vector<int64_t> word_stamp(words.size(), -1);
  std::vector<uint64_t> touched;
  while (kByteTokens + static_cast<int64_t>(merges.size()) < vocab_size) {
    while (!heap.empty()) {
      const auto it = pair_counts.find(heap.top().key);
      if (it != pair_counts.end() && it->second == heap.top().count) break;
      heap.pop();
    }
    if (heap.empty() || heap.top().count < 2) break;  // no pair occurs twice: nothing worth merging
    const uint64_t key = heap.top().key;
    heap.pop();
    const auto a = static_cast<int32_t>(key >> 32), b = static_cast<int32_t>(key & 0xFFFFFFFFu);
    const auto id = static_cast<int32_t>(kByteTokens + static_cast<int64_t>(merges.size()));
    merges.emplace_back(a, b);

    const std::vector<int32_t> words_with_pair = std::move(pair_words[key]);
    pair_words.erase(key);
    touched.clear();
    for (const int32_t w : words_with_pair) {
      if (word_stamp[w] == id) continue;  // a word listed twice under this pair
      word_stamp[w] = id;
      auto& syms = words[w];
      const int64_t count = word_counts[w];
      std::vector<int32_t> before = syms;
      if (!merge_pair(syms, a, b, id)) continue;
      // Remove the word's old pairs and add its new ones; only pairs holding `id` are new.
      for (size_t i = 0; i + 1 < before.size(); ++i) {
        const uint64_t k = pair_key(before[i], before[i + 1]);
        if ((pair_counts[k] -= count) == 0) pair_counts.erase(k);
        touched.push_back(k);
      }
      for (size_t i = 0; i + 1 < syms.size(); ++i) {
        const uint64_t k = pair_key(syms[i], syms[i + 1]);
        pair_counts[k] += count;
        touched.push_back(k);
        if (syms[i] == id || syms[i + 1] == id) pair_words[k].push_back(w);
      }
    }
    pair_counts.erase(key);
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (const uint64_t k : touched) {
      const auto it = pair_counts.find(k);
      if (it != pair_counts.end()) heap.push({it->second, k});
    }
  }
  return BPETokenizer(std::move(merges), specials);
}

BPETokenizer::BPETokenizer(std::vector<std::pair<int64_t, int64_t>> merges, std::vector<std::string> specials)
    : merges_(std::move(merges)) {
  token_bytes_.reserve(kByteTokens + merges_.size());
  for (int b = 0; b < kByteTokens; ++b) token_bytes_.emplace_back(1, static_cast<char>(b));
  for (size_t i = 0; i < merges_.size(); ++i) {
    const auto [a, b] = merges_[i];
    const int64_t next_id = kByteTokens + static_cast<int64_t>(i);
    for (const int64_t part : {a, b})
      if (part < 0 || part >= next_id)
        throw InputError("merges[" + std::to_string(i) + "] = [" + std::to_string(a) + ", " + std::to_string(b) +
                         "] uses id " + std::to_string(part) + ", but merge " + std::to_string(i) +
                         " can only use ids 0.." + std::to_string(next_id - 1));
    const auto [it, inserted] = ranks_.emplace(pair_key(a, b), static_cast<int64_t>(i));
    if (!inserted)
      throw InputError("merges[" + std::to_string(i) + "] = [" + std::to_string(a) + ", " + std::to_string(b) +
                       "] repeats merges[" + std::to_string(it->second) + "]");
    token_bytes_.push_back(token_bytes_[static_cast<size_t>(a)] + token_bytes_[static_cast<size_t>(b)]);
  }
  check_specials(specials);
  specials_ = std::move(specials);
  base_vocab_ = static_cast<int64_t>(token_bytes_.size());
}

std::vector<int64_t> BPETokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  ids.reserve(text.size() / 2);
  // Per chunk: repeatedly merge the adjacent pair with the lowest merge rank, leftmost first, as
  // in training. A min-heap over (rank, position) with a linked list keeps long chunks O(n log n).
  struct Entry {
    int64_t rank;
    int32_t pos;
    bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<int64_t> syms;  // -1 once absorbed into the symbol on its left
  std::vector<int32_t> next, prev;
  std::vector<Entry> heap;  // min-heap via std::greater
  for_each_chunk(text, [&](std::string_view chunk) {
    const auto n = static_cast<int32_t>(chunk.size());
    syms.assign(chunk.begin(), chunk.end());
    for (auto& s : syms) s = static_cast<unsigned char>(s);
    next.resize(n);
    prev.resize(n);
    for (int32_t i = 0; i < n; ++i) next[i] = i + 1 < n ? i + 1 : -1, prev[i] = i - 1;
    heap.clear();
    const auto push_pair = [&](int32_t pos) {
      if (pos < 0 || next[pos] < 0) return;
      const auto it = ranks_.find(pair_key(syms[pos], syms[next[pos]]));
      if (it == ranks_.end()) return;
      heap.push_back({it->second, pos});
      std::push_heap(heap.begin(), heap.end(), std::greater<Entry>());
    };
    for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<Entry>());
      const Entry e = heap.back();
      heap.pop_back();
      // Stale entry: the left symbol was absorbed or either side changed since it was pushed.
      if (syms[e.pos] < 0 || next[e.pos] < 0) continue;
      const auto it = ranks_.find(pair_key(syms[e.pos], syms[next[e.pos]]));
      if (it == ranks_.end() || it->second != e.rank) continue;
      const int32_t right = next[e.pos];
      syms[e.pos] = kByteTokens + e.rank;
      syms[right] = -1;
      next[e.pos] = next[right];
      if (next[right] >= 0) prev[next[right]] = e.pos;
      push_pair(prev[e.pos]);
      push_pair(e.pos);
    }
    for (int32_t i = 0; i >= 0; i = next[i]) ids.push_back(syms[i]);
  });
  return ids;
}

std::string BPETokenizer::token_text(int64_t id) const {
  if (id >= 0 && id < base_vocab_) return token_bytes_[static_cast<size_t>(id)];
  if (id >= base_vocab_ && id < vocab_size()) return specials_[static_cast<size_t>(id - base_vocab_)];
  throw InputError(id_out_of_range(id, vocab_size(), "BPE"));
}

std::string BPETokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string text;
  for (const int64_t id : ids) text += token_text(id);
  return text;
}

int64_t BPETokenizer::vocab_size() const { return base_vocab_ + static_cast<int64_t>(specials_.size()); }

void BPETokenizer::save(const std::string& path) const {
  json merges = json::array();
  for (const auto& [a, b] : merges_) merges.push_back({a, b});
  write_atomic(path, fields_to_json({{"format", kFormatVersion},
                                     {"kind", "bpe"},
                                     {"merges", merges},
                                     {"specials", specials_}}));
}

}  // namespace beyond
