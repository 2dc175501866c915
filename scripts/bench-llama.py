#!/usr/bin/env python3
"""Times llama.cpp's own `ggml_quantize_chunk` natively, one thread, for `npm run bench`.

Reads the input the native bench wrote (`cargo bench -p quantscope-core --bench throughput --
--pack DIR`: DIR/values.f32 and DIR/importance.f32, little-endian f32, rows of `--row` values)
and the list of types from stdin (that bench's JSON: `{results: [{scheme, ggml_type,
importance}]}`), calls `ggml_quantize_chunk(type, values, dst, 0, nrows, row, imatrix or NULL)`
of the built llama.cpp library (the pinned build scripts/fixtures/build_llama.py makes, in
~/.cache/quantscope-llama/build/bin) once untimed (ggml_quantize_init builds the IQ grids) and
then `--reps` times, and prints one JSON array: per type the fastest run's seconds and the
CRC-32 of the bytes it wrote (zlib.crc32), so the bench can show both sides wrote the same bytes.

Standard library only (ctypes, zlib): no venv needed.
    python3 scripts/bench-llama.py --lib ~/.cache/quantscope-llama/build/bin/libggml-base.so --dir DIR < bench.json
"""
import argparse
import ctypes
import json
import sys
import time
import zlib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True, help="the built libggml-base.so")
    ap.add_argument("--dir", required=True, help="where the native bench wrote values.f32 and importance.f32")
    ap.add_argument("--row", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    types = json.load(sys.stdin)["results"]

    lib = ctypes.CDLL(a.lib)
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    lib.ggml_row_size.restype = ctypes.c_size_t
    lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]

    raw = open(f"{a.dir}/values.f32", "rb").read()
    values = (ctypes.c_char * len(raw)).from_buffer_copy(raw)
    imp_raw = open(f"{a.dir}/importance.f32", "rb").read()
    importance = (ctypes.c_char * len(imp_raw)).from_buffer_copy(imp_raw)
    assert len(imp_raw) == 4 * a.row, "one importance weight per column"
    nrows = len(raw) // 4 // a.row
    out = []
    for t in types:
        gtype = t["ggml_type"]
        size = lib.ggml_row_size(gtype, a.row) * nrows
        dst = (ctypes.c_char * size)()
        imatrix = ctypes.addressof(importance) if t["importance"] else None

        def run():
            got = lib.ggml_quantize_chunk(gtype, ctypes.addressof(values), ctypes.addressof(dst), 0, nrows, a.row, imatrix)
            assert got == size, (t["scheme"], got, size)

        run()
        best = float("inf")
        for _ in range(a.reps):
            t0 = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - t0)
        out.append({"scheme": t["scheme"], "seconds": best, "crc32": zlib.crc32(bytes(dst))})
        print(f"[bench] llama.cpp {t['scheme']}: {best:.3f} s", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
