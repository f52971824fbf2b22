/* launch.cpp -- the emulated kernel launch of the CPU build of kernels/NAME.cu.
 *
 * tests/kernel_emulation/emulator.py compiles this file together with every
 * kernels/NAME.cu (as C++, through kernels/emulate.h) into one shared library
 * that Python loads with ctypes. A launch <<<grid, block>>>(args) becomes
 *
 *     svd_emulate_launch(grid.x, grid.y, block.x, block.y);  // what the loops will cover
 *     kernel(args);                      // every block, every thread, serially
 *
 * (1-D launches pass grid.y = block.y = 1).
 */

/* gridDim and blockDim of the next kernel call (declared in kernels/emulate.h). */
unsigned svd_emu_grid_dim = 1, svd_emu_block_dim = 1, svd_emu_grid_dim_y = 1, svd_emu_block_dim_y = 1;

extern "C" void svd_emulate_launch(unsigned grid_x, unsigned grid_y, unsigned block_x, unsigned block_y)
{
    svd_emu_grid_dim = grid_x;
    svd_emu_grid_dim_y = grid_y;
    svd_emu_block_dim = block_x;
    svd_emu_block_dim_y = block_y;
}
