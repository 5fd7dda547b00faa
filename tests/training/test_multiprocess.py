"""SFT and GRPO under `accelerate launch` with 1 and 2 CPU processes (gloo): same weights, one writer, exact resume.

The runs themselves are in `multiprocess_worker.py` (one launch per world size: 40 s each on two cores
shared with other work, up to 110 s when they are busy). Tolerances:
- world size 1 vs 2 (same global batch, plain SGD, GRPO sampling seeded per completion): the weight
  difference is at most 1% of the distance the weights travelled over the last two steps
  (checkpoint-2 -> final), and each step's loss agrees to 1e-4 relative. Measured: 0.3% (SFT) and 0.1%
  (GRPO); what is left is float32 summation order (a batch of 4 vs two of 2, then an all-reduce).
- resumed vs uninterrupted (AdamW, same world size): at most 1e-3 of that distance. Measured: 5e-5
  (SFT) and exactly 0 (GRPO, whose samples depend on the restored RNG state).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("multiprocess_worker.py")
YAMLS = ROOT / "training" / "accelerate"


def _launch(world: int, manifest: Path, start: Path, out: Path) -> None:
    config = ["--config_file", str(YAMLS / "cpu_2proc.yaml")] if world == 2 else ["--num_processes", "1", "--cpu"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *config, str(WORKER), "--manifest", str(manifest),
           "--grpo-from", str(start), "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_checkpoint) -> dict[int, Path]:
    from r1omni.synthetic import generate_clips

    base = tmp_path_factory.mktemp("multiprocess")
    manifest = generate_clips(base / "clips", 8, seed=5)  # 8 clips, global batch 4: two epochs in 4 steps
    out = {}
    for world in (1, 2):
        out[world] = base / f"world{world}"
        _launch(world, manifest, tiny_checkpoint, out[world])
    return out


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return {k: v.double() for k, v in load_file(str(folder / "model.safetensors")).items()}


def _distance(a: dict, b: dict) -> float:
    return float(sum(((a[k] - b[k]) ** 2).sum() for k in a if k in b) ** 0.5)


def _losses(folder: Path) -> list[float]:
    with (folder / "metrics.csv").open() as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh) if r.get("loss")]


def test_final_checkpoint_is_written_once_by_the_main_process(runs) -> None:
    for world, folder in runs.items():
        ranks = (folder / "saves.log").read_text().split()
        assert ranks == ["0"] * 6, f"world {world}: save_output called by ranks {ranks} for 6 runs"
    ckpt = runs[2] / "sft" / "checkpoint-2"
    assert {p.name for p in ckpt.glob("rng_state_*.pth")} == {"rng_state_0.pth", "rng_state_1.pth"}
    assert (ckpt / "optimizer.pt").is_file() and (ckpt / "scheduler.pt").is_file()


@pytest.mark.parametrize("run", ["sft_sgd", "grpo_seeded"])
def test_two_processes_reach_the_weights_of_one(runs, run) -> None:
    one, two = _weights(runs[1] / run), _weights(runs[2] / run)
    travelled = _distance(one, _weights(runs[1] / run / "checkpoint-2"))
    assert travelled > 1e-3, "the last two steps did not move the weights: the comparison would be empty"
    assert _distance(one, two) <= 0.01 * travelled, (_distance(one, two), travelled)
    l1, l2 = _losses(runs[1] / run), _losses(runs[2] / run)
    assert len(l1) == len(l2) == 4
    assert l1 == pytest.approx(l2, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("world", [1, 2])
@pytest.mark.parametrize("run", ["sft", "grpo"])
def test_resumed_run_ends_where_the_uninterrupted_run_ends(runs, world, run) -> None:
    full, resumed = _weights(runs[world] / run), _weights(runs[world] / f"{run}_resumed")
    travelled = _distance(full, _weights(runs[world] / run / "checkpoint-2"))
    assert travelled > 1e-3
    assert _distance(full, resumed) <= 1e-3 * travelled, (_distance(full, resumed), travelled)


def test_accelerate_configs_load() -> None:
    from accelerate.commands.config.config_args import ClusterConfig

    expected = {"single_gpu.yaml": ("NO", 1), "multi_gpu.yaml": ("MULTI_GPU", 8), "zero2.yaml": ("DEEPSPEED", 8),
                "zero3.yaml": ("DEEPSPEED", 8), "cpu_2proc.yaml": ("MULTI_GPU", 2)}
    assert {p.name for p in YAMLS.glob("*.yaml")} == set(expected)
    for name, (kind, n) in expected.items():
        config = ClusterConfig.from_yaml_file(str(YAMLS / name))
        assert (str(config.distributed_type).split(".")[-1], config.num_processes) == (kind, n), name
        if kind == "DEEPSPEED":
            assert config.deepspeed_config["zero_stage"] in (2, 3)
    zero3 = ClusterConfig.from_yaml_file(str(YAMLS / "zero3.yaml")).deepspeed_config
    assert zero3["zero3_save_16bit_model"] is True  # the final save gathers full weights


def test_a_weights_only_checkpoint_is_refused_for_resuming(tmp_path) -> None:
    from trl import SFTConfig

    from r1omni.errors import UsageError
    from training.sft import check_resumable

    ckpt = tmp_path / "checkpoint-2"
    ckpt.mkdir()
    (ckpt / "trainer_state.json").write_text("{}")
    (ckpt / "model.safetensors").write_bytes(b"")
    args = SFTConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, resume_from_checkpoint=str(ckpt))
    with pytest.raises(UsageError, match="save_only_model"):
        check_resumable(args)
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (ckpt / name).write_bytes(b"")
    check_resumable(args)
