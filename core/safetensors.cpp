#include "core/safetensors.h"

#include "core/errors.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <tuple>
#include <vector>

namespace beyond::safetensors {

// Tensor bytes are copied as they lie in memory; the format is little-endian.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

using nlohmann::json;

// The reference reader's limit (MAX_HEADER_SIZE in safetensors/src/tensor.rs).
constexpr uint64_t kMaxHeaderSize = 100'000'000;
// Our headers nest three deep; the limit stops a header of 100 MB of '[' from building a huge tree.
constexpr int kMaxJsonDepth = 16;
const std::string kMetadataKey = "__metadata__";

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeName kDtypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat},         {"F16", at::kHalf},     {"BF16", at::kBFloat16},
    {"I64", at::kLong},   {"I32", at::kInt},           {"I16", at::kShort},    {"I8", at::kChar},
    {"U8", at::kByte},    {"BOOL", at::kBool},         {"F8_E4M3", at::kFloat8_e4m3fn},
    {"F8_E5M2", at::kFloat8_e5m2},
};

struct Entry {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct Header {
  std::vector<Entry> entries;  // sorted by data offsets
  Metadata metadata;
};

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw InputError(name + ": " + what);
}

// 'name' with control characters escaped, so that an error message stays on one line.
std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", u);
      q += buf;
    } else {
      q += c;
    }
  }
  return q + "'";
}

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Returns the offset of the first byte that breaks UTF-8, or npos.
size_t invalid_utf8_at(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return i;
    i += len;
  }
  return std::string_view::npos;
}

// Parses JSON, rejecting duplicate keys: nlohmann would silently keep the last one.
json parse_json(std::string_view text, const std::string& name) {
  std::vector<std::set<std::string>> keys;  // one key set per open object
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) fail(name, "header JSON is nested too deeply");
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.back().insert(parsed.get<std::string>()).second)
          fail(name, "duplicate key " + quote(parsed.get<std::string>()) + " in header");
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::parse_error& e) {
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    fail(name, "header is not valid JSON: " + what);
  }
}

