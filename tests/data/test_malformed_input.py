"""Random malformed input records (hypothesis): reading gives a clean error or a clean skip,
and prepare accounts for every record: kept + excluded = input."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safereflect.data import run_prepare
from safereflect.data.sources import BAD, InputConfig, build_reader
from safereflect.errors import UserError

from .conftest import make_config, records

words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
good = st.builds(lambda i, t: json.dumps({"id": i, "text": t}).encode(), st.text(max_size=6), words)
bad = st.one_of(
    st.binary(max_size=20).filter(lambda b: b"\n" not in b and b"\r" not in b and b.strip()),  # anything at all
    st.builds(lambda t: json.dumps({"id": "x", "text": t}).encode()[:-1], words),  # cut short
    st.builds(
        lambda v: json.dumps({"id": "x", "text": v}).encode(),
        st.one_of(st.none(), st.integers(), st.lists(st.integers(), max_size=2)),
    ),  # text not a string
    st.builds(lambda t: json.dumps({"id": "x", "body": t}).encode(), words),  # no text field
    st.builds(lambda t: json.dumps([t]).encode(), words),  # not an object
    st.builds(lambda t: json.dumps({"text": t}).encode().replace(b"}", b"\xff}"), words),  # invalid UTF-8
)
lines = st.lists(st.one_of(good, bad), min_size=1, max_size=12)


def _write(path, body: list[bytes]) -> int:
    """Write one record per line; returns how many non-blank lines (records) there are."""
    path.write_bytes(b"".join(line + b"\n" for line in body))
    return sum(1 for line in body if line.strip())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=lines)
def test_reading_yields_one_document_per_record_or_one_user_error(tmp_path, body):
    path = tmp_path / "in.jsonl"
    n = _write(path, body)
    cfg = InputConfig(path=str(path))
    docs = list(build_reader(cfg, skip_bad=True).run())
    assert len(docs) == n
    flagged = [d for d in docs if d.metadata.get(BAD)]
    assert all(d.metadata["excluded_detail"].startswith(f"{path}:") for d in flagged)
    try:
        strict = list(build_reader(cfg, skip_bad=False).run())
    except UserError as err:
        assert flagged and str(err).startswith(f"{path}:")
    else:
        assert not flagged and len(strict) == n


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=lines.filter(lambda b: any(x.strip() for x in b)))
def test_prepare_accounts_for_every_record(tmp_path_factory, shared_tokenizer, body):
    tmp = tmp_path_factory.mktemp("malformed")
    n = _write(tmp / "in.jsonl", body)
    cfg = make_config(
        tmp / "in.jsonl", tmp / "out", "raw", skip_bad=True, tasks=1, tokenizer__path=str(shared_tokenizer)
    )
    out = run_prepare(cfg)
    docs = json.loads((out / "stats.json").read_text())["documents"]
    kept, excluded = records(out / "docs"), records(out / "excluded")
    assert docs["in"] == n == docs["kept"] + sum(docs["dropped"].values()) == len(kept) + len(excluded)
