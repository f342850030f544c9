import torch

from safereflect.config import validate
from safereflect.data.scorers import build_scorer
from safereflect.data.scorers.classes import ClassMap
from safereflect.data.scorers.classifier import ClassifierConfig


def test_long_texts_score_the_max_over_chunks(tiny_classifier):
    cfg = validate(ClassifierConfig, {"model": str(tiny_classifier), "max_length": 8, "stride": 0, "batch_size": 3})
    scorer = build_scorer("clf", {"clf": cfg})
    long_text = "doctor treats patient with care poison harm kill overdose attack safe medicine every day"
    chunks = ["doctor treats patient with care poison", "harm kill overdose attack safe medicine", "every day"]
    whole = scorer.score_texts([long_text])[0]
    parts = scorer.score_texts(chunks)
    assert abs(whole.score - max(p.score for p in parts)) < 1e-5
    assert whole.label == ("Unsafe" if whole.score >= 0.5 else "Safe")


def test_batching_does_not_change_scores(tiny_classifier):
    texts = ["doctor treats patient", "poison harm kill", "safe medicine every day"] * 3
    one = build_scorer("a", {"a": validate(ClassifierConfig, {"model": str(tiny_classifier), "batch_size": 1})})
    many = build_scorer("b", {"b": validate(ClassifierConfig, {"model": str(tiny_classifier), "batch_size": 16})})
    assert [round(s.score, 5) for s in one.score_texts(texts)] == [round(s.score, 5) for s in many.score_texts(texts)]


def test_safelm_scores_map_to_labels():
    classes = ClassMap(reduce="argmax", controversial_at=1, unsafe_at=4)
    table = classes.severity_table([str(i) for i in range(6)])
    probs = torch.eye(6)
    scores = classes.chunk_scores(probs, table)
    assert scores == [0, 1, 2, 3, 4, 5]
    assert [classes.label(s) for s in scores] == ["Safe"] + ["Controversial"] * 3 + ["Unsafe"] * 2


def test_expected_severity_of_a_binary_model():
    classes = ClassMap()
    table = classes.severity_table(["LABEL_0", "LABEL_1"])
    assert classes.chunk_scores(torch.tensor([[0.3, 0.7]]), table) == [torch.tensor(0.7).item()]
    assert classes.label(0.7) == "Unsafe" and classes.label(0.2) == "Safe"
