"""HumanOmni / R1-Omni model: towers, BERT gate, backbone with placeholder splicing, causal-LM head.

Attribute names are the released checkpoint's state-dict keys (shared/reference/r1omni.md 2.3), awkward or not:
`model.vision_tower.vision_tower.*` (SigLIP), `model.audio_tower.audio_tower.*` (WhisperForAudioClassification;
only its encoder runs), `model.mm_projector.*`, `model.audio_projector.*`, `model.bert_model.*`,
`model.bert_gate.*`; `lm_head` is tied to `model.embed_tokens`.

Media are spliced where `input_ids` holds the video (-201) / audio (-202) placeholder ids, in two layouts:
- expanded: each placeholder repeated exactly num_video_tokens / num_audio_tokens times (sequence length
  unchanged; what the pipeline and training use);
- compat: one placeholder each, as the reference code; ids, attention mask, labels and positions are
  expanded and re-left-padded before anything else.
Negative ids never reach the embedding lookup. Media are encoded only when placeholders are present, i.e.
on the prefill step of `generate` (which also drops `pixel_values_videos` / `input_features` afterwards).
This module knows nothing about files, tokenizers or media decoding.
"""

from __future__ import annotations

import logging
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoModelForCausalLM,
    BertModel,
    GenerationMixin,
    SiglipVisionModel,
    WhisperForAudioClassification,
)
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.models.qwen2.modeling_qwen2 import Qwen2Model, Qwen2PreTrainedModel

from r1omni.config import HumanOmniQwen2Config
from r1omni.errors import CheckpointError, UsageError
from r1omni.modeling.projector import AllInOneSmall

logger = logging.getLogger(__name__)

GATE_BRANCHES = ("scene", "body", "face")  # gate index 0 video/scene, 1 body, 2 face


