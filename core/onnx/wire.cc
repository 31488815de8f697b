#include "core/onnx/wire.h"

#include <utility>

namespace wq {
namespace onnx {

const char* wire_type_name(WireType t) {
  switch (t) {
    case WireType::kVarint: return "varint";
    case WireType::kFixed64: return "fixed64";
    case WireType::kLen: return "length-delimited";
    case WireType::kStartGroup: return "start-group";
    case WireType::kEndGroup: return "end-group";
    case WireType::kFixed32: return "fixed32";
  }
  return "invalid";
}

bool WireReader::fail_at(size_t offset, std::string message) {
  error_offset_ = offset;
  error_ = std::move(message);
  return false;
}

bool WireReader::fail_truncated(const char* what, size_t need) {
  return fail_at(offset(), std::string("truncated ") + what + ": needs " + std::to_string(need) +
                               " bytes, " + std::to_string(remaining()) + " left");
}

bool WireReader::read_varint_slow(uint64_t* v) {
  const size_t start = offset();
  uint64_t result = 0;
  for (int i = 0; i < kMaxVarintBytes; ++i) {
    if (p_ >= end_) return fail_at(start, "truncated varint");
    const uint8_t b = *p_++;
    // The tenth byte carries bit 63; higher bits are dropped as protobuf does.
    result |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (b < 0x80) {
      *v = result;
      return true;
    }
  }
  return fail_at(start, "varint longer than 10 bytes");
}

bool WireReader::read_tag(uint32_t* field, WireType* type) {
  const size_t start = offset();
  uint64_t tag;
  if (!read_varint(&tag)) return false;
  if (tag > 0xffffffffu) return fail_at(start, "field tag " + std::to_string(tag) + " does not fit 32 bits");
  const uint32_t number = static_cast<uint32_t>(tag >> 3);
  const uint32_t wt = static_cast<uint32_t>(tag & 7);
  if (number == 0) return fail_at(start, "field number 0 is invalid");
  if (wt > 5) return fail_at(start, "invalid wire type " + std::to_string(wt) + " for field " + std::to_string(number));
  *field = number;
  *type = static_cast<WireType>(wt);
  return true;
}

bool WireReader::read_len(const uint8_t** data, size_t* size) {
  const size_t start = offset();
  uint64_t n;
  if (!read_varint(&n)) return false;
  if (n > remaining()) {
    return fail_at(start, "length " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) +
                              " bytes left");
  }
  *data = p_;
  *size = static_cast<size_t>(n);
  p_ += n;
  return true;
}

bool WireReader::skip(WireType type) {
  switch (type) {
    case WireType::kVarint: {
      uint64_t v;
      return read_varint(&v);
    }
    case WireType::kFixed64: {
      uint64_t v;
      return read_fixed64(&v);
    }
    case WireType::kFixed32: {
      uint32_t v;
      return read_fixed32(&v);
    }
    case WireType::kLen: {
      const uint8_t* d;
      size_t n;
      return read_len(&d, &n);
    }
    case WireType::kStartGroup:
    case WireType::kEndGroup:
      return fail_at(offset(), std::string("deprecated ") + wire_type_name(type) + " wire type is not supported");
  }
  return fail_at(offset(), "invalid wire type");
}

}  // namespace onnx
}  // namespace wq
