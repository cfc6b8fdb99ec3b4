/**
 * The op type each graph op counts under in step breakdowns (`bnff bench step`) and in the
 * traffic model (`bnff traffic`): the paper's categories. Ops not listed count as "other".
 */
export type Category = 'conv' | 'bn' | 'relu' | 'concat' | 'add' | 'pool' | 'other';

export const OP_TYPES: Record<string, Category> = {
  conv2d: 'conv',
  conv2d_backward_data: 'conv',
  conv2d_backward_weight: 'conv',
  conv2d_fused: 'conv',
  conv2d_fused_backward_data: 'conv',
  conv2d_fused_backward_data_acc: 'conv',
  conv2d_fused_backward_weight: 'conv',
  batch_norm2d: 'bn',
  bn_backward_reduce: 'bn',
  bn_backward_data: 'bn',
  channel_moments: 'bn',
  bn_finalize: 'bn',
  bn_apply: 'bn',
  concat_vec: 'bn',
  bn_add_relu: 'bn',
  bn_add_relu_backward: 'bn',
  // BN dx added into a dense block's gradient buffer (it also does the sums of the concat's backward)
  bn_backward_data_acc: 'bn',
  bn_dx_coef: 'bn',
  relu: 'relu',
  relu_backward: 'relu',
  bn_relu_mask: 'relu',
  bn_act_reduce: 'bn',
  // the other activations count with ReLU: the elementwise pass after a BN, as the paper counts it
  relu6: 'relu',
  relu6_backward: 'relu',
  silu: 'relu',
  silu_backward: 'relu',
  hardswish: 'relu',
  hardswish_backward: 'relu',
  sigmoid: 'relu',
  sigmoid_backward: 'relu',
  concat: 'concat',
  slice_channels: 'concat',
  slice_channels_affine: 'concat',
  add: 'add',
  max_pool2d: 'pool',
  max_pool2d_backward: 'pool',
  avg_pool2d: 'pool',
  avg_pool2d_backward: 'pool',
  global_avg_pool: 'pool',
  global_avg_pool_backward: 'pool',
};
