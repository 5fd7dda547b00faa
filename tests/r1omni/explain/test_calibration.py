"""Flag thresholds calibrated per checkpoint: the fit on constructed scores (certified, refused), the
Clopper-Pearson bound, the split, the per-user store keyed by fingerprint, the explain notice, and the
`r1omni flags calibrate` command end to end (demo checkpoint, synthetic clips; an audit export)."""

import json
import random
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from r1omni.errors import UsageError
from r1omni.explain import calibration as cal_lib
from r1omni.explain.calibration import Item
from r1omni.explain.flags import FlagThresholds

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "assets" / "examples"


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "data"
    monkeypatch.setenv("R1OMNI_DATA_DIR", str(d))
    return d


def _items(n_true: int, n_false: int, seed: int = 0, overlap: float = 0.0) -> list[Item]:
    """True claims with contrast ~ +0.5 and relative ~ +0.3, false ones ~ -0.5 / -0.3 (per token), one clip
    per 3 claims; `overlap` of the false ones look like true ones."""
    rng = random.Random(seed)
    out = []
    for k in range(n_true):
        out.append(Item(rng.gauss(0.5, 0.15), rng.gauss(0.3, 0.15), False, False, f"clip{k // 3}"))
    for k in range(n_false):
        mu = 0.5 if rng.random() < overlap else -0.5
        out.append(Item(rng.gauss(mu, 0.15), rng.gauss(mu * 0.6, 0.15), False, True, f"clip{(n_true + k) // 3}"))
    return out


def test_clopper_pearson_lower_bound():
    assert cal_lib.cp_lower(29, 29) == pytest.approx(0.05 ** (1 / 29))  # all correct: alpha ** (1 / n)
    assert cal_lib.cp_lower(29, 29) >= 0.9 > cal_lib.cp_lower(28, 28)
    assert cal_lib.cp_lower(0, 10) == 0.0 and cal_lib.cp_lower(0, 0) is None
    assert cal_lib.cp_lower(45, 50) == pytest.approx(0.8019, abs=1e-3)  # scipy beta.ppf(0.05, 45, 6)
    assert cal_lib.min_positives(0.9) == 29 and cal_lib.min_positives(0.9, 0.99) == 44


def test_split_keeps_groups_whole_and_is_seeded():
    items = _items(60, 60)
    fit, cert = cal_lib.split(items, seed=3)
    assert {i.group for i in fit}.isdisjoint({i.group for i in cert}) and len(fit) + len(cert) == len(items)
    assert cal_lib.split(items, seed=3) == (fit, cert) and cal_lib.split(items, seed=4) != (fit, cert)


def test_fit_separates_constructed_scores_and_certifies_on_the_other_half():
    cal = cal_lib.fit(_items(100, 100), "ck@0", "rewrites")
    t = cal.flag_thresholds()
    assert -0.5 < t.contrast_eps < 0.5 and -0.3 < t.relative_eps < 0.3
    assert cal.certified and cal.certify["precision_lower"] >= 0.9 and cal.certify["recall"] >= 0.9
    assert cal.certify["n"] + cal.fit["n"] == 200
    # the certificate is the certify half's own confusion under the fitted thresholds
    fit_half, cert_half = cal_lib.split(_items(100, 100), 0)
    assert cal_lib.confusion(cert_half, t) == cal.certify


def test_fit_reports_an_uncertified_rule_when_the_classes_overlap():
    cal = cal_lib.fit(_items(100, 120, overlap=0.5), "ck@0", "rewrites")
    assert not cal.certified and cal.certify["precision_lower"] < 0.9
    assert "NOT certified" in cal.summary()


def test_fit_refuses_with_too_few_false_claims():
    with pytest.raises(UsageError, match="too few .* at least 29") as err:
        cal_lib.fit(_items(200, 40), "ck@0", "audit", what="decided verdicts")
    assert "\n" not in str(err.value)
    cal_lib.fit(_items(200, 40), "ck@0", "audit", target_precision=0.8)  # 14 suffice for 0.8


