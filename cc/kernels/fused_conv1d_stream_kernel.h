// The OpKernel of FusedConv1DStream, shared by CPU and GPU: checks the
// shapes, allocates the two outputs (the only memory a call takes) and hands
// raw pointers to the Backend of fused_conv1d_op_kernels.h, which also has
//
//   template <typename T> static absl::Status StreamChunk(OpKernelContext*,
//       const conv1d::StreamGeometry&, const conv1d::ActivationSpec&,
//       const T* state, const T* chunk, const T* filter, const T* bias /*null: none*/,
//       T* output, T* new_state);
//
// It is not given the state's buffer for the new state: a stream's state is
// nearly always still referenced (the caller's variable or function argument),
// so TensorFlow could rarely forward it, and an in-place shift would have to
// wait for every read of the old state (docs/layer.md, "Streaming").
#ifndef TF_CONV1D_OP_KERNELS_FUSED_CONV1D_STREAM_KERNEL_H_
#define TF_CONV1D_OP_KERNELS_FUSED_CONV1D_STREAM_KERNEL_H_

#include "cc/kernels/core/conv1d_stream.h"
#include "cc/kernels/fused_conv1d_op_kernels.h"

namespace tensorflow {
namespace fused_conv1d {

template <typename Backend, typename T>
class FusedConv1DStreamOp : public OpKernel {
 public:
  explicit FusedConv1DStreamOp(OpKernelConstruction* c) : OpKernel(c) {
    OP_REQUIRES_OK(c, attrs_.Parse(c, /*has_padding=*/false));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& state = ctx->input(0);
    const Tensor& chunk = ctx->input(1);
    const Tensor& filter = ctx->input(2);
    const Tensor& bias = ctx->input(3);
    conv1d::StreamGeometry s;
    OP_REQUIRES_OK(ctx, MakeStreamGeometry(type_string(), attrs_, state.shape(), chunk.shape(),
                                           filter.shape(), &s));
    OP_REQUIRES_OK(ctx, CheckBias(type_string(), s.conv, bias.shape()));
    TensorShape out_shape;
    OP_REQUIRES_OK(ctx, LayoutShape(s.conv, s.conv.out_steps, s.conv.out_channels, &out_shape));
    Tensor* output = nullptr;
    Tensor* new_state = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, out_shape, &output));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, state.shape(), &new_state));
    if (output->NumElements() == 0 && new_state->NumElements() == 0) return;
    s.conv = conv1d::ComputeGeometry(s.conv);
    OP_REQUIRES_OK(ctx, Backend::template StreamChunk<T>(
                            ctx, s, attrs_.activation, DataOrNull<T>(state),
                            DataOrNull<T>(chunk), DataOrNull<T>(filter), DataOrNull<T>(bias),
                            output->flat<T>().data(), new_state->flat<T>().data()));
  }

 private:
  OpAttrs attrs_;
};

}  // namespace fused_conv1d
}  // namespace tensorflow

#endif  // TF_CONV1D_OP_KERNELS_FUSED_CONV1D_STREAM_KERNEL_H_
