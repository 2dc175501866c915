#!/usr/bin/env python3
"""Writes the export bench's source model (scripts/bench-export.mjs): a llama-architecture F16
GGUF of about 1 GB, written by gguf-py's GGUFWriter as convert_hf_to_gguf.py writes one, with the
metadata llama-quantize's rules read (`llama_tensor_get_type`, src/llama-quant.cpp) and layers of
TinyLlama 1.1B's width (n_embd 2048, n_ff 5632, 32 heads sharing 4 KV heads, vocabulary 32000),
but 9 layers instead of 22 so the file is ~1.05 GB instead of 2.2 GB. Values: seeded normal × 0.02
(F16 weights; F32 norms). Tensors are streamed to the file one at a time (never all in memory).

Needs the venv of scripts/fixtures/requirements-llama.txt (gguf-py, numpy):
    /work/venv-llama/bin/python scripts/bench-export-source.py OUT.gguf
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter

N_EMBD, N_FF, N_HEAD, N_HEAD_KV, N_LAYER, N_VOCAB = 2048, 5632, 32, 4, 9, 32000
HEAD_DIM = N_EMBD // N_HEAD


def main(path):
    rng = np.random.default_rng(2026)
    w = GGUFWriter(path, "llama")
    w.add_name("bench-export-1b")
    w.add_context_length(2048)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(1)  # MOSTLY_F16, as the converter says; llama-quantize replaces it
    w.add_vocab_size(N_VOCAB)
    w.add_tokenizer_model("llama")
    w.add_token_list([f"t{i}" for i in range(N_VOCAB)])
    w.add_token_scores([-float(i) for i in range(N_VOCAB)])
    w.add_token_types([1] * N_VOCAB)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    # (name, shape as rows × cols, or a vector) in convert_hf_to_gguf.py's order.
    tensors = [("token_embd.weight", (N_VOCAB, N_EMBD))]
    for i in range(N_LAYER):
        tensors += [
            (f"blk.{i}.attn_norm.weight", (N_EMBD,)),
            (f"blk.{i}.attn_q.weight", (N_EMBD, N_EMBD)),
            (f"blk.{i}.attn_k.weight", (N_HEAD_KV * HEAD_DIM, N_EMBD)),
            (f"blk.{i}.attn_v.weight", (N_HEAD_KV * HEAD_DIM, N_EMBD)),
            (f"blk.{i}.attn_output.weight", (N_EMBD, N_EMBD)),
            (f"blk.{i}.ffn_norm.weight", (N_EMBD,)),
            (f"blk.{i}.ffn_gate.weight", (N_FF, N_EMBD)),
            (f"blk.{i}.ffn_up.weight", (N_FF, N_EMBD)),
            (f"blk.{i}.ffn_down.weight", (N_EMBD, N_FF)),
        ]
    tensors += [("output_norm.weight", (N_EMBD,)), ("output.weight", (N_VOCAB, N_EMBD))]
    for name, shape in tensors:
        dtype = np.float32 if len(shape) == 1 else np.float16
        n = int(np.prod(shape))
        w.add_tensor_info(name, shape, np.dtype(dtype), n * np.dtype(dtype).itemsize, raw_dtype=T.F32 if dtype == np.float32 else T.F16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, shape in tensors:
        if len(shape) == 1:
            x = (1 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            x = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float16)
        w.write_tensor_data(x)
    w.close()


if __name__ == "__main__":
    main(sys.argv[1])
