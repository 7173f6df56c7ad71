"""rnnkit.data.labels: sorted label ids, unknown-label errors, JSON round trip."""

import pytest
import torch

from rnnkit.data.labels import LabelMap


def test_from_labels_is_sorted_and_deterministic():
    labels = LabelMap.from_labels(["World", "Sports", "World", "Business", "Sci/Tech"])
    assert labels.labels == ["Business", "Sci/Tech", "Sports", "World"]
    assert labels.encode("Sports") == 2 and labels.decode(2) == "Sports"
    assert labels == LabelMap.from_labels(reversed(["World", "Sports", "Business", "Sci/Tech"]))


def test_integer_labels_sort_numerically():
    assert LabelMap.from_labels(["10", "2", "1", "-3"]).labels == ["-3", "1", "2", "10"]
    assert LabelMap.from_labels(["b", "10", "2"]).labels == ["10", "2", "b"]


def test_unknown_label_names_it_and_lists_known_ones():
    labels = LabelMap.from_labels(["neg", "pos"])
    with pytest.raises(ValueError, match=r"unknown label 'neutral'; known labels: 'neg', 'pos'"):
        labels.encode("neutral")
    with pytest.raises(TypeError, match="labels are strings"):
        labels.encode(["neg"])  # type: ignore[arg-type]
    with pytest.raises(IndexError, match="label id 2 is out of range for 2 labels"):
        labels.decode(2)


def test_encode_all_and_decode_all():
    tags = LabelMap.from_labels(["O", "B-PER", "I-PER"])
    ids = tags.encode_all(["B-PER", "I-PER", "O"])
    assert ids == [0, 1, 2]
    assert tags.decode_all(torch.tensor(ids)) == ["B-PER", "I-PER", "O"]


def test_non_string_labels_are_refused():
    with pytest.raises(TypeError, match="labels must be strings, found int 1"):
        LabelMap.from_labels([1, 2])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="label 'a' appears more than once"):
        LabelMap(["a", "b", "a"])
    with pytest.raises(ValueError, match="at least one label"):
        LabelMap([])


def test_save_and_load(tmp_path):
    labels = LabelMap.from_labels(["正面", "负面"])
    labels.save(tmp_path / "labels.json")
    assert LabelMap.load(tmp_path / "labels.json") == labels
    (tmp_path / "bad.json").write_text('{"labels": "abc"}', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json: 'labels' must be a list"):
        LabelMap.load(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json: not a valid JSON label map"):
        LabelMap.load(tmp_path / "broken.json")
