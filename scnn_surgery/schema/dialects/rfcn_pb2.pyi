# mypy: disable-error-code="type-arg"
from scnn_surgery.schema import caffe_pb2 as _caffe_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NetParameter(_message.Message):
    __slots__ = ("name", "input", "input_shape", "input_dim", "force_backward", "state", "debug_info", "layer", "layers")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    INPUT_SHAPE_FIELD_NUMBER: _ClassVar[int]
    INPUT_DIM_FIELD_NUMBER: _ClassVar[int]
    FORCE_BACKWARD_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DEBUG_INFO_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    input: _containers.RepeatedScalarFieldContainer[str]
    input_shape: _containers.RepeatedCompositeFieldContainer[_caffe_pb2.BlobShape]
    input_dim: _containers.RepeatedScalarFieldContainer[int]
    force_backward: bool
    state: _caffe_pb2.NetState
    debug_info: bool
    layer: _containers.RepeatedCompositeFieldContainer[LayerParameter]
    layers: _containers.RepeatedCompositeFieldContainer[_caffe_pb2.V1LayerParameter]
    def __init__(self, name: _Optional[str] = ..., input: _Optional[_Iterable[str]] = ..., input_shape: _Optional[_Iterable[_Union[_caffe_pb2.BlobShape, _Mapping]]] = ..., input_dim: _Optional[_Iterable[int]] = ..., force_backward: _Optional[bool] = ..., state: _Optional[_Union[_caffe_pb2.NetState, _Mapping]] = ..., debug_info: _Optional[bool] = ..., layer: _Optional[_Iterable[_Union[LayerParameter, _Mapping]]] = ..., layers: _Optional[_Iterable[_Union[_caffe_pb2.V1LayerParameter, _Mapping]]] = ...) -> None: ...