const json* find_key(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

Entry parse_entry(const std::string& tensor, const json& value, const std::string& name) {
  const std::string where = "tensor " + quote(tensor) + ": ";
  if (!value.is_object()) fail(name, where + "entry is not a JSON object");
  for (const auto& [key, _] : value.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail(name, where + "unexpected key " + quote(key));
  }
  Entry entry;
  entry.name = tensor;

  const json* dtype = find_key(value, "dtype");
  if (!dtype) fail(name, where + "missing 'dtype'");
  if (!dtype->is_string()) fail(name, where + "'dtype' is not a string");
  try {
    entry.dtype = dtype_from_string(dtype->get<std::string>());
  } catch (const InputError& e) {
    fail(name, where + e.what());
  }

  const json* shape = find_key(value, "shape");
  if (!shape) fail(name, where + "missing 'shape'");
  if (!shape->is_array()) fail(name, where + "'shape' is not a list");
  for (const json& dim : *shape) {
    // A negative dim parses as number_integer, a fraction or out-of-range value as a float.
    if (!dim.is_number_unsigned() ||
        dim.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(name, where + "'shape' must hold non-negative integers, got " + shape->dump());
    entry.shape.push_back(static_cast<int64_t>(dim.get<uint64_t>()));
  }

  const json* offsets = find_key(value, "data_offsets");
  if (!offsets) fail(name, where + "missing 'data_offsets'");
  if (!offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned())
    fail(name, where + "'data_offsets' must be two non-negative integers, got " + offsets->dump());
  entry.begin = (*offsets)[0].get<uint64_t>();
  entry.end = (*offsets)[1].get<uint64_t>();
  if (entry.begin > entry.end)
    fail(name, where + "'data_offsets' begin " + std::to_string(entry.begin) + " is after end " +
                   std::to_string(entry.end));

  // Overflow-checked: a crafted shape must not wrap around to the stored size.
  uint64_t nbytes = c10::elementSize(entry.dtype);
  for (int64_t dim : entry.shape) {
    if (__builtin_mul_overflow(nbytes, static_cast<uint64_t>(dim), &nbytes))
      fail(name, where + "shape " + shape->dump() + " overflows the byte count");
  }
  if (nbytes != entry.end - entry.begin)
    fail(name, where + "size mismatch: " + dtype->get<std::string>() + " " + shape->dump() + " needs " +
                   std::to_string(nbytes) + " bytes but data_offsets span " +
                   std::to_string(entry.end - entry.begin));
  return entry;
}

Header parse_header(std::string_view text, uint64_t buffer_size, const std::string& name) {
  if (size_t at = invalid_utf8_at(text); at != std::string_view::npos)
    fail(name, "header is not valid UTF-8 (byte " + std::to_string(at) + " of the header)");
  // nlohmann skips a byte-order mark; the reference reader (serde_json) rejects it.
  if (text.starts_with("\xEF\xBB\xBF"))
    fail(name, "header is not valid JSON: it starts with a byte-order mark");
  json root = parse_json(text, name);
  if (!root.is_object()) fail(name, "header is not a JSON object");

  Header header;
  for (const auto& [key, value] : root.items()) {
    if (key == kMetadataKey) {
      if (!value.is_object()) fail(name, "'__metadata__' is not a JSON object");
      for (const auto& [mkey, mvalue] : value.items()) {
        if (!mvalue.is_string()) fail(name, "'__metadata__' value " + quote(mkey) + " is not a string");
        header.metadata[mkey] = mvalue.get<std::string>();
      }
      continue;
    }
    header.entries.push_back(parse_entry(key, value, name));
  }

  // The buffer must be tiled exactly: no holes (an anti-polyglot rule), no overlaps, no extra bytes.
  auto& entries = header.entries;
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t expected = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    const std::string where = "tensor " + quote(e.name);
    if (e.begin > expected)
      fail(name, where + " starts at byte " + std::to_string(e.begin) + ", leaving a gap after " +
                     (previous ? "tensor " + quote(previous->name) : "the header") + " (ends at " +
                     std::to_string(expected) + ")");
    if (e.begin < expected)
      fail(name, where + " starts at byte " + std::to_string(e.begin) + ", an overlap with tensor " +
                     quote(previous->name) + " (ends at " + std::to_string(expected) + ")");
    expected = e.end;
    previous = &e;
  }
  if (expected > buffer_size)
    fail(name, "truncated file: tensor " + quote(previous->name) + " ends at byte " +
                   std::to_string(expected) + " of the data but the data holds " +
                   std::to_string(buffer_size) + " bytes");
  if (expected < buffer_size)
    fail(name, std::to_string(buffer_size - expected) + " trailing bytes after the last tensor");
  return header;
}

// Reads `n` bytes at `offset` (from the start of the file) into `dst`.
using ReadAt = std::function<void(void* dst, uint64_t n, uint64_t offset)>;

// The one reader behind load() and parse(): checks everything before allocating tensors.
File read_safetensors(uint64_t file_size, const ReadAt& read_at, const std::string& name) {
  if (file_size < 8)
    fail(name, "file is " + std::to_string(file_size) + " bytes, too short for the 8-byte header length");
  unsigned char prefix[8];
  read_at(prefix, 8, 0);
  uint64_t n = read_u64_le(prefix);
  if (n > kMaxHeaderSize)
    fail(name, "header length " + std::to_string(n) + " is too large (limit " +
                   std::to_string(kMaxHeaderSize) + ")");
  if (8 + n > file_size)
    fail(name, "truncated file: header length " + std::to_string(n) + " exceeds the " +
                   std::to_string(file_size - 8) + " bytes after the length field");
  std::string text(n, '\0');
  read_at(text.data(), n, 8);
  Header header = parse_header(text, file_size - 8 - n, name);

  File file;
  file.metadata = std::move(header.metadata);
  for (const Entry& e : header.entries) {
    at::Tensor t;
    try {
      t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype));
    } catch (const c10::Error& err) {
      // E.g. a shape whose element count overflows int64 next to a zero dim.
      std::string what = err.what_without_backtrace();
      fail(name, "tensor " + quote(e.name) + ": cannot allocate: " + what.substr(0, what.find('\n')));
    }
    uint64_t nbytes = e.end - e.begin;
    if (nbytes == 0) {
      file.tensors.emplace(e.name, std::move(t));
      continue;
    }
    read_at(t.data_ptr(), nbytes, 8 + n + e.begin);
    // A bool byte other than 0 or 1 is undefined behaviour in torch's kernels.
    if (e.dtype == at::kBool) {
      auto* p = static_cast<const unsigned char*>(t.data_ptr());
      if (std::any_of(p, p + nbytes, [](unsigned char b) { return b > 1; }))
        fail(name, "tensor " + quote(e.name) + ": BOOL data holds a byte other than 0 or 1");
    }
    file.tensors.emplace(e.name, std::move(t));
  }
  return file;
}

// Closes a file descriptor on every exit path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

