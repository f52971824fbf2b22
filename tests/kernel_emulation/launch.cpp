/* launch.cpp -- the emulated kernel launch of the CPU build of kernels/NAME.cu.
 *
 * tests/kernel_emulation/emulator.py compiles this file together with every
 * kernels/NAME.cu (as C++, through kernels/emulate.h) into one shared library
 * that Python loads with ctypes. A launch <<<grid, block>>>(args) becomes
 *
 *     svd_emulate_launch(grid, block);   // what SVD_FOR_EACH will loop over
 *     kernel(args);                      // every block, every thread, serially
 */

/* gridDim.x and blockDim.x of the next kernel call (declared in kernels/emulate.h). */
unsigned svd_emu_grid_dim = 1, svd_emu_block_dim = 1;

extern "C" void svd_emulate_launch(unsigned grid_dim, unsigned block_dim)
{
    svd_emu_grid_dim = grid_dim;
    svd_emu_block_dim = block_dim;
}
