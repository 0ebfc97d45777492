"""The parameter-efficient methods `finetune lora --method` trains with, through peft.

- `lora` (default): low-rank updates of the attention and MLP projections (rank, alpha, dropout);
- `adalora`: LoRA whose rank budget is reallocated during training (starts at `rank`, ends at
  rank/2 on average; the trainer calls `update_and_allocate` after each optimizer step);
- `prefix`: prefix tuning, `rank` trainable virtual tokens in front of every layer's keys/values;
- `ia3`: learned rescaling vectors of keys, values and the MLP's down projection (the fewest weights).

All four are trained and evaluated (each on a fresh copy of the base model, so kinds never mix); only
`lora` adapters are promoted: the serving engines swap LoRA adapters at run time (llama.cpp applies
LoRA matrices and nothing else), so promoting another kind is refused with that reason.
"""

from __future__ import annotations

from assistant.errors import InputError

METHODS = ("lora", "adalora", "prefix", "ia3")
PEFT_TYPES = {"lora": "LORA", "adalora": "ADALORA", "prefix": "PREFIX_TUNING", "ia3": "IA3"}
IA3_MODULES = ["k_proj", "v_proj", "down_proj"]


def peft_config(method: str, rank: int, alpha: int, dropout: float, target_modules: list[str], total_steps: int):
    """The peft config of `method` for a causal LM trained for `total_steps` optimizer steps."""
    from peft import AdaLoraConfig, IA3Config, LoraConfig, PrefixTuningConfig

    if method == "lora":
        return LoraConfig(
            r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules, task_type="CAUSAL_LM"
        )
    if method == "adalora":
        steps = max(total_steps, 2)
        return AdaLoraConfig(
            init_r=rank,
            target_r=max(1, rank // 2),
            lora_alpha=alpha,
            lora_dropout=dropout,
            target_modules=target_modules,
            total_step=steps,
            tinit=steps // 5,  # warm up at full rank, then prune, then keep the final ranks
            tfinal=steps // 5,
            deltaT=max(1, steps // 10),
            task_type="CAUSAL_LM",
        )
    if method == "prefix":
        return PrefixTuningConfig(num_virtual_tokens=rank, task_type="CAUSAL_LM")
    if method == "ia3":
        return IA3Config(target_modules=IA3_MODULES, feedforward_modules=["down_proj"], task_type="CAUSAL_LM")
    raise InputError(f"--method must be one of {', '.join(METHODS)}")


def allocation_callback():
    """A TrainerCallback that lets AdaLoRA reallocate its ranks after each optimizer step, as peft's
    documentation asks (the gradients it scores with are zeroed only after this callback)."""
    from transformers import TrainerCallback

    class Allocate(TrainerCallback):
        def on_optimizer_step(self, args, state, control, model=None, **kw):
            if model is not None and hasattr(model, "base_model") and hasattr(model.base_model, "update_and_allocate"):
                model.base_model.update_and_allocate(state.global_step)

    return Allocate()
