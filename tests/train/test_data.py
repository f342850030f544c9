"""Shard reading, packing, loss masks and the deterministic, resumable data order."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from safereflect.errors import UserError
from safereflect.train.data import (
    IGNORE_INDEX,
    DataPosition,
    PackedLoader,
    ShardSplit,
    find_tokens_dir,
    read_meta,
)

SEQ = 32


def split_of(tokens_dir, name="train", seq_len=SEQ) -> ShardSplit:
    return ShardSplit(read_meta(find_tokens_dir(tokens_dir)), name, seq_len)


def test_windows_are_datatrove_items(tokens_dir):
    from datatrove.utils.dataset import DatatroveFolderDataset

    ours = split_of(tokens_dir)
    theirs = DatatroveFolderDataset(str(tokens_dir / "train"), seq_len=SEQ, token_size=2)
    assert len(ours.files) == 2 and ours.n_windows == len(theirs) > 100
    for i in range(ours.n_windows):
        assert np.array_equal(ours.window(i), theirs[i]["input_ids"].numpy()), f"window {i}"


def test_arm_dir_or_tokens_dir(tokens_dir):
    assert find_tokens_dir(tokens_dir.parent) == tokens_dir
    assert find_tokens_dir(tokens_dir) == tokens_dir


def test_inputs_and_targets_are_shifted_windows(tokens_dir):
    split = split_of(tokens_dir)
    inputs, targets = split.batch(np.array([3, 0]))
    assert inputs.shape == targets.shape == (2, SEQ)
    assert np.array_equal(inputs[0], split.window(3)[:-1]) and np.array_equal(targets[0], split.window(3)[1:])


def test_loss_mask_ignores_exactly_the_masked_targets(masked_tokens_dir):
    split = split_of(masked_tokens_dir)
    mask = np.fromfile(masked_tokens_dir / "train" / "00000.ds.loss", dtype=np.uint8)
    assert 0 < mask.mean() < 1
    window_len = SEQ + 1
    for w in (0, 5):
        _, targets = split.batch(np.array([w]))
        span = mask[w * window_len : (w + 1) * window_len]
        expected = np.where(span[1:] == 1, split.window(w)[1:], IGNORE_INDEX)
        assert np.array_equal(targets[0], expected)
    windows = np.arange(8)
    assert split.count_targets(windows) == int((split.batch(windows)[1] != IGNORE_INDEX).sum())


def loader(split, **kw) -> PackedLoader:
    return PackedLoader(split, **{"seed": 0, "global_batch_size": 8, "micro_batch_size": 4, **kw})


def test_order_is_seeded_and_covers_each_epoch(tokens_dir):
    split = split_of(tokens_dir)
    a, b, other = loader(split), loader(split), loader(split, seed=1)
    n = split.n_windows
    steps_a = [a.next_windows() for _ in range(n // 8 + 2)]
    assert all(np.array_equal(x, b.next_windows()) for x in steps_a)
    assert not np.array_equal(steps_a[0], other.next_windows())
    flat = np.concatenate(steps_a)
    assert sorted(flat[:n]) == list(range(n))  # the first epoch is a permutation
    assert not np.array_equal(flat[:n], np.arange(n))  # and a shuffled one
    assert a.position.epoch >= 1


def test_resume_continues_at_saved_position(tokens_dir):
    split = split_of(tokens_dir)
    straight = loader(split)
    steps = split.n_windows // 8 + 5  # runs into the second epoch
    expected = [straight.next_step() for _ in range(steps)]
    first = loader(split)
    for _ in range(steps - 10):
        first.next_step()
    saved = json.loads(json.dumps(first.position.as_dict()))  # as a checkpoint stores it
    resumed = loader(split, position=DataPosition(**saved))
    for micro, n_targets, _ in expected[steps - 10 :]:
        got, got_n, _ = resumed.next_step()
        assert got_n == n_targets
        assert all(np.array_equal(x, y) for (x, _), (y, _) in zip(micro, got))


def test_processes_share_out_the_global_batch(masked_tokens_dir):
    split = split_of(masked_tokens_dir)
    single = loader(split, global_batch_size=8, micro_batch_size=2)
    ranks = [loader(split, global_batch_size=8, micro_batch_size=2, rank=r, world_size=2) for r in range(2)]
    assert single.grad_accum_steps == 4 and ranks[0].grad_accum_steps == 2
    for _ in range(3):
        micro, n, weight = single.next_step()
        assert weight == n  # unweighted: the total weight is the count
        parts = [r.next_step() for r in ranks]
        assert all(p[1] == n for p in parts)  # every process normalises by the global count
        joined = np.concatenate([x for p in parts for x, _ in p[0]])
        assert np.array_equal(joined, np.concatenate([x for x, _ in micro]))


def test_phases_are_read_in_order_and_shuffled_within(tokens_dir, tmp_path):
    """Intervention timing: all raw-phase windows come before any arm-phase window."""
    copy = shutil.copytree(tokens_dir, tmp_path / "tokens")
    train = copy / "train"
    for old, new in (("00000", "phase0-raw-00000"), ("00001", "phase1-reflect-00000")):
        for suffix in (".ds", ".ds.index"):
            (train / f"{old}{suffix}").rename(train / f"{new}{suffix}")
    meta = json.loads((copy / "meta.json").read_text())
    meta["splits"]["train"]["phases"] = [
        {"name": "raw", "files": ["train/phase0-raw-00000.ds"]},
        {"name": "reflect", "files": ["train/phase1-reflect-00000.ds"]},
    ]
    (copy / "meta.json").write_text(json.dumps(meta))
    split = split_of(copy)
    (raw_start, raw_end), (arm_start, arm_end) = split.phases
    assert raw_start == 0 and raw_end == arm_start and arm_end == split.n_windows
    ordered = loader(split)
    epoch = np.concatenate([ordered.next_windows() for _ in range(split.n_windows // 8)])
    raw = raw_end - raw_start
    assert sorted(epoch[:raw]) == list(range(raw))  # the raw phase first, all of it
    assert not np.array_equal(epoch[:raw], np.arange(raw))  # shuffled within the phase
    assert (epoch[raw:] >= arm_start).all()


def test_indivisible_global_batch_is_a_user_error(tokens_dir):
    with pytest.raises(UserError, match="not a multiple of micro_batch_size 4 x 3 processes"):
        loader(split_of(tokens_dir), world_size=3)


def test_missing_data_is_a_user_error(tokens_dir, tmp_path):
    with pytest.raises(UserError, match="data directory not found"):
        find_tokens_dir(tmp_path / "nope")
    with pytest.raises(UserError, match="no token shards in .*meta.json"):
        find_tokens_dir(tmp_path)
    copy = shutil.copytree(tokens_dir, tmp_path / "tokens")
    shutil.rmtree(copy / "train")
    (copy / "train").mkdir()
    with pytest.raises(UserError, match=r"meta.json lists token shards that do not exist: .*train/00000.ds"):
        split_of(copy)
    meta = json.loads((copy / "meta.json").read_text())
    del meta["splits"]["train"]["files"]  # shards from another tool: the folder is all there is
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"no token shards \(\*\.ds\)"):
        split_of(copy)
    del meta["vocab_size"]
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="missing key 'vocab_size'"):
        read_meta(copy)


def test_token_ids_beyond_the_vocabulary_are_a_user_error(tokens_dir, tmp_path):
    copy = shutil.copytree(tokens_dir, tmp_path / "tokens")
    meta = json.loads((copy / "meta.json").read_text())
    meta["vocab_size"] = 50
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="token id .* is outside the tokenizer vocabulary \\(50"):
        split_of(copy).batch(np.arange(4))


def test_a_truncated_shard_is_refused_by_name(tokens_dir, tmp_path):
    """`truncate -s` on a shard: caught by its own .index, and by meta.json's file_tokens."""
    copy = shutil.copytree(tokens_dir, tmp_path / "tokens")
    shard = copy / "train" / "00000.ds"
    with open(shard, "r+b") as fh:
        fh.truncate(shard.stat().st_size // 2)
    with pytest.raises(UserError, match=r"00000.ds: \d+ tokens but its index ends at \d+"):
        split_of(copy)
    (copy / "train" / "00000.ds.index").unlink()  # no index: meta.json's sizes still catch it
    meta = json.loads((copy / "meta.json").read_text())
    meta["splits"]["train"]["file_tokens"] = [
        int(np.fromfile(tokens_dir / "train" / f"{n}.ds.index", "<u8")[-1]) for n in ("00000", "00001")
    ]
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"00000.ds: \d+ tokens but meta.json records \d+"):
        split_of(copy)
    with open(shard, "r+b") as fh:
        fh.truncate(shard.stat().st_size - 1)  # half a token
    with pytest.raises(UserError, match="00000.ds: .* not a whole number of 2-byte tokens"):
        split_of(copy)


def test_a_weighted_step_counts_every_target_after_the_token_at_its_weight(masked_tokens_dir):
    split = split_of(masked_tokens_dir)
    opener = read_meta(find_tokens_dir(masked_tokens_dir)).special_tokens["<think>"]
    single = loader(split, global_batch_size=8, micro_batch_size=2)
    ranks = [loader(split, global_batch_size=8, micro_batch_size=2, rank=r, world_size=2) for r in range(2)]
    seen = 0
    for _ in range(split.n_windows // 8):
        micro, n, weight = single.next_step((opener, 4.0))
        inputs = np.concatenate([x for x, _ in micro])
        targets = np.concatenate([y for _, y in micro])
        after = int(((inputs == opener) & (targets != IGNORE_INDEX)).sum())
        assert n == int((targets != IGNORE_INDEX).sum()) and weight == n + 3.0 * after
        assert all(r.next_step((opener, 4.0))[1:] == (n, weight) for r in ranks)  # the global total everywhere
        seen += after
    assert seen > 0  # the fixture's corpus has reflections
