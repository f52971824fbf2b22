"""CPU emulation of the CUDA kernels (emulator.py, launch.cpp) and the comparisons
of svd/cuda/ with its NumPy twins (checks.py), shared by
tests/test_kernels_emulated.py and tests/test_kernels_gpu.py."""
