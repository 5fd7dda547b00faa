"""The pipeline on the tiny random checkpoint: batching, teacher forcing, class distribution, masking."""

import math

import pytest
import torch

from r1omni.inference import ClipError, Prediction
from tests.media_factory import make_good_clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return [make_good_clip(n, d).path for n in ("mp4_h264_aac", "mp4_no_audio", "wav_pcm_stereo")]


def test_batched_predictions_equal_one_by_one(tiny_pipeline, clips):
    batched = tiny_pipeline.predict(clips, max_new_tokens=12, batch_size=3)
    single = [tiny_pipeline.predict([c], max_new_tokens=12, batch_size=1)[0] for c in clips]
    for b, s in zip(batched, single, strict=True):
        assert isinstance(b, Prediction)
        assert b.completion_ids == s.completion_ids
        for lab in b.probs:
            assert b.probs[lab] == pytest.approx(s.probs[lab], abs=1e-4)


def test_prediction_json_contract(tiny_pipeline, clips):
    d = tiny_pipeline.predict(clips[:1], max_new_tokens=4)[0].to_dict()
    for key in ("clip", "checkpoint", "label", "answer", "reasoning", "probs", "modalities", "notices", "timings_ms"):
        assert key in d
    assert math.isclose(sum(d["probs"].values()), 1.0, abs_tol=1e-3)
    assert list(d["probs"]) == ["happy", "surprise", "neutral", "angry", "disgust", "sad", "fear"]
    assert d["modalities"] == {"video": True, "audio": True}


def test_absent_modalities_are_reported(tiny_pipeline, clips):
    no_audio, audio_only = tiny_pipeline.predict(clips[1:], max_new_tokens=2)
    assert no_audio.modalities == {"video": True, "audio": False}
    assert any("no audio track" in n for n in no_audio.notices)
    assert audio_only.modalities == {"video": False, "audio": True}
    assert any("no video track" in n for n in audio_only.notices)


def test_bad_clip_does_not_stop_the_batch(tiny_pipeline, clips, tmp_path):
    bad = tmp_path / "empty.mp4"
    bad.write_bytes(b"")
    out = tiny_pipeline.predict([clips[0], bad, clips[2]], max_new_tokens=2)
    assert isinstance(out[0], Prediction) and isinstance(out[2], Prediction)
    assert isinstance(out[1], ClipError) and "\n" not in out[1].error


def test_token_logprobs_match_a_plain_forward(tiny_pipeline, clips):
    m = tiny_pipeline.encode(clips[0])
    completions = [tiny_pipeline.completion_ids("<think>the face smiles.</think><answer>happy</answer>"), [5, 6]]
    got = tiny_pipeline.token_logprobs([m, m], completions)
    # reference: a full forward over one unpadded sequence
    seq = tiny_pipeline.prompt_ids() + completions[0]
    batch = tiny_pipeline.collate([m], [seq])
    with torch.no_grad():
        logits = tiny_pipeline.model(**batch).logits[0].float()
    logp = torch.log_softmax(logits, -1)
    n = len(completions[0])
    want = logp[-n - 1 : -1].gather(-1, torch.tensor(completions[0])[:, None])[:, 0]
    assert torch.allclose(got[0], want, atol=1e-4)
    assert got[1].shape == (2,)


def test_masking_changes_inputs_and_scores(tiny_pipeline, clips):
    m = tiny_pipeline.encode(clips[0])
    mv = tiny_pipeline.mask(m, video=True)
    ma = tiny_pipeline.mask(m, audio=True)
    assert not torch.equal(m.pixel_values_videos, mv.pixel_values_videos) and mv.video_masked
    assert torch.equal(m.input_features, mv.input_features)
    assert torch.all(ma.input_features == -1.5) and ma.audio_masked
    comp = [tiny_pipeline.completion_ids("<think>x</think><answer>sad</answer>")] * 3
    full, nov, noa = tiny_pipeline.token_logprobs([m, mv, ma], comp)
    assert not torch.allclose(full, nov) and not torch.allclose(full, noa)


