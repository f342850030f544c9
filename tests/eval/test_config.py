"""EvalConfig's suites: one default, and an explicit run order that covers every suite."""

from safereflect.eval.config import ALL_SUITES, DEFAULT_SUITES, RUN_ORDER, EvalConfig


def test_run_order_names_every_suite_once_and_finetune_after_asr():
    assert sorted(RUN_ORDER) == sorted(ALL_SUITES) and len(set(RUN_ORDER)) == len(RUN_ORDER)
    assert RUN_ORDER.index("asr") < RUN_ORDER.index("finetune")


def test_default_suites_need_validation_text_only_for_bpb(tmp_path):
    assert EvalConfig(model="m", out=tmp_path).suites == [s for s in DEFAULT_SUITES if s != "bpb"]
    assert EvalConfig(model="m", out=tmp_path, val_data=tmp_path).suites == list(DEFAULT_SUITES)
    assert EvalConfig(model="m", out=tmp_path, suites=["gcg"]).suites == ["gcg"]
