// Protobuf wire format: a bounds-checked reader and a writer.
//
// Only what ONNX needs: varints (int32/int64/uint64/enum, never zigzag),
// fixed32/fixed64 (float/double), length-delimited payloads and packed
// repeated scalars. The reader never reads outside [begin, end): every length
// is checked against the bytes that remain before anything is touched or
// allocated, and failures carry the byte offset (relative to the start of the
// whole input, so nested readers report positions in the file). Groups
// (wire types 3 and 4) are deprecated and absent from ONNX; they are errors.
//
// The writer appends to a std::vector<uint8_t>; WireSizer has the same
// interface and only counts bytes, so message emitters can be written once as
// templates and run first to size a sub-message, then to write it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

// Fixed-width values are copied with memcpy in host order, which is the wire
// order (little-endian) on every target we build for (x86-64, wasm32).
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "core/onnx/wire.h assumes a little-endian host"
#endif

namespace wq {
namespace onnx {

enum class WireType : uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLen = 2,
  kStartGroup = 3,  // deprecated; rejected
  kEndGroup = 4,    // deprecated; rejected
  kFixed32 = 5,
};

const char* wire_type_name(WireType t);  // "varint", "fixed64", "length-delimited", ...

constexpr int kMaxVarintBytes = 10;
constexpr uint32_t kMaxFieldNumber = (1u << 29) - 1;

class WireReader {
 public:
  // Reads [begin, end); `base` is the first byte of the whole input and is
  // only used to report offsets.
  WireReader(const uint8_t* begin, const uint8_t* end, const uint8_t* base)
      : p_(begin), end_(end), base_(base) {}

  bool at_end() const { return p_ >= end_; }
  size_t offset() const { return static_cast<size_t>(p_ - base_); }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* base() const { return base_; }

  // Each read returns false on truncated or malformed input and records a
  // description and the offset where the bad value starts (error(),
  // error_offset()). After a failure the reader's position is unspecified.
  bool read_tag(uint32_t* field, WireType* type);
  bool read_varint(uint64_t* v) {
    if (p_ < end_ && *p_ < 0x80) {  // one-byte varints dominate tags and small ints
      *v = *p_++;
      return true;
    }
    return read_varint_slow(v);
  }
  bool read_fixed32(uint32_t* v) {
    if (remaining() < 4) return fail_truncated("fixed32", 4);
    std::memcpy(v, p_, 4);
    p_ += 4;
    return true;
  }
  bool read_fixed64(uint64_t* v) {
    if (remaining() < 8) return fail_truncated("fixed64", 8);
    std::memcpy(v, p_, 8);
    p_ += 8;
    return true;
  }
  // A length-delimited payload, returned as a view into the input.
  bool read_len(const uint8_t** data, size_t* size);
  // Skips the value of a field that is not part of the schema.
  bool skip(WireType type);

  const std::string& error() const { return error_; }
  size_t error_offset() const { return error_offset_; }

  // Records a failure found by the caller (e.g. a bad value in a known field).
  bool fail_at(size_t offset, std::string message);

 private:
  bool read_varint_slow(uint64_t* v);
  bool fail_truncated(const char* what, size_t need);

  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* base_;
  std::string error_;
  size_t error_offset_ = 0;
};

// Number of varints in a packed payload (bytes without the continuation bit).
// The payload is well formed only if its last byte ends a varint; callers
// decode afterwards with a reader, which reports any truncation.
inline size_t count_packed_varints(const uint8_t* p, size_t n) {
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) count += (p[i] < 0x80);
  return count;
}

constexpr size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

