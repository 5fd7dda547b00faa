"""explain() on a tiny random-weight pipeline: JSON shape, Shapley identities on real forwards, absent and
masked modalities, audio windows over the real audio only, errors per clip."""

import json

import pytest
import torch

from r1omni.errors import UsageError
from r1omni.explain import EXPLAIN_KEYS, explain, schema_errors
from r1omni.explain.result import Explanation

TEXT = ("<think>The brows pull down into a hard frown. The voice is loud and harsh. So the emotion is angry."
        "</think><answer>angry</answer>")


def _one(pipe, clip, **kw) -> dict:
    (res,) = explain(pipe, [clip], completions=[kw.pop("text", TEXT)], **kw)
    assert isinstance(res, Explanation), res
    return res.to_dict()


def test_json_schema_and_types(tiny_pipe, make_clip):
    d = _one(tiny_pipe, make_clip())
    assert schema_errors(d) == [] and list(d) == list(EXPLAIN_KEYS)
    json.dumps(d)  # JSON-ready
    assert len(d["frames"]) == 8 and [f["index"] for f in d["frames"]] == list(range(8))
    assert d["gate"] is not None and sum(d["gate"].values()) == pytest.approx(1.0, abs=1e-4)
    assert "".join(t["text"] for t in d["tokens"]) == TEXT
    assert [c["cites"] for c in d["claims"]] == [["video"], ["audio"], []]
    for c in d["claims"]:
        assert TEXT[c["start"] : c["end"]] == c["text"]
    assert d["prediction"]["label"] == "angry" and set(d["prediction"]["probs"]) >= {"angry", "happy"}
    assert d["params"]["mode"] == "full" and d["modality"]["target"] == "completion"


def test_efficiency_on_real_forwards(tiny_pipe, make_clip):
    d = _one(tiny_pipe, make_clip())
    for name, t in d["modality"]["targets"].items():
        c, phi = t["coalitions"], t["shapley"]
        assert phi["video"] + phi["audio"] == pytest.approx(c["both"] - c["none"], abs=2e-4), name
        if any(phi.values()):
            assert t["share"]["video"] + t["share"]["audio"] == pytest.approx(1.0, abs=1e-3)
    # Token values add up to the completion's (Shapley is linear in the value).
    total = {m: sum(tok["shapley"][m] for tok in d["tokens"]) for m in ("video", "audio")}
    for m in total:
        assert total[m] == pytest.approx(d["modality"]["targets"]["completion"]["shapley"][m], abs=1e-3)
    # And the claim supports are the sums over their tokens.
    claim = d["claims"][0]
    inside = [t for t in d["tokens"] if t["start"] < claim["end"] and t["end"] > claim["start"]]
    assert claim["support"]["shapley"]["video"] == pytest.approx(sum(t["shapley"]["video"] for t in inside), abs=1e-3)


def test_masking_changes_the_model_input(tiny_pipe, make_clip):
    media = tiny_pipe.encode(make_clip())
    grey = tiny_pipe.mask(media, video=True)
    silent = tiny_pipe.mask(media, audio=True)
    assert not torch.equal(grey.pixel_values_videos, media.pixel_values_videos)
    assert torch.equal(grey.input_features, media.input_features)
    assert not torch.equal(silent.input_features, media.input_features)
    occluded = tiny_pipe.occlude_frames(media, [3])
    changed = (occluded.pixel_values_videos != media.pixel_values_videos).flatten(1).any(1)
    assert changed.tolist() == [i == 3 for i in range(8)]
    d = _one(tiny_pipe, make_clip())
    c = d["modality"]["targets"]["completion"]["coalitions"]
    assert len({c["none"], c["video"], c["audio"], c["both"]}) == 4  # every coalition saw a different input


def test_audio_windows_cover_only_the_real_audio(tiny_pipe, make_clip):
    window_s = tiny_pipe.audio_num_samples / 16000  # the model hears this much at most
    short = _one(tiny_pipe, make_clip(audio_s=0.7), audio_window_s=0.25)
    assert short["audio_segments"][-1]["end_s"] == pytest.approx(0.7)
    assert [s["start_s"] for s in short["audio_segments"]] == [0.0, 0.25, 0.5]
    long = _one(tiny_pipe, make_clip(audio_s=window_s + 3.0))
    assert long["audio_segments"][-1]["end_s"] == pytest.approx(window_s)


@pytest.mark.parametrize("missing", ["video", "audio"])
def test_missing_track_is_reported_absent(tiny_pipe, make_clip, missing):
    d = _one(tiny_pipe, make_clip(video=missing != "video", audio=missing != "audio"))
    present = "audio" if missing == "video" else "video"
    mod = d["modality"]
    assert mod["absent"] == [missing] and mod["players"] == [present]
    for t in mod["targets"].values():
        assert t["shapley"][missing] == 0 and t["share"][missing] == 0
        assert t["shapley"][present] == pytest.approx(t["coalitions"]["both"] - t["coalitions"]["none"], abs=2e-4)
    assert any(f"no {missing} track" in n for n in d["notices"])
    assert (d["frames"] if missing == "video" else d["audio_segments"]) == []
    cited = [c for c in d["claims"] if c["cites"] == [missing]]
    assert cited and all(c["flag"] == "cites absent modality" for c in cited)


