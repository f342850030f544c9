"""The prepare run as a whole: accounting, shards, determinism, relaunch, timing phases."""

import hashlib
import json

import numpy as np
import pytest

from .conftest import make_config, records


def _tree_digest(directory):
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("arm", ["raw", "filter", "reflect", "filter+rewrite+refusal+tag"])
def test_every_document_is_accounted_for(prepared, tiny_world_dir, arm):
    out = prepared(arm)
    stats = json.loads((out / "stats.json").read_text())
    docs = stats["documents"]
    n_world = len(records(tiny_world_dir / "corpus"))
    assert docs["in"] == n_world == docs["kept"] + sum(docs["dropped"].values())
    assert docs["kept"] == len(records(out / "docs"))
    assert sum(docs["dropped"].values()) == len(records(out / "excluded"))
    meta = json.loads((out / "tokens" / "meta.json").read_text())
    assert meta["splits"]["train"]["documents"] + meta["splits"]["val"]["documents"] == docs["kept"]
    assert stats["tokens"]["out"] == meta["splits"]["train"]["tokens"] + meta["splits"]["val"]["tokens"]


def test_meta_json_follows_the_contract(prepared):
    meta = json.loads((prepared("reflect") / "tokens" / "meta.json").read_text())
    assert meta["format"] == "datatrove" and meta["token_size"] == 2 and meta["loss_mask"] is False
    assert set(meta["special_tokens"]) == {
        "<|endoftext|>",
        "<|pad|>",
        "<think>",
        "</think>",
        "<potentially unsafe content>",
    }
    assert meta["eos_token_id"] == meta["special_tokens"]["<|endoftext|>"]
    assert set(meta["splits"]) == {"train", "val"} and meta["splits"]["val"]["documents"] > 0
    for split in meta["splits"].values():  # each shard's size, so a truncated copy is detected
        tokens_dir = prepared("reflect") / "tokens"
        assert split["file_tokens"] == [(tokens_dir / f).stat().st_size // 2 for f in split["files"]]
        assert sum(split["file_tokens"]) == split["tokens"]


def _decoded(out, split):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out / "tokens" / "tokenizer"))
    meta = json.loads((out / "tokens" / "meta.json").read_text())
    texts = []
    for f in meta["splits"][split]["files"]:
        ids = np.fromfile(out / "tokens" / f, dtype=np.uint16)
        ends = np.fromfile(out / "tokens" / (f + ".index"), dtype=np.uint64)
        start = 0
        for end in ends.tolist():
            doc = ids[start:end].tolist()
            assert doc[-1] == meta["eos_token_id"] and meta["eos_token_id"] not in doc[:-1]
            texts.append((tok.decode(doc[:-1]), doc[:-1]))
            start = end
    return tok, texts


def test_shards_round_trip_to_the_prepared_documents(prepared):
    out = prepared("reflect", interventions__reflect__segment_words=12)
    docs = sorted(d["text"] for d in records(out / "docs"))
    tok, train = _decoded(out, "train")
    _, val = _decoded(out, "val")
    assert sorted(t for t, _ in train + val) == docs
    # the ids are the tokenizer's own encoding of each text (reused ids are not an approximation)
    assert all(tok(t, add_special_tokens=False)["input_ids"] == ids for t, ids in train + val)


def test_shards_load_with_datatrove(prepared):
    from datatrove.utils.dataset import DatatroveFolderDataset

    out = prepared("reflect")
    meta = json.loads((out / "tokens" / "meta.json").read_text())
    ds = DatatroveFolderDataset(str(out / "tokens" / "train"), seq_len=16, token_size=meta["token_size"])
    assert len(ds) == meta["splits"]["train"]["tokens"] // 17
    assert ds[0]["input_ids"].shape == (17,)


