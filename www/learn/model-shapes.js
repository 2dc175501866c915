// Model shapes the Learn view plans llama.cpp's mixes on (mixes.js, memory.js): from the models'
// published configs (layers, width, feed-forward, heads, K/V heads, vocabulary; tied: the output
// layer is the token embedding). The worker's mix_shape_plan (src/mixer/src/shape.rs) applies
// llama_tensor_get_type's rules to a llama-shaped model of each.
export const SHAPES = {
  'Llama 2 7B': { n_layer: 32, n_embd: 4096, n_ff: 11008, n_head: 32, n_head_kv: 32, n_vocab: 32000 },
  'Llama 3 8B': { n_layer: 32, n_embd: 4096, n_ff: 14336, n_head: 32, n_head_kv: 8, n_vocab: 128256 },
  'Llama 2 13B': { n_layer: 40, n_embd: 5120, n_ff: 13824, n_head: 40, n_head_kv: 40, n_vocab: 32000 },
  'Llama 3.2 1B': { n_layer: 16, n_embd: 2048, n_ff: 8192, n_head: 32, n_head_kv: 8, n_vocab: 128256, tied: true },
  'Llama 2 70B': { n_layer: 80, n_embd: 8192, n_ff: 28672, n_head: 64, n_head_kv: 8, n_vocab: 32000 },
};

// The Memory panel's presets (src/learn/src/memory.rs PRESETS) as these shapes.
export const PRESET_SHAPES = { '7B': 'Llama 2 7B', '8B': 'Llama 3 8B', '13B': 'Llama 2 13B', '70B': 'Llama 2 70B' };

