"""ctypes bindings of the harness library (conv1d_gpu_capi.cu.cc) and the
memory it runs on: CUDA memory through torch, or guard-paged host memory of
the emulated build."""
import ctypes

import numpy as np

from python.gpu_check import reference

# The rows of CONV1D_DTYPES (cc/kernels/core/dtypes.h), which the C API takes.
DTYPE_CODES = {"float16": 0, "bfloat16": 1, "float32": 2, "float64": 3}
FORWARD, BACKPROP_INPUT, BACKPROP_FILTER = 0, 1, 2
_STORAGE = {"float16": np.float16, "bfloat16": np.uint16, "float32": np.float32,
            "float64": np.float64}


class Problem:
    """One convolution: sizes and attributes, as the library takes them."""

    def __init__(self, batch, in_steps, in_channels, kernel_size, out_channels, stride=1,
                 dilation=1, padding="VALID", data_format="NWC", activation="linear",
                 negative_slope=0.2, groups=1):
        self.batch, self.in_steps, self.in_channels = batch, in_steps, in_channels
        self.kernel_size, self.out_channels = kernel_size, out_channels
        self.stride, self.dilation, self.padding = stride, dilation, padding
        self.data_format, self.activation = data_format, activation
        self.negative_slope = negative_slope
        self.groups = groups
        self.out_steps, self.pad_left = reference.geometry(in_steps, kernel_size, stride,
                                                           dilation, padding)

    def sizes(self):
        return (ctypes.c_int64 * 8)(self.batch, self.in_steps, self.in_channels,
                                    self.kernel_size, self.out_channels, self.stride,
                                    self.dilation, self.groups)

    def shape(self, steps, channels):
        return ((self.batch, steps, channels) if self.data_format == "NWC"
                else (self.batch, channels, steps))

    def input_shape(self):
        return self.shape(self.in_steps, self.in_channels)

    def output_shape(self):
        return self.shape(self.out_steps, self.out_channels)

    def filter_shape(self):
        return (self.kernel_size, self.in_channels // self.groups, self.out_channels)

    def __str__(self):
        return (f"{self.batch}x{self.in_steps}x{self.in_channels}->{self.out_channels} "
                f"k{self.kernel_size} s{self.stride} d{self.dilation} {self.padding} "
                f"{self.data_format} {self.activation}"
                + (f" groups {self.groups}" if self.groups != 1 else ""))


class Library:
    """The C entry points, device-agnostic (they take raw pointers)."""

    def __init__(self, path):
        self.path = path
        self.lib = ctypes.CDLL(path)
        common = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        self.lib.conv1d_gpu_resolve.argtypes = common + [
            ctypes.POINTER(ctypes.c_int64), ctypes.c_char_p, ctypes.c_int]
        self.lib.conv1d_gpu_workspace_bytes.argtypes = [ctypes.c_int, ctypes.c_int] + common + [
            ctypes.c_char_p, ctypes.c_float, ctypes.POINTER(ctypes.c_uint64),
            ctypes.c_char_p, ctypes.c_int]
        self.lib.conv1d_gpu_run.argtypes = [ctypes.c_int, ctypes.c_int] + common + [
            ctypes.c_char_p, ctypes.c_float, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p,
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.lib.conv1d_gpu_stream.argtypes = [
            ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_char_p, ctypes.c_char_p,
            ctypes.c_float, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p,
            ctypes.c_char_p, ctypes.c_int]
        self.lib.conv1d_gpu_fast_divide.restype = ctypes.c_uint32
        self.lib.conv1d_gpu_fast_divide.argtypes = [ctypes.c_uint32, ctypes.c_uint32]

    def fast_divide(self, numerator, divisor):
        """numerator // divisor as the kernels compute it (numerator < 2^31)."""
        return self.lib.conv1d_gpu_fast_divide(numerator, divisor)

    @staticmethod
    def _check(code, error):
        if code != 0:
            raise RuntimeError(error.value.decode(errors="replace"))

    def _common(self, problem):
        return (ctypes.cast(problem.sizes(), ctypes.c_void_p), problem.padding.encode(),
                problem.data_format.encode())

    def resolve(self, problem):
        """(out_steps, pad_left) as the C++ geometry computes them."""
        out = (ctypes.c_int64 * 2)()
        error = ctypes.create_string_buffer(512)
        self._check(self.lib.conv1d_gpu_resolve(*self._common(problem), out, error, 512), error)
        return out[0], out[1]

    def workspace_bytes(self, op, dtype, problem):
        value = ctypes.c_uint64()
        error = ctypes.create_string_buffer(512)
        self._check(self.lib.conv1d_gpu_workspace_bytes(
            op, DTYPE_CODES[dtype], *self._common(problem), problem.activation.encode(),
            problem.negative_slope, ctypes.byref(value), error, 512), error)
        return value.value

    def run(self, op, dtype, problem, pointers, workspace, stream):
        array = (ctypes.c_void_p * len(pointers))(*pointers)
        error = ctypes.create_string_buffer(512)
        self._check(self.lib.conv1d_gpu_run(
            op, DTYPE_CODES[dtype], *self._common(problem), problem.activation.encode(),
            problem.negative_slope, array, workspace, stream, error, 512), error)


    def stream(self, dtype, sizes, layout, activation, negative_slope, pointers, stream):
        """The streaming op (conv1d_gpu_stream in conv1d_gpu_capi.cu.cc)."""
        error = ctypes.create_string_buffer(512)
        self._check(self.lib.conv1d_gpu_stream(
            DTYPE_CODES[dtype], (ctypes.c_int64 * 8)(*sizes), layout.encode(),
            activation.encode(), negative_slope, (ctypes.c_void_p * 6)(*pointers), stream,
            error, 512), error)


class Passes:
    """One problem's tensors uploaded to `memory`, with its outputs and
    workspaces, and the three calls of the library on them, so that each
    pass can be run (and timed) on its own. Inputs are float64 arrays
    already rounded to dtype; the bias may be None. Outputs start as NaN."""

    def __init__(self, library, memory, problem, dtype, x, w, b, dy):
        self.library, self.memory, self.problem, self.dtype = library, memory, problem, dtype
        up = lambda a: memory.upload(reference.to_storage(a, dtype))  # noqa: E731
        ptr = memory.pointer
        bx, bw, bdy = up(x), up(w), up(dy)
        bias = ptr(up(b)) if b is not None else None
        self.out = memory.empty(problem.output_shape(), dtype)
        keep_z = reference.needs_preactivation(problem.activation, problem.negative_slope)
        self.pre = memory.empty(problem.output_shape(), dtype) if keep_z else None
        operand = self.pre if keep_z else self.out
        self.grad_input = memory.empty(problem.input_shape(), dtype)
        self.grad_filter = memory.empty(problem.filter_shape(), dtype)
        self.grad_bias = memory.empty((problem.out_channels,), dtype)
        self.calls = {
            FORWARD: [ptr(bx), ptr(bw), bias, ptr(self.out),
                      ptr(self.pre) if keep_z else None],
            BACKPROP_INPUT: [ptr(bw), ptr(bdy), ptr(operand), ptr(self.grad_input)],
            BACKPROP_FILTER: [ptr(bx), ptr(bdy), ptr(operand), ptr(self.grad_filter),
                              ptr(self.grad_bias)],
        }
        # A pass with nothing to write is not called (its tensors have no
        # memory); the filter gradient always is: it writes zeros.
        self.calls_made = [op for op, shape in ((FORWARD, problem.output_shape()),
                                                (BACKPROP_INPUT, problem.input_shape()),
                                                (BACKPROP_FILTER, (1,)))
                           if np.prod(shape)]
        self.workspaces = {op: memory.workspace(library.workspace_bytes(op, dtype, problem))
                           for op in self.calls_made}

    def run(self, *ops):
        """Launches the passes `ops` (FORWARD, ...), all three if none."""
        for op in ops or (FORWARD, BACKPROP_INPUT, BACKPROP_FILTER):
            if op in self.calls_made:
                self.library.run(op, self.dtype, self.problem, self.calls[op],
                                 self.workspaces[op], self.memory.stream)

    def results(self):
        """float64 (output, preactivation or None, grad_input, grad_filter, grad_bias)."""
        self.memory.synchronize()
        read = lambda buf: reference.from_storage(  # noqa: E731
            self.memory.download(buf), self.dtype)
        return (read(self.out), read(self.pre) if self.pre is not None else None,
                read(self.grad_input), read(self.grad_filter), read(self.grad_bias))


class EmulatedMemory:
    """Host buffers between guard pages, from the emulated library. Buffers
    alternate between ending at the upper guard and starting at the lower
    one, so reads past either end fault. misalign: bytes by which every
    buffer starts past a 16-byte boundary (8 keeps every dtype's elements
    aligned but no 16-byte pack), so the kernels' unaligned paths run."""

    def __init__(self, library, misalign=0):
        lib = library.lib
        lib.conv1d_emu_alloc.restype = ctypes.c_void_p
        lib.conv1d_emu_alloc.argtypes = [ctypes.c_size_t, ctypes.c_int]
        lib.conv1d_emu_free.argtypes = [ctypes.c_void_p]
        lib.conv1d_emu_set_schedule.argtypes = [ctypes.c_int, ctypes.c_uint]
        self.lib = lib
        self.stream = None
        self.misalign = misalign
        self._live = []
        self._flip = 0

    def set_schedule(self, schedule, seed):
        self.lib.conv1d_emu_set_schedule(schedule, seed)

    def _alloc(self, nbytes, misalign=None):
        if nbytes == 0:
            return None
        misalign = self.misalign if misalign is None else misalign
        self._flip ^= 1
        pointer = self.lib.conv1d_emu_alloc(nbytes + misalign, self._flip)
        if not pointer:
            raise MemoryError(nbytes)
        self._live.append(pointer)
        return pointer + misalign

    def upload(self, stored):
        stored = np.ascontiguousarray(stored)
        pointer = self._alloc(stored.nbytes)
        if stored.nbytes:
            ctypes.memmove(pointer, stored.ctypes.data, stored.nbytes)
        return (pointer, stored.shape, stored.dtype)

    def empty(self, shape, dtype):
        """Uninitialized-looking memory: all bits set (NaN in every dtype)."""
        storage = np.dtype(_STORAGE[dtype])
        nbytes = int(np.prod(shape)) * storage.itemsize
        pointer = self._alloc(nbytes)
        if nbytes:
            ctypes.memset(pointer, 0xFF, nbytes)
        return (pointer, tuple(shape), storage)

    def workspace(self, nbytes):
        pointer = self._alloc(nbytes, misalign=0)  # the kernels' contract: 16-byte aligned
        if nbytes:
            ctypes.memset(pointer, 0xFF, nbytes)
        return pointer

    @staticmethod
    def pointer(buffer):
        return buffer[0]

    def download(self, buffer):
        pointer, shape, storage = buffer
        out = np.empty(shape, storage)
        if out.nbytes:
            ctypes.memmove(out.ctypes.data, pointer, out.nbytes)
        return out

    def synchronize(self):
        pass

    def release(self):
        for pointer in self._live:
            if pointer:
                self.lib.conv1d_emu_free(pointer)
        self._live = []


class TorchMemory:
    """CUDA memory and the current stream, through torch."""

    def __init__(self):
        import torch

        self.torch = torch
        self.stream = torch.cuda.current_stream().cuda_stream
        self._live = []

    def set_schedule(self, schedule, seed):
        pass

    def _tensor(self, stored):
        torch = self.torch
        if stored.dtype == np.uint16:  # bfloat16 bit patterns
            return torch.from_numpy(stored.view(np.int16).copy()).view(torch.bfloat16)
        return torch.from_numpy(np.ascontiguousarray(stored).copy())

    def upload(self, stored):
        tensor = self._tensor(np.ascontiguousarray(stored)).cuda()
        self._live.append(tensor)
        return tensor

    def empty(self, shape, dtype):
        torch_dtype = {"float16": self.torch.float16, "bfloat16": self.torch.bfloat16,
                       "float32": self.torch.float32, "float64": self.torch.float64}[dtype]
        tensor = self.torch.full(tuple(shape), float("nan"), dtype=torch_dtype, device="cuda")
        self._live.append(tensor)
        return tensor

    def workspace(self, nbytes):
        if nbytes == 0:
            return None
        tensor = self.torch.empty(nbytes, dtype=self.torch.uint8, device="cuda")
        self._live.append(tensor)
        return tensor.data_ptr()

    @staticmethod
    def pointer(buffer):
        return buffer.data_ptr() if buffer.numel() else None

    def download(self, tensor):
        tensor = tensor.detach().cpu()
        if tensor.dtype == self.torch.bfloat16:
            return tensor.view(self.torch.int16).numpy().view(np.uint16)
        return tensor.numpy()

    def synchronize(self):
        self.torch.cuda.synchronize()

    def release(self):
        self._live = []
