"""Model profiles: the transformer shapes that set FLOPs, weight bytes and KV-cache bytes.

Shapes are the ``config.json`` of each checkpoint: Llama 3 8B/70B are the models the testbed
serves; Llama 3.1 405B is the 405B-class model (FP8 over 8 GPUs); Mixtral 8x7B is the
mixture-of-experts model; Llama 2 7B/70B are here because the oldest well-documented H100
measurements (TensorRT-LLM v0.5) used them.

Precision has two independent halves. ``weight_bytes_per_value`` (2: BF16, 1: FP8) sets the weight
bytes and which tensor-core peak the GEMMs run at; ``kv_bytes_per_value`` sets the KV cache's size
and read traffic. ``-fp8`` keys store both in one byte (TensorRT-LLM ``--enable_fp8
--fp8_kv_cache``, NIM fp8 profiles); ``with_kv_bytes`` gives any model another KV precision, e.g.
FP8 weights with a 16-bit KV cache (vLLM's ``--kv-cache-dtype auto`` on an FP8 checkpoint).
Activations, and so the tensor-parallel all-reduces, stay 2-byte.

Derived counts (all exact integers from the shapes):
- parameters = layers x (attention + dense MLP + experts x expert MLP + router + 2 norms)
  + 2 vocab h + h (untied input embedding and LM head; a SwiGLU MLP has three matrices);
- FLOPs per token = 2 x *active* layer parameters (a multiply-add per weight; a mixture-of-experts
  layer runs only ``experts_per_token`` of its experts), plus 2 x vocab x h only for the positions
  that are sampled (vLLM computes logits for the last token of each sequence);
- KV bytes per token = 2 (K and V) x layers x kv_heads x head_dim x kv_bytes_per_value.

Mixture of experts, the weights a step reads: every routed token picks ``experts_per_token`` of
the ``experts`` of each layer, and an expert's weights are read once per step if any token of the
step picked it. With n tokens routed independently and uniformly, the expected number of distinct
experts touched per layer is E (1 - (1 - k/E)^n) (``experts_touched``): k at batch 1, nearly all E
from a few dozen tokens on. Uniform routing is the approximation: a trained router is skewed, so
real batches touch somewhat fewer experts than this (an upper bound on the weight bytes); it is
the assumption load-balancing losses push routers towards, and the only one that needs no trace of
routing decisions. Costing a step by active parameters only (k experts) would make batched MoE
decode several times too fast; costing all experts would make batch-1 decode too slow.

Tensor parallelism over N GPUs (``roofline.Deployment``) splits every weight matrix (each expert
too) and the KV heads N ways (KV heads are replicated when fewer than N).
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ModelProfile:
    """A decoder-only transformer (Llama family, optionally mixture-of-experts) and its precision."""

    name: str
    """Short key used on the command line, e.g. ``llama-3-8b``."""

    served_name: str
    """The ``model_name`` label vLLM puts on its metrics (the served checkpoint)."""

    layers: int
    """Decoder layers (``num_hidden_layers``)."""

    hidden_size: int
    """Residual stream width h (``hidden_size``)."""

    intermediate_size: int
    """Dense SwiGLU MLP width (``intermediate_size``); 0 when every MLP is a mixture of experts."""

    attention_heads: int
    """Query heads (``num_attention_heads``)."""

    kv_heads: int
    """Key/value heads (``num_key_value_heads``); fewer than query heads is grouped-query attention."""

    head_dim: int
    """Width of one attention head (hidden_size / attention_heads for Llama)."""

    vocab_size: int
    """Tokenizer vocabulary, rows of the embedding and of the LM head."""

    weight_bytes_per_value: int
    """Bytes per weight: 2 for BF16, 1 for FP8 (which also selects the FP8 tensor-core peak)."""

    kv_bytes_per_value: int
    """Bytes per KV-cache element: 2 for BF16, 1 for FP8; independent of the weights."""

    published_parameters: float
    """Parameter count the model card states, to check the shape arithmetic against."""

    experts: int = 0
    """Routed experts per MoE layer (``num_local_experts``); 0 for a dense model."""

    experts_per_token: int = 0
    """Experts each token is routed to (``num_experts_per_tok``)."""

    expert_intermediate_size: int = 0
    """SwiGLU width of one expert."""

    published_active_parameters: float | None = None
    """Active parameters per token the model card states (MoE only)."""

    activation_bytes_per_value: int = 2
    """Bytes per activation element (BF16), which is what tensor-parallel all-reduces move."""

    def __post_init__(self) -> None:
        positive = ("layers", "hidden_size", "attention_heads", "kv_heads", "head_dim", "vocab_size")
        for field in positive:
            if getattr(self, field) <= 0:
                raise ValueError(f"{field} of {self.name} must be positive.")
        if self.attention_heads % self.kv_heads:
            raise ValueError(f"{self.name}: attention heads must be a multiple of KV heads (GQA groups).")
        for field in ("weight_bytes_per_value", "kv_bytes_per_value"):
            if getattr(self, field) not in (1, 2):
                raise ValueError(f"{self.name}: {field} must be 1 (FP8) or 2 (BF16).")
        if self.experts and not 0 < self.experts_per_token <= self.experts:
            raise ValueError(f"{self.name}: experts_per_token must be in 1..experts.")
        if not self.experts and not self.intermediate_size:
            raise ValueError(f"{self.name}: a dense model needs an intermediate_size.")

    @property
    def is_moe(self) -> bool:
        """Whether the MLPs are mixtures of experts."""
        return self.experts > 0

    @property
    def expert_parameters(self) -> int:
        """Weights of one expert of one layer (three SwiGLU matrices)."""
        return 3 * self.hidden_size * self.expert_intermediate_size

    @property
    def dense_layer_parameters(self) -> int:
        """Weights in all decoder layers that every token uses: attention, dense MLP, router, norms."""
        h = self.hidden_size
        attention = 2 * h * self.attention_heads * self.head_dim + 2 * h * self.kv_heads * self.head_dim
        mlp = 3 * h * self.intermediate_size
        router = h * self.experts
        norms = 2 * h
        return self.layers * (attention + mlp + router + norms)

    @property
    def layer_parameters(self) -> int:
        """Weights in all decoder layers (every expert), excluding embedding and LM head."""
        return self.dense_layer_parameters + self.layers * self.experts * self.expert_parameters

    @property
    def active_layer_parameters(self) -> int:
        """Decoder-layer weights one token runs through (its ``experts_per_token`` experts only)."""
        return self.dense_layer_parameters + self.layers * self.experts_per_token * self.expert_parameters

    @property
    def lm_head_parameters(self) -> int:
        """Weights of the output projection (vocab x hidden), read once per step."""
        return self.vocab_size * self.hidden_size

    @property
    def parameters(self) -> int:
        """All weights: decoder layers, input embedding, LM head and the final norm."""
        return self.layer_parameters + 2 * self.lm_head_parameters + self.hidden_size

    @property
    def active_parameters(self) -> int:
        """Weights one token uses: active decoder layers, embedding, LM head, final norm."""
        return self.active_layer_parameters + 2 * self.lm_head_parameters + self.hidden_size

    @property
    def weight_bytes(self) -> int:
        """Bytes of all weights in device memory (the embedding table too)."""
        return self.parameters * self.weight_bytes_per_value

    def experts_touched(self, tokens: int) -> float:
        """Expected distinct experts per layer that ``tokens`` uniformly routed tokens use: E (1 - (1 - k/E)^n)."""
        if not self.is_moe:
            return 0.0
        if tokens < 0:
            raise ValueError(f"tokens must not be negative, got {tokens}.")
        experts = self.experts
        return experts * (1.0 - (1.0 - self.experts_per_token / experts) ** tokens)

    def weights_read_per_step(self, tokens: int) -> float:
        """Weights a step over ``tokens`` tokens reads: dense layers, LM head, touched experts (all GPUs)."""
        experts = self.layers * self.experts_touched(tokens) * self.expert_parameters
        return self.dense_layer_parameters + self.lm_head_parameters + experts

    @property
    def kv_bytes_per_token(self) -> int:
        """KV-cache bytes one token occupies: 2 x layers x kv_heads x head_dim x kv_bytes_per_value."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.kv_bytes_per_value

    def kv_bytes_per_token_per_gpu(self, *, tensor_parallel_size: int) -> int:
        """KV bytes per token on one GPU: KV heads are split over GPUs, replicated when fewer."""
        heads_per_gpu = -(-self.kv_heads // tensor_parallel_size)
        return 2 * self.layers * heads_per_gpu * self.head_dim * self.kv_bytes_per_value

    @property
    def attention_width(self) -> int:
        """Query heads x head_dim: the width of the QK^T and AV products per token."""
        return self.attention_heads * self.head_dim


def _model(name: str, served_name: str, *, layers: int, hidden_size: int, intermediate_size: int,
           attention_heads: int, kv_heads: int, vocab_size: int, published_parameters: float,
           **moe: float) -> ModelProfile:
    return ModelProfile(
        name=name, served_name=served_name, layers=layers, hidden_size=hidden_size,
        intermediate_size=intermediate_size, attention_heads=attention_heads, kv_heads=kv_heads,
        head_dim=hidden_size // attention_heads, vocab_size=vocab_size, weight_bytes_per_value=2,
        kv_bytes_per_value=2, published_parameters=published_parameters, **moe)  # type: ignore[arg-type]


def as_fp8(model: ModelProfile) -> ModelProfile:
    """The same model with FP8 weights and FP8 KV cache (one byte per value)."""
    return dataclasses.replace(model, name=f"{model.name}-fp8", served_name=f"{model.served_name}-FP8",
                               weight_bytes_per_value=1, kv_bytes_per_value=1)


def with_kv_bytes(model: ModelProfile, kv_bytes_per_value: int) -> ModelProfile:
    """The same model and weights with a KV cache of ``kv_bytes_per_value`` (1: FP8, 2: BF16)."""
    if kv_bytes_per_value == model.kv_bytes_per_value:
        return model
    suffix = {1: "kv8", 2: "kv16"}.get(kv_bytes_per_value, f"kv{8 * kv_bytes_per_value}")
    return dataclasses.replace(model, name=f"{model.name}-{suffix}", kv_bytes_per_value=kv_bytes_per_value)


# meta-llama/Meta-Llama-3-8B config.json: 32 layers, hidden 4096, intermediate 14336, 32 heads,
# 8 KV heads, vocab 128256, untied embeddings; model card: 8.03B parameters.
LLAMA_3_8B = _model("llama-3-8b", "meta-llama/Meta-Llama-3-8B-Instruct", layers=32, hidden_size=4096,
                    intermediate_size=14336, attention_heads=32, kv_heads=8, vocab_size=128256,
                    published_parameters=8.03e9)
"""Llama 3 8B (also the shape of Llama 3.1 8B), BF16."""

# meta-llama/Meta-Llama-3-70B config.json: 80 layers, hidden 8192, intermediate 28672, 64 heads,
# 8 KV heads, vocab 128256; model card: 70.6B parameters.
LLAMA_3_70B = _model("llama-3-70b", "meta-llama/Meta-Llama-3-70B-Instruct", layers=80, hidden_size=8192,
                     intermediate_size=28672, attention_heads=64, kv_heads=8, vocab_size=128256,
                     published_parameters=70.6e9)
"""Llama 3 70B (also the shape of Llama 3.1/3.3 70B), BF16."""

# meta-llama/Llama-3.1-405B config.json: 126 layers, hidden 16384, intermediate 53248, 128 heads,
# 8 KV heads, vocab 128256; model card: 405B parameters (the shapes give 405.85B).
LLAMA_31_405B = _model("llama-3.1-405b", "meta-llama/Llama-3.1-405B-Instruct", layers=126, hidden_size=16384,
                       intermediate_size=53248, attention_heads=128, kv_heads=8, vocab_size=128256,
                       published_parameters=405.85e9)
"""Llama 3.1 405B, BF16 (810 GB: it needs FP8 to fit on 8 x 80 GB, ``llama-3.1-405b-fp8``)."""

# mistralai/Mixtral-8x7B-v0.1 config.json: 32 layers, hidden 4096, intermediate 14336 per expert,
# 32 heads, 8 KV heads, vocab 32000, num_local_experts 8, num_experts_per_tok 2; Mistral AI's
# announcement ("Mixtral of experts", Dec 2023): 46.7B total parameters, 12.9B used per token.
MIXTRAL_8X7B = _model("mixtral-8x7b", "mistralai/Mixtral-8x7B-Instruct-v0.1", layers=32, hidden_size=4096,
                      intermediate_size=0, attention_heads=32, kv_heads=8, vocab_size=32000,
                      published_parameters=46.7e9, experts=8, experts_per_token=2, expert_intermediate_size=14336,
                      published_active_parameters=12.9e9)
"""Mixtral 8x7B, BF16: 8 experts per layer, 2 per token (the mixture-of-experts profile)."""

# meta-llama/Llama-2-7b-hf config.json: 32 layers, hidden 4096, intermediate 11008, 32 heads,
# 32 KV heads (no GQA), vocab 32000; 6.74B parameters.
LLAMA_2_7B = _model("llama-2-7b", "meta-llama/Llama-2-7b-hf", layers=32, hidden_size=4096,
                    intermediate_size=11008, attention_heads=32, kv_heads=32, vocab_size=32000,
                    published_parameters=6.74e9)
"""Llama 2 7B, BF16 (calibration: TensorRT-LLM v0.5 measured it)."""

# meta-llama/Llama-2-70b-hf config.json: 80 layers, hidden 8192, intermediate 28672, 64 heads,
# 8 KV heads, vocab 32000; 68.98B parameters.
LLAMA_2_70B = _model("llama-2-70b", "meta-llama/Llama-2-70b-hf", layers=80, hidden_size=8192,
                     intermediate_size=28672, attention_heads=64, kv_heads=8, vocab_size=32000,
                     published_parameters=68.98e9)
"""Llama 2 70B, BF16 (calibration)."""

_BASES = (LLAMA_3_8B, LLAMA_3_70B, LLAMA_31_405B, MIXTRAL_8X7B, LLAMA_2_7B, LLAMA_2_70B)

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
