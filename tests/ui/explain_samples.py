"""Hand-built explain JSON (DESIGN 3.2 keys) for view and handler tests: offsets index prediction["text"]."""

from __future__ import annotations


def sample_explain(has_audio: bool = True, label: str | None = "happy") -> dict:
    text = "<think>The mouth curves up into a smile. The voice sounds calm.</think><answer>happy</answer>"
    think0 = text.index("<think>") + len("<think>")
    s1 = "The mouth curves up into a smile."
    s2 = "The voice sounds calm."
    a1, a2 = think0, text.index(s2)
    words = [("The", 0.01, 0.0), (" mouth", 0.9, 0.05), (" curves", 0.3, 0.0), (" up", 0.2, 0.01),
             (" into", 0.0, 0.0), (" a", 0.0, 0.0), (" smile.", 0.8, 0.0), (" The", 0.0, 0.0),
             (" voice", 0.05, 0.7), (" sounds", 0.0, 0.4), (" calm.", 0.0, -0.3)]
    tokens, pos = [], a1
    for w, v, a in words:
        tokens.append({"text": w, "start": pos, "end": pos + len(w), "shapley": {"video": v, "audio": a},
                       "dominant": "video" if v >= a else "audio"})
        pos += len(w)
    tokens.append({"text": "happy", "start": text.index("happy</"), "end": text.index("happy</") + 5,
                   "shapley": {"video": 1.0, "audio": 0.0}, "dominant": "video"})
    return {
        "clip": "clip.mp4", "checkpoint": "tiny",
        "prediction": {"clip": "clip.mp4", "checkpoint": "tiny", "label": label, "answer": label or "bored",
                       "reasoning": f"{s1} {s2}", "text": text,
                       "probs": {"happy": 0.6, "sad": 0.3, "neutral": 0.1},
                       "modalities": {"video": True, "audio": has_audio}, "notices": [], "timings_ms": {}},
        "modality": {"shapley": {"video": 1.2, "audio": 0.4 if has_audio else 0.0},
                     "share": {"video": 0.75 if has_audio else 1.0, "audio": 0.25 if has_audio else 0.0},
                     "coalitions": {"none": -3.0, "video": -1.6, "audio": -2.6, "both": -1.4}},
        "gate": {"scene": 0.2, "body": 0.3, "face": 0.5},
        "frames": [{"index": i, "time_s": 0.5 * i, "score": [0.1, 0.5, -0.2, 0.0][i]} for i in range(4)],
        "audio_segments": [{"start_s": 0.0, "end_s": 1.0, "score": 0.3}, {"start_s": 1.0, "end_s": 2.0, "score": -0.1}],
        "tokens": tokens,
        "claims": [
            {"text": s1, "start": a1, "end": a1 + len(s1), "cites": ["video"], "support": {"video": 0.9}, "flag": None},
            {"text": s2, "start": a2, "end": a2 + len(s2), "cites": ["audio"], "support": {"audio": -0.1},
             "flag": "cites audio but its support is ~0 or negative"},
        ],
        "timings_ms": {"total": 10.0}, "notices": [], "params": {"mode": "fast"},
    }