class LayerParameter(_message.Message):
    __slots__ = ("name", "type", "bottom", "top", "phase", "loss_weight", "param", "blobs", "propagate_down", "include", "exclude", "transform_param", "loss_param", "accuracy_param", "argmax_param", "batch_norm_param", "bias_param", "clip_param", "concat_param", "contrastive_loss_param", "convolution_param", "crop_param", "data_param", "dropout_param", "dummy_data_param", "eltwise_param", "elu_param", "embed_param", "exp_param", "flatten_param", "hdf5_data_param", "hdf5_output_param", "hinge_loss_param", "image_data_param", "infogain_loss_param", "inner_product_param", "input_param", "log_param", "lrn_param", "memory_data_param", "mvn_param", "parameter_param", "pooling_param", "power_param", "prelu_param", "python_param", "recurrent_param", "reduction_param", "relu_param", "reshape_param", "scale_param", "sigmoid_param", "softmax_param", "spp_param", "slice_param", "swish_param", "tanh_param", "threshold_param", "tile_param", "window_data_param", "roi_pooling_param", "psroi_pooling_param", "box_annotator_ohem_param", "smooth_l1_loss_param")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    BOTTOM_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    LOSS_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    PARAM_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    PROPAGATE_DOWN_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_PARAM_FIELD_NUMBER: _ClassVar[int]
    LOSS_PARAM_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_PARAM_FIELD_NUMBER: _ClassVar[int]
    ARGMAX_PARAM_FIELD_NUMBER: _ClassVar[int]
    BATCH_NORM_PARAM_FIELD_NUMBER: _ClassVar[int]
    BIAS_PARAM_FIELD_NUMBER: _ClassVar[int]
    CLIP_PARAM_FIELD_NUMBER: _ClassVar[int]
    CONCAT_PARAM_FIELD_NUMBER: _ClassVar[int]
    CONTRASTIVE_LOSS_PARAM_FIELD_NUMBER: _ClassVar[int]
    CONVOLUTION_PARAM_FIELD_NUMBER: _ClassVar[int]
    CROP_PARAM_FIELD_NUMBER: _ClassVar[int]
    DATA_PARAM_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_PARAM_FIELD_NUMBER: _ClassVar[int]
    DUMMY_DATA_PARAM_FIELD_NUMBER: _ClassVar[int]
    ELTWISE_PARAM_FIELD_NUMBER: _ClassVar[int]
    ELU_PARAM_FIELD_NUMBER: _ClassVar[int]
    EMBED_PARAM_FIELD_NUMBER: _ClassVar[int]
    EXP_PARAM_FIELD_NUMBER: _ClassVar[int]
    FLATTEN_PARAM_FIELD_NUMBER: _ClassVar[int]
    HDF5_DATA_PARAM_FIELD_NUMBER: _ClassVar[int]
    HDF5_OUTPUT_PARAM_FIELD_NUMBER: _ClassVar[int]
    HINGE_LOSS_PARAM_FIELD_NUMBER: _ClassVar[int]
    IMAGE_DATA_PARAM_FIELD_NUMBER: _ClassVar[int]
    INFOGAIN_LOSS_PARAM_FIELD_NUMBER: _ClassVar[int]
    INNER_PRODUCT_PARAM_FIELD_NUMBER: _ClassVar[int]
    INPUT_PARAM_FIELD_NUMBER: _ClassVar[int]
    LOG_PARAM_FIELD_NUMBER: _ClassVar[int]
    LRN_PARAM_FIELD_NUMBER: _ClassVar[int]
    MEMORY_DATA_PARAM_FIELD_NUMBER: _ClassVar[int]
    MVN_PARAM_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_PARAM_FIELD_NUMBER: _ClassVar[int]
    POOLING_PARAM_FIELD_NUMBER: _ClassVar[int]
    POWER_PARAM_FIELD_NUMBER: _ClassVar[int]
    PRELU_PARAM_FIELD_NUMBER: _ClassVar[int]
    PYTHON_PARAM_FIELD_NUMBER: _ClassVar[int]
    RECURRENT_PARAM_FIELD_NUMBER: _ClassVar[int]
    REDUCTION_PARAM_FIELD_NUMBER: _ClassVar[int]
    RELU_PARAM_FIELD_NUMBER: _ClassVar[int]
    RESHAPE_PARAM_FIELD_NUMBER: _ClassVar[int]
    SCALE_PARAM_FIELD_NUMBER: _ClassVar[int]
    SIGMOID_PARAM_FIELD_NUMBER: _ClassVar[int]
    SOFTMAX_PARAM_FIELD_NUMBER: _ClassVar[int]
    SPP_PARAM_FIELD_NUMBER: _ClassVar[int]
    SLICE_PARAM_FIELD_NUMBER: _ClassVar[int]
    SWISH_PARAM_FIELD_NUMBER: _ClassVar[int]
    TANH_PARAM_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_PARAM_FIELD_NUMBER: _ClassVar[int]
    TILE_PARAM_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DATA_PARAM_FIELD_NUMBER: _ClassVar[int]
    ROI_POOLING_PARAM_FIELD_NUMBER: _ClassVar[int]
    PSROI_POOLING_PARAM_FIELD_NUMBER: _ClassVar[int]
    BOX_ANNOTATOR_OHEM_PARAM_FIELD_NUMBER: _ClassVar[int]
    SMOOTH_L1_LOSS_PARAM_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    bottom: _containers.RepeatedScalarFieldContainer[str]
    top: _containers.RepeatedScalarFieldContainer[str]
    phase: _caffe_pb2.Phase
    loss_weight: _containers.RepeatedScalarFieldContainer[float]
    param: _containers.RepeatedCompositeFieldContainer[_caffe_pb2.ParamSpec]
    blobs: _containers.RepeatedCompositeFieldContainer[_caffe_pb2.BlobProto]
    propagate_down: _containers.RepeatedScalarFieldContainer[bool]
    include: _containers.RepeatedCompositeFieldContainer[_caffe_pb2.NetStateRule]
    exclude: _containers.RepeatedCompositeFieldContainer[_caffe_pb2.NetStateRule]
    transform_param: _caffe_pb2.TransformationParameter
    loss_param: _caffe_pb2.LossParameter
    accuracy_param: _caffe_pb2.AccuracyParameter
    argmax_param: _caffe_pb2.ArgMaxParameter
    batch_norm_param: _caffe_pb2.BatchNormParameter
    bias_param: _caffe_pb2.BiasParameter
    clip_param: _caffe_pb2.ClipParameter
    concat_param: _caffe_pb2.ConcatParameter
    contrastive_loss_param: _caffe_pb2.ContrastiveLossParameter
    convolution_param: _caffe_pb2.ConvolutionParameter
    crop_param: _caffe_pb2.CropParameter
    data_param: _caffe_pb2.DataParameter
    dropout_param: DropoutParameter
    dummy_data_param: _caffe_pb2.DummyDataParameter
    eltwise_param: _caffe_pb2.EltwiseParameter
    elu_param: _caffe_pb2.ELUParameter
    embed_param: _caffe_pb2.EmbedParameter
    exp_param: _caffe_pb2.ExpParameter
    flatten_param: _caffe_pb2.FlattenParameter
    hdf5_data_param: _caffe_pb2.HDF5DataParameter
    hdf5_output_param: _caffe_pb2.HDF5OutputParameter
    hinge_loss_param: _caffe_pb2.HingeLossParameter
    image_data_param: _caffe_pb2.ImageDataParameter
    infogain_loss_param: _caffe_pb2.InfogainLossParameter
    inner_product_param: _caffe_pb2.InnerProductParameter
    input_param: _caffe_pb2.InputParameter
    log_param: _caffe_pb2.LogParameter
    lrn_param: _caffe_pb2.LRNParameter
    memory_data_param: _caffe_pb2.MemoryDataParameter
    mvn_param: _caffe_pb2.MVNParameter
    parameter_param: _caffe_pb2.ParameterParameter
    pooling_param: _caffe_pb2.PoolingParameter
    power_param: _caffe_pb2.PowerParameter
    prelu_param: _caffe_pb2.PReLUParameter
    python_param: _caffe_pb2.PythonParameter
    recurrent_param: _caffe_pb2.RecurrentParameter
    reduction_param: _caffe_pb2.ReductionParameter
    relu_param: _caffe_pb2.ReLUParameter
    reshape_param: _caffe_pb2.ReshapeParameter
    scale_param: _caffe_pb2.ScaleParameter
    sigmoid_param: _caffe_pb2.SigmoidParameter
    softmax_param: _caffe_pb2.SoftmaxParameter
    spp_param: _caffe_pb2.SPPParameter
    slice_param: _caffe_pb2.SliceParameter
    swish_param: _caffe_pb2.SwishParameter
    tanh_param: _caffe_pb2.TanHParameter
    threshold_param: _caffe_pb2.ThresholdParameter
    tile_param: _caffe_pb2.TileParameter
    window_data_param: _caffe_pb2.WindowDataParameter
    roi_pooling_param: ROIPoolingParameter
    psroi_pooling_param: PSROIPoolingParameter
    box_annotator_ohem_param: BoxAnnotatorOHEMParameter
    smooth_l1_loss_param: SmoothL1LossParameter
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., bottom: _Optional[_Iterable[str]] = ..., top: _Optional[_Iterable[str]] = ..., phase: _Optional[_Union[_caffe_pb2.Phase, str]] = ..., loss_weight: _Optional[_Iterable[float]] = ..., param: _Optional[_Iterable[_Union[_caffe_pb2.ParamSpec, _Mapping]]] = ..., blobs: _Optional[_Iterable[_Union[_caffe_pb2.BlobProto, _Mapping]]] = ..., propagate_down: _Optional[_Iterable[bool]] = ..., include: _Optional[_Iterable[_Union[_caffe_pb2.NetStateRule, _Mapping]]] = ..., exclude: _Optional[_Iterable[_Union[_caffe_pb2.NetStateRule, _Mapping]]] = ..., transform_param: _Optional[_Union[_caffe_pb2.TransformationParameter, _Mapping]] = ..., loss_param: _Optional[_Union[_caffe_pb2.LossParameter, _Mapping]] = ..., accuracy_param: _Optional[_Union[_caffe_pb2.AccuracyParameter, _Mapping]] = ..., argmax_param: _Optional[_Union[_caffe_pb2.ArgMaxParameter, _Mapping]] = ..., batch_norm_param: _Optional[_Union[_caffe_pb2.BatchNormParameter, _Mapping]] = ..., bias_param: _Optional[_Union[_caffe_pb2.BiasParameter, _Mapping]] = ..., clip_param: _Optional[_Union[_caffe_pb2.ClipParameter, _Mapping]] = ..., concat_param: _Optional[_Union[_caffe_pb2.ConcatParameter, _Mapping]] = ..., contrastive_loss_param: _Optional[_Union[_caffe_pb2.ContrastiveLossParameter, _Mapping]] = ..., convolution_param: _Optional[_Union[_caffe_pb2.ConvolutionParameter, _Mapping]] = ..., crop_param: _Optional[_Union[_caffe_pb2.CropParameter, _Mapping]] = ..., data_param: _Optional[_Union[_caffe_pb2.DataParameter, _Mapping]] = ..., dropout_param: _Optional[_Union[DropoutParameter, _Mapping]] = ..., dummy_data_param: _Optional[_Union[_caffe_pb2.DummyDataParameter, _Mapping]] = ..., eltwise_param: _Optional[_Union[_caffe_pb2.EltwiseParameter, _Mapping]] = ..., elu_param: _Optional[_Union[_caffe_pb2.ELUParameter, _Mapping]] = ..., embed_param: _Optional[_Union[_caffe_pb2.EmbedParameter, _Mapping]] = ..., exp_param: _Optional[_Union[_caffe_pb2.ExpParameter, _Mapping]] = ..., flatten_param: _Optional[_Union[_caffe_pb2.FlattenParameter, _Mapping]] = ..., hdf5_data_param: _Optional[_Union[_caffe_pb2.HDF5DataParameter, _Mapping]] = ..., hdf5_output_param: _Optional[_Union[_caffe_pb2.HDF5OutputParameter, _Mapping]] = ..., hinge_loss_param: _Optional[_Union[_caffe_pb2.HingeLossParameter, _Mapping]] = ..., image_data_param: _Optional[_Union[_caffe_pb2.ImageDataParameter, _Mapping]] = ..., infogain_loss_param: _Optional[_Union[_caffe_pb2.InfogainLossParameter, _Mapping]] = ..., inner_product_param: _Optional[_Union[_caffe_pb2.InnerProductParameter, _Mapping]] = ..., input_param: _Optional[_Union[_caffe_pb2.InputParameter, _Mapping]] = ..., log_param: _Optional[_Union[_caffe_pb2.LogParameter, _Mapping]] = ..., lrn_param: _Optional[_Union[_caffe_pb2.LRNParameter, _Mapping]] = ..., memory_data_param: _Optional[_Union[_caffe_pb2.MemoryDataParameter, _Mapping]] = ..., mvn_param: _Optional[_Union[_caffe_pb2.MVNParameter, _Mapping]] = ..., parameter_param: _Optional[_Union[_caffe_pb2.ParameterParameter, _Mapping]] = ..., pooling_param: _Optional[_Union[_caffe_pb2.PoolingParameter, _Mapping]] = ..., power_param: _Optional[_Union[_caffe_pb2.PowerParameter, _Mapping]] = ..., prelu_param: _Optional[_Union[_caffe_pb2.PReLUParameter, _Mapping]] = ..., python_param: _Optional[_Union[_caffe_pb2.PythonParameter, _Mapping]] = ..., recurrent_param: _Optional[_Union[_caffe_pb2.RecurrentParameter, _Mapping]] = ..., reduction_param: _Optional[_Union[_caffe_pb2.ReductionParameter, _Mapping]] = ..., relu_param: _Optional[_Union[_caffe_pb2.ReLUParameter, _Mapping]] = ..., reshape_param: _Optional[_Union[_caffe_pb2.ReshapeParameter, _Mapping]] = ..., scale_param: _Optional[_Union[_caffe_pb2.ScaleParameter, _Mapping]] = ..., sigmoid_param: _Optional[_Union[_caffe_pb2.SigmoidParameter, _Mapping]] = ..., softmax_param: _Optional[_Union[_caffe_pb2.SoftmaxParameter, _Mapping]] = ..., spp_param: _Optional[_Union[_caffe_pb2.SPPParameter, _Mapping]] = ..., slice_param: _Optional[_Union[_caffe_pb2.SliceParameter, _Mapping]] = ..., swish_param: _Optional[_Union[_caffe_pb2.SwishParameter, _Mapping]] = ..., tanh_param: _Optional[_Union[_caffe_pb2.TanHParameter, _Mapping]] = ..., threshold_param: _Optional[_Union[_caffe_pb2.ThresholdParameter, _Mapping]] = ..., tile_param: _Optional[_Union[_caffe_pb2.TileParameter, _Mapping]] = ..., window_data_param: _Optional[_Union[_caffe_pb2.WindowDataParameter, _Mapping]] = ..., roi_pooling_param: _Optional[_Union[ROIPoolingParameter, _Mapping]] = ..., psroi_pooling_param: _Optional[_Union[PSROIPoolingParameter, _Mapping]] = ..., box_annotator_ohem_param: _Optional[_Union[BoxAnnotatorOHEMParameter, _Mapping]] = ..., smooth_l1_loss_param: _Optional[_Union[SmoothL1LossParameter, _Mapping]] = ...) -> None: ...