constexpr uint64_t make_tag(uint32_t field, WireType t) {
  return (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(t);
}

// int32 and enum fields are written sign-extended to 64 bits, as protobuf
// does, so negative values take ten bytes.
constexpr uint64_t int32_wire(int32_t v) { return static_cast<uint64_t>(static_cast<int64_t>(v)); }
constexpr uint64_t int64_wire(int64_t v) { return static_cast<uint64_t>(v); }

class WireWriter {
 public:
  explicit WireWriter(std::vector<uint8_t>* out) : out_(out) {}

  void varint(uint64_t v) {
    uint8_t buf[kMaxVarintBytes];
    size_t n = 0;
    while (v >= 0x80) {
      buf[n++] = static_cast<uint8_t>(v | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<uint8_t>(v);
    out_->insert(out_->end(), buf, buf + n);
  }
  void fixed32(uint32_t v) { bytes(&v, 4); }
  void fixed64(uint64_t v) { bytes(&v, 8); }
  void bytes(const void* p, size_t n) {
    if (n == 0) return;
    const uint8_t* b = static_cast<const uint8_t*>(p);
    out_->insert(out_->end(), b, b + n);
  }
  void tag(uint32_t field, WireType t) { varint(make_tag(field, t)); }
  // Tag and length of a length-delimited field whose payload follows.
  void len_header(uint32_t field, size_t n) {
    tag(field, WireType::kLen);
    varint(n);
  }
  // A payload of `n` bytes that the sizer already measured: the writer writes
  // it through the emitter, so this is a no-op here.
  void sized_payload(size_t) {}
  static constexpr bool kWrites = true;

 private:
  std::vector<uint8_t>* out_;
};

// Counts the bytes WireWriter would produce.
class WireSizer {
 public:
  void varint(uint64_t v) { size_ += varint_size(v); }
  void fixed32(uint32_t) { size_ += 4; }
  void fixed64(uint64_t) { size_ += 8; }
  void bytes(const void*, size_t n) { size_ += n; }
  void tag(uint32_t field, WireType t) { size_ += varint_size(make_tag(field, t)); }
  void len_header(uint32_t field, size_t n) {
    tag(field, WireType::kLen);
    varint(n);
  }
  void sized_payload(size_t n) { size_ += n; }
  static constexpr bool kWrites = false;

  size_t size() const { return size_; }

 private:
  size_t size_ = 0;
};

// Field helpers shared by WireWriter and WireSizer.
template <typename Sink>
inline void put_varint_field(Sink& s, uint32_t field, uint64_t v) {
  s.tag(field, WireType::kVarint);
  s.varint(v);
}
template <typename Sink>
inline void put_float_field(Sink& s, uint32_t field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  s.tag(field, WireType::kFixed32);
  s.fixed32(bits);
}
template <typename Sink>
inline void put_bytes_field(Sink& s, uint32_t field, const void* p, size_t n) {
  s.len_header(field, n);
  s.bytes(p, n);
}
template <typename Sink>
inline void put_string_field(Sink& s, uint32_t field, const std::string& v) {
  put_bytes_field(s, field, v.data(), v.size());
}

// Packed repeated fields (one length-delimited payload); nothing is written
// for an empty list, as protobuf does.
template <typename Sink, typename T>
inline void put_packed_varints(Sink& s, uint32_t field, const std::vector<T>& v, uint64_t (*to_wire)(T)) {
  if (v.empty()) return;
  size_t n = 0;
  for (const T& x : v) n += varint_size(to_wire(x));
  s.len_header(field, n);
  if constexpr (Sink::kWrites) {
    for (const T& x : v) s.varint(to_wire(x));
  } else {
    s.sized_payload(n);
  }
}
template <typename Sink, typename T>
inline void put_packed_fixed(Sink& s, uint32_t field, const std::vector<T>& v) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "fixed32 or fixed64 elements");
  if (v.empty()) return;
  put_bytes_field(s, field, v.data(), v.size() * sizeof(T));
}
// Unpacked repeated fields (one tag per element).
template <typename Sink, typename T>
inline void put_unpacked_varints(Sink& s, uint32_t field, const std::vector<T>& v, uint64_t (*to_wire)(T)) {
  for (const T& x : v) put_varint_field(s, field, to_wire(x));
}
template <typename Sink>
inline void put_unpacked_floats(Sink& s, uint32_t field, const std::vector<float>& v) {
  for (float x : v) put_float_field(s, field, x);
}

}  // namespace onnx
}  // namespace wq
