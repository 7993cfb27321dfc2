// Safetensors files: our own reader and writer, byte-compatible with Python's `safetensors`.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the byte buffer, row-major and little-endian, fully covered by the tensors with no gaps.
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <string>

namespace beyond::safetensors {

using Tensors = std::map<std::string, at::Tensor>;
using Metadata = std::map<std::string, std::string>;

struct File {
  Tensors tensors;    // owned CPU tensors
  Metadata metadata;  // the string->string "__metadata__" map (empty if absent)
};

// Writes atomically: to "<path>.tmp", flushed and fsynced, then renamed over `path`.
// Tensors are copied to contiguous CPU memory. Throws RunError when the disk write fails.
void save(const std::string& path, const Tensors& tensors, const Metadata& metadata = {});

// Validates everything before trusting it (header length, JSON, duplicate keys, dtypes, shapes
// against offsets, gaps and overlaps, file size) and throws InputError naming the file and the
// problem for a corrupt or truncated file.
File load(const std::string& path);

// The same checks on bytes in memory; `name` is used in error messages.
File parse(const std::string& bytes, const std::string& name);

// "F32" <-> at::kFloat, etc. Throws InputError for a dtype we do not map.
at::ScalarType dtype_from_string(const std::string& dtype);
std::string dtype_to_string(at::ScalarType type);

}  // namespace beyond::safetensors
