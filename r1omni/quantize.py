"""An int8 dynamic-quantised CPU path (`Pipeline.load(..., quantize="int8")`, `r1omni predict --quantize int8`).

`torch.ao.quantization.quantize_dynamic` replaces the `nn.Linear` layers of the language model, the towers,
the projectors and the gate by int8 dynamic-quantised ones (weights int8 per tensor, activations quantised
per batch on the fly, float32 outputs). The LM head stays float32: it is tied to the token embeddings and
`r1omni.logprobs.head_logprobs` reads its weight rows. CPU only (the quantised kernels are fbgemm / qnnpack).

What it gives is measured, not assumed: bench/quantize.py compares it with float32 on the same clips in one
run (speed, label agreement, logit and log-prob differences; bench/results/quantize*.json, README).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from r1omni.errors import UsageError

QUANTIZE_CHOICES = ("none", "int8")


def check_quantize(quantize: str | None, device: torch.device | str) -> str | None:
    """The normalised choice (None for none); UsageError for an unknown one or a non-CPU device."""
    if quantize in (None, "", "none"):
        return None
    if quantize not in QUANTIZE_CHOICES:
        raise UsageError(f"unknown quantization '{quantize}'; choose one of: {', '.join(QUANTIZE_CHOICES)}")
    if torch.device(device).type != "cpu":
        raise UsageError("--quantize int8 is a CPU path (dynamic int8 kernels); use --device cpu")
    return quantize


def quantize_int8(model: nn.Module) -> nn.Module:
    """Every nn.Linear but the (tied) LM head -> dynamic int8, in place, on a float32 model; returns it."""
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    model.float()
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    spec = {name: default_dynamic_qconfig for name, mod in model.named_modules()
            if isinstance(mod, nn.Linear) and mod is not head}
    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notice (torchao is not a dependency)
        warnings.simplefilter("ignore")
        quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)
    return model
