"""Shared test settings."""
import torch

# The tests train tiny models: one intra-op thread is as fast as two when the cores are free and
# several times faster when other work shares them (measured on a busy 2-core machine: 15 vs 77 ms
# per training step of the example's GPT at d_model=64, 2 layers, batch 8x64; the whole suite
# 13 s vs 53-63 s).
torch.set_num_threads(1)
