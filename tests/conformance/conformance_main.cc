// wq_conformance: runs the ONNX backend node tests through wq::Model.
//
//   wq_conformance <node-tests-dir> [--filter SUBSTR] [--json OUT] [--table OUT.md]
//                  [--expect FILE] [--verbose]
//
// Each case directory holds model.onnx and test_data_set_*/{input,output}_N.pb.
// Inputs and outputs are matched to the model's graph inputs/outputs by
// position, as the ONNX backend runner does. Outputs must match in dtype and
// shape exactly; floating values within rtol=1e-3, atol=1e-7
// (|got - want| <= atol + rtol * |want|, NaN == NaN), everything else exactly.
//
// Old test data stores bfloat16 tensors as uint16 with the same bits; where
// the model declares bfloat16 they are read as bfloat16.
//
// Every case ends as PASS, FAIL, UNSUPPORTED (our kUnsupported, or a feature
// the harness cannot express such as sequence inputs) or ERROR (any other
// failure). With --expect, every listed case must PASS or the exit code is 1:
// that file is the regression list CI holds us to.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/onnx/onnx_proto.h"
#include "core/onnx/tensor_convert.h"
#include "core/status.h"
#include "core/tensor.h"

namespace fs = std::filesystem;

namespace {

using wq::DType;
using wq::Status;
using wq::StatusCode;
using wq::Tensor;

constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;

enum class Outcome { kPass, kFail, kUnsupported, kError };

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kPass: return "PASS";
    case Outcome::kFail: return "FAIL";
    case Outcome::kUnsupported: return "UNSUPPORTED";
    case Outcome::kError: return "ERROR";
  }
  return "?";
}

struct CaseResult {
  std::string name;
  Outcome outcome = Outcome::kError;
  double max_abs_err = 0;
  bool has_err = false;  // whether max_abs_err was measured
  std::string note;
};

bool read_bytes(const fs::path& path, std::vector<uint8_t>* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad();
}

// Files "<prefix><N>.pb" in `dir`, ordered by N.
std::vector<fs::path> numbered_files(const fs::path& dir, const std::string& prefix) {
  std::vector<std::pair<long, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= prefix.size() + 3 || name.compare(0, prefix.size(), prefix) != 0) continue;
    if (name.compare(name.size() - 3, 3, ".pb") != 0) continue;
    const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - 3);
    const bool numeric =
        !digits.empty() && digits.size() <= 6 &&
        std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    if (!numeric) continue;
    found.emplace_back(std::stol(digits), entry.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> paths;
  for (auto& f : found) paths.push_back(f.second);
  return paths;
}

std::vector<fs::path> sorted_subdirs(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_directory(ec)) continue;
    if (entry.path().filename().string().compare(0, prefix.size(), prefix) == 0) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

bool is_floating(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 || t == DType::kBFloat16 ||
         t == DType::kComplex64 || t == DType::kComplex128;
}

// Number of scalar components (complex counts two per element).
int64_t components(const Tensor& t) {
  return (t.dtype() == DType::kComplex64 || t.dtype() == DType::kComplex128) ? 2 * t.numel() : t.numel();
}

double float_at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kFloat32:
    case DType::kComplex64: return t.data<float>()[i];
    case DType::kFloat64:
    case DType::kComplex128: return t.data<double>()[i];
    case DType::kFloat16: return wq::half_to_float(t.data<uint16_t>()[i]);
    case DType::kBFloat16: return wq::bfloat16_to_float(t.data<uint16_t>()[i]);
    default: return 0;
  }
}