def test_neutral_claims_get_their_own_threshold():
    items = _items(80, 80) + [Item(-0.05 * (k % 5), 0.0, True, False, f"n{k}") for k in range(40)] + \
        [Item(-1.0 - 0.1 * (k % 5), 0.0, True, True, f"m{k}") for k in range(40)]
    cal = cal_lib.fit(items, "ck@0", "rewrites")
    assert 0.2 < cal.thresholds["contrast_neutral_eps"] < 1.0
    assert cal.certified


def test_store_round_trip_by_fingerprint_never_in_the_checkpoint(tmp_path, data_dir):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"x" * 10)
    before = sorted(p.name for p in folder.iterdir())
    fp = cal_lib.folder_fingerprint(folder)
    assert fp.startswith("ckpt@") and cal_lib.load_calibration(fp) is None
    cal = cal_lib.fit(_items(100, 100), fp, "rewrites")
    path = cal_lib.save_calibration(cal, folder)
    assert path == data_dir / "calibrations.json" and sorted(p.name for p in folder.iterdir()) == before
    assert cal_lib.load_calibration(fp) == cal
    (folder / "model.safetensors").write_bytes(b"y" * 11)  # retrained: another fingerprint, uncalibrated
    assert cal_lib.load_calibration(cal_lib.folder_fingerprint(folder)) is None


def test_flag_threshold_items_parse():
    t = FlagThresholds.parse(["contrast_eps=0.25", "relative_eps=-0.1"])
    assert (t.contrast_eps, t.relative_eps) == (0.25, -0.1)
    for bad in ("nope=1", "contrast_eps=x", "contrast_eps=nan"):
        with pytest.raises(UsageError):
            FlagThresholds.parse([bad])


@pytest.fixture(scope="module")
def demo_pipe():
    from r1omni.inference import Pipeline

    return Pipeline.load(None, device="cpu")


def test_explain_notices_uncalibrated_and_uses_a_stored_calibration(demo_pipe):
    from r1omni.explain import explain

    import csv

    from r1omni.audit.claims import is_neutral_claim

    rows = list(csv.DictReader((EXAMPLES / "manifest.csv").open()))
    clip = str(EXAMPLES / next(r["path"] for r in rows if r["label"] not in ("neutral",)))
    (e,) = explain(demo_pipe, [clip], mode="fast")
    assert cal_lib.UNCALIBRATED_NOTICE in e.notices and e.params["threshold_source"] == "default"
    assert e.params["counterfactual_source"] == "rewrite"
    fp = cal_lib.pipe_fingerprint(demo_pipe)
    cal = replace(cal_lib.fit(_items(100, 100), fp, "rewrites"), thresholds={"contrast_eps": 123.0,
                                                                               "relative_eps": 0.0,
                                                                               "contrast_neutral_eps": 0.5})
    cal_lib.save_calibration(cal, cal_lib.pipe_folder(demo_pipe))
    (e,) = explain(demo_pipe, [clip], mode="fast")
    assert cal_lib.UNCALIBRATED_NOTICE not in e.notices
    assert e.params["threshold_source"].startswith("calibration: rewrites") and e.params["contrast_eps"] == 123.0
    judged = [c for c in e.claims if c["support"]["contrastive"] and not is_neutral_claim(c["text"])]
    assert judged and all("unsupported" in c["flags"] for c in judged)  # emotional cues cannot pass 123 nats
    (e,) = explain(demo_pipe, [clip], mode="fast", thresholds=FlagThresholds())
    assert e.params["threshold_source"] == "caller" and e.params["contrast_eps"] == 0.0


def _cli(*argv):
    from r1omni.cli import main

    return main(list(argv))


