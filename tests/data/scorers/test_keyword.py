from safereflect.config import validate
from safereflect.data.scorers import build_scorer
from safereflect.data.scorers.keyword import KeywordConfig


def _scorer(**kw):
    return build_scorer("kw", {"kw": validate(KeywordConfig, {"terms": ["sarin", "nerve agent", "synthesis"], **kw})})


def test_escalates_only_with_enough_distinct_terms():
    scores = _scorer().score_texts(
        ["sarin sarin sarin", "Sarin synthesis route", "a nerve agent like sarin", "nerve agents and synthesisers"]
    )
    assert [s.label for s in scores] == ["Safe", "Unsafe", "Unsafe", "Safe"]
    assert [s.score for s in scores] == [1.0, 2.0, 2.0, 0.0]


def test_threshold_is_configurable():
    assert _scorer(min_distinct=1).score_texts(["sarin"])[0].label == "Unsafe"


def test_escalated_documents_go_to_the_classifier(tiny_classifier):
    cfg = validate(KeywordConfig, {"terms": ["poison", "harm"], "then": {"model": str(tiny_classifier)}})
    scorer = build_scorer("kw", {"kw": cfg})
    safe, escalated = scorer.score_texts(["doctor treats patient", "poison and harm the victim"])
    assert safe.label == "Safe" and safe.score == 0.0
    direct = scorer.classifier.score_texts(["poison and harm the victim"])[0]
    assert escalated == direct
