// Status and Result<T>: how every fallible call in the core reports failure.
//
// The core never throws and never aborts on bad input. A failed call returns a
// Status with a code from a closed set and a message that names the offending
// node, tensor, field or byte offset. The binding layer turns it into a JS Error
// whose `code` property is status_code_name(code).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace wq {

// Append-only: the numeric values and names are visible from JavaScript.
enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,  // caller passed something wrong (input name, dtype, rank, recipe field)
  kInvalidModel = 2,     // the model bytes or graph are malformed
  kUnsupported = 3,      // valid ONNX that we do not implement (op, opset, dtype)
  kNotFound = 4,         // a named thing does not exist
  kOutOfMemory = 5,      // an allocation failed or would exceed the limit
  kCancelled = 6,        // the caller cancelled long work
  kInternal = 7,         // a bug in webquant
  kNumericError = 8,     // NaN/Inf or divergence where a finite value is required
  kFailedPrecondition = 9,  // the call is valid but not in this state (e.g. finish() before calibration)
};

const char* status_code_name(StatusCode code);  // "INVALID_ARGUMENT", ...

// Messages echo names from the model (node, value, attribute names), which
// an attacker controls. Every message is made safe once, here: control
// characters are escaped (\n, \t, \xNN), a quoted segment ('...') longer
// than kMaxQuotedNameChars keeps its head and is followed by a marker
// "(name cut: +N chars)", and the whole message is capped at kMaxMessageChars.
constexpr size_t kMaxQuotedNameChars = 200;
constexpr size_t kMaxMessageChars = 4000;
std::string bounded_message(const std::string& message);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(code == StatusCode::kOk ? std::string() : bounded_message(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "CODE: message"
  std::string to_string() const;

  // Prefixes context ("node 'conv1' (Conv): ") to the message of a failed status.
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return Status(StatusCode::kInvalidArgument, std::move(m)); }
inline Status invalid_model(std::string m) { return Status(StatusCode::kInvalidModel, std::move(m)); }
inline Status unsupported(std::string m) { return Status(StatusCode::kUnsupported, std::move(m)); }
inline Status not_found(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
inline Status out_of_memory(std::string m) { return Status(StatusCode::kOutOfMemory, std::move(m)); }
inline Status cancelled(std::string m) { return Status(StatusCode::kCancelled, std::move(m)); }
inline Status internal_error(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }
inline Status numeric_error(std::string m) { return Status(StatusCode::kNumericError, std::move(m)); }
inline Status failed_precondition(std::string m) { return Status(StatusCode::kFailedPrecondition, std::move(m)); }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}         // NOLINT: must be a failed status

  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<1>(v_);
  }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace wq

#define WQ_CONCAT_INNER_(a, b) a##b
#define WQ_CONCAT_(a, b) WQ_CONCAT_INNER_(a, b)

#define WQ_RETURN_IF_ERROR(expr)               \
  do {                                         \
    ::wq::Status wq_status_ = (expr);          \
    if (!wq_status_.ok()) return wq_status_;   \
  } while (0)

#define WQ_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

// WQ_ASSIGN_OR_RETURN(auto x, f());  or  WQ_ASSIGN_OR_RETURN(x, f());
#define WQ_ASSIGN_OR_RETURN(lhs, expr) \
  WQ_ASSIGN_OR_RETURN_IMPL_(WQ_CONCAT_(wq_result_, __LINE__), lhs, expr)