def test_cli_calibrate_from_rewrites_end_to_end(tmp_path, capsys, data_dir):
    """`r1omni synth` clips, `flags calibrate --clips` on the demo checkpoint: stored, shown, used by explain;
    too few clips for precision 0.9: one line, exit 2, nothing stored."""
    assert _cli("synth", "--out", str(tmp_path / "synth"), "--n", "6", "--seed", "5") == 0
    capsys.readouterr()
    two = tmp_path / "two"
    two.mkdir()
    for p in sorted((tmp_path / "synth").glob("*.mp4"))[:2]:
        shutil.copy(p, two / p.name)
    assert _cli("flags", "calibrate", "--clips", str(two), "--max-new-tokens", "96") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: too few rewritten claims") and "\n" not in err
    assert not (data_dir / "calibrations.json").exists()
    assert _cli("flags", "calibrate", "--clips", str(tmp_path / "synth"), "--target-precision", "0.5",
                "--max-new-tokens", "96", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["source"] == "rewrites" and out["target_precision"] == 0.5
    assert out["certify"]["positives"] >= cal_lib.min_positives(0.5) and out["certify"]["precision_lower"] is not None
    assert set(out["thresholds"]) == {"contrast_eps", "relative_eps", "contrast_neutral_eps"}
    assert _cli("flags", "show") == 0 and "from rewrites" in capsys.readouterr().out
    clip = str(sorted((tmp_path / "synth").glob("*.mp4"))[0])
    assert _cli("explain", clip, "--mode", "fast", "--json", "--max-new-tokens", "96") == 0
    d = json.loads(capsys.readouterr().out)
    assert d["params"]["threshold_source"].startswith("calibration: rewrites")
    assert d["params"]["contrast_eps"] == pytest.approx(out["thresholds"]["contrast_eps"])
    assert not any("uncalibrated" in n for n in d["notices"])
    assert _cli("explain", clip, "--mode", "fast", "--json", "--max-new-tokens", "96",
                "--flag-threshold", "contrast_eps=7") == 0
    d = json.loads(capsys.readouterr().out)
    assert d["params"]["threshold_source"] == "caller" and d["params"]["contrast_eps"] == 7.0
    assert _cli("explain", clip, "--flag-threshold", "bogus=1") == 2
    assert capsys.readouterr().err.startswith("error: unknown flag threshold 'bogus'")


def _record(k: int, items: list[Item]) -> dict:
    text = "<think>" + " ".join(f"Claim {j} voice sounds sad." for j in range(len(items))) + "</think>"
    claims, at = [], len("<think>")
    for j, it in enumerate(items):
        s = f"Claim {j} voice sounds sad."
        verdict = "hallucinated" if it.false else "supported"
        verdicts = [{"annotator": a, "verdict": verdict, "category": None, "note": None,
                     "created_at": "2026-01-01T00:00:00Z", "version": 1} for a in ("ann", "bob")]
        if j == 0:  # a tie, settled by adjudication
            verdicts[1] = dict(verdicts[1], verdict="supported" if it.false else "hallucinated")
        claims.append({"index": j, "start": at, "end": at + len(s), "text": s, "cites": ["audio"], "auto_flags": [],
                       "support": {"contrastive": {"audio": it.contrast}, "relative": {"audio": it.relative}},
                       "verdicts": verdicts})
        at += len(s) + 1
    adj = [{"claim_index": 0, "adjudicator": "lead", "verdict": "hallucinated" if items[0].false else "supported",
            "category": None, "note": None, "created_at": "2026-01-02T00:00:00Z"}]
    return {"prediction_id": f"{k:016x}", "clip": f"c{k}.mp4", "checkpoint": "demo", "label_set": "dfew",
            "completion": text, "label": "sad", "claims": claims, "clip_verdicts": [], "adjudications": adj}


def test_cli_calibrate_from_audit(tmp_path, capsys):
    items = _items(90, 90, seed=2)
    rng = random.Random(0)
    rng.shuffle(items)
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(_record(k, items[k * 4 : k * 4 + 4]), sort_keys=True) + "\n"
                            for k in range(45)))
    assert len(cal_lib.audit_items(json.loads(line) for line in path.read_text().splitlines())) == 180
    assert _cli("flags", "calibrate", "--from-audit", str(path), "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["source"] == "audit" and out["certified"] and out["certify"]["precision_lower"] >= 0.9
    few = tmp_path / "few.jsonl"
    few.write_text("".join(path.read_text().splitlines(keepends=True)[:10]))
    assert _cli("flags", "calibrate", "--from-audit", str(few), "--no-save") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: too few decided verdicts") and "\n" not in err
    assert _cli("flags", "calibrate", "--from-audit", str(tmp_path / "missing.jsonl")) == 2
    assert "does not exist" in capsys.readouterr().err


def test_audit_stats_reflags_stored_claims_under_the_calibration(tmp_path, capsys):
    from r1omni.audit.records import import_records
    from r1omni.audit.store import AuditStore
    from r1omni.inference import DEMO_CHECKPOINT

    items = _items(60, 60, seed=7)
    recs = [_record(k, items[k * 4 : k * 4 + 4]) for k in range(30)]
    db = tmp_path / "audit.sqlite"
    with AuditStore(db) as store:
        import_records(store, recs)
    assert _cli("audit", "stats", "--db", str(db), "--checkpoint", str(DEMO_CHECKPOINT), "--json") == 0
    st = json.loads(capsys.readouterr().out)
    assert st["calibration"] is None and st["flags_vs_majority"]["precision"] is None  # nothing flagged when stored
    fp = cal_lib.folder_fingerprint(DEMO_CHECKPOINT)
    cal_lib.save_calibration(cal_lib.fit(items, fp, "audit"), DEMO_CHECKPOINT)
    assert _cli("audit", "stats", "--db", str(db), "--checkpoint", str(DEMO_CHECKPOINT), "--json") == 0
    st = json.loads(capsys.readouterr().out)
    assert st["calibration"]["source"] == "audit" and st["calibration"]["fingerprint"] == fp
    got = st["flags_vs_majority_calibrated"]
    t = cal_lib.load_calibration(fp).flag_thresholds()
    tp = sum(cal_lib.flagged(i, t) and i.false for i in items)
    fp_ = sum(cal_lib.flagged(i, t) and not i.false for i in items)
    assert got["n"] == 120 and got["precision"] == pytest.approx(tp / (tp + fp_), abs=1e-6) and got["precision"] > 0.9
    assert _cli("audit", "stats", "--db", str(db), "--checkpoint", str(DEMO_CHECKPOINT)) == 0
    assert "calibrated (audit" in capsys.readouterr().out


def test_rewrite_calibration_fits_contrast_alone():
    """Own claims beat their rewrites on `relative` by construction; the rewrite fit turns that test off and
    separates the classes by what the modality adds (`contrast`)."""
    rng = random.Random(1)
    items = [Item(rng.gauss(0.6, 0.2), rng.gauss(3.0, 0.5), False, False, f"c{k // 3}") for k in range(120)]
    items += [Item(rng.gauss(-0.6, 0.2), rng.gauss(-3.0, 0.5), False, True, f"c{(120 + k) // 3}") for k in range(120)]
    both = cal_lib.fit(items, "ck@0", "audit")
    alone = cal_lib.fit(items, "ck@0", "rewrites", fit_relative=False)
    assert alone.thresholds["relative_eps"] == cal_lib.RELATIVE_OFF
    assert -0.6 < alone.thresholds["contrast_eps"] < 0.6 and alone.certified
    t = alone.flag_thresholds()
    assert cal_lib.flagged(Item(-0.5, 5.0, False, False), t)  # the model says it, the modality does not back it
    assert both.thresholds["relative_eps"] != cal_lib.RELATIVE_OFF  # audit verdicts fit both
