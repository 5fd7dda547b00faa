"""Every recipe parses into the TRL configs; the paper recipe carries the paper's GRPO hyperparameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1omni.errors import UsageError

RECIPES = Path(__file__).resolve().parents[2] / "training" / "recipes"


@pytest.mark.parametrize("recipe", ["paper.yaml", "tiny_cpu.yaml"])
def test_recipes_parse_for_both_stages(recipe: str) -> None:
    from trl import GRPOConfig, SFTConfig

    from training.sft import parse_recipe

    cpu = ["--use_cpu", "true", "--bf16", "false", "--tf32", "false"]  # the paper recipe targets GPUs
    script, sft_args = parse_recipe("sft", SFTConfig, ["--config", str(RECIPES / recipe), *cpu])
    assert script.train_manifest and sft_args.output_dir
    script, grpo_args = parse_recipe("grpo", GRPOConfig, ["--config", str(RECIPES / recipe), *cpu])
    assert script.model_name_or_path and grpo_args.output_dir != sft_args.output_dir


def test_paper_recipe_matches_the_paper() -> None:
    from trl import GRPOConfig

    from training.grpo import PAPER_GRPO
    from training.sft import parse_recipe

    _, args = parse_recipe("grpo", GRPOConfig, ["--config", str(RECIPES / "paper.yaml"), "--use_cpu", "true",
                                                "--bf16", "false", "--resume_from_checkpoint", "ckpt-9"])
    for key, value in PAPER_GRPO.items():
        assert getattr(args, key) == value, key
    assert args.resume_from_checkpoint == "ckpt-9"  # command line wins over the recipe
    assert args.save_only_model is False  # checkpoints keep optimizer, scheduler and RNG state: resumable


def test_unknown_recipe_key_is_a_usage_error(tmp_path: Path) -> None:
    from trl import SFTConfig

    from training.sft import parse_recipe

    bad = tmp_path / "bad.yaml"
    bad.write_text("train_manifest: x.csv\nsft:\n  learning_rat: 0.1\n")
    with pytest.raises(UsageError, match="learning_rat"):
        parse_recipe("sft", SFTConfig, ["--config", str(bad)])


def test_demo_recipe_fills_every_demo_setting() -> None:
    import yaml

    from training.demo import DemoSettings

    section = yaml.safe_load((RECIPES / "demo.yaml").read_text())["demo"]
    settings = DemoSettings.from_recipe(RECIPES / "demo.yaml")
    assert set(section) == {f for f in settings.__dataclass_fields__}
    assert settings.train_seed != settings.test_seed
