// The one way kernel code reaches 128-bit SIMD: plain WebAssembly SIMD128
// intrinsics (wasm_f32x4_add, wasm_v128_load32_splat, ...).
//
// Built for WASM with -msimd128 they are the real instructions; built natively
// the same source goes through SIMDe's portable implementation of the WASM
// intrinsics (x86 SSE/AVX, NEON or scalar underneath). Only the WASM SIMD128
// aliases are enabled, so other SIMDe headers a later kernel may include keep
// their simde_-prefixed names and cannot clash with the platform's intrinsics.
//
// Kernel code includes this header and nothing else SIMD-related; no #ifdef on
// the target belongs in a kernel file. Relaxed SIMD is not available (clang 14).
#pragma once

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#else
#ifndef SIMDE_WASM_SIMD128_ENABLE_NATIVE_ALIASES
#define SIMDE_WASM_SIMD128_ENABLE_NATIVE_ALIASES
#endif
#include <simde/wasm/simd128.h>
#endif

// Kernel helpers that take accumulator arrays by reference must be inlined, or
// the arrays live in memory instead of registers.
#define WQ_KERNEL_INLINE inline __attribute__((always_inline))

// Fully unrolls a loop over a compile-time count (tile rows, vectors) so its
// accumulators become registers; GCC does not do this by itself at -O2. Clang
// reads the same pragma.
#define WQ_UNROLL _Pragma("GCC unroll 16")
