"""The llama.cpp engine: many customers' replies decoded together on the CPU.

`engine` owns the llama.cpp context and its batch loop; `generator` is the `Generator` on top of it
(weight types, adapter hot swap); `lora_gguf` and `lora_merge` turn a peft adapter into what
llama.cpp serves; `probe` checks, in a child process, that this build decodes every weight type.
"""