def test_occlusion_and_silence_are_local(tiny_pipeline, clips):
    m = tiny_pipeline.encode(clips[0])
    o = tiny_pipeline.occlude_frames(m, [3])
    changed = [i for i in range(m.pixel_values_videos.shape[0])
               if not torch.equal(m.pixel_values_videos[i], o.pixel_values_videos[i])]
    assert changed == [3]
    s = tiny_pipeline.silence_audio(m, 0.0, 0.5).input_features
    # Whisper's log-mel is normalised by the clip's maximum, so every frame may shift a little; the
    # silenced window itself must sit at the floor (one constant value), the rest must not.
    floor = s[:, :45]
    assert torch.all(floor == floor.min())
    assert s[:, 60:].std() > 0.01
    assert not torch.equal(m.input_features[:, :45], floor)


def test_label_distribution_from_the_generation_cache_equals_a_fresh_prefix(tiny_pipeline, clips):
    """predict() scores labels from generate()'s KV cache; it must match running the answer prefix anew."""
    from r1omni.inference import GenerationState

    pipe = tiny_pipeline
    media = [pipe.encode(clips[0]), pipe.encode(clips[2])]
    texts = ["<think>the mouth turns up.</think>\n<answer>happy</answer>", "<think>the voice is low and slow"]
    comps = [pipe.completion_ids(t) for t in texts]
    width = max(map(len, comps))
    prompt = pipe.prompt_ids()
    # what generate() leaves: prompt + generated block (pads after a row's end), all but the last column fed
    rows = [prompt + c + [pipe.pad_id] * (width - len(c)) for c in comps]
    batch = pipe.collate(media, rows)
    mask = batch["attention_mask"].clone()
    for i, c in enumerate(comps):
        mask[i, len(prompt) + len(c) :] = 0
    fed = {k: (v[:, :-1] if k in ("input_ids", "position_ids") else v) for k, v in batch.items()}
    fed["attention_mask"] = mask[:, :-1]
    fed["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)[:, :-1]
    with torch.no_grad():
        cache = pipe.model(**fed, use_cache=True, logits_to_keep=1).cache
    state = GenerationState(cache, batch["attention_mask"][:, : len(prompt)], comps, width)
    labels = ("happy", "sad", "angry")
    from_cache = pipe.label_distribution(media, texts, labels, state=state)
    fresh = pipe.label_distribution(media, texts, labels)
    for a, b in zip(from_cache, fresh, strict=True):
        assert sum(a.values()) == pytest.approx(1.0, abs=1e-4)
        for lab in labels:
            assert a[lab] == pytest.approx(b[lab], abs=1e-4)


def test_checkpoint_saved_without_cache_still_predicts(tiny_pipeline, clips):
    """Trainers save use_cache=False into the config; prediction must neither break nor change."""
    before = tiny_pipeline.predict(clips[:1], max_new_tokens=6)[0]
    tiny_pipeline.model.config.use_cache = False
    tiny_pipeline.model.generation_config.use_cache = False
    try:
        after = tiny_pipeline.predict(clips[:1], max_new_tokens=6)[0]
    finally:
        tiny_pipeline.model.config.use_cache = True
        tiny_pipeline.model.generation_config.use_cache = True
    assert after.completion_ids == before.completion_ids
    assert after.probs == pytest.approx(before.probs, abs=1e-5)


def test_predict_streams_one_batch_at_a_time(tiny_pipeline, clips):
    """Clips are decoded per batch and results come out before the rest is read (flat memory on long lists)."""
    pulled = []

    def source():
        for i in range(7):
            pulled.append(i)
            yield clips[0] if i != 3 else "missing.mp4"

    stream = tiny_pipeline.iter_predict(source(), max_new_tokens=2, batch_size=2)
    first = next(stream)
    assert isinstance(first, Prediction) and len(pulled) == 2  # one batch decoded, not the list
    rest = list(stream)
    assert len(rest) == 6 and isinstance(rest[2], ClipError) and all(isinstance(r, Prediction) for r in rest[3:])
    alone = tiny_pipeline.predict([clips[0]], max_new_tokens=2)[0]
    assert first.completion_ids == rest[0].completion_ids == alone.completion_ids


def test_long_audio_notice_comes_from_the_track_length(tiny_pipeline, tmp_path):
    from tests.media_factory import make_av_clip

    path = make_av_clip(tmp_path / "long.mp4", seconds=9.0, fps=2, size=(16, 16))
    m = tiny_pipeline.encode(path)  # the tiny model hears 1.2 s
    assert m.audio.size == tiny_pipeline.audio_num_samples
    assert any(n.startswith("audio is 9.0 s long; the model hears only the first 1.2 s") for n in m.notices)
