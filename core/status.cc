#include "core/status.h"

#include <algorithm>

namespace wq {

namespace {

void append_escaped(std::string* out, unsigned char c) {
  static const char kHex[] = "0123456789abcdef";
  switch (c) {
    case '\n': *out += "\\n"; return;
    case '\t': *out += "\\t"; return;
    case '\r': *out += "\\r"; return;
    default: break;
  }
  if (c < 0x20 || c == 0x7f) {
    *out += "\\x";
    *out += kHex[c >> 4];
    *out += kHex[c & 15];
  } else {
    *out += static_cast<char>(c);
  }
}

// Whether s[i] is a quote that opens a name: at the start or after a
// character that is not a letter or digit (so "don't" is not a name).
bool opens_quote(const std::string& s, size_t i) {
  if (s[i] != '\'') return false;
  if (i == 0) return true;
  const unsigned char p = static_cast<unsigned char>(s[i - 1]);
  return !((p >= 'a' && p <= 'z') || (p >= 'A' && p <= 'Z') || (p >= '0' && p <= '9'));
}

}  // namespace

std::string bounded_message(const std::string& m) {
  // Fast path: short, printable, no long quoted segment.
  bool clean = m.size() <= kMaxMessageChars;
  size_t run = 0;
  bool in_quote = false;
  for (size_t i = 0; clean && i < m.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(m[i]);
    if (c < 0x20 || c == 0x7f) clean = false;
    if (in_quote) {
      if (c == '\'') in_quote = false;
      else if (++run > kMaxQuotedNameChars) clean = false;
    } else if (opens_quote(m, i)) {
      in_quote = true;
      run = 0;
    }
  }
  if (clean) return m;

  std::string out;
  out.reserve(std::min(m.size(), kMaxMessageChars) + 64);
  for (size_t i = 0; i < m.size(); ++i) {
    if (out.size() >= kMaxMessageChars) {
      out += "...(message cut, " + std::to_string(m.size() - i) + " more bytes)";
      break;
    }
    if (opens_quote(m, i)) {
      // A quoted segment: up to the closing quote (or the end).
      size_t end = m.find('\'', i + 1);
      if (end == std::string::npos) end = m.size();
      const size_t len = end - i - 1;
      out += '\'';
      const size_t keep = len > kMaxQuotedNameChars ? kMaxQuotedNameChars : len;
      for (size_t k = 0; k < keep; ++k) append_escaped(&out, static_cast<unsigned char>(m[i + 1 + k]));
      if (end < m.size()) out += '\'';
      if (len > keep) out += "(name cut: +" + std::to_string(len - keep) + " chars)";
      i = end;
      continue;
    }
    append_escaped(&out, static_cast<unsigned char>(m[i]));
  }
  return out;
}

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case StatusCode::kInvalidModel: return "INVALID_MODEL";
    case StatusCode::kUnsupported: return "UNSUPPORTED";
    case StatusCode::kNotFound: return "NOT_FOUND";
    case StatusCode::kOutOfMemory: return "OUT_OF_MEMORY";
    case StatusCode::kCancelled: return "CANCELLED";
    case StatusCode::kInternal: return "INTERNAL";
    case StatusCode::kNumericError: return "NUMERIC_ERROR";
    case StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
  }
  return "UNKNOWN";
}

std::string Status::to_string() const {
  if (ok()) return "OK";
  return std::string(status_code_name(code_)) + ": " + message_;
}

Status Status::with_context(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + message_);
}

}  // namespace wq
