"""Precision resolution from CPU flags, and the measured, cached CPU peak behind MFU."""

from __future__ import annotations

import json

import pytest
import torch

from safereflect.train import hardware


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"avx512f", "avx512_bf16"}, "bf16"),  # AMD Zen 4, Intel Cooper Lake+
        ({"amx_tile", "amx_bf16"}, "bf16"),  # Intel Sapphire Rapids
        ({"asimd", "bf16"}, "bf16"),  # Arm Neoverse V1+ (Graviton 3)
        ({"avx512f", "avx2"}, "fp32"),  # AVX-512 without bf16 dot products: emulated bf16
        (set(), "fp32"),  # no /proc/cpuinfo (macOS): fp32
    ],
)
def test_auto_precision_on_cpu_follows_the_bf16_units(flags, expected, monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    assert hardware.resolve_precision("cpu", "auto") == expected
    assert hardware.resolve_precision("cpu", "fp32") == "fp32"  # an explicit choice stands
    assert hardware.resolve_precision("cpu", "bf16") == "bf16"


@pytest.mark.parametrize(
    ("setting", "device", "steps", "cxx", "capability", "expected", "why"),
    [
        ("auto", "cpu", 1000, "sh", None, True, "auto: 1000 steps, sh found"),
        ("auto", "cpu", 1000, "no-such-cxx", None, False, "auto: no C++ compiler ('no-such-cxx') on PATH"),
        ("auto", "cpu", 100, "sh", None, False, "auto: 100 steps, compilation repays from 500"),
        ("auto", "cpu", 1000, "sh", "avx2", False, "auto: bf16 compiled under ATEN_CPU_CAPABILITY=avx2 trains on NaN"),
        ("auto", "cuda", 1000, "no-such-cxx", "avx2", True, "auto: 1000 steps"),  # CUDA kernels are Triton's
        (True, "cpu", 10, "no-such-cxx", "avx2", True, "set in the config"),  # then wrap_model or the NaN check says
        (False, "cuda", 10**6, "sh", None, False, "set in the config"),
    ],
)
def test_auto_compile_needs_a_long_run_and_on_a_cpu_a_cpp_compiler(
    setting, device, steps, cxx, capability, expected, why, monkeypatch
):
    monkeypatch.setenv("CXX", cxx)  # `sh` stands for a compiler that is on PATH
    if capability:
        monkeypatch.setenv("ATEN_CPU_CAPABILITY", capability)
    else:
        monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    assert hardware.resolve_compile(setting, device, steps, "bf16") == (expected, why)
    if capability and device == "cpu" and setting == "auto":  # fp32 compiled fine under it
        assert hardware.resolve_compile(setting, device, steps, "fp32") == (True, "auto: 1000 steps, sh found")


def test_cpu_flags_reads_this_machines_cpuinfo():
    flags = hardware.cpu_flags()
    assert isinstance(flags, frozenset)
    if flags:  # Linux: x86 "flags" or Arm "Features"
        assert {"sse2", "fp", "asimd", "avx2"} & flags


def test_matmul_measurement_is_a_plausible_rate():
    flops = hardware.measure_matmul_flops("fp32", size=256, repeats=2)
    assert 1e8 < flops < 1e14


def test_cpu_peak_is_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFEREFLECT_CACHE", str(tmp_path))
    rates = iter([100e9, 150e9, 80e9])
    calls = []

    def fake_measure(precision):
        calls.append(precision)
        return next(rates)

    monkeypatch.setattr(hardware, "measure_matmul_flops", fake_measure)
    load = [9.0]  # a busy machine at first
    monkeypatch.setattr(hardware.os, "getloadavg", lambda: (load[0], 0.0, 0.0))
    monkeypatch.setattr(hardware.os, "cpu_count", lambda: 2)

    assert hardware.measured_cpu_peak("bf16") == 100e9
    # measured under load: measured again next time, and the higher rate is kept
    load[0] = 0.2
    assert hardware.measured_cpu_peak("bf16") == 150e9
    assert hardware.measured_cpu_peak("bf16") == 150e9  # quiet measurement: read from the cache
    assert calls == ["bf16", "bf16"]
    cache = json.loads((tmp_path / "peak_flops.json").read_text())
    (key,) = cache
    assert key.endswith(f"{torch.get_num_threads()} threads|bf16")
    assert cache[key] == {"flops": 150e9, "busy": False}
    # another dtype is another measurement
    assert hardware.measured_cpu_peak("fp32") == 80e9
    assert calls == ["bf16", "bf16", "fp32"]


def test_cpu_peak_survives_a_corrupt_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFEREFLECT_CACHE", str(tmp_path))
    (tmp_path / "peak_flops.json").write_text("{not json")
    monkeypatch.setattr(hardware, "measure_matmul_flops", lambda precision: 42e9)
    assert hardware.measured_cpu_peak("fp32") == 42e9
    assert json.loads((tmp_path / "peak_flops.json").read_text())


def test_device_peak_on_cpu_is_the_measured_one(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFEREFLECT_CACHE", str(tmp_path))
    monkeypatch.setattr(hardware, "measure_matmul_flops", lambda precision: {"bf16": 2e11, "fp32": 1e11}[precision])
    cpu = torch.device("cpu")
    assert hardware.device_peak_flops(cpu, "bf16") == 2e11
    assert hardware.device_peak_flops(cpu, "fp32") == 1e11


@pytest.mark.parametrize(
    ("device_type", "bf16", "expected"),
    [("cpu", True, "eager"), ("cpu", False, "sdpa"), ("cuda", True, "sdpa"), ("cuda", False, "sdpa")],
)
def test_auto_attention_is_eager_only_for_bf16_on_cpu(device_type, bf16, expected):
    assert hardware.resolve_attention("auto", device_type, bf16) == expected
    assert hardware.resolve_attention("sdpa", "cpu", True) == "sdpa"  # an explicit choice stands


@pytest.mark.parametrize(
    "flags, device, bf16, warned",
    [
        ({"avx2", "fma"}, "cpu", True, True),  # asked for bf16 on a CPU that emulates it
        ({"avx2", "fma"}, "cpu", False, False),
        ({"avx512f", "avx512_bf16"}, "cpu", True, False),
        ({"avx2"}, "cuda", True, False),
        (set(), "cpu", True, False),  # no /proc/cpuinfo: nothing known, nothing claimed
    ],
)
def test_bf16_asked_for_on_a_cpu_without_bf16_units_is_warned_about(flags, device, bf16, warned, monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    message = hardware.emulated_bf16_warning(device, bf16)
    assert (message is not None) == warned
    if warned:
        assert "emulated" in message and "fp32" in message


def test_cpu_kernels_name_the_switch_that_chose_them(monkeypatch):
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    native = hardware.cpu_kernels()
    assert native == torch.backends.cpu.get_cpu_capability() and "(" not in native
    # the variable is read by ATen once, at start-up; the name records that it was set
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert hardware.cpu_kernels().endswith("(ATEN_CPU_CAPABILITY=avx2)")


def test_a_slow_dtype_is_measured_on_smaller_matrices(monkeypatch):
    # an emulated bf16 matmul would take seconds at the full size: measure where it is affordable
    import time as _time

    sizes = []
    real_mm = torch.mm

    def slow_mm(a, b):
        sizes.append(a.shape[0])
        _time.sleep(0.05)  # 0.05 s at 512 -> 3.2 s at 2048, over MAX_MATMUL_S
        return real_mm(a, b)

    monkeypatch.setattr(torch, "mm", slow_mm)
    rate = hardware.measure_matmul_flops("fp32", size=2048, repeats=2)
    assert set(sizes) == {512} and 0 < rate < 2 * 512**3 / 0.05
