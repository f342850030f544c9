import hashlib
import subprocess
import sys
from pathlib import Path

from safereflect.stage import read_done
from safereflect.world import preset_config, write_world
from safereflect.world.generate import world_key


def digest(d: Path) -> dict[str, str]:
    """Every file's hash, but the completion record's (it holds the time it was written)."""
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.rglob("*"))
        if p.is_file() and p.name != "_DONE.json"
    }


def _write_in_process(out: Path, hash_seed: str) -> None:
    """Another interpreter with another string-hash seed: set order must not leak into the world."""
    import os

    code = (
        f"from pathlib import Path; from safereflect.world import preset_config, write_world; "
        f"write_world(preset_config('tiny', 3), Path({str(out)!r}))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONHASHSEED": hash_seed})


def test_same_seed_same_bytes_other_seed_other_world(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    _write_in_process(a, "1")
    _write_in_process(b, "2")
    write_world(preset_config("tiny", 4), c)
    assert digest(a) == digest(b)
    assert read_done(c)["key"] == world_key(preset_config("tiny", 4)) != world_key(preset_config("tiny", 3))
    assert set(digest(a)) == {
        "world.json",
        "world_card.md",
        *(f"corpus/{f}.jsonl" for f in ("knowledge", "cases", "unsafe")),
        *(
            f"probes/{f}.jsonl"
            for f in (
                "safe_tasks",
                "harmful_seen",
                "harmful_heldout",
                "classification",
                "ft_harmful",
                "ft_benign",
                "knowledge",
            )
        ),
    }
    assert (a / "world.json").read_bytes() != (c / "world.json").read_bytes()


def test_world_round_trips_through_json(tiny_world, tiny_world_dir):
    from safereflect.world import load_world

    again = load_world(tiny_world_dir / "world.json")
    assert again == tiny_world and again.to_json() == tiny_world.to_json()


def test_small_world_is_demo_sized():
    from safereflect.world import generate

    world, corpus, probes = generate(preset_config("small", 0))
    words = sum(len(d["text"].split()) for ds in corpus.values() for d in ds)
    assert 15 <= len(world.drugs) <= 40 and 100_000 <= words <= 400_000
    assert len(probes["ft_harmful"]) == 100 and len(probes["harmful_heldout"]) >= 200


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "safereflect", *args], capture_output=True, text=True)


def test_cli_writes_a_world_and_rejects_bad_input(tmp_path):
    ok = run_cli("world", "--preset", "tiny", "--seed", "1", "--out", str(tmp_path / "w"), "--no-card")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "w" / "world_card.md").read_text().startswith("# MedSafetyWorld card")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for args, needle in [
        (("--preset", "huge"), "'huge' is not one of"),
        (("--seed", "-1"), "greater than or equal to 0"),
        (("--out", str(blocker)), "not a directory"),
        (("--out", str(blocker / "sub")), "cannot write to output directory"),
    ]:
        base = ["world", "--preset", "tiny", "--out", str(tmp_path / "x")]
        argv = base + list(args) if args[0] != "--out" else ["world", "--preset", "tiny", *args]
        res = run_cli(*argv)
        assert res.returncode != 0 and needle in res.stdout + res.stderr, (args, res.stdout, res.stderr)
        assert "Traceback" not in res.stdout + res.stderr


def test_cli_config_errors_name_the_key(tmp_path):
    cfg = tmp_path / "w.yaml"
    cfg.write_text("n_drugs: 3\nbogus: 1\n")
    res = run_cli("world", "--preset", "tiny", "--out", str(tmp_path / "w"), "--config", str(cfg))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "n_drugs" in res.stderr and "bogus: unknown key (allowed:" in res.stderr


def test_generator_fingerprint_follows_the_generator_source(tmp_path, monkeypatch):
    # the experiment runner keys a cached world by it: an edited generator must rebuild
    import importlib
    import shutil

    gen = importlib.import_module("safereflect.world.generate")  # the package's `generate` is the function

    pkg = tmp_path / "world"
    shutil.copytree(Path(gen.__file__).parent, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(gen, "__file__", str(pkg / "generate.py"))
    before = gen.generator_fingerprint()
    assert before == gen.generator_fingerprint()
    (pkg / "corpus.py").write_text((pkg / "corpus.py").read_text() + "\n# one more line\n")
    assert gen.generator_fingerprint() != before
