"""Inputs: JSONL with extra fields, Parquet, a dataset saved by `datasets`, limits."""

import json

import pytest

from safereflect.data.sources import InputConfig, build_reader, estimate_documents, resolve
from safereflect.errors import UserError

from .conftest import make_config, records

ROWS = [{"id": f"r{i}", "text": f"Document number {i}. It is fine.", "url": f"https://x/{i}"} for i in range(7)]


def _read_all(cfg: InputConfig, tasks: int = 3):
    reader = build_reader(cfg, skip_bad=False)
    return [d for rank in range(tasks) for d in reader.run(None, rank, tasks)]


def test_jsonl_keeps_other_fields_as_metadata_and_shards_by_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    docs = _read_all(InputConfig(path=str(path)))
    assert sorted(d.id for d in docs) == sorted(r["id"] for r in ROWS)
    assert docs[0].metadata["url"].startswith("https://x/")
    limited = _read_all(InputConfig(path=str(path), limit=4))
    assert sorted(d.id for d in limited) == ["r0", "r1", "r2", "r3"]
    assert estimate_documents(InputConfig(path=str(path), limit=4)) == 4


def test_parquet_input(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "in.parquet", row_group_size=2)
    cfg = InputConfig(path=str(tmp_path))
    assert resolve(cfg)[0] == "parquet"
    assert sorted(d.id for d in _read_all(cfg)) == sorted(r["id"] for r in ROWS)
    assert sorted(d.id for d in _read_all(InputConfig(path=str(tmp_path), limit=3))) == ["r0", "r1", "r2"]


def test_a_dataset_saved_with_datasets_prepares_like_jsonl(tmp_path, shared_tokenizer):
    import datasets

    from safereflect.data import run_prepare

    datasets.Dataset.from_list(ROWS + [{"id": "empty", "text": "", "url": ""}]).save_to_disk(str(tmp_path / "ds"))
    assert resolve(InputConfig(path=str(tmp_path / "ds")))[0] == "hf"
    out = run_prepare(make_config(tmp_path / "ds", tmp_path / "out", "raw", tokenizer__path=str(shared_tokenizer)))
    assert sorted(d["id"] for d in records(out / "docs")) == sorted(r["id"] for r in ROWS)
    assert [d["metadata"]["excluded_reason"] for d in records(out / "excluded")] == ["empty"]


def test_missing_input_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="input not found"):
        resolve(InputConfig(path=str(tmp_path / "nope")))