def default_dtype(device: str | torch.device) -> torch.dtype:
    """bf16 on CUDA, float32 elsewhere."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32


def _mlp2x_gelu(in_features: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, hidden), nn.GELU(), nn.Linear(hidden, hidden))


class SiglipHolder(nn.Module):
    """Holds the SigLIP vision model at `.vision_model`.

    compat: transformers 4.x's SiglipVisionModel nested its transformer under `vision_model`, and the released
    state dict keeps that level (`vision_tower.vision_tower.vision_model.*`); 5.x flattened it.
    """

    def __init__(self, config):
        super().__init__()
        self.vision_model = SiglipVisionModel(config)


class VisionTower(nn.Module):
    """SigLIP vision model at `.vision_tower.vision_model`; features = hidden_states[select_layer] (penultimate)."""

    def __init__(self, config: HumanOmniQwen2Config):
        super().__init__()
        self.select_layer = config.mm_vision_select_layer
        self.vision_tower = SiglipHolder(config.siglip_config())

    @property
    def dtype(self) -> torch.dtype:
        return self.vision_tower.vision_model.dtype

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) -> (N, P, C): hidden_states[select_layer], computed without the layers after it.

        The reference ran the whole model (every layer, post-norm and the attention-pooling head) and kept
        one hidden state; stopping at the selected layer gives the same tensor for less work.
        """
        vm = self.vision_tower.vision_model
        layers = vm.encoder.layers
        stop = self.select_layer % (len(layers) + 1)  # index into (embeddings, layer 1, ..., layer n)
        hidden = vm.embeddings(pixel_values)
        for layer in layers[:stop]:
            hidden = layer(hidden, None)
        return hidden

    def reference_forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The full-model path of the reference, kept to test that `forward` equals it."""
        out = self.vision_tower.vision_model(pixel_values=pixel_values, output_hidden_states=True)
        return out.hidden_states[self.select_layer]


class AudioTower(nn.Module):
    """WhisperForAudioClassification at `.audio_tower` (its projector/classifier are stored but unused)."""

    def __init__(self, config: HumanOmniQwen2Config):
        super().__init__()
        self.audio_tower = WhisperForAudioClassification(config.whisper_config())

    def forward(self, input_features: torch.Tensor) -> torch.Tensor:
        """(B, 128, 2*max_source_positions) log-mel -> (B, max_source_positions, d_model)."""
        return self.audio_tower.encoder(input_features).last_hidden_state


def expand_compat_placeholders(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    config: HumanOmniQwen2Config,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, bool]:
    """Compat layout -> expanded layout: a single placeholder becomes N copies; rows re-left-padded.

    Returns (input_ids, attention_mask, labels, changed). Rows already in the expanded layout are kept as is.
    """
    counts = {
        config.video_token_index: config.num_video_tokens,
        config.audio_token_index: config.num_audio_tokens,
    }
    single = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    for pid, n in counts.items():
        if n > 1:
            single |= (input_ids == pid).sum(1) == 1
    if not bool(single.any()):
        return input_ids, attention_mask, labels, False
    mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
    rows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []
    for b in range(input_ids.shape[0]):
        ids_b, mask_b = input_ids[b], mask[b]
        lab_b = labels[b] if labels is not None else None
        repeats = torch.ones_like(ids_b)
        for pid, n in counts.items():
            hit = ids_b == pid
            if int(hit.sum()) == 1:
                repeats[hit] = n
        new_lab = None
        if lab_b is not None:
            new_lab = torch.repeat_interleave(lab_b.masked_fill(ids_b < 0, -100), repeats)
        rows.append((torch.repeat_interleave(ids_b, repeats), torch.repeat_interleave(mask_b, repeats), new_lab))
    width = max(r[0].shape[0] for r in rows)

    def left_pad(t: torch.Tensor, value: int) -> torch.Tensor:
        return F.pad(t, (width - t.shape[0], 0), value=value)

    new_ids = torch.stack([left_pad(r[0], 0) for r in rows])
    new_mask = torch.stack([left_pad(r[1], 0) for r in rows])
    new_labels = torch.stack([left_pad(r[2], -100) for r in rows]) if labels is not None else None
    return new_ids, (new_mask if attention_mask is not None or width != input_ids.shape[1] else None), new_labels, True


class HumanOmniPreTrainedModel(Qwen2PreTrainedModel):
    config_class = HumanOmniQwen2Config
    config: HumanOmniQwen2Config
    base_model_prefix = "model"
    _no_split_modules = ["Qwen2DecoderLayer", "SiglipEncoderLayer", "WhisperEncoderLayer", "BertLayer"]  # noqa: RUF012


class HumanOmniQwen2Model(HumanOmniPreTrainedModel, Qwen2Model):
    """Qwen2 backbone + towers, projectors and BERT gate; `forward` splices media at the placeholders."""

    def __init__(self, config: HumanOmniQwen2Config):
        Qwen2Model.__init__(self, config)
        siglip = config.siglip_config()
        whisper = config.whisper_config()
        if siglip.hidden_size != config.mm_hidden_size:
            raise CheckpointError(
                f"mm_hidden_size {config.mm_hidden_size} does not match the vision tower width {siglip.hidden_size}"
            )
        if whisper.d_model != config.audio_hidden_size:
            raise CheckpointError(
                f"audio_hidden_size {config.audio_hidden_size} does not match the audio tower width {whisper.d_model}"
            )
        if config.mm_projector_type != "all_in_one_small" or config.mm_audio_projector_type != "mlp2x_gelu":
            raise CheckpointError(
                f"unsupported projector types {config.mm_projector_type!r}/{config.mm_audio_projector_type!r}; "
                "supported: all_in_one_small / mlp2x_gelu"
            )
        self.vision_tower = VisionTower(config)
        self.audio_tower = AudioTower(config)
        self.mm_projector = AllInOneSmall(config.mm_hidden_size, config.hidden_size)
        self.audio_projector = _mlp2x_gelu(config.audio_hidden_size, config.hidden_size)
        bert = config.bert_model_config()
        self.bert_model = BertModel(bert, add_pooling_layer=True)
        # compat: the gate width is hard-coded to 3584 (the 7B hidden size) even for the 0.5B model.
        self.bert_gate = nn.Sequential(
            nn.Linear(bert.hidden_size, config.gate_hidden_size), nn.GELU(), nn.Linear(config.gate_hidden_size, 3)
        )
        self.last_gate_probs: torch.Tensor | None = None
        self.post_init()

    # ---- media encoders ------------------------------------------------------------------------------------------
    def get_gate_probs(
        self, gate_input_ids: torch.Tensor, gate_attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """BERT [CLS] -> bert_gate -> softmax: (B, 3) over (scene, body, face)."""
        if gate_attention_mask is None:
            gate_attention_mask = torch.ones_like(gate_input_ids)
        hidden = self.bert_model(input_ids=gate_input_ids, attention_mask=gate_attention_mask).last_hidden_state
        logits = self.bert_gate(hidden[:, 0])
        return logits.float().softmax(-1)

    def get_video_features(self, pixel_values_videos: torch.Tensor, gate_probs: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, S, S) pixels, (B, 3) gate -> (B, T*(g/2)^2, D)."""
        if pixel_values_videos.ndim != 5:
            raise UsageError(
                f"pixel_values_videos must be (B, T, 3, H, W), got shape {tuple(pixel_values_videos.shape)}"
            )
        b, t = pixel_values_videos.shape[:2]
        tower_dtype = self.vision_tower.dtype
        feats = self.vision_tower(pixel_values_videos.flatten(0, 1).to(tower_dtype))  # (B*T, P, C)
        feats = feats.view(b, t, feats.shape[1], feats.shape[2])  # (B, T, P, C)
        try:
            return self.mm_projector(feats, gate_probs)
        except ValueError as e:
            raise UsageError(str(e)) from e

    def get_audio_features(self, input_features: torch.Tensor) -> torch.Tensor:
        """(B, 128, L) log-mel -> encoder (B, L/2, Da) -> avg-pool 3 -> audio_projector -> (B, L/6, D)."""
        expected = self.config.audio_num_frames
        if input_features.ndim != 3 or input_features.shape[-1] != expected:
            raise UsageError(
                f"input_features must be (B, 128, {expected}) for this checkpoint, got {tuple(input_features.shape)}"
            )
        tower_dtype = self.audio_tower.audio_tower.dtype
        h = self.audio_tower(input_features.to(tower_dtype))  # (B, L/2, Da)
        h = F.avg_pool1d(h.transpose(1, 2), kernel_size=3, stride=3).transpose(1, 2)  # (B, L/6, Da)
        return self.audio_projector(h)

    def get_placeholder_mask(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(video_mask, audio_mask), each (B, L) bool."""
        return input_ids == self.config.video_token_index, input_ids == self.config.audio_token_index

    @staticmethod
    def _rows(tensor: torch.Tensor | None, rows: torch.Tensor, name: str) -> torch.Tensor | None:
        """Select the batch rows that carry placeholders (tensor given for all rows or for those rows only)."""
        if tensor is None:
            return None
        if tensor.shape[0] == rows.shape[0]:
            return tensor[rows]
        if tensor.shape[0] == int(rows.sum()):
            return tensor
        raise UsageError(
            f"{name} has {tensor.shape[0]} rows but the batch has {rows.shape[0]} rows "
            f"({int(rows.sum())} with placeholders)"
        )

    def _scatter(self, embeds: torch.Tensor, mask: torch.Tensor, expected: int, what: str, encode) -> torch.Tensor:
        counts = mask.sum(1)
        rows = counts > 0
        bad = [(b, int(c)) for b, c in enumerate(counts.tolist()) if c not in (0, expected)]
        if bad:
            b, c = bad[0]
            raise UsageError(
                f"row {b} has {c} {what} placeholder tokens but the model produces {expected} {what} features "
                f"per sample (use exactly {expected}, or 1 for the compat layout)"
            )
        feats = encode(rows)  # (R, expected, D)
        return embeds.masked_scatter(mask[..., None].expand_as(embeds), feats.to(embeds.dtype))

    def embed_inputs(
        self,
        input_ids: torch.Tensor,
        pixel_values_videos: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        gate_input_ids: torch.Tensor | None = None,
        gate_attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Expanded-layout ids -> (B, L, D) embeddings with video/audio features at the placeholder positions."""
        video_mask, audio_mask = self.get_placeholder_mask(input_ids)
        embeds = self.embed_tokens(input_ids.masked_fill(input_ids < 0, 0))  # negative ids never reach the lookup
        if bool(video_mask.any()):
            if pixel_values_videos is None:
                raise UsageError("input_ids contain video placeholders but pixel_values_videos was not given")
            if gate_input_ids is None:
                raise UsageError("video placeholders need gate_input_ids (the BERT-tokenised instruction)")

            def encode_video(rows: torch.Tensor) -> torch.Tensor:
                gate = self.get_gate_probs(gate_input_ids, gate_attention_mask)
                self.last_gate_probs = gate.detach()
                gate_rows = gate[rows] if gate.shape[0] == rows.shape[0] else gate
                return self.get_video_features(self._rows(pixel_values_videos, rows, "pixel_values_videos"), gate_rows)

            embeds = self._scatter(embeds, video_mask, self.config.num_video_tokens, "video", encode_video)
        if bool(audio_mask.any()):
            if input_features is None:
                raise UsageError("input_ids contain audio placeholders but input_features was not given")
            embeds = self._scatter(
                embeds,
                audio_mask,
                self.config.num_audio_tokens,
                "audio",
                lambda rows: self.get_audio_features(self._rows(input_features, rows, "input_features")),
            )
        return embeds

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        gate_input_ids: torch.Tensor | None = None,
        gate_attention_mask: torch.Tensor | None = None,
        use_cache: bool | None = None,
        past_key_values=None,
        **kwargs,
    ) -> BaseModelOutputWithPast:
        cache = cache if cache is not None else past_key_values
        if input_ids is not None and inputs_embeds is None and _may_hold_placeholders(input_ids, cache) \
                and bool((input_ids < 0).any()):
            input_ids, attention_mask, _, changed = expand_compat_placeholders(input_ids, attention_mask, self.config)
            if changed:
                position_ids = None
            inputs_embeds = self.embed_inputs(
                input_ids, pixel_values_videos, input_features, gate_input_ids, gate_attention_mask
            )
            input_ids = None
        prefill = cache is None or cache.get_seq_length() == 0
        if position_ids is None and attention_mask is not None and attention_mask.ndim == 2 and prefill:
            # positions follow the attention mask, so left padding does not shift RoPE (batched == one by one)
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        return Qwen2Model.forward(
            self,
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )


def _may_hold_placeholders(input_ids: torch.Tensor, cache) -> bool:
    """False for a one-token decoding step on a filled cache: a generated id is never a placeholder, so the
    `(input_ids < 0).any()` check (a device -> host sync) is skipped on every step after the prefill."""
    return input_ids.shape[1] > 1 or cache is None or cache.get_seq_length() == 0


class HumanOmniQwen2ForCausalLM(HumanOmniPreTrainedModel, GenerationMixin):
    """R1-Omni / HumanOmni causal LM: `self.model` (HumanOmniQwen2Model) + tied `lm_head`."""

    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}  # noqa: RUF012

    def __init__(self, config: HumanOmniQwen2Config):
        super().__init__(config)
        self.model = HumanOmniQwen2Model(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.lm_head = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        gate_input_ids: torch.Tensor | None = None,
        gate_attention_mask: torch.Tensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        past_key_values=None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        """Logits over the spliced sequence (only the last `logits_to_keep` positions when > 0)."""
        cache = cache if cache is not None else past_key_values
        if input_ids is not None and _may_hold_placeholders(input_ids, cache) and bool((input_ids < 0).any()):
            input_ids, attention_mask, labels, changed = expand_compat_placeholders(
                input_ids, attention_mask, self.config, labels
            )
            if changed:
                position_ids = None
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            pixel_values_videos=pixel_values_videos,
            input_features=input_features,
            gate_input_ids=gate_input_ids,
            gate_attention_mask=gate_attention_mask,
            use_cache=use_cache,
            **kwargs,
        )
        hidden = outputs.last_hidden_state
        if isinstance(logits_to_keep, int):
            hidden = hidden[:, -logits_to_keep:] if logits_to_keep > 0 else hidden
        else:
            hidden = hidden[:, logits_to_keep]
        logits = self.lm_head(hidden)
        loss = None
        if labels is not None:
            labels = labels.masked_fill(labels < 0, -100)  # placeholder ids copied into labels are ignored
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None, **kwargs):
        """HF generate with the media kwargs; a compat-layout prompt is expanded (and re-left-padded) first.

        Returns prompt ids (expanded layout) + new ids, as HF does when called with `input_ids`. A prompt with
        placeholders is generated from its spliced embeddings, as `Pipeline.generate` and the original do:
        logits processors (repetition penalty, n-gram blocking) then see the generated tokens only, never the
        placeholder ids (-201 / -202, which they would use as indices into the logits).
        """
        if input_ids is None or not bool((input_ids < 0).any()):
            return super().generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        input_ids, attention_mask, _, _ = expand_compat_placeholders(input_ids, attention_mask, self.config)
        media = {k: kwargs.pop(k, None) for k in
                 ("pixel_values_videos", "input_features", "gate_input_ids", "gate_attention_mask")}
        embeds = self.model.embed_inputs(input_ids, **media)
        with warnings.catch_warnings():  # "applies only to newly generated tokens": what the original does
            warnings.filterwarnings("ignore", message=r"Passing `\w+` with `inputs_embeds`")
            out = super().generate(inputs_embeds=embeds, attention_mask=attention_mask, **kwargs)
        if isinstance(out, torch.Tensor):  # from embeddings alone, HF returns only the new tokens
            return torch.cat([input_ids, out], dim=1)
        out.sequences = torch.cat([input_ids, out.sequences], dim=1)
        return out


def register_auto_model() -> None:
    """Register with AutoModelForCausalLM (idempotent; the config registers itself in r1omni.config)."""
    try:
        AutoModelForCausalLM.register(HumanOmniQwen2Config, HumanOmniQwen2ForCausalLM)
    except ValueError:
        pass


register_auto_model()
