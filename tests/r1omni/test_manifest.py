import json

import pytest

from r1omni.errors import UsageError
from r1omni.manifest import read_manifest


def test_csv_manifest_paths_relative_to_manifest(tmp_path):
    (tmp_path / "clips").mkdir()
    m = tmp_path / "clips" / "manifest.csv"
    m.write_text("path,label,dataset,speaker\na.mp4,Fearful,ravdess,7\nsub/b.mp4,,dfew,8\n")
    rows = read_manifest(m)
    assert rows[0].path == (tmp_path / "clips" / "a.mp4").resolve()
    assert rows[0].label == "fear" and rows[0].dataset == "ravdess" and rows[0].meta == {"speaker": "7"}
    assert rows[1].label is None and rows[1].path.name == "b.mp4"
    assert rows[0].answer == "Fearful" and rows[1].answer is None  # as written, for the paper-exact score


def test_r1omni_json_manifest(tmp_path):
    recs = [
        {"video": "DFEW/videos/1.mp4", "conversations": [{"from": "human", "value": "<video>\n<audio>\nq"},
                                                           {"from": "gpt", "value": "sad"}]},
        {"video": "MAFW/2.mp4", "conversations": [{"from": "gpt", "value": "<think>x</think><answer>happy</answer>"}]},
    ]
    m = tmp_path / "train.json"
    m.write_text(json.dumps(recs))
    rows = read_manifest(m)
    assert [(r.label, r.dataset) for r in rows] == [("sad", "dfew"), ("happy", "mafw")]
    assert [r.answer for r in rows] == ["sad", "happy"]


@pytest.mark.parametrize("content, suffix", [("file,label\nx,y\n", ".csv"), ("{\"a\": 1}", ".json"), ("[{}]", ".json")])
def test_bad_manifests_raise_one_line(tmp_path, content, suffix):
    m = tmp_path / f"m{suffix}"
    m.write_text(content)
    with pytest.raises(UsageError) as info:
        read_manifest(m)
    assert "\n" not in str(info.value)


def test_missing_manifest(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        read_manifest(tmp_path / "nope.csv")
