#include "core/status.h"

#include <algorithm>
#include <cstdint>

namespace wq {

namespace {

void append_hex(std::string* out, const char* prefix, uint32_t v, int digits) {
  static const char kHex[] = "0123456789abcdef";
  *out += prefix;
  for (int d = digits - 1; d >= 0; --d) *out += kHex[(v >> (4 * d)) & 15];
}

// Length of the valid UTF-8 sequence at s[i] and its code point, or 0.
size_t utf8_sequence(const std::string& s, size_t i, uint32_t* cp) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
  for (size_t k = 1; k < len; ++k) {
    const unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc >> 6) != 2) return 0;
    v = (v << 6) | (cc & 0x3f);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8.
  static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff) return 0;
  *cp = v;
  return len;
}

// Characters that must not reach a terminal, a log or a web page as they are:
// C0/C1 controls and DEL, and the bidirectional overrides that can make a
// name read as something else.
bool must_escape(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

// Appends the character at m[i] (escaped if needed); returns its byte length.
size_t append_char(std::string* out, const std::string& m, size_t i) {
  uint32_t cp = 0;
  const size_t len = utf8_sequence(m, i, &cp);
  if (len == 0) {  // not UTF-8: the raw byte, escaped
    append_hex(out, "\\x", static_cast<unsigned char>(m[i]), 2);
    return 1;
  }
  if (!must_escape(cp)) {
    out->append(m, i, len);
    return len;
  }
  switch (cp) {
    case '\n': *out += "\\n"; break;
    case '\t': *out += "\\t"; break;
    case '\r': *out += "\\r"; break;
    default:
      if (cp < 0x80) append_hex(out, "\\x", cp, 2);
      else append_hex(out, "\\u", cp, 4);
  }
  return len;
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
    if (c < 0x20 || c >= 0x7f) clean = false;  // controls, or non-ASCII: checked character by character below
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
      for (size_t k = 0; k < keep && out.size() < kMaxMessageChars;) k += append_char(&out, m, i + 1 + k);
      if (end < m.size()) out += '\'';
      if (len > keep) out += "(name cut: +" + std::to_string(len - keep) + " chars)";
      i = end;
      continue;
    }
    i += append_char(&out, m, i) - 1;
  }
  if (out.size() > kMaxMessageChars + 48) {  // an escaped name ran past the cap: cut on a character boundary
    size_t cut = kMaxMessageChars;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) >> 6) == 2) --cut;
    out.resize(cut);
    out += "...(message cut)";
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
