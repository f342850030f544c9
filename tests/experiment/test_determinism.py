"""Same config, same bytes, across interpreters: every stage after the world (tokenizer,
interventions, shards, training, evaluation) must not depend on per-process state such as
Python's string-hash salt, which reorders sets."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # two experiments end to end

EXPERIMENT = {
    "name": "tiny-determinism",
    "world": {"preset": "tiny", "seed": 1},
    "arms": ["reflect", "tag"],
    "prepare": {"tokenizer": {"vocab_size": 400}, "interventions": {"reflect": {"segment_words": 12}}, "tasks": 2},
    "train": {"preset": "tiny", "seq_len": 128, "max_steps": 6, "warmup_steps": 2, "checkpoint_every": 3},
    "eval": {
        "max_probes": 4,
        "batch_size": 4,
        "decoding": {"max_new_tokens": 16},
        "cls": {"methods": ["zeroshot", "probe"], "probe_folds": 2},
        "finetune": {"attacks": ["harmful-100"], "budget": {"max_steps": 2}, "export_steps": [1]},
    },
    # SafeBeam's cost is in decoding an untrained model; the tag arm's data path is what is checked here
    "arm_eval": {"tag": {"decoding": {"mode": "plain"}}},
    "samples_per_arm": 1,
}
# the artifacts each stage hands on; run logs and timings legitimately differ
COMPARED = ("*.jsonl", "*.ds", "*.safetensors", "tokenizer.json", "metrics.json", "stats.json")
SKIPPED = {"metrics.jsonl", "_DONE.json"}


def _run(tmp_path: Path, hash_seed: str) -> Path:
    """Runs in tmp_path/run and moves the result aside, so both runs record the same paths."""
    out = tmp_path / "run"
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump(EXPERIMENT | {"out": str(out)}))
    res = subprocess.run(
        [sys.executable, "-m", "safereflect", "run", str(cfg)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return out.rename(tmp_path / f"hash-seed-{hash_seed}")


def _digest(out: Path) -> dict[str, str]:
    found = {}
    for pattern in COMPARED:
        for p in (out / "stages").rglob(pattern):
            if p.name not in SKIPPED and ".work" not in p.parts and p.is_file():
                data = p.read_bytes()
                if p.name == "stats.json":  # its run_key fingerprints the input by mtime, for the cache
                    data = json.dumps({k: v for k, v in json.loads(data).items() if k != "run_key"}).encode()
                found[str(p.relative_to(out))] = hashlib.sha256(data).hexdigest()
    return found


def test_two_interpreters_with_other_hash_seeds_write_the_same_artifacts(tmp_path):
    a, b = _digest(_run(tmp_path, "1")), _digest(_run(tmp_path, "2"))
    assert any(k.endswith(".safetensors") for k in a) and any(k.endswith(".ds") for k in a)
    assert a.keys() == b.keys()
    differ = sorted(k for k in a if a[k] != b[k])
    assert not differ, differ