// Exact-compare types as (signed, unsigned) integers; 4-bit types unpacked.
bool int_at(const Tensor& t, int64_t i, int64_t* s, uint64_t* u) {
  const auto* b = static_cast<const uint8_t*>(t.raw());
  switch (t.dtype()) {
    case DType::kInt8: *s = t.data<int8_t>()[i]; return true;
    case DType::kInt16: *s = t.data<int16_t>()[i]; return true;
    case DType::kInt32: *s = t.data<int32_t>()[i]; return true;
    case DType::kInt64: *s = t.data<int64_t>()[i]; return true;
    case DType::kBool: *s = b[i] != 0; return true;
    case DType::kUInt8:
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E5M2:
    case DType::kFloat8E5M2FNUZ: *u = b[i]; return false;
    case DType::kUInt16: *u = t.data<uint16_t>()[i]; return false;
    case DType::kUInt32: *u = t.data<uint32_t>()[i]; return false;
    case DType::kUInt64: *u = t.data<uint64_t>()[i]; return false;
    case DType::kUInt4:
    case DType::kFloat4E2M1: *u = (b[i / 2] >> ((i % 2) * 4)) & 0xf; return false;
    case DType::kInt4: {
      int v = (b[i / 2] >> ((i % 2) * 4)) & 0xf;
      *s = v >= 8 ? v - 16 : v;
      return true;
    }
    default: *u = 0; return false;
  }
}

std::string fmt_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

// Compares one output; returns false with a description of the first mismatch.
bool compare(const std::string& name, const Tensor& got, const Tensor& want, double* max_err, std::string* why) {
  if (got.dtype() != want.dtype()) {
    *why = "output '" + name + "' has dtype " + wq::dtype_name(got.dtype()) + ", expected " +
           wq::dtype_name(want.dtype());
    return false;
  }
  if (got.shape() != want.shape()) {
    *why = "output '" + name + "' has shape " + wq::shape_to_string(got.shape()) + ", expected " +
           wq::shape_to_string(want.shape());
    return false;
  }
  bool ok = true;
  const int64_t n = components(got);
  if (is_floating(got.dtype())) {
    for (int64_t i = 0; i < n; ++i) {
      const double a = float_at(got, i), b = float_at(want, i);
      if (a == b || (std::isnan(a) && std::isnan(b))) continue;
      const double err = std::fabs(a - b);
      if (!std::isnan(err)) *max_err = std::max(*max_err, err);
      if (err <= kAtol + kRtol * std::fabs(b)) continue;  // false for NaN vs number and Inf vs finite
      if (ok) *why = "output '" + name + "' [" + std::to_string(i) + "]: got " + fmt_double(a) + ", expected " +
                     fmt_double(b);
      ok = false;
      if (std::isnan(err) || std::isinf(err)) *max_err = INFINITY;
    }
    return ok;
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t sa = 0, sb = 0;
    uint64_t ua = 0, ub = 0;
    const bool is_signed = int_at(got, i, &sa, &ua);
    int_at(want, i, &sb, &ub);
    const bool equal = is_signed ? sa == sb : ua == ub;
    if (equal) continue;
    const double err = is_signed ? std::fabs(static_cast<double>(sa) - static_cast<double>(sb))
                                 : std::fabs(static_cast<double>(ua) - static_cast<double>(ub));
    *max_err = std::max(*max_err, err);
    if (ok)
      *why = "output '" + name + "' [" + std::to_string(i) + "]: got " +
             (is_signed ? std::to_string(sa) : std::to_string(ua)) + ", expected " +
             (is_signed ? std::to_string(sb) : std::to_string(ub));
    ok = false;
  }
  return ok;
}

// The ONNX test data here predates numpy bfloat16 support: bfloat16 tensors
// were written as uint16 with the same bits. Read them as what the model
// declares; the values are unchanged.
Tensor as_declared_bfloat16(const Tensor& t, DType declared) {
  if (declared != DType::kBFloat16 || t.dtype() != DType::kUInt16) return t;
  wq::Result<Tensor> out = Tensor::allocate(DType::kBFloat16, t.shape());
  if (!out.ok()) return t;
  if (t.nbytes()) std::memcpy(out.value().mutable_raw(), t.raw(), t.nbytes());
  return std::move(out).value();
}

