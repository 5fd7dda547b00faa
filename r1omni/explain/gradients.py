"""Gradient x (input - baseline) timelines: a cheaper temporal attribution than occlusion (`temporal="gradient"`).

Occlusion scores each sampled frame and each audio window by running the model once per perturbed input
(twice with keep-one); with waveform-level audio occlusion every window also runs the audio tower again.
Here one forward and one backward of the teacher-forced completion give, for every frame and window, the
first-order estimate of what occluding it would take away:

    score(frame t)  = sum over t's tower features of  d logp / d feature  x  (feature - grey-frame feature)
    score(window w) = sum over w's log-mel frames of  d logp / d log-mel  x  (log-mel - silence log-mel)

`logp` is the summed log-prob of the explained target tokens; the baselines are the same as occlusion's
(grey frames, silence). Frames enter at the vision tower's output (SigLIP has no cross-frame attention, so a
frame's features are its own); audio enters at the log-mel, so the gradient flows through the audio tower and
its time axis stays the waveform's (at the tower's output every position has seen the whole clip). Cost: one
forward + backward through the LM, the projector and the audio tower, whatever the number of frames and
windows. Whether it points at the cue as occlusion does is measured by bench/faithfulness.py; occlusion stays
the default unless it does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from r1omni.logprobs import head_logprobs


def timeline(pipe, session, media, completion: Sequence[int], target_idx: Sequence[int],
             windows: Sequence[tuple[float, float]]) -> tuple[list[dict], list[dict]]:
    """(frame rows, audio rows) for one clip: {"index", "time_s", "score", "gradient"} per sampled frame when
    video is used, {"start_s", "end_s", "score", "gradient"} per audio window when audio is used."""
    mm = pipe.model.model
    dev, dtype = pipe.device, pipe.dtype
    if not target_idx or not (media.uses_video or media.uses_audio):
        return [], []
    base = session.baselines()
    with torch.no_grad():
        feats0 = _tower_features(session, media)  # (T, P, C)
    with torch.enable_grad():
        inputs = []
        feats = feats0.detach().clone().to(dev, dtype).requires_grad_(media.uses_video)
        if media.uses_video:
            inputs.append(feats)
        video = mm.mm_projector(feats[None], session.gate.to(dev))[0]
        mel = media.input_features.detach().clone().to(dev, dtype).requires_grad_(media.uses_audio)
        if media.uses_audio:
            inputs.append(mel)
            audio = mm.get_audio_features(mel[None])[0]
        else:
            with torch.no_grad():
                audio = mm.get_audio_features(mel[None])[0]
        prompt = session.prompt
        ids = torch.tensor(list(prompt) + list(completion), device=dev)
        with torch.no_grad():
            emb = mm.embed_tokens(ids.masked_fill(ids < 0, 0))
        emb = emb.index_copy(0, session.video_pos.to(dev), video.to(emb.dtype))
        emb = emb.index_copy(0, session.audio_pos.to(dev), audio.to(emb.dtype))
        n = emb.shape[0]
        hidden, _ = pipe.hidden_states(inputs_embeds=emb[None], attention_mask=torch.ones((1, n), dtype=torch.long,
                                       device=dev), position_ids=torch.arange(n, device=dev)[None], use_cache=False)
        tidx = torch.tensor(list(target_idx), device=dev)
        pos = len(prompt) - 1 + tidx  # position p predicts token p + 1
        targets = torch.tensor([completion[i] for i in target_idx], device=dev)
        logp = head_logprobs(hidden[0, pos], pipe.model.get_output_embeddings(), targets).sum()
        grads = dict(zip([id(t) for t in inputs], torch.autograd.grad(logp, inputs), strict=True))
    frames, segments = [], []
    if media.uses_video:
        g = grads[id(feats)].float()
        contrib = (g * (feats0.to(g) - base.grey.to(g))).sum(dim=(1, 2))
        times = list(media.frame_times_s) + [None] * max(0, len(contrib) - len(media.frame_times_s))
        frames = [{"index": i, "time_s": None if times[i] is None else round(float(times[i]), 3),
                   "score": round(float(s), 5), "gradient": round(float(s), 5)} for i, s in enumerate(contrib)]
    if media.uses_audio:
        g = grads[id(mel)].float()
        diff = media.input_features.to(g) - pipe.silence_features().to(g)
        per_s = mel.shape[-1] / (pipe.audio_num_samples / 16000)  # log-mel frames per second
        for a, b in windows:
            lo, hi = int(round(a * per_s)), max(int(round(a * per_s)) + 1, int(round(b * per_s)))
            s = float((g[:, lo:hi] * diff[:, lo:hi]).sum())
            segments.append({"start_s": round(a, 3), "end_s": round(b, 3), "score": round(s, 5),
                             "gradient": round(s, 5)})
    return frames, segments


def _tower_features(session, media) -> torch.Tensor:
    """(T, P, C) vision tower output of the clip's frames: the session's (kept from the prediction) or computed."""
    out = []
    for frame in media.pixel_values_videos:
        j = session._frames.find(frame)
        if j is not None and session._frames.values[j] is not None:
            out.append(session._frames.values[j])
        else:
            out.append(session._encode_frames([frame])[0])
    return torch.stack(out)
