import io
from types import SimpleNamespace

from rich.console import Console

from safereflect.experiment import progress as progress_mod
from safereflect.experiment.progress import PRIOR_SECONDS, StageProgress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def narrow_log(monkeypatch) -> io.StringIO:
    """The console as a batch job's log sees it: not a terminal, narrower than one line."""
    buf = io.StringIO()
    monkeypatch.setattr(progress_mod, "console", Console(file=buf, width=40, force_terminal=False))
    return buf


def test_each_stage_is_one_log_line_with_its_seed_and_eta(monkeypatch):
    buf = narrow_log(monkeypatch)
    clock = Clock()
    monkeypatch.setattr(progress_mod.time, "time", clock)
    cfg = SimpleNamespace(world=object(), seeds=[3, 4])
    p = StageProgress(cfg, jobs=2)
    before = sum(PRIOR_SECONDS[k] for k in p.remaining)
    with p.stage("world", "small (world seed 3)", 3):
        clock.now += 7.0
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("[1/10] seed 3 (2 in all) · world small (world seed 3)")
    assert lines[0].endswith("eta ~" + progress_mod._clock(before))
    # the ETA counts pipelines, not the world and tokenizer stages still to come
    p.pipeline_done("raw", 3, 600.0, workers=2)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2, lines
    # one pipeline left after this one, at the observed 600 s, over two workers
    assert "raw done (2 at once)" in lines[1] and lines[1].endswith("eta ~5m00s")


def test_eta_follows_the_stages_observed_not_the_prior(monkeypatch):
    narrow_log(monkeypatch)
    clock = Clock()
    monkeypatch.setattr(progress_mod.time, "time", clock)
    p = StageProgress(SimpleNamespace(world=object(), seeds=[0, 1, 2]), jobs=1)
    with p.stage("world", "w0", 0):
        clock.now += 30.0
    with p.stage("world", "w1", 1):
        clock.now += 0.1  # a cached stage: says nothing about how long a world takes
    left = p.remaining
    assert left.count("world") == 1
    expected = 30.0 * left.count("world") + sum(PRIOR_SECONDS[k] for k in left if k != "world")
    assert p.eta() == expected


def test_a_pool_worker_times_its_own_pipeline(monkeypatch):
    """The worker's wrapper returns the pipeline's run time beside its result, so the parent
    never has to time it from submission (which counted the queue)."""
    from safereflect.experiment import runner

    clock = Clock()
    monkeypatch.setattr(runner.time, "time", clock)

    def pipeline(*args):
        clock.now += 42.0
        return {"variant": args[0]}

    monkeypatch.setattr(runner, "_pipeline", pipeline)
    assert runner._timed_pipeline("raw") == ({"variant": "raw"}, 42.0)