Outcome outcome_for(const Status& s) {
  return s.code() == StatusCode::kUnsupported ? Outcome::kUnsupported : Outcome::kError;
}

const char* kind_name(wq::onnx::TypeProto::Kind k) {
  using K = wq::onnx::TypeProto::Kind;
  switch (k) {
    case K::kSequence: return "sequence";
    case K::kMap: return "map";
    case K::kOptional: return "optional";
    case K::kSparseTensor: return "sparse tensor";
    default: return "tensor";
  }
}

bool is_tensor_type(const wq::onnx::ValueInfoProto& v) {
  using K = wq::onnx::TypeProto::Kind;
  return !v.has_type || v.type.kind == K::kTensor || v.type.kind == K::kNone;
}

CaseResult run_case(const fs::path& dir) {
  CaseResult r;
  r.name = dir.filename().string();

  std::vector<uint8_t> bytes;
  if (!read_bytes(dir / "model.onnx", &bytes)) {
    r.note = "cannot read model.onnx";
    return r;
  }

  // Sequence/optional/map values cannot be fed or compared as tensors; say so
  // rather than misreading their .pb files.
  {
    auto owner = std::make_shared<std::vector<uint8_t>>(bytes);
    wq::Result<wq::onnx::ModelProto> proto = wq::onnx::parse_model(owner->data(), owner->size(), owner);
    if (!proto.ok()) {
      r.note = "load: " + proto.status().to_string();
      return r;
    }
    const auto& g = proto.value().graph;
    std::vector<std::string> inits;
    for (const auto& t : g.initializer) inits.push_back(t.name);
    for (const auto& in : g.input) {
      if (std::find(inits.begin(), inits.end(), in.name) != inits.end()) continue;
      if (!is_tensor_type(in)) {
        r.outcome = Outcome::kUnsupported;
        r.note = std::string("non-tensor input '") + in.name + "' (" + kind_name(in.type.kind) + ")";
        return r;
      }
    }
    for (const auto& out : g.output) {
      if (!is_tensor_type(out)) {
        r.outcome = Outcome::kUnsupported;
        r.note = std::string("non-tensor output '") + out.name + "' (" + kind_name(out.type.kind) + ")";
        return r;
      }
    }
  }

  wq::Result<std::unique_ptr<wq::Model>> loaded = wq::Model::load(std::move(bytes));
  if (!loaded.ok()) {
    r.outcome = outcome_for(loaded.status());
    r.note = "load: " + loaded.status().to_string();
    return r;
  }
  wq::Model& model = *loaded.value();
  std::vector<std::string> output_names;
  for (const auto& o : model.outputs()) output_names.push_back(o.name);

  const std::vector<fs::path> sets = sorted_subdirs(dir, "test_data_set_");
  if (sets.empty()) {
    r.note = "no test_data_set_* directory";
    return r;
  }
  for (const fs::path& set : sets) {
    const std::string set_name = set.filename().string();
    const std::vector<fs::path> in_files = numbered_files(set, "input_");
    const std::vector<fs::path> out_files = numbered_files(set, "output_");
    if (in_files.size() > model.inputs().size()) {
      r.note = set_name + ": " + std::to_string(in_files.size()) + " input files but the model has " +
               std::to_string(model.inputs().size()) + " inputs";
      return r;
    }
    if (out_files.size() != output_names.size()) {
      r.note = set_name + ": " + std::to_string(out_files.size()) + " output files but the model has " +
               std::to_string(output_names.size()) + " outputs";
      return r;
    }
    std::map<std::string, Tensor> feeds;
    for (size_t i = 0; i < in_files.size(); ++i) {
      wq::Result<Tensor> t = wq::read_tensor_pb(in_files[i].string());
      if (!t.ok()) {
        r.outcome = outcome_for(t.status());
        r.note = set_name + " input " + std::to_string(i) + ": " + t.status().to_string();
        return r;
      }
      feeds[model.inputs()[i].name] = as_declared_bfloat16(t.value(), model.inputs()[i].dtype);
    }
    wq::Result<std::map<std::string, Tensor>> out = model.run(feeds, output_names);
    if (!out.ok()) {
      r.outcome = outcome_for(out.status());
      r.note = set_name + " run: " + out.status().to_string();
      return r;
    }
    for (size_t i = 0; i < out_files.size(); ++i) {
      wq::Result<Tensor> want = wq::read_tensor_pb(out_files[i].string());
      if (!want.ok()) {
        r.outcome = outcome_for(want.status());
        r.note = set_name + " output " + std::to_string(i) + ": " + want.status().to_string();
        return r;
      }
      auto it = out.value().find(output_names[i]);
      if (it == out.value().end()) {
        r.note = set_name + ": output '" + output_names[i] + "' missing from the run";
        return r;
      }
      std::string why;
      r.has_err = true;
      const Tensor expected = as_declared_bfloat16(want.value(), model.outputs()[i].dtype);
      if (!compare(output_names[i], it->second, expected, &r.max_abs_err, &why)) {
        r.outcome = Outcome::kFail;
        r.note = set_name + ": " + why;
        return r;
      }
    }
  }
  r.outcome = Outcome::kPass;
  return r;
}

