"""Modeling: released state-dict layout, projector facts, splicing, layouts, batching, generate, TRL-style calls."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

from r1omni.checkpoint import layout, save_checkpoint
from r1omni.config import preset_config
from r1omni.errors import UsageError
from r1omni.modeling import AllInOneSmall, HumanOmniQwen2ForCausalLM, default_dtype
from r1omni.modeling.projector import RegStage, check_patch_grid
from r1omni.tokenization import tiny_model_and_tokenizers

V, A = -201, -202


@pytest.fixture(scope="module")
def tiny():
    # larger init so greedy decoding does not collapse to one repeated token
    model, lm_tok, bert_tok = tiny_model_and_tokenizers(seed=0, initializer_range=0.3)
    return model, lm_tok, bert_tok


def _prompt(n_pre: int, cfg, expand: bool = True) -> list[int]:
    nv, na = (cfg.num_video_tokens, cfg.num_audio_tokens) if expand else (1, 1)
    return [10 + i for i in range(n_pre)] + [20] + [V] * nv + [21, 22] + [A] * na + [23, 24, 25]


def _left_pad(rows: list[list[int]]):
    width = max(map(len, rows))
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


def _media(cfg, b: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    s = cfg.image_size
    return {
        "pixel_values_videos": torch.randn(b, cfg.num_frames, 3, s, s, generator=g),
        "input_features": torch.randn(b, 128, cfg.audio_num_frames, generator=g),
        "gate_input_ids": torch.randint(5, 200, (b, 7), generator=g),
        "gate_attention_mask": torch.ones(b, 7, dtype=torch.long),
    }


def _row(media: dict, i: int) -> dict:
    return {k: v[i : i + 1] for k, v in media.items()}


# ---- released layout -----------------------------------------------------------------------------------------


def test_layout_matches_released_state_dict():
    entries = dict(layout("r1-omni-0.5b"))
    assert len(entries) == 1322
    assert sum(torch.Size(s).numel() for s in entries.values()) == 1_373_177_925
    assert "lm_head.weight" not in entries  # tied
    exp = {
        "model.embed_tokens.weight": (151936, 896),
        "model.layers.23.self_attn.q_proj.bias": (896,),
        "model.layers.0.self_attn.k_proj.weight": (128, 896),
        "model.layers.0.mlp.gate_proj.weight": (4864, 896),
        "model.layers.0.input_layernorm.weight": (896,),
        "model.norm.weight": (896,),
        "model.mm_projector.s1_video.b1.conv1.conv.weight": (896, 768, 1, 1),
        "model.mm_projector.s1_video.b1.conv1.bn.weight": (896,),
        "model.mm_projector.s1_video.b1.conv2.conv.weight": (896, 1, 3, 3),
        "model.mm_projector.s1_video.b1.se.fc1.weight": (192, 896, 1, 1),
        "model.mm_projector.s1_video.b1.se.fc1.bias": (192,),
        "model.mm_projector.s1_video.b1.se.fc2.weight": (896, 192, 1, 1),
        "model.mm_projector.s1_video.b1.conv3.conv.weight": (896, 896, 1, 1),
        "model.mm_projector.s1_video.b1.downsample.conv.weight": (896, 768, 1, 1),
        "model.mm_projector.s1_video.b2.se.fc1.weight": (224, 896, 1, 1),
        "model.mm_projector.s1_body.b1.se.fc1.weight": (192, 896, 1, 1),
        "model.mm_projector.s2_video.b1.se.fc1.weight": (224, 896, 1, 1),
        "model.mm_projector.s2_body.b2.conv2.conv.weight": (896, 1, 3, 3),
        "model.mm_projector.sampler_video.0.weight": (896, 896, 2, 2, 2),
        "model.mm_projector.sampler_body.0.bias": (896,),
        "model.mm_projector.readout_video.0.weight": (896, 896),
        "model.mm_projector.readout_body.2.bias": (896,),
        "model.mm_projector.mlp_2xgelu_face.0.weight": (896, 768),
        "model.mm_projector.mlp_2xgelu_face.2.weight": (896, 896),
        "model.audio_projector.0.weight": (896, 1280),
        "model.audio_projector.2.weight": (896, 896),
        "model.bert_gate.0.weight": (3584, 768),
        "model.bert_gate.2.weight": (3, 3584),
        "model.bert_model.embeddings.word_embeddings.weight": (30522, 768),
        "model.bert_model.encoder.layer.11.output.LayerNorm.weight": (768,),
        "model.bert_model.pooler.dense.weight": (768, 768),
        "model.vision_tower.vision_tower.vision_model.embeddings.patch_embedding.weight": (768, 3, 16, 16),
        "model.vision_tower.vision_tower.vision_model.encoder.layers.11.mlp.fc1.weight": (3072, 768),
        "model.vision_tower.vision_tower.vision_model.post_layernorm.weight": (768,),
        "model.vision_tower.vision_tower.vision_model.head.probe": (1, 1, 768),
        "model.audio_tower.audio_tower.encoder.conv1.weight": (1280, 128, 3),
        "model.audio_tower.audio_tower.encoder.embed_positions.weight": (1500, 1280),
        "model.audio_tower.audio_tower.encoder.layers.31.fc1.weight": (5120, 1280),
        "model.audio_tower.audio_tower.encoder.layer_norm.weight": (1280,),
        "model.audio_tower.audio_tower.projector.weight": (256, 1280),
        "model.audio_tower.audio_tower.classifier.weight": (2, 256),
    }
    for name, shape in exp.items():
        assert entries.get(name) == shape, name
    assert not any("s1_video.b2.downsample" in k or "s2_video.b1.downsample" in k for k in entries)
    assert not any(k.startswith("model.audio_tower.audio_tower.decoder") for k in entries)
    by_part = {}
    for k, s in entries.items():
        part = (
            k.split(".")[1]
            if k.split(".")[1]
            in {"mm_projector", "audio_projector", "bert_gate", "bert_model", "vision_tower", "audio_tower"}
            else "lm"
        )
        by_part[part] = by_part.get(part, 0) + torch.Size(s).numel()
    assert by_part == {
        "lm": 494_032_768,
        "mm_projector": 34_762_944,
        "audio_projector": 1_951_488,
        "bert_gate": 2_766_851,
        "bert_model": 109_482_240,
        "vision_tower": 92_884_224,
        "audio_tower": 637_297_410,
    }


# ---- projector -------------------------------------------------------------------------------------------------


def test_regstage_facts():
    stage = RegStage(2, 12, 16)
    assert stage.b1.se.fc1.out_channels == 3 and stage.b2.se.fc1.out_channels == 4  # round(in * 0.25)
    assert stage.b1.downsample is not None and stage.b2.downsample is None
    assert stage.b1.conv2.conv.groups == 16  # depthwise
    assert stage.b1.conv1.bn.eps == 1e-5
    x = torch.randn(2, 12, 6, 6)
    assert stage(x).shape == (2, 16, 6, 6)


def test_projector_shapes_fusion_and_face_pooling():
    torch.manual_seed(0)
    proj = AllInOneSmall(8, 12).eval()
    feats = torch.randn(2, 3, 16, 8)  # B=2, T=3, 4x4 patches, C=8
    video, body, face = proj.branches(feats)
    assert video.shape == body.shape == face.shape == (2, 3 * 4, 12)
    # face: bilinear 4->2 equals 2x2 mean pooling of the per-patch MLP, time-major order
    mlp = proj.mlp_2xgelu_face(feats).reshape(2 * 3, 4, 4, 12).permute(0, 3, 1, 2)
    pooled = F.avg_pool2d(mlp, 2).flatten(2).transpose(1, 2).reshape(2, 12, 12)
    torch.testing.assert_close(face, pooled)
    for i, branch in enumerate((video, body, face)):
        onehot = F.one_hot(torch.tensor([i, i]), 3).float()
        torch.testing.assert_close(proj(feats, onehot), branch)
    mixed = torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])
    want = mixed[:, 0, None, None] * video + mixed[:, 1, None, None] * body + mixed[:, 2, None, None] * face
    torch.testing.assert_close(proj(feats, mixed), want)
    # the sampler keeps T steps (T+1 -> drop the last): frame t only sees frames t-1 and t
    feats2 = feats.clone()
    feats2[:, -1] += 1.0
    v2 = proj.branches(feats2)[0]
    torch.testing.assert_close(v2[:, : 2 * 4], video[:, : 2 * 4])
    assert not torch.allclose(v2[:, 2 * 4 :], video[:, 2 * 4 :])


def test_odd_patch_grid_is_a_clear_error():
    assert check_patch_grid(196) == 14
    for bad in (49, 50):
        with pytest.raises(ValueError, match="even square patch grid"):
            check_patch_grid(bad)


# ---- splicing ----------------------------------------------------------------------------------------------------


def test_features_land_at_placeholders_and_text_is_untouched(tiny):
    model, _, _ = tiny
    cfg = model.config
    ids, _ = _left_pad([_prompt(2, cfg), _prompt(5, cfg)])
    media = _media(cfg, 2)
    seen = []
    hook = model.model.embed_tokens.register_forward_pre_hook(lambda m, a: seen.append(int(a[0].min())))
    try:
        with torch.no_grad():
            emb = model.model.embed_inputs(ids, **media)
            gate = model.model.get_gate_probs(media["gate_input_ids"], media["gate_attention_mask"])
            vid = model.model.get_video_features(media["pixel_values_videos"], gate)
            aud = model.model.get_audio_features(media["input_features"])
            text = model.model.embed_tokens(ids.clamp(min=0))
    finally:
        hook.remove()
    assert min(seen) >= 0  # negative ids never reach the embedding lookup
    assert vid.shape == (2, cfg.num_video_tokens, cfg.hidden_size) and aud.shape == (2, cfg.num_audio_tokens, 64)
    for b in range(2):
        torch.testing.assert_close(emb[b][ids[b] == V], vid[b])
        torch.testing.assert_close(emb[b][ids[b] == A], aud[b])
        torch.testing.assert_close(emb[b][ids[b] >= 0], text[b][ids[b] >= 0])
    torch.testing.assert_close(model.model.last_gate_probs, gate)
    assert torch.allclose(gate.sum(-1), torch.ones(2))


def test_placeholder_count_mismatch_names_both_numbers(tiny):
    model, _, _ = tiny
    cfg = model.config
    ids = torch.tensor([[5] + [V] * (cfg.num_video_tokens - 1) + [6]])
    with pytest.raises(UsageError, match=rf"{cfg.num_video_tokens - 1} video .* {cfg.num_video_tokens} video"):
        model(input_ids=ids, **_row(_media(cfg, 1), 0))
    with pytest.raises(UsageError, match="pixel_values_videos"):
        model(input_ids=torch.tensor([_prompt(1, cfg)]))
    with pytest.raises(UsageError, match=r"\(B, 128, 120\)"):
        m = _row(_media(cfg, 1), 0)
        m["input_features"] = m["input_features"][..., :100]
        model(input_ids=torch.tensor([_prompt(1, cfg)]), **m)


def test_expanded_and_compat_layouts_agree_on_text_positions(tiny):
    model, _, _ = tiny
    cfg = model.config
    media = _media(cfg, 2)
    ids_e, mask_e = _left_pad([_prompt(2, cfg), _prompt(6, cfg)])
    ids_c, mask_c = _left_pad([_prompt(2, cfg, expand=False), _prompt(6, cfg, expand=False)])
    assert ids_c.shape[1] < ids_e.shape[1]
    with torch.no_grad():
        le = model(input_ids=ids_e, attention_mask=mask_e, **media).logits
        lc = model(input_ids=ids_c, attention_mask=mask_c, **media).logits
    assert lc.shape == le.shape  # compat is expanded and re-left-padded to the same layout
    text = (ids_e >= 0) & (mask_e == 1)
    torch.testing.assert_close(lc[text], le[text], atol=1e-5, rtol=1e-5)
    # labels follow the expansion (placeholders ignored)
    out = model(input_ids=ids_c, attention_mask=mask_c, labels=ids_c.masked_fill(mask_c == 0, -100), **media)
    assert torch.isfinite(out.loss)


def test_batched_forward_equals_one_by_one():
    model = tiny_model_and_tokenizers(seed=1)[0]  # default init: logits of order 1, so atol 1e-5 is meaningful
    cfg = model.config
    rows = [_prompt(1, cfg), _prompt(7, cfg), _prompt(3, cfg)]
    ids, mask = _left_pad(rows)
    media = _media(cfg, 3)
    with torch.no_grad():
        batched = model(input_ids=ids, attention_mask=mask, **media).logits
        for i, r in enumerate(rows):
            single = model(input_ids=torch.tensor([r]), **_row(media, i)).logits[0]
            torch.testing.assert_close(batched[i, -len(r) :], single, atol=1e-5, rtol=1e-5)
        last = model(input_ids=ids, attention_mask=mask, logits_to_keep=1, **media).logits
    assert last.shape[1] == 1
    torch.testing.assert_close(last[:, 0], batched[:, -1])


def test_batched_greedy_generate_equals_one_by_one(tiny):
    model, _, _ = tiny
    cfg = model.config
    rows = [_prompt(1, cfg), _prompt(6, cfg)]
    ids, mask = _left_pad(rows)
    media = _media(cfg, 2, seed=3)
    calls = []
    hook = model.model.vision_tower.register_forward_hook(lambda *a: calls.append(1))
    try:
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, do_sample=False, **media)
    finally:
        hook.remove()
    assert len(calls) == 1  # media encoded once, at prefill
    new = out[:, ids.shape[1] :]
    assert new.shape == (2, 8) and len(set(new[0].tolist())) > 1
    for i, r in enumerate(rows):
        single = model.generate(input_ids=torch.tensor([r]), max_new_tokens=8, do_sample=False, **_row(media, i))
        assert single[0, len(r) :].tolist() == new[i].tolist()
    # compat prompt generates the same continuation
    ids_c, mask_c = _left_pad([_prompt(1, cfg, expand=False), _prompt(6, cfg, expand=False)])
    out_c = model.generate(input_ids=ids_c, attention_mask=mask_c, max_new_tokens=8, do_sample=False, **media)
    assert out_c[:, -8:].tolist() == new.tolist()


def test_sampling_generate_is_seeded(tiny):
    model, _, _ = tiny
    cfg = model.config
    ids, mask = _left_pad([_prompt(1, cfg), _prompt(4, cfg)])
    media = _media(cfg, 2)
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append(
            model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=6, do_sample=True, temperature=1.0, top_k=0, **media
            )
        )
    assert runs[0].shape == (2, ids.shape[1] + 6) and torch.equal(runs[0], runs[1])


def test_backbone_call_as_trl_fused_head_does(tiny):
    model, _, _ = tiny
    cfg = model.config
    ids, mask = _left_pad([_prompt(2, cfg), _prompt(3, cfg)])
    media = _media(cfg, 2)
    with torch.no_grad():
        hidden = getattr(model, model.base_model_prefix)(input_ids=ids, attention_mask=mask, **media).last_hidden_state
        logits = model(input_ids=ids, attention_mask=mask, **media).logits
    torch.testing.assert_close(model.get_output_embeddings()(hidden), logits)
    assert model.get_output_embeddings().weight is model.model.embed_tokens.weight
    assert model.config.get_text_config().hidden_size == 64


def test_gradients_reach_projectors_and_gate(tiny):
    model, _, _ = tiny
    cfg = model.config
    ids, mask = _left_pad([_prompt(2, cfg)])
    model.zero_grad()
    out = model(input_ids=ids, attention_mask=mask, labels=ids, **_row(_media(cfg, 1), 0))
    out.loss.backward()
    for p in (
        model.model.mm_projector.readout_video[0].weight,
        model.model.audio_projector[0].weight,
        model.model.bert_gate[2].weight,
    ):
        assert p.grad is not None and p.grad.abs().sum() > 0
    model.zero_grad()


def test_auto_model_round_trip(tmp_path, tiny):
    model, lm_tok, bert_tok = tiny
    save_checkpoint(model, lm_tok, bert_tok, tmp_path / "ck")
    loaded, info = AutoModelForCausalLM.from_pretrained(str(tmp_path / "ck"), output_loading_info=True)
    assert isinstance(loaded, HumanOmniQwen2ForCausalLM)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k


def test_default_dtype_and_odd_grid_model():
    assert default_dtype("cpu") == torch.float32 and default_dtype("cuda") == torch.bfloat16
    cfg = preset_config("tiny")
    cfg.vision_config = dict(cfg.vision_config, image_size=24)  # 3x3 grid
    model = HumanOmniQwen2ForCausalLM(cfg).eval()
    with pytest.raises(UsageError, match="even square patch grid"):
        model.model.get_video_features(torch.randn(1, 8, 3, 24, 24), torch.ones(1, 3) / 3)


def test_vision_tower_early_exit_equals_the_full_model_path():
    import torch

    from r1omni.config import preset_config
    from r1omni.modeling.modeling import VisionTower

    config = preset_config("tiny")
    config.vision_config = {**config.vision_config, "num_hidden_layers": 3}
    torch.manual_seed(0)
    tower = VisionTower(config).eval()
    pixels = torch.randn(4, 3, config.image_size, config.image_size)
    with torch.no_grad():
        fast, full = tower(pixels), tower.reference_forward(pixels)
    assert fast.shape == full.shape and torch.allclose(fast, full, atol=1e-6)
    with torch.no_grad():  # and it really is the penultimate layer, not the last one
        last = tower.vision_tower.vision_model(pixel_values=pixels).last_hidden_state
    assert not torch.allclose(fast, last, atol=1e-3)


def test_decoding_steps_do_not_check_for_placeholders(tiny):
    """The `(input_ids < 0).any()` check (a device -> host sync on GPU) runs at prefill only: the number of
    such checks does not grow with the number of decoding steps."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Checks(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten.lt.Scalar and args[0].dtype == torch.long and args[1] == 0:
                self.n += 1
            return func(*args, **(kwargs or {}))

    model, _, _ = tiny
    cfg = model.config
    ids, mask = _left_pad([_prompt(1, cfg), _prompt(6, cfg)])
    counts = []
    for steps in (2, 7):
        rec = Checks()
        with rec:
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=steps, min_new_tokens=steps,
                                 do_sample=False, **_media(cfg, 2, seed=3))
        assert out.shape[1] == ids.shape[1] + steps
        counts.append(rec.n)
    assert counts[0] == counts[1], counts
