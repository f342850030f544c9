"""The disk reader: file-level sharding, fsspec paths, compressed JSONL, Parquet beside JSONL,
and files that cannot be read to their end."""

import gzip
import json
import uuid

import pytest

from safereflect.data import run_prepare
from safereflect.data.sources import InputConfig, build_reader, estimate_documents, fingerprint, resolve
from safereflect.errors import UserError

from .conftest import make_config, records


def _rows(prefix: str, n: int) -> list[dict]:
    return [{"id": f"{prefix}-{i}", "text": f"Document {prefix} {i}. It is fine."} for i in range(n)]


def _jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def _parquet(rows: list[dict], row_group_size: int = 2) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf, row_group_size=row_group_size)
    return buf.getvalue()


def _zstd(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor().compress(data)


@pytest.fixture
def memory_dir():
    """A folder on fsspec's in-memory filesystem, removed afterwards."""
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/safereflect-{uuid.uuid4().hex}"
    yield fs, root
    fs.rm(root, recursive=True)


def _read(cfg: InputConfig, tasks: int, skip_bad: bool = False):
    reader = build_reader(cfg, skip_bad=skip_bad)
    return [[d for d in reader.run(None, rank, tasks)] for rank in range(tasks)]


def test_memory_filesystem_folder_of_every_format(memory_dir):
    fs, root = memory_dir
    fs.pipe(f"{root}/a.jsonl", _jsonl(_rows("a", 3)))
    fs.pipe(f"{root}/sub/b.jsonl.gz", gzip.compress(_jsonl(_rows("b", 4))))
    fs.pipe(f"{root}/c.parquet", _parquet(_rows("c", 5)))
    fs.pipe(f"{root}/d.jsonl.zst", _zstd(_jsonl(_rows("d", 2))))
    fs.pipe(f"{root}/notes.txt", b"not an input file")
    cfg = InputConfig(path=f"memory://{root}")
    res = resolve(cfg)
    assert res.format == "jsonl+parquet"
    assert [f.rel for f in res.files] == ["a.jsonl", "c.parquet", "d.jsonl.zst", "sub/b.jsonl.gz"]
    ids = sorted(d.id for shard in _read(cfg, tasks=3) for d in shard)
    assert ids == sorted(r["id"] for p, n in (("a", 3), ("b", 4), ("c", 5), ("d", 2)) for r in _rows(p, n))
    assert estimate_documents(cfg) is None  # never counted by reading a remote input
    assert [f[0] for f in fingerprint(cfg)] == [
        f"memory://{root}/{r}" for r in ("a.jsonl", "c.parquet", "d.jsonl.zst", "sub/b.jsonl.gz")
    ]


def test_a_bad_record_on_an_fsspec_path_names_the_file_and_line(memory_dir):
    fs, root = memory_dir
    fs.pipe(f"{root}/in.jsonl", _jsonl(_rows("a", 2)) + b'{"id": "x", "text": \n')
    with pytest.raises(UserError, match=rf"memory://{root}/in.jsonl:3: malformed JSON"):
        _read(InputConfig(path=f"memory://{root}"), tasks=1)


def test_each_task_opens_only_its_own_files(tmp_path):
    for i in range(5):
        (tmp_path / f"part-{i}.jsonl").write_bytes(_jsonl(_rows(f"f{i}", 3)))
    reader = build_reader(InputConfig(path=str(tmp_path)), skip_bad=False)
    opened = []
    real_open = reader.data_folder.open
    reader.data_folder.open = lambda path, *a, **kw: opened.append(path) or real_open(path, *a, **kw)
    shards = []
    for rank in range(2):
        opened.clear()
        shards.append({d.id for d in reader.run(None, rank, 2)})
        assert opened == [f"part-{i}.jsonl" for i in range(rank, 5, 2)]
        assert {i.split("-")[0] for i in shards[-1]} == {f"f{i}" for i in range(rank, 5, 2)}
    assert not shards[0] & shards[1]
    assert shards[0] | shards[1] == {r["id"] for i in range(5) for r in _rows(f"f{i}", 3)}


@pytest.mark.parametrize("tasks", [1, 2, 3, 7])
def test_limit_reads_exactly_the_first_records_whatever_the_tasks(tmp_path, tasks):
    (tmp_path / "a.jsonl").write_bytes(_jsonl(_rows("a", 3)))
    (tmp_path / "b.parquet").write_bytes(_parquet(_rows("b", 4)))
    (tmp_path / "c.jsonl").write_bytes(_jsonl(_rows("c", 3)))
    cfg = InputConfig(path=str(tmp_path), limit=5)
    ids = sorted(d.id for shard in _read(cfg, tasks) for d in shard)
    assert ids == sorted(["a-0", "a-1", "a-2", "b-0", "b-1"])
    assert estimate_documents(cfg) == 5


def test_compressed_files_that_end_early_or_are_not_compressed_are_clear_errors(tmp_path):
    data = _jsonl(_rows("a", 3000))
    cases = {
        "cut.jsonl.gz": (gzip.compress(data)[:4000], "cannot be read after line"),
        "plain.jsonl.gz": (data, "cannot be read at its start"),
        "cut.jsonl.zst": (_zstd(data)[:4000], "cannot be read after line"),
        "plain.jsonl.zst": (data, "cannot be read at its start"),
    }
    for name, (blob, message) in cases.items():
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        (folder / name).write_bytes(blob)
        with pytest.raises(UserError, match=message) as err:  # even with skip_bad: its lost records are uncountable
            _read(InputConfig(path=str(folder / name)), tasks=1, skip_bad=True)
        assert str(folder / name) in str(err.value)


def test_a_multi_frame_zstd_file_reads_every_frame(tmp_path):
    (tmp_path / "in.jsonl.zst").write_bytes(_zstd(_jsonl(_rows("a", 3))) + _zstd(_jsonl(_rows("b", 2))))
    assert [d.id for d in _read(InputConfig(path=str(tmp_path)), tasks=1)[0]] == ["a-0", "a-1", "a-2", "b-0", "b-1"]


def test_a_single_parquet_file_prepares_every_row(tmp_path, shared_tokenizer):
    # issue 15: it was read as JSONL ("invalid UTF-8"), and with --skip-bad every row was lost
    path = tmp_path / "in.parquet"
    path.write_bytes(_parquet(_rows("p", 10), row_group_size=3))
    for skip_bad in (False, True):
        out = run_prepare(
            make_config(
                path, tmp_path / f"out-{skip_bad}", "raw", skip_bad=skip_bad, tokenizer__path=str(shared_tokenizer)
            )
        )
        docs = json.loads((out / "stats.json").read_text())["documents"]
        assert docs["in"] == docs["kept"] == 10
        assert sorted(d["id"] for d in records(out / "docs")) == sorted(r["id"] for r in _rows("p", 10))


def test_a_folder_of_jsonl_and_parquet_prepares_every_row_of_both(tmp_path, shared_tokenizer):
    # issue 15: the Parquet rows were silently ignored
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_bytes(_jsonl(_rows("j", 4)))
    (src / "b.parquet").write_bytes(_parquet(_rows("p", 6)))
    (src / "c.jsonl.gz").write_bytes(gzip.compress(_jsonl(_rows("g", 3))))
    out = run_prepare(make_config(src, tmp_path / "out", "raw", tokenizer__path=str(shared_tokenizer)))
    docs = json.loads((out / "stats.json").read_text())["documents"]
    assert docs["in"] == docs["kept"] == 13
    assert sorted(d["id"] for d in records(out / "docs")) == sorted(
        r["id"] for p, n in (("j", 4), ("p", 6), ("g", 3)) for r in _rows(p, n)
    )


def test_a_parquet_file_without_the_suffix_is_recognised_by_content(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(_parquet(_rows("p", 3)))
    assert resolve(InputConfig(path=str(path))).format == "parquet"
    assert len(_read(InputConfig(path=str(path)), tasks=1)[0]) == 3


def test_a_parquet_file_that_is_not_parquet_is_a_clear_error(tmp_path):
    (tmp_path / "in.parquet").write_bytes(b"PAR1 but nothing else")
    with pytest.raises(UserError, match="in.parquet: not a readable Parquet file"):
        _read(InputConfig(path=str(tmp_path)), tasks=1)


@pytest.mark.parametrize(
    "path, message",
    [
        ("memory://safereflect-nothing/here", "input not found: memory://safereflect-nothing/here"),
        ("nosuchprotocol://x/y", "cannot read nosuchprotocol://x/y: Protocol not known"),
    ],
)
def test_unreadable_fsspec_paths_are_one_clear_error(path, message):
    with pytest.raises(UserError, match=message):
        resolve(InputConfig(path=path))


def test_s3_without_its_filesystem_package_names_what_to_install():
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("s3fs is installed: nothing to report")
    with pytest.raises(UserError, match="s3fs"):
        resolve(InputConfig(path="s3://bucket/prefix/"))
