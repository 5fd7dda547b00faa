"""Cost of the grounding judge inside GRPO: its share of step time, and prompt-KV sharing across a group.

    .venv/bin/python bench/grounding_judge_cost.py [--prompts 2 --generations 4 --steps 3]

1. **The judge alone**: P training clips, G sampled completions each (T=1) from the checkpoint, judged by
   `training.rewards.shapley_judge` (the explanation engine, mode "fast", contrastive support) twice:
   with `share_prompt` (a clip's G completions in one scoring session: its prompt KV computed once, every
   completion continues it) and without (one completion per session: the prompt KV once per completion).
   The verdicts must be equal; each is timed `repeats` times, alternating, and the fastest kept. The judge's
   masked-input baselines are computed once per checkpoint (`r1omni.model_cache`): the first call pays them,
   and is timed apart.
2. **Inside GRPO**: `training.grounding` arms (a) (paper rewards) and (b) (+ grounding) for a few steps from a
   short SFT of the checkpoint, same clips and seed: seconds per step, and the judge's seconds per step.

Writes bench/results/grounding_judge_cost.json. Timings on a shared CPU are noisy; sizes are small.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def judge_alone(checkpoint: str, prompts: int, generations: int, max_new_tokens: int, seed: int,
                repeats: int = 3) -> dict:
    import torch

    from r1omni.config import load_config
    from r1omni.inference import Pipeline
    from r1omni.model_cache import peek
    from r1omni.scoring import BASELINES_KEY
    from training.grounding import ArmsSettings, held_aside_specs
    from training.grounding_demo import TrainClips
    from training.rewards import shapley_judge

    pipe = Pipeline.load(checkpoint, device="cpu")
    s = ArmsSettings(train_clips=200, grpo_clips=8, dpo_clips=8)
    clips = TrainClips(held_aside_specs(s, prompts), load_config(checkpoint))
    media = [clips.media(pipe, {"path": clips.key(i)}) for i in range(prompts)]
    torch.manual_seed(seed)
    texts, which = [], []
    for _ in range(generations):
        for i, p in enumerate(pipe.predict(media, do_sample=True, temperature=1.0, max_new_tokens=max_new_tokens)):
            texts.append(p.text)
            which.append(i)
    order = sorted(range(len(texts)), key=lambda k: which[k])  # GRPO's order: a prompt's G completions together
    texts, group = [texts[k] for k in order], [media[which[k]] for k in order]
    out: dict = {"prompts": prompts, "generations": generations, "completions": len(texts),
                 "mean_completion_chars": sum(map(len, texts)) / len(texts)}
    t = time.perf_counter()
    first = shapley_judge(pipe, share_prompt=True)(group[:1], texts[:1], [None])
    out["first_call_seconds_with_baselines"] = round(time.perf_counter() - t, 3)
    baselines = peek(pipe, BASELINES_KEY)
    verdicts, times = {}, {True: [], False: []}
    for _ in range(repeats):  # alternated: the machine's load drifts
        for share in (True, False):
            t = time.perf_counter()
            verdicts[share] = shapley_judge(pipe, share_prompt=share)(group, texts, [None] * len(texts))
            times[share].append(round(time.perf_counter() - t, 3))
    for share, name in ((True, "shared"), (False, "unshared")):
        out[f"seconds_{name}_prompt_kv"] = min(times[share])
        out[f"seconds_{name}_prompt_kv_all"] = times[share]
    out["same_verdicts"] = verdicts[True] == verdicts[False] and first[0] == verdicts[True][0]
    out["baselines_computed_once"] = peek(pipe, BASELINES_KEY) is baselines and baselines is not None
    out["speedup_from_sharing"] = round(out["seconds_unshared_prompt_kv"] / out["seconds_shared_prompt_kv"], 3)
    return out


def inside_grpo(prompts: int, generations: int, steps: int, max_new_tokens: int) -> dict:
    from training.grounding import ArmsSettings, run

    s = ArmsSettings(threads=1, train_clips=64, sft_steps=2, sft_batch=4, sft_warmup=1, grpo_clips=prompts * steps,
                     grpo_steps=steps, grpo_generations=generations, grpo_batch=prompts * generations,
                     grpo_max_completion_length=max_new_tokens, max_new_tokens=max_new_tokens, test_clips=2,
                     samples_per_clip=1, calib_clips=4, bootstrap=10, seeds=[1],
                     arms=["a", "b"])
    with tempfile.TemporaryDirectory() as tmp:
        summary = run(Path(tmp), s, results_dir=None)
    steps_a = summary["runs"]  # checkpoints only; the step logs are in the judge report / stages
    judge = summary["judge"]["b|1"]
    book = summary["timings_s"]
    return {"steps": steps, "prompts_per_step": prompts, "generations": generations,
            "max_completion_length": max_new_tokens,
            "grpo_stage_seconds": {"a (paper rewards)": book["grpo|a|1"], "b (+ grounding)": book["grpo|b|1"]},
            "judge_seconds": judge["judge_seconds"], "judged_step_seconds": judge["step_seconds"],
            "judge_share_of_step_time": judge["judge_share_of_step_time"],
            "judge_precision": judge["precision"], "judge_recall": judge["recall"], "runs": list(steps_a)}


def main(argv=None) -> int:
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=str(REPO / "assets" / "demo-checkpoint"))
    p.add_argument("--prompts", type=int, default=2)
    p.add_argument("--generations", type=int, default=4)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "grounding_judge_cost.json"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    result = {
        "command": "python bench/grounding_judge_cost.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {"cpu_threads": a.threads, "platform": platform.platform(),
                    "note": "2-core CPU shared with a training job: timings are noisy"},
        "judge_alone": judge_alone(a.checkpoint, a.prompts, a.generations, a.max_new_tokens, seed=0),
        "inside_grpo": inside_grpo(a.prompts, a.generations, a.steps, a.max_new_tokens),
    }
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