at::ScalarType dtype_from_string(const std::string& dtype) {
  for (const auto& d : kDtypes) {
    if (dtype == d.name) return d.type;
  }
  throw InputError("unsupported dtype " + quote(dtype));
}

std::string dtype_to_string(at::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (type == d.type) return d.name;
  }
  throw InputError(std::string("unsupported dtype '") + c10::toString(type) + "' for safetensors");
}

void save(const std::string& path, const Tensors& tensors, const Metadata& metadata) {
  // Validate and lay out everything before touching the disk.
  struct Item {
    const std::string* name;
    const at::Tensor* tensor;
    size_t align;
  };
  std::vector<Item> items;
  for (const auto& [name, t] : tensors) {
    if (name == kMetadataKey) throw InputError(path + ": tensor name '__metadata__' is reserved");
    if (!t.defined()) throw InputError(path + ": tensor " + quote(name) + " is undefined");
    if (t.layout() != at::kStrided) throw InputError(path + ": tensor " + quote(name) + " is not dense");
    try {
      dtype_to_string(t.scalar_type());
    } catch (const InputError& e) {
      throw InputError(path + ": tensor " + quote(name) + ": " + e.what());
    }
    items.push_back({&name, &t, static_cast<size_t>(t.element_size())});
  }
  // As the reference writer: widest alignment first, so every tensor starts aligned to its element
  // size once the header is padded to 8 bytes.
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.align != b.align ? a.align > b.align : *a.name < *b.name;
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  uint64_t offset = 0;
  for (const Item& item : items) {
    const at::Tensor& t = *item.tensor;
    uint64_t nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[*item.name] = {{"dtype", dtype_to_string(t.scalar_type())},
                          {"shape", t.sizes().vec()},
                          {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::type_error&) {
    throw InputError(path + ": a tensor name or metadata string is not valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw RunError(path + ": cannot create " + tmp + ": " + errno_text(errno));
  // On any failure: close, remove the partial file, report. The old `path` stays untouched.
  auto abort_write = [&](const std::string& what, int err) {
    if (f) std::fclose(f);
    std::remove(tmp.c_str());
    throw RunError(path + ": " + what + ": " + errno_text(err));
  };
  unsigned char prefix[8];
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<unsigned char>(text.size() >> (8 * i));
  if (std::fwrite(prefix, 1, 8, f) != 8 || std::fwrite(text.data(), 1, text.size(), f) != text.size())
    abort_write("cannot write " + tmp, errno);
  // One tensor at a time, so a model on the GPU is never copied to host memory all at once.
  for (const Item& item : items) {
    at::Tensor t = item.tensor->to(at::kCPU).contiguous();
    size_t nbytes = t.nbytes();
    if (nbytes > 0 && std::fwrite(t.data_ptr(), 1, nbytes, f) != nbytes)
      abort_write("cannot write " + tmp, errno);
  }
  if (std::fflush(f) != 0 || ::fsync(fileno(f)) != 0) abort_write("cannot flush " + tmp, errno);
  std::FILE* closing = f;
  f = nullptr;
  if (std::fclose(closing) != 0) abort_write("cannot close " + tmp, errno);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) abort_write("cannot rename " + tmp + " over it", errno);

  // Make the rename itself durable; failing here loses nothing already written, so it is not fatal.
  std::string dir = std::filesystem::path(path).parent_path().string();
  Fd d{::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY)};
  if (d.fd >= 0) ::fsync(d.fd);
}

File load(const std::string& path) {
  Fd fd{::open(path.c_str(), O_RDONLY)};
  if (fd.fd < 0) {
    if (errno == ENOENT) fail(path, "no such file");
    fail(path, "cannot open: " + errno_text(errno));
  }
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) fail(path, "cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  auto read_at = [&](void* dst, uint64_t n, uint64_t offset) {
    auto* p = static_cast<char*>(dst);
    while (n > 0) {
      ssize_t got = ::pread(fd.fd, p, n, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail(path, "cannot read: " + errno_text(errno));
      if (got == 0) fail(path, "truncated file: it shrank while being read");
      p += got, n -= static_cast<uint64_t>(got), offset += static_cast<uint64_t>(got);
    }
  };
  return read_safetensors(static_cast<uint64_t>(st.st_size), read_at, path);
}

File parse(const std::string& bytes, const std::string& name) {
  // read() only asks for ranges it has checked against the size.
  auto read_at = [&](void* dst, uint64_t n, uint64_t offset) { std::memcpy(dst, bytes.data() + offset, n); };
  return read_safetensors(bytes.size(), read_at, name);
}

}  // namespace beyond::safetensors
