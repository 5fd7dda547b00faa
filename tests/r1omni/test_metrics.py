import math

from r1omni.metrics import confusion_matrix, scores_by_dataset, uar, war


def test_war_is_accuracy_and_uar_over_present_classes():
    y_true = ["happy", "happy", "happy", "sad"]
    y_pred = ["happy", "happy", "sad", "sad"]
    assert war(y_true, y_pred) == 0.75
    assert uar(y_true, y_pred) == (2 / 3 + 1) / 2  # only happy and sad are present


def test_uar_penalises_majority_guessing():
    y_true = ["a"] * 9 + ["b"]
    y_pred = ["a"] * 10
    assert war(y_true, y_pred) == 0.9 and uar(y_true, y_pred) == 0.5


def test_empty_inputs_are_nan():
    assert math.isnan(war([], [])) and math.isnan(uar([], []))


def test_confusion_matrix_counts_outside_answers_as_other():
    rows, cols, m = confusion_matrix(["happy", "sad", "sad"], ["happy", None, "happy"], ["happy", "sad"])
    assert rows == ["happy", "sad"] and cols == ["happy", "sad", "other"]
    assert m == [[1, 0, 0], [1, 0, 1]]


def test_scores_are_per_dataset():
    s = scores_by_dataset(["a", "b", "a"], ["a", "a", "b"], ["dfew", "dfew", "mafw"])
    assert s["dfew"] == {"WAR": 0.5, "UAR": 0.5, "n": 2}
    assert s["mafw"]["WAR"] == 0.0 and s["all"]["n"] == 3