CaseResult run_case_guarded(const fs::path& dir) {
  try {
    return run_case(dir);
  } catch (const std::exception& e) {
    CaseResult r;
    r.name = dir.filename().string();
    r.note = std::string("exception: ") + e.what();
    return r;
  } catch (...) {
    CaseResult r;
    r.name = dir.filename().string();
    r.note = "unknown exception";
    return r;
  }
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string md_escape(std::string s, size_t max_len) {
  if (s.size() > max_len) s = s.substr(0, max_len) + "...";
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

std::string err_text(const CaseResult& r) {
  if (!r.has_err) return "";
  if (std::isinf(r.max_abs_err)) return "inf";
  return fmt_double(r.max_abs_err);
}

struct Counts {
  int pass = 0, fail = 0, unsupported = 0, error = 0;
};

bool write_json(const std::string& path, const std::vector<CaseResult>& results, const Counts& c) {
  std::ofstream f(path);
  if (!f) return false;
  f << "{\n  \"summary\": {\"passed\": " << c.pass << ", \"failed\": " << c.fail
    << ", \"unsupported\": " << c.unsupported << ", \"errors\": " << c.error << "},\n  \"cases\": [\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const CaseResult& r = results[i];
    f << "    {\"case\": \"" << json_escape(r.name) << "\", \"result\": \"" << outcome_name(r.outcome)
      << "\", \"max_abs_err\": ";
    if (!r.has_err) f << "null";
    else if (std::isinf(r.max_abs_err)) f << "\"inf\"";
    else f << fmt_double(r.max_abs_err);
    f << ", \"note\": \"" << json_escape(r.note) << "\"}" << (i + 1 < results.size() ? "," : "") << "\n";
  }
  f << "  ]\n}\n";
  return static_cast<bool>(f);
}

bool write_table(const std::string& path, const std::vector<CaseResult>& results, const Counts& c) {
  std::ofstream f(path);
  if (!f) return false;
  f << "# ONNX backend node tests\n\n"
    << c.pass << " passed, " << c.fail << " failed, " << c.unsupported << " unsupported, " << c.error
    << " errors.\n\n| case | result | max abs err | note |\n|---|---|---|---|\n";
  for (const CaseResult& r : results)
    f << "| " << md_escape(r.name, 200) << " | " << outcome_name(r.outcome) << " | " << err_text(r) << " | "
      << md_escape(r.note, 300) << " |\n";
  return static_cast<bool>(f);
}

// One case name per line; '#' starts a comment.
bool read_expect(const std::string& path, std::vector<std::string>* names) {
  std::ifstream f(path);
  if (!f) return false;
  std::string line;
  while (std::getline(f, line)) {
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    const size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;
    const size_t e = line.find_last_not_of(" \t\r");
    names->push_back(line.substr(b, e - b + 1));
  }
  return true;
}

int usage() {
  std::fprintf(stderr,
               "usage: wq_conformance <node-tests-dir> [--filter SUBSTR] [--json OUT] [--table OUT.md] "
               "[--expect FILE] [--verbose]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string root, filter, json_out, table_out, expect_file;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* dst) {
      if (i + 1 >= argc) return false;
      *dst = argv[++i];
      return true;
    };
    if (a == "--filter") {
      if (!value(&filter)) return usage();
    } else if (a == "--json") {
      if (!value(&json_out)) return usage();
    } else if (a == "--table") {
      if (!value(&table_out)) return usage();
    } else if (a == "--expect") {
      if (!value(&expect_file)) return usage();
    } else if (a == "--verbose") {
      verbose = true;
    } else if (!a.empty() && a[0] == '-') {
      return usage();
    } else if (root.empty()) {
      root = a;
    } else {
      return usage();
    }
  }
  if (root.empty()) return usage();

  std::vector<std::string> expected;
  if (!expect_file.empty() && !read_expect(expect_file, &expected)) {
    std::fprintf(stderr, "cannot read expect file %s\n", expect_file.c_str());
    return 2;
  }

  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    std::fprintf(stderr, "not a directory: %s\n", root.c_str());
    return 2;
  }
  std::vector<fs::path> cases;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (!entry.is_directory(ec) || !fs::exists(entry.path() / "model.onnx", ec)) continue;
    if (!filter.empty() && entry.path().filename().string().find(filter) == std::string::npos) continue;
    cases.push_back(entry.path());
  }
  std::sort(cases.begin(), cases.end());

  std::vector<CaseResult> results;
  Counts counts;
  for (const fs::path& dir : cases) {
    CaseResult r = run_case_guarded(dir);
    switch (r.outcome) {
      case Outcome::kPass: ++counts.pass; break;
      case Outcome::kFail: ++counts.fail; break;
      case Outcome::kUnsupported: ++counts.unsupported; break;
      case Outcome::kError: ++counts.error; break;
    }
    if (verbose || r.outcome == Outcome::kFail || r.outcome == Outcome::kError)
      std::printf("%-12s %s%s%s\n", outcome_name(r.outcome), r.name.c_str(), r.note.empty() ? "" : ": ",
                  r.note.substr(0, 400).c_str());
    results.push_back(std::move(r));
  }

  if (!json_out.empty() && !write_json(json_out, results, counts)) {
    std::fprintf(stderr, "cannot write %s\n", json_out.c_str());
    return 2;
  }
  if (!table_out.empty() && !write_table(table_out, results, counts)) {
    std::fprintf(stderr, "cannot write %s\n", table_out.c_str());
    return 2;
  }
  std::printf("conformance: %d passed, %d failed, %d unsupported, %d errors\n", counts.pass, counts.fail,
              counts.unsupported, counts.error);

  if (!expected.empty()) {
    std::map<std::string, const CaseResult*> by_name;
    for (const CaseResult& r : results) by_name[r.name] = &r;
    int regressions = 0;
    for (const std::string& name : expected) {
      if (!filter.empty() && name.find(filter) == std::string::npos) continue;
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        std::printf("regression: %s was not found under %s\n", name.c_str(), root.c_str());
        ++regressions;
      } else if (it->second->outcome != Outcome::kPass) {
        std::printf("regression: %s is %s: %s\n", name.c_str(), outcome_name(it->second->outcome),
                    it->second->note.substr(0, 400).c_str());
        ++regressions;
      }
    }
    if (regressions) {
      std::printf("conformance: %d expected case(s) did not pass\n", regressions);
      return 1;
    }
  }
  return 0;
}
