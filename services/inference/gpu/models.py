"""Model profiles: the transformer shapes that set FLOPs, weight bytes and KV-cache bytes.

Shapes are the ``config.json`` of each checkpoint (Meta's model cards): Llama 3 8B/70B are the
models the testbed serves; Llama 2 7B/70B are here because the oldest well-documented H100
measurements (TensorRT-LLM v0.5) used them. ``-fp8`` variants store weights and KV cache in one
byte (TensorRT-LLM ``--enable_fp8 --fp8_kv_cache``, NIM ``fp8`` profiles) and run on the FP8
tensor cores; activations, and so the tensor-parallel all-reduces, stay 2-byte.

Derived counts (all exact integers from the shapes):
- parameters = layers x (2 h^2 + 2 h kv_heads head_dim + 3 h intermediate + 2 h) + 2 vocab h + h
  (untied input embedding and LM head; SwiGLU MLP has three matrices);
- FLOPs per token = 2 x layer parameters (a multiply-add per weight), plus 2 x vocab x h only for
  the positions that are sampled (vLLM computes logits for the last token of each sequence);
- KV bytes per token = 2 (K and V) x layers x kv_heads x head_dim x bytes_per_value.

Tensor parallelism over N GPUs (``roofline.Deployment``) splits every weight matrix and the KV
heads N ways (KV heads are replicated when fewer than N) and costs two all-reduces per layer, after
attention and after the MLP, each of new_tokens x hidden x 2 bytes as a ring over the per-direction
NVLink bandwidth, 2 (N - 1) / N x bytes / bandwidth, plus a fixed latency
(``roofline.allreduce_seconds``).
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ModelProfile:
    """A dense decoder-only transformer (Llama family) and the precision it is served in."""

    name: str
    """Short key used on the command line, e.g. ``llama-3-8b``."""

    served_name: str
    """The ``model_name`` label vLLM puts on its metrics (the served checkpoint)."""

    layers: int
    """Decoder layers (``num_hidden_layers``)."""

    hidden_size: int
    """Residual stream width h (``hidden_size``)."""

    intermediate_size: int
    """SwiGLU MLP width (``intermediate_size``)."""

    attention_heads: int
    """Query heads (``num_attention_heads``)."""

    kv_heads: int
    """Key/value heads (``num_key_value_heads``); fewer than query heads is grouped-query attention."""

    head_dim: int
    """Width of one attention head (hidden_size / attention_heads for Llama)."""

    vocab_size: int
    """Tokenizer vocabulary, rows of the embedding and of the LM head."""

    bytes_per_value: int
    """Bytes per weight and per KV-cache element: 2 for BF16, 1 for FP8."""

    published_parameters: float
    """Parameter count the model card states, to check the shape arithmetic against."""

    activation_bytes_per_value: int = 2
    """Bytes per activation element (BF16), which is what tensor-parallel all-reduces move."""

    def __post_init__(self) -> None:
        positive = ("layers", "hidden_size", "intermediate_size", "attention_heads", "kv_heads",
                    "head_dim", "vocab_size")
        for field in positive:
            if getattr(self, field) <= 0:
                raise ValueError(f"{field} of {self.name} must be positive.")
        if self.attention_heads % self.kv_heads:
            raise ValueError(f"{self.name}: attention heads must be a multiple of KV heads (GQA groups).")
        if self.bytes_per_value not in (1, 2):
            raise ValueError(f"{self.name}: bytes_per_value must be 1 (FP8) or 2 (BF16).")

    @property
    def layer_parameters(self) -> int:
        """Weights in all decoder layers (attention, MLP, norms), excluding embedding and LM head."""
        h = self.hidden_size
        attention = 2 * h * self.attention_heads * self.head_dim + 2 * h * self.kv_heads * self.head_dim
        mlp = 3 * h * self.intermediate_size
        norms = 2 * h
        return self.layers * (attention + mlp + norms)

    @property
    def lm_head_parameters(self) -> int:
        """Weights of the output projection (vocab x hidden), read once per step."""
        return self.vocab_size * self.hidden_size

    @property
    def parameters(self) -> int:
        """All weights: decoder layers, input embedding, LM head and the final norm."""
        return self.layer_parameters + 2 * self.lm_head_parameters + self.hidden_size

    @property
    def weight_bytes(self) -> int:
        """Bytes of all weights in device memory (the embedding table too)."""
        return self.parameters * self.bytes_per_value

    @property
    def kv_bytes_per_token(self) -> int:
        """KV-cache bytes one token occupies: 2 x layers x kv_heads x head_dim x bytes_per_value."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.bytes_per_value

    def kv_bytes_per_token_per_gpu(self, *, tensor_parallel_size: int) -> int:
        """KV bytes per token on one GPU: KV heads are split over GPUs, replicated when fewer."""
        heads_per_gpu = -(-self.kv_heads // tensor_parallel_size)
        return 2 * self.layers * heads_per_gpu * self.head_dim * self.bytes_per_value

    @property
    def attention_width(self) -> int:
        """Query heads x head_dim: the width of the QK^T and AV products per token."""
        return self.attention_heads * self.head_dim


def _llama(name: str, served_name: str, *, layers: int, hidden_size: int, intermediate_size: int,
           attention_heads: int, kv_heads: int, vocab_size: int, published_parameters: float) -> ModelProfile:
    return ModelProfile(
        name=name, served_name=served_name, layers=layers, hidden_size=hidden_size,
        intermediate_size=intermediate_size, attention_heads=attention_heads, kv_heads=kv_heads,
        head_dim=hidden_size // attention_heads, vocab_size=vocab_size, bytes_per_value=2,
        published_parameters=published_parameters)


def as_fp8(model: ModelProfile) -> ModelProfile:
    """The same model with FP8 weights and KV cache (one byte per value)."""
    return dataclasses.replace(model, name=f"{model.name}-fp8", served_name=f"{model.served_name}-FP8",
                               bytes_per_value=1)


# meta-llama/Meta-Llama-3-8B config.json: 32 layers, hidden 4096, intermediate 14336, 32 heads,
# 8 KV heads, vocab 128256, untied embeddings; model card: 8.03B parameters.
LLAMA_3_8B = _llama("llama-3-8b", "meta-llama/Meta-Llama-3-8B-Instruct", layers=32, hidden_size=4096,
                    intermediate_size=14336, attention_heads=32, kv_heads=8, vocab_size=128256,
                    published_parameters=8.03e9)
"""Llama 3 8B (also the shape of Llama 3.1 8B), BF16."""

# meta-llama/Meta-Llama-3-70B config.json: 80 layers, hidden 8192, intermediate 28672, 64 heads,
# 8 KV heads, vocab 128256; model card: 70.6B parameters.
LLAMA_3_70B = _llama("llama-3-70b", "meta-llama/Meta-Llama-3-70B-Instruct", layers=80, hidden_size=8192,
                     intermediate_size=28672, attention_heads=64, kv_heads=8, vocab_size=128256,
                     published_parameters=70.6e9)
"""Llama 3 70B (also the shape of Llama 3.1/3.3 70B), BF16."""

# meta-llama/Llama-2-7b-hf config.json: 32 layers, hidden 4096, intermediate 11008, 32 heads,
# 32 KV heads (no GQA), vocab 32000; 6.74B parameters.
LLAMA_2_7B = _llama("llama-2-7b", "meta-llama/Llama-2-7b-hf", layers=32, hidden_size=4096,
                    intermediate_size=11008, attention_heads=32, kv_heads=32, vocab_size=32000,
                    published_parameters=6.74e9)
"""Llama 2 7B, BF16 (calibration only: TensorRT-LLM v0.5 measured it)."""

# meta-llama/Llama-2-70b-hf config.json: 80 layers, hidden 8192, intermediate 28672, 64 heads,
# 8 KV heads, vocab 32000; 68.98B parameters.
LLAMA_2_70B = _llama("llama-2-70b", "meta-llama/Llama-2-70b-hf", layers=80, hidden_size=8192,
                     intermediate_size=28672, attention_heads=64, kv_heads=8, vocab_size=32000,
                     published_parameters=68.98e9)
"""Llama 2 70B, BF16 (calibration only)."""

_BASES = (LLAMA_3_8B, LLAMA_3_70B, LLAMA_2_7B, LLAMA_2_70B)

MODELS: dict[str, ModelProfile] = {
    model.name: model for base in _BASES for model in (base, as_fp8(base))
}
"""Every model profile by its command-line key (each base in BF16 and ``-fp8``)."""


def get_model(name: str) -> ModelProfile:
    """Return the model profile called ``name``; raise ``KeyError`` with the known names."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
