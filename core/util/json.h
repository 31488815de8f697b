// Json: a small JSON value for recipes (read) and reports (written).
//
// Recipes arrive as JSON text from JS, the web app and the CLI; the core parses
// and validates them itself so every front end gets the same error messages.
// Objects keep their keys in insertion order so reports read in the order they
// were built. Numbers are doubles; NaN/Inf are written as null (JSON has no
// spelling for them).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace wq {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool b) : type_(Type::kBool), bool_(b) {}
  Json(double d) : type_(Type::kNumber), number_(d) {}
  Json(float d) : type_(Type::kNumber), number_(d) {}
  Json(int v) : type_(Type::kNumber), number_(v) {}
  Json(int64_t v) : type_(Type::kNumber), number_(double(v)) {}
  Json(uint64_t v) : type_(Type::kNumber), number_(double(v)) {}
  Json(const char* s) : type_(Type::kString), string_(s) {}
  Json(std::string s) : type_(Type::kString), string_(std::move(s)) {}

  static Json array() { Json j; j.type_ = Type::kArray; return j; }
  static Json object() { Json j; j.type_ = Type::kObject; return j; }
  // An array of numbers.
  template <typename T>
  static Json numbers(const std::vector<T>& v) {
    Json j = array();
    j.items_.reserve(v.size());
    for (const T& x : v) j.items_.emplace_back(double(x));
    return j;
  }

  // Parses one JSON document; kInvalidArgument naming the byte offset of the
  // first error. Nesting deeper than 256 levels is rejected.
  static Result<Json> parse(const std::string& text);
  // Compact JSON text.
  std::string dump() const;

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }
  static const char* type_name(Type t);

  bool as_bool() const { return bool_; }
  double as_number() const { return number_; }
  const std::string& as_string() const { return string_; }

  // Arrays.
  size_t size() const { return type_ == Type::kArray ? items_.size() : members_.size(); }
  const Json& operator[](size_t i) const { return items_[i]; }
  void push_back(Json v) { items_.push_back(std::move(v)); }
  const std::vector<Json>& items() const { return items_; }

  // Objects: set() replaces an existing key in place.
  void set(const std::string& key, Json v);
  const Json* find(const std::string& key) const;
  const std::vector<std::pair<std::string, Json>>& members() const { return members_; }

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

}  // namespace wq