class DropoutParameter(_message.Message):
    __slots__ = ("dropout_ratio", "scale_train")
    DROPOUT_RATIO_FIELD_NUMBER: _ClassVar[int]
    SCALE_TRAIN_FIELD_NUMBER: _ClassVar[int]
    dropout_ratio: float
    scale_train: bool
    def __init__(self, dropout_ratio: _Optional[float] = ..., scale_train: _Optional[bool] = ...) -> None: ...

class ROIPoolingParameter(_message.Message):
    __slots__ = ("pooled_h", "pooled_w", "spatial_scale")
    POOLED_H_FIELD_NUMBER: _ClassVar[int]
    POOLED_W_FIELD_NUMBER: _ClassVar[int]
    SPATIAL_SCALE_FIELD_NUMBER: _ClassVar[int]
    pooled_h: int
    pooled_w: int
    spatial_scale: float
    def __init__(self, pooled_h: _Optional[int] = ..., pooled_w: _Optional[int] = ..., spatial_scale: _Optional[float] = ...) -> None: ...

class SmoothL1LossParameter(_message.Message):
    __slots__ = ("sigma",)
    SIGMA_FIELD_NUMBER: _ClassVar[int]
    sigma: float
    def __init__(self, sigma: _Optional[float] = ...) -> None: ...

class PSROIPoolingParameter(_message.Message):
    __slots__ = ("spatial_scale", "output_dim", "group_size")
    SPATIAL_SCALE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIM_FIELD_NUMBER: _ClassVar[int]
    GROUP_SIZE_FIELD_NUMBER: _ClassVar[int]
    spatial_scale: float
    output_dim: int
    group_size: int
    def __init__(self, spatial_scale: _Optional[float] = ..., output_dim: _Optional[int] = ..., group_size: _Optional[int] = ...) -> None: ...

class BoxAnnotatorOHEMParameter(_message.Message):
    __slots__ = ("roi_per_img", "ignore_label")
    ROI_PER_IMG_FIELD_NUMBER: _ClassVar[int]
    IGNORE_LABEL_FIELD_NUMBER: _ClassVar[int]
    roi_per_img: int
    ignore_label: int
    def __init__(self, roi_per_img: _Optional[int] = ..., ignore_label: _Optional[int] = ...) -> None: ...
