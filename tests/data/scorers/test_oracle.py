import pytest
from datatrove.data import Document

from safereflect.data.scorers import build_scorer
from safereflect.errors import UserError


def _doc(text, spans, safety="unsafe"):
    return Document(
        text=text, id="d", metadata={"safety": safety, "category": "Patient Harm" if spans else None, "spans": spans}
    )


def test_a_prefix_is_unsafe_iff_it_reaches_into_a_span():
    text = "Milo is ill. I want to hurt Milo. Give him X."
    spans = [{"start": 13, "end": 33, "label": "unsafe", "category": "Patient Harm", "mechanism": "m"}]
    oracle = build_scorer("oracle", {})
    labels = [s.label for s in oracle.score_prefixes(_doc(text, spans), [12, 13, 14, len(text)], until_flagged=False)]
    assert labels == ["Safe", "Safe", "Unsafe", "Unsafe"]
    assert oracle.score_prefixes(_doc(text, spans), [20], until_flagged=False)[0].category == "Patient Harm"


def test_document_label_is_the_worlds():
    oracle = build_scorer("oracle", {})
    scores = oracle.score_documents([_doc("fine", [], "safe"), _doc("bad", [{"start": 0, "end": 3, "category": "C"}])])
    assert [s.label for s in scores] == ["Safe", "Unsafe"]


def test_real_text_is_refused_with_a_clear_error():
    with pytest.raises(UserError, match="MedSafetyWorld"):
        build_scorer("oracle", {}).score_documents([Document(text="web text", id="x")])


def test_scorers_that_need_settings_say_so():
    with pytest.raises(UserError, match="scorers.classifier"):
        build_scorer("classifier", {})
    with pytest.raises(UserError, match="unknown scorer"):
        build_scorer("nope", {})


def test_reuse_keeps_a_stored_score():
    from safereflect.config import validate
    from safereflect.data.scorers.oracle import OracleConfig

    doc = _doc("text", [], "safe")
    doc.metadata["scores"] = {"oracle": {"label": "Unsafe", "category": "C", "score": 1.0, "segments": []}}
    fresh = build_scorer("oracle", {})
    reusing = build_scorer("oracle", {"oracle": validate(OracleConfig, {"reuse": True})})
    assert list(reusing.run(iter([doc])))[0].metadata["scores"]["oracle"]["label"] == "Unsafe"
    assert list(fresh.run(iter([doc])))[0].metadata["scores"]["oracle"]["label"] == "Safe"
