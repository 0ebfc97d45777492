"""llama.cpp decodes every weight type the project can serve or hand to a model server, on this CPU.

Each type is decoded in its own child process (`assistant.serving.llama.probe.probe`), so a kernel that
crashes on this CPU class (ggml's AMX kernels on the bundled Q4_1 did: SIGSEGV in llama_decode) is
one failed test named after the type, not a dead test process. conftest runs the same probes
before any test that decodes in process and fails those tests with the reason instead.
"""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import llama_probe, requires_models

pytestmark = [
    requires_models,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"),
]
SERVABLE = ("as-is", "bf16", "f16", "q8_0")


@pytest.mark.parametrize("weights", SERVABLE)
def test_llama_cpp_decodes_the_bundled_model_as(weights):
    r = llama_probe(weights)
    assert r.ok, r.error
    assert r.tokens >= 4, r
    # Wrong kernels can also return garbage instead of crashing (ggml-org/llama.cpp#16315):
    # every type is the same Q4_1 model, so each must continue the prompt with the same fact.
    assert "Paris" in r.text, f"{weights} decoded {r.text!r}"


def test_the_build_has_no_amx_kernels():
    """scripts/install_llama_cpp.sh compiles with -mno-amx-*; a build with them crashes on AMX CPUs."""
    from assistant.serving.llama.probe import amx_compiled, system_info

    info = system_info()
    assert "CPU" in info or "AVX" in info, info
    assert not amx_compiled(info), f"llama.cpp was built with AMX kernels: {info}"


def test_a_crash_in_the_child_is_a_result_naming_the_signal():
    import sys

    from assistant.serving.llama.probe import run_child

    r = run_child([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"], "as-is", 60)
    assert not r.ok and "SIGSEGV" in r.error and "as-is" in r.error
