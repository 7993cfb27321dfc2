#include "core/text_data.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/errors.h"
#include "core/run.h"

namespace fs = std::filesystem;

namespace beyond {
namespace {

constexpr char kMagic[8] = {'B', 'Y', 'T', 'O', 'K', 'v', '1', '\0'};

size_t count_code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
}

// The cache file: magic, token count, then int32 ids.
bool read_cache(const std::string& path, std::vector<int32_t>& ids) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  char magic[8];
  int64_t n = 0;
  if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0 || !in.read(reinterpret_cast<char*>(&n), 8) || n < 0)
    return false;
  const auto expected = static_cast<std::uintmax_t>(16 + 4 * n);
  if (fs::file_size(path) != expected) return false;
  ids.resize(static_cast<size_t>(n));
  return static_cast<bool>(in.read(reinterpret_cast<char*>(ids.data()), 4 * n));
}

void write_cache(const std::string& path, const std::vector<int32_t>& ids) {
  std::string bytes(kMagic, 8);
  const int64_t n = static_cast<int64_t>(ids.size());
  bytes.append(reinterpret_cast<const char*>(&n), 8);
  bytes.append(reinterpret_cast<const char*>(ids.data()), ids.size() * 4);
  write_file_atomic(path, bytes);
}

}  // namespace

std::string read_text_file(const std::string& path) {
  if (!fs::is_regular_file(path)) throw InputError("data file '" + path + "' not found");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read data file '" + path + "'");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TextData TextData::load(const std::string& path, const Tokenizer& tokenizer, double val_fraction,
                        const std::string& cache_dir) {
  const std::string text = read_text_file(path);
  if (text.empty()) throw InputError("data file '" + path + "' is empty");
  // Key the cache on the file's identity and the tokenizer's vocabulary (every token's text).
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  if (ec) throw InputError("cannot create token cache folder '" + cache_dir + "': " + ec.message());
  std::string tok_json = tokenizer.kind();
  for (int64_t i = 0; i < tokenizer.vocab_size(); ++i) tok_json += "\x1f" + tokenizer.token_text(i);
  const auto mtime = fs::last_write_time(path).time_since_epoch().count();
  const size_t key = std::hash<std::string>{}(fs::absolute(path).string() + "|" + std::to_string(text.size()) + "|" +
                                              std::to_string(mtime) + "|" + tok_json);
  const std::string cache = cache_dir + "/" + fs::path(path).stem().string() + "-" + std::to_string(key) + ".tokens";

  std::vector<int32_t> ids;
  if (!read_cache(cache, ids)) {
    const auto encoded = tokenizer.encode(text);
    ids.assign(encoded.begin(), encoded.end());
    write_cache(cache, ids);
  }
  const int64_t n = static_cast<int64_t>(ids.size());
  const int64_t n_val = static_cast<int64_t>(std::floor(static_cast<double>(n) * val_fraction));
  if (n - n_val < 2 || n_val < 2) throw InputError("data file '" + path + "' is too short to split (" + std::to_string(n) + " tokens)");
  auto all = at::from_blob(ids.data(), {n}, at::kInt).to(at::kLong);
  TextData d;
  d.train = all.narrow(0, 0, n - n_val).clone();
  d.val = all.narrow(0, n - n_val, n_val).clone();
  // Characters in the validation part, to report bits per character for any tokenizer.
  std::vector<int64_t> val_ids(ids.end() - n_val, ids.end());
  d.val_tokens_per_char = static_cast<double>(n_val) / static_cast<double>(std::max<size_t>(1, count_code_points(tokenizer.decode(val_ids))));
  return d;
}

std::pair<at::Tensor, at::Tensor> TextData::random_windows(const std::string& split, int64_t batch, int64_t block,
                                                           uint64_t seed) const {
  const auto& data = split == "val" ? val : train;
  if (data.size(0) <= block + 1)
    throw InputError("the " + split + " split has " + std::to_string(data.size(0)) + " tokens, fewer than block " +
                     std::to_string(block) + " + 1");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto starts = at::randint(0, data.size(0) - block - 1, {batch, 1}, gen, at::kLong);
  const auto idx = starts + at::arange(block + 1, at::kLong).unsqueeze(0);  // (B, block+1)
  const auto windows = data.index_select(0, idx.reshape({-1})).view({batch, block + 1});
  return {windows.narrow(1, 0, block).contiguous(), windows.narrow(1, 1, block).contiguous()};
}

std::vector<std::pair<at::Tensor, at::Tensor>> TextData::fixed_val_batches(int64_t n, int64_t batch, int64_t block) const {
  std::vector<std::pair<at::Tensor, at::Tensor>> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(random_windows("val", batch, block, 0x5eed0000ULL + static_cast<uint64_t>(i)));
  return out;
}

}  // namespace beyond
