"""Evaluate a checkpoint on a manifest through `r1omni.Pipeline` (the same path users run).

    python -m training.evaluate --checkpoint runs/demo/grpo --manifest runs/demo/test/manifest.csv

Reports WAR, UAR (r1omni.metrics; normalised: answers mapped onto the label set), WAR_exact / UAR_exact
(paper-exact: the `<answer>` text equals the label as written, case-sensitive), the well-formed rate (`<think>…</think><answer>…</answer>`), and on
synthetic manifests the claim truthfulness (share of cue claims in `<think>` that are true for the clip,
r1omni.synthetic.check_claims) and accuracy per cue modality. Also writes the demo model card.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def evaluate(checkpoint: str | Path, manifest: str | Path, batch_size: int = 32, max_new_tokens: int | None = None,
             label_set: str = "dfew", device: str = "cpu", do_sample: bool = False, temperature: float = 1.0,
             seed: int = 0, media: list | None = None) -> dict[str, Any]:
    """Predictions for every clip of `manifest` (greedy; or one sample per clip at `temperature` after
    `torch.manual_seed(seed)`) and their scores. `media` may give the clips already encoded
    (`Pipeline.encode`, one per manifest row, in order) when several checkpoints of one model family are
    evaluated on the same files."""
    import torch

    from r1omni.inference import Pipeline
    from r1omni.manifest import read_manifest
    from r1omni.metrics import uar, war
    from r1omni.prompts import paper_answer
    from r1omni.synthetic import check_claims

    rows = read_manifest(manifest)
    pipe = Pipeline.load(str(checkpoint), device=device)
    if do_sample:
        torch.manual_seed(seed)
    if media is not None and len(media) != len(rows):
        raise ValueError(f"{len(media)} encoded clips for {len(rows)} manifest rows")
    preds = pipe.predict(media if media is not None else [str(r.path) for r in rows], label_set, max_new_tokens=max_new_tokens,
                         batch_size=batch_size, do_sample=do_sample, temperature=temperature if do_sample else None)
    y_true, y_pred, formed, truth_share, errors, clipped = [], [], [], [], 0, 0
    n_claims = n_false = n_with_false = 0
    exact_true, exact_pred = [], []
    by_mod: dict[str, list[bool]] = defaultdict(list)
    for row, pred in zip(rows, preds, strict=True):
        if not hasattr(pred, "label"):
            errors += 1
            continue
        y_true.append(row.label)
        y_pred.append(pred.label)
        formed.append(bool(pred.well_formed))
        if row.answer is not None:
            exact_true.append(row.answer)
            exact_pred.append(paper_answer(pred.text))
        clipped += bool(pred.clipped)
        mod = row.meta.get("cue_modality")
        if mod:
            by_mod[mod].append(pred.label == row.label)
            n_true, n_total = check_claims(pred.text, {"label": row.label, **row.meta})
            truth_share.append(n_true / n_total if n_total else 0.0)
            n_claims += n_total
            n_false += n_total - n_true
            n_with_false += n_true < n_total
    result = {
        "n": len(y_true), "errors": errors, "WAR": war(y_true, y_pred), "UAR": uar(y_true, y_pred),
        # paper-exact: <answer> text == the label as written, case-sensitive (the R1-Omni accuracy reward);
        # WAR/UAR above are normalised (answers mapped onto the label set)
        "WAR_exact": war(exact_true, exact_pred), "UAR_exact": uar(exact_true, exact_pred),
        "clipped": clipped,  # completions cut at max_new_tokens before an end token (scored as given)
        "well_formed": float(np.mean(formed)) if formed else float("nan"),
        "claim_truth": float(np.mean(truth_share)) if truth_share else None,
        "by_cue_modality": {k: float(np.mean(v)) for k, v in sorted(by_mod.items())},
        # synthetic manifests: false cue claims over all cue claims, and completions holding at least one
        "cue_claims": n_claims,
        "hallucinated_claim_rate": n_false / n_claims if n_claims else None,
        "hallucinating_completions": n_with_false / len(truth_share) if truth_share else None,
        "decoding": f"sampled (T={temperature}, seed {seed})" if do_sample else "greedy",
    }
    logger.info("%s on %s: %s", checkpoint, manifest, json.dumps(result))
    return result


def results_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown table: one row per model, columns WAR, UAR, well-formed, claim truthfulness, per cue modality."""
    mods = sorted({m for r in results.values() for m in r.get("by_cue_modality", {})})
    head = ["model", "WAR", "UAR", "well-formed", "claim truthfulness"] + [f"acc ({m} cue)" for m in mods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        ct = "n/a" if r.get("claim_truth") is None else f"{r['claim_truth']:.3f}"
        cells = [name, f"{r['WAR']:.3f}", f"{r['UAR']:.3f}", f"{r['well_formed']:.3f}", ct]
        cells += [f"{r['by_cue_modality'].get(m, float('nan')):.3f}" for m in mods]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_model_card(out: Path, summary: dict[str, Any]) -> Path:
    """README.md of the demo checkpoint: what it is, how it was made, what it can and cannot do."""
    s, t, res = summary["settings"], summary["timings_s"], summary["results"]
    n_test = next(iter(res.values()))["n"]
    size_mb = sum(p.stat().st_size for p in out.glob("*.safetensors")) / 1e6
    text = f"""# R1-Omni Explain demo model (synthetic training data)

A tiny model with the **R1-Omni / HumanOmni module tree and code path** (SigLIP-style vision tower,
all_in_one_small projector with the BERT instruction gate, Whisper-style audio tower + MLP projector,
Qwen2 LM), at toy sizes, with its own small tokenizers. It exists so a fresh install has something honest
to run and explain. **It is not R1-Omni and knows nothing about real people or real emotions.**

## How it was made
`python -m training.demo --out assets/demo-checkpoint` (settings: `training/recipes/demo.yaml`), on CPU,
from scratch, about {sum(t.values()) / 60:.0f} minutes on 2 cores:
1. {s['train_clips']} synthetic cue-controlled clips (`r1omni.synthetic`, seed {s['train_seed']}): a drawn face
   and a synthetic voice; the emotion shows only inside a cue window and only in the cue modality
   (video, audio or both); 7 DFEW labels.
2. Towers + projectors pretrained with auxiliary 7-way heads (per-frame expression labels for the vision side) ({s['pretrain_steps']} steps).
3. Cold-start SFT of projectors + gate + LM on truthful `<think>` reasoning about the cues
   ({s['sft_steps']} steps of {s['sft_batch']}); in two-cue clips one modality is masked at random and
   the reasoning says so.
4. GRPO with `training.trainer.OmniGRPOTrainer` on TRL 1.16 (accuracy + format + claims rewards,
   {s['grpo_steps']} steps, G={s['grpo_generations']}, beta={s['grpo_beta']}, lr={s['grpo_lr']}).

Weights: {size_mb:.1f} MB safetensors (float32).

## Evaluation
{n_test} fresh synthetic clips (seed {s['test_seed']}, never used in training; written as mp4 and decoded
by the normal pipeline; all three cue modalities), greedy decoding:

{results_table(res)}

Claim truthfulness = share of cue claims in `<think>` that are true for the clip (what the face / voice
actually showed), checked by `r1omni.synthetic.check_claims`.

Why GRPO changes so little here: after cold-start SFT the model is nearly deterministic on clips like its
training data, so most groups of 8 sampled completions get identical rewards (zero advantage, no gradient),
and the short CPU run (a few dozen steps at a small learning rate, KL-regularised) only polishes. GRPO is
kept in the build because it is the paper's second stage and exercises the same trainer used at scale.

## What it can do
- Answer with `<think>…</think><answer>label</answer>` on clips like its training data: one drawn face,
  one synthetic voice, an emotion cue in the face, the voice or both.
- Give reasoning that cites the modalities, so the explanation and audit tools have real signal to show.

## What it cannot do
- Recognise emotions in real videos: it has never seen a real face or voice. Expect arbitrary answers.
- Understand language: its vocabulary is the synthetic reasoning phrase bank and the fixed question.
- Anything beyond the 7 DFEW labels.
"""
    path = out / "README.md"
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from training.sft import setup_logging

    p = argparse.ArgumentParser(description="Evaluate checkpoints on a manifest (WAR, UAR, well-formed, claims).")
    p.add_argument("--checkpoint", action="append", required=True, help="checkpoint folder (repeatable)")
    p.add_argument("--manifest", required=True, help="CSV manifest (DESIGN 3.4)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="default: the checkpoint's generation_config.json, else 2048")
    p.add_argument("--json", type=Path, help="also write the results here")
    a = p.parse_args(argv)
    setup_logging()
    results = {c: evaluate(c, a.manifest, a.batch_size, a.max_new_tokens) for c in a.checkpoint}
    logging.getLogger(__name__).info("\n%s", results_table(results))
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