def test_masked_input_is_reported_masked(tiny_pipe, make_clip):
    media = tiny_pipe.mask(tiny_pipe.encode(make_clip()), audio=True)
    d = _one(tiny_pipe, media, mode="fast")
    assert d["modality"]["masked"] == ["audio"] and d["modality"]["share"]["audio"] == 0
    assert d["frames"] == [] and d["audio_segments"] == []  # fast mode: no occlusion
    assert [c["flag"] for c in d["claims"] if c["cites"] == ["audio"]] == ["cites masked modality"]


def test_generated_completion_matches_predict(tiny_pipe, make_clip):
    clips = [make_clip(seed=1), make_clip(seed=2)]
    preds = tiny_pipe.predict(clips, max_new_tokens=6)
    exps = explain(tiny_pipe, clips, mode="fast", max_new_tokens=6)
    for p, e in zip(preds, exps, strict=True):
        assert e.prediction["text"] == p.text and e.prediction["probs"] == p.probs
        assert len(e.tokens) == len(p.completion_ids)


def test_bad_clip_yields_error_and_others_go_on(tiny_pipe, make_clip, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    res = explain(tiny_pipe, [str(bad), make_clip()], mode="fast", completions=[TEXT, TEXT])
    assert set(res[0].to_dict()) == {"clip", "error"} and isinstance(res[1], Explanation)


def test_bad_arguments(tiny_pipe, make_clip):
    with pytest.raises(UsageError, match="mode"):
        explain(tiny_pipe, [make_clip()], mode="slow")
    with pytest.raises(UsageError, match="label set"):
        explain(tiny_pipe, [make_clip()], label_set="nope")


def test_cached_scoring_equals_the_plain_forward(tiny_pipe, make_clip):
    from r1omni.explain import temporal
    from r1omni.scoring import ScoringSession

    m = tiny_pipe.encode(make_clip())
    frames, audio = temporal.occlusion_variants(tiny_pipe, m, temporal.audio_windows(m.audio_duration_s), keep=True)
    variants = [m, tiny_pipe.mask(m, video=True), tiny_pipe.mask(m, audio=True),
                tiny_pipe.mask(m, video=True, audio=True), *frames[:3], *frames[-2:], *audio[:2], *audio[-2:]]
    ids = [tiny_pipe.completion_ids(TEXT)] * len(variants)
    ids[1] = ids[1][:9]  # ragged lengths too
    plain = tiny_pipe.token_logprobs(variants, ids, batch_size=4)
    cached = ScoringSession(tiny_pipe).token_logprobs(variants, ids, batch_size=3)
    for a, b in zip(plain, cached, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def _numbers(d, path=""):
    """Every number of an explain JSON, by its path (timings excluded)."""
    if isinstance(d, dict):
        return {k2: v for k, x in d.items() if k != "timings_ms" for k2, v in _numbers(x, f"{path}.{k}").items()}
    if isinstance(d, list):
        return {k2: v for i, x in enumerate(d) for k2, v in _numbers(x, f"{path}[{i}]").items()}
    return {path: d}


@pytest.mark.parametrize("audio_occlusion", ["waveform", "tokens"])
def test_explanations_with_caches_equal_those_without(tiny_pipe, make_clip, audio_occlusion):
    """Session caches (towers and prompt KV from predict, baselines, shared prefixes) change no number."""
    clips = [make_clip(seed=1), make_clip(seed=2, audio_s=2.5), make_clip(seed=3, video=False)]
    kw = dict(mode="full", max_new_tokens=10, audio_occlusion=audio_occlusion, forward_batch_size=7)
    with_cache = [e.to_dict() for e in explain(tiny_pipe, clips, **kw)]
    without = [e.to_dict() for e in explain(tiny_pipe, clips, cache=False, **kw)]
    for a, b in zip(with_cache, without, strict=True):
        na, nb = _numbers(a), _numbers(b)
        assert na.keys() == nb.keys()
        for k in na:
            if isinstance(na[k], float):
                # JSON numbers are rounded (shares to 4 decimals): a float-order difference of 1e-7 can
                # still land on the two sides of a rounding step, so allow one step (1e-4) and no more
                assert na[k] == pytest.approx(nb[k], abs=1.01e-4), k
            elif k != ".params.cache":
                assert na[k] == nb[k], k
    assert any(s.get("keep") is not None for s in with_cache[0]["audio_segments"])


def test_contrastive_support_with_caches_equals_it_without(tiny_pipe, make_clip):
    """Contrast continues the coalitions' kept KV (fork_logprobs); from scratch it runs towers per row."""
    clips = [make_clip(seed=4), make_clip(seed=5, audio_s=1.5)]
    kw = dict(mode="full", completions=[TEXT, TEXT.replace("hard frown", "deep frown")], forward_batch_size=5)
    with_cache = [e.to_dict() for e in explain(tiny_pipe, clips, **kw)]
    without = [e.to_dict() for e in explain(tiny_pipe, clips, cache=False, **kw)]
    n = 0
    for a, b in zip(with_cache, without, strict=True):
        for ca, cb in zip(a["claims"], b["claims"], strict=True):
            assert ca["support"].get("contrastive", {}).keys() == cb["support"].get("contrastive", {}).keys()
            for m, v in ca["support"].get("contrastive", {}).items():
                assert v == pytest.approx(cb["support"]["contrastive"][m], abs=1.01e-4), (ca["text"], m)
                n += 1
            for key in ("relative", "relative_masked"):
                for m, v in ca["support"].get(key, {}).items():
                    assert v == pytest.approx(cb["support"][key][m], abs=1.01e-4), (ca["text"], key, m)
            for m, v in ca["support"]["shapley"].items():  # (shares of near-zero values are ill-conditioned)
                assert v == pytest.approx(cb["support"]["shapley"][m], abs=1.01e-4), (ca["text"], m)
            assert ca["flags"] == cb["flags"]
    assert n >= 4  # both cue claims of both clips have a contrastive support


def test_forks_from_kept_completions_equal_plain_teacher_forcing(tiny_pipe, make_clip):
    from r1omni.continuations import continuation_logprobs, fork_point
    from r1omni.scoring import ScoringSession

    m = tiny_pipe.encode(make_clip(seed=6))
    variants = [m, tiny_pipe.mask(m, audio=True), tiny_pipe.mask(m, video=True)]
    ids = tiny_pipe.completion_ids(TEXT)
    session = ScoringSession(tiny_pipe)
    session.token_logprobs(variants, [ids] * 3, keep=[True, True, False])
    cut = TEXT.index("The voice")
    prefixes = [TEXT[:cut], TEXT[:cut], TEXT[:cut], "<think>The brows"]
    cands = [["The voice trembles.", "The voice is loud and harsh."]] * 3 + [[" pull down", "hmm"]]
    media = [*variants, m]
    got = continuation_logprobs(tiny_pipe, media, prefixes, cands, session=session, batch_size=3)
    assert session._prefix(*[x[0] for x in session._media_tokens([m])[::2]], ids[:20])[1] > len(session.prompt)
    for x, p, cs, scores in zip(media, prefixes, cands, got, strict=True):
        shared, owns = fork_point(tiny_pipe.tokenizer, p, cs)
        for own, s in zip(owns, scores, strict=True):
            ref = float(tiny_pipe.token_logprobs([x], [shared + own])[0][len(shared):].sum())
            assert s == pytest.approx(ref, abs=1e-4)


def test_frame_tokens_depend_on_earlier_frames_only(tiny_pipe, make_clip):
    """The projector's `frame_causal` claim, which prefix sharing relies on: frame j changes no earlier token."""
    from r1omni.scoring import ScoringSession

    m = tiny_pipe.encode(make_clip(seed=7))
    session = ScoringSession(tiny_pipe, cache=False)
    per_frame = len(session.video_pos) // tiny_pipe.num_frames
    assert tiny_pipe.model.model.mm_projector.frame_causal
    with torch.inference_mode():
        (base,) = session._video_tokens([m])[1]
        occluded = [session._video_tokens([tiny_pipe.occlude_frames(m, [j])])[1][0] for j in (1, 4, 7)]
    for j, tok in zip((1, 4, 7), occluded, strict=True):
        torch.testing.assert_close(tok[: j * per_frame], base[: j * per_frame], atol=1e-6, rtol=1e-6)
        assert not torch.allclose(tok[j * per_frame :], base[j * per_frame :])


def test_video_tokens_step_by_step_equal_the_whole_projector(tiny_pipe, make_clip):
    """The cached session projects frame by frame (`frame_parts` / `step_tokens`); the plain one runs the
    projector's forward over each whole variant."""
    from r1omni.scoring import ScoringSession

    m = tiny_pipe.encode(make_clip(seed=8))
    n = tiny_pipe.num_frames
    variants = [m, tiny_pipe.mask(m, video=True), tiny_pipe.occlude_frames(m, [0]), tiny_pipe.occlude_frames(m, [5]),
                tiny_pipe.occlude_frames(m, [j for j in range(n) if j != 3])]
    with torch.inference_mode():
        cached = ScoringSession(tiny_pipe)._video_tokens(variants)[1]
        plain = ScoringSession(tiny_pipe, cache=False)._video_tokens(variants)[1]
    for a, b in zip(cached, plain, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_without_the_class_distribution_the_claims_are_the_same(tiny_pipe, make_clip) -> None:
    """`class_distribution=False` (a training reward's judge) skips only the per-label teacher forcing."""
    clips = [make_clip(seed=1), make_clip(seed=2)]
    texts = [TEXT, TEXT.replace("hard frown", "deep frown")]
    full = explain(tiny_pipe, clips, mode="fast", completions=texts)
    lean = explain(tiny_pipe, clips, mode="fast", completions=texts, class_distribution=False)
    for a, b in zip(full, lean, strict=True):
        assert a.prediction["probs"] and b.prediction["probs"] is None
        assert [(c["text"], c["flags"], c["support"]) for c in a.claims] == \
            [(c["text"], c["flags"], c["support"]) for c in b.claims]
