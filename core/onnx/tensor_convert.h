// Conversion between onnx::TensorProto and wq::Tensor.
//
// Ownership: tensor_from_proto returns a read-only view of raw_data when the
// bytes are aligned for the element type and have an owner (the parsed
// model's buffer stays alive as long as the tensor); otherwise it copies.
// Tensors decoded from the typed fields (float_data, int32_data, ...) own a
// fresh buffer. tensor_to_proto never copies: the proto's raw_data views the
// tensor's buffer and keeps it alive, so later writes to a writable tensor
// show through.
#pragma once

#include <string>

#include "core/onnx/onnx_proto.h"
#include "core/status.h"
#include "core/tensor.h"

namespace wq {

// Decodes a TensorProto into a Tensor. Fails with kInvalidModel (naming the
// tensor) for negative dims, an element count that overflows, data whose size
// does not match the shape exactly, values out of range for the element type,
// or data in a field that does not belong to the type; with kUnsupported for
// external data (data_location EXTERNAL), segmented tensors, strings and
// element types the runtime does not know.
Result<Tensor> tensor_from_proto(const onnx::TensorProto& proto);

// Encodes a tensor as raw_data (little-endian, row-major, 4-bit types packed
// two per byte with the first element in the low nibble).
onnx::TensorProto tensor_to_proto(const Tensor& tensor, const std::string& name);

// Moves every raw_data payload of `model` that is misaligned for its element
// type (which tensor_from_proto would have to copy) down to the nearest
// aligned address inside `buffer`, the bytes parse_model read the model
// from, and repoints its view. The move only overwrites the field's own tag
// and length bytes, which the parser has read and nothing reads again; a
// payload with too few of them in front stays where it is (and is copied
// later). Call it once, right after parse_model, and only on a buffer no
// one will parse again. Returns the number of payloads moved.
size_t align_raw_data(onnx::ModelProto* model, uint8_t* buffer, size_t size);

// Reads a serialized TensorProto file (the input_N.pb / output_N.pb files of
// the ONNX backend tests) and converts it; errors name the path.
Result<Tensor> read_tensor_pb(const std::string& path);

}  // namespace wq
