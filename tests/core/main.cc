// The single doctest main for the core unit tests (native and WASM).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest.h>