def test_same_config_gives_the_same_bytes_whatever_the_workers(tiny_world_dir, shared_tokenizer, tmp_path):
    from safereflect.data import run_prepare

    kw = {"tokenizer__path": str(shared_tokenizer), "interventions__reflect__segment_words": 12}
    a = run_prepare(make_config(tiny_world_dir, tmp_path / "a", "reflect", **kw))
    b = run_prepare(make_config(tiny_world_dir, tmp_path / "b", "reflect", run__workers=2, **kw))
    assert _tree_digest(a / "tokens") == _tree_digest(b / "tokens")
    assert _tree_digest(a / "docs") == _tree_digest(b / "docs")
    # the shards are in a canonical order before shuffling: another task layout, the same tokens
    c = run_prepare(make_config(tiny_world_dir, tmp_path / "c", "reflect", tasks=3, **kw))
    assert _tree_digest(a / "tokens") == _tree_digest(c / "tokens")


def test_a_finished_output_is_not_recomputed(tiny_world_dir, shared_tokenizer, tmp_path, capsys):
    from safereflect.data import run_prepare

    cfg = make_config(tiny_world_dir, tmp_path / "o", "filter", tokenizer__path=str(shared_tokenizer))
    run_prepare(cfg)
    before = _tree_digest(tmp_path / "o")
    mtime = (tmp_path / "o" / "stats.json").stat().st_mtime_ns
    capsys.readouterr()
    run_prepare(cfg)
    assert "already prepared" in " ".join(capsys.readouterr().err.split())
    assert (tmp_path / "o" / "stats.json").stat().st_mtime_ns == mtime and _tree_digest(tmp_path / "o") == before


def test_timing_phases_have_the_right_token_fractions(prepared):
    for start in (0.2, 0.6):
        out = prepared("reflect", timing=start, interventions__reflect__segment_words=12)
        train = json.loads((out / "tokens" / "meta.json").read_text())["splits"]["train"]
        raw, arm = train["phases"]
        assert (raw["name"], arm["name"]) == ("raw", "reflect")
        assert train["files"] == raw["files"] + arm["files"]
        assert train["file_tokens"] == raw["file_tokens"] + arm["file_tokens"]
        assert raw["tokens"] + arm["tokens"] == train["tokens"]
        assert abs(raw["tokens"] / train["tokens"] - start) < 0.03  # within about one document
        assert "<think>" not in "".join(t for t, _ in _decoded_files(out, raw["files"]))
        assert all("<think>" in t for t, _ in _decoded_files(out, arm["files"]))


def _decoded_files(out, files):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(out / "tokens" / "tokenizer" / "tokenizer.json"))
    for f in files:
        ids = np.fromfile(out / "tokens" / f, dtype=np.uint16)
        start = 0
        for end in np.fromfile(out / "tokens" / (f + ".index"), dtype=np.uint64).tolist():
            yield tok.decode(ids[start : end - 1].tolist(), skip_special_tokens=False), None
            start = end


def test_noise_mode_writes_a_loss_mask(prepared):
    out = prepared("reflect", interventions__reflect__segment_words=12, interventions__reflect__after_unsafe="noise")
    meta = json.loads((out / "tokens" / "meta.json").read_text())
    assert meta["loss_mask"] is True
    masked = 0
    for split in ("train", "val"):
        for f in meta["splits"][split]["files"]:
            loss = np.fromfile(out / "tokens" / (f + ".loss"), dtype=np.uint8)
            assert len(loss) == len(np.fromfile(out / "tokens" / f, dtype=np.uint16))
            masked += int((loss == 0).sum())
    assert masked > 0


def test_annotate_stores_more_scores_without_acting_on_them(prepared):
    out = prepared("raw", annotate=["kw"], scorers={"kw": {"kind": "keyword", "terms": ["harm", "cause", "give"]}})
    docs = records(out / "docs")
    assert all(d["metadata"]["scores"]["kw"]["label"] in ("Safe", "Unsafe") for d in docs)
    stats = json.loads((out / "stats.json").read_text())
    assert sum(stats["labels"]["kw"].values()) == len(docs) and stats["documents"]["changed"] == 0
