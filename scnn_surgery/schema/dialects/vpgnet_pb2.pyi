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
    __slots__ = ("name", "type", "bottom", "top", "phase", "loss_weight", "param", "blobs", "propagate_down", "include", "exclude", "transform_param", "loss_param", "accuracy_param", "argmax_param", "batch_norm_param", "bias_param", "clip_param", "concat_param", "contrastive_loss_param", "convolution_param", "crop_param", "data_param", "dropout_param", "dummy_data_param", "eltwise_param", "elu_param", "embed_param", "exp_param", "flatten_param", "hdf5_data_param", "hdf5_output_param", "hinge_loss_param", "image_data_param", "infogain_loss_param", "inner_product_param", "input_param", "log_param", "lrn_param", "memory_data_param", "mvn_param", "parameter_param", "pooling_param", "power_param", "prelu_param", "python_param", "recurrent_param", "reduction_param", "relu_param", "reshape_param", "scale_param", "sigmoid_param", "softmax_param", "spp_param", "slice_param", "swish_param", "tanh_param", "threshold_param", "tile_param", "window_data_param", "tiling_param", "drive_data_param")
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
    TILING_PARAM_FIELD_NUMBER: _ClassVar[int]
    DRIVE_DATA_PARAM_FIELD_NUMBER: _ClassVar[int]
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
    loss_param: LossParameter
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
    dropout_param: _caffe_pb2.DropoutParameter
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
    tiling_param: TilingParameter
    drive_data_param: DriveDataParameter
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., bottom: _Optional[_Iterable[str]] = ..., top: _Optional[_Iterable[str]] = ..., phase: _Optional[_Union[_caffe_pb2.Phase, str]] = ..., loss_weight: _Optional[_Iterable[float]] = ..., param: _Optional[_Iterable[_Union[_caffe_pb2.ParamSpec, _Mapping]]] = ..., blobs: _Optional[_Iterable[_Union[_caffe_pb2.BlobProto, _Mapping]]] = ..., propagate_down: _Optional[_Iterable[bool]] = ..., include: _Optional[_Iterable[_Union[_caffe_pb2.NetStateRule, _Mapping]]] = ..., exclude: _Optional[_Iterable[_Union[_caffe_pb2.NetStateRule, _Mapping]]] = ..., transform_param: _Optional[_Union[_caffe_pb2.TransformationParameter, _Mapping]] = ..., loss_param: _Optional[_Union[LossParameter, _Mapping]] = ..., accuracy_param: _Optional[_Union[_caffe_pb2.AccuracyParameter, _Mapping]] = ..., argmax_param: _Optional[_Union[_caffe_pb2.ArgMaxParameter, _Mapping]] = ..., batch_norm_param: _Optional[_Union[_caffe_pb2.BatchNormParameter, _Mapping]] = ..., bias_param: _Optional[_Union[_caffe_pb2.BiasParameter, _Mapping]] = ..., clip_param: _Optional[_Union[_caffe_pb2.ClipParameter, _Mapping]] = ..., concat_param: _Optional[_Union[_caffe_pb2.ConcatParameter, _Mapping]] = ..., contrastive_loss_param: _Optional[_Union[_caffe_pb2.ContrastiveLossParameter, _Mapping]] = ..., convolution_param: _Optional[_Union[_caffe_pb2.ConvolutionParameter, _Mapping]] = ..., crop_param: _Optional[_Union[_caffe_pb2.CropParameter, _Mapping]] = ..., data_param: _Optional[_Union[_caffe_pb2.DataParameter, _Mapping]] = ..., dropout_param: _Optional[_Union[_caffe_pb2.DropoutParameter, _Mapping]] = ..., dummy_data_param: _Optional[_Union[_caffe_pb2.DummyDataParameter, _Mapping]] = ..., eltwise_param: _Optional[_Union[_caffe_pb2.EltwiseParameter, _Mapping]] = ..., elu_param: _Optional[_Union[_caffe_pb2.ELUParameter, _Mapping]] = ..., embed_param: _Optional[_Union[_caffe_pb2.EmbedParameter, _Mapping]] = ..., exp_param: _Optional[_Union[_caffe_pb2.ExpParameter, _Mapping]] = ..., flatten_param: _Optional[_Union[_caffe_pb2.FlattenParameter, _Mapping]] = ..., hdf5_data_param: _Optional[_Union[_caffe_pb2.HDF5DataParameter, _Mapping]] = ..., hdf5_output_param: _Optional[_Union[_caffe_pb2.HDF5OutputParameter, _Mapping]] = ..., hinge_loss_param: _Optional[_Union[_caffe_pb2.HingeLossParameter, _Mapping]] = ..., image_data_param: _Optional[_Union[_caffe_pb2.ImageDataParameter, _Mapping]] = ..., infogain_loss_param: _Optional[_Union[_caffe_pb2.InfogainLossParameter, _Mapping]] = ..., inner_product_param: _Optional[_Union[_caffe_pb2.InnerProductParameter, _Mapping]] = ..., input_param: _Optional[_Union[_caffe_pb2.InputParameter, _Mapping]] = ..., log_param: _Optional[_Union[_caffe_pb2.LogParameter, _Mapping]] = ..., lrn_param: _Optional[_Union[_caffe_pb2.LRNParameter, _Mapping]] = ..., memory_data_param: _Optional[_Union[_caffe_pb2.MemoryDataParameter, _Mapping]] = ..., mvn_param: _Optional[_Union[_caffe_pb2.MVNParameter, _Mapping]] = ..., parameter_param: _Optional[_Union[_caffe_pb2.ParameterParameter, _Mapping]] = ..., pooling_param: _Optional[_Union[_caffe_pb2.PoolingParameter, _Mapping]] = ..., power_param: _Optional[_Union[_caffe_pb2.PowerParameter, _Mapping]] = ..., prelu_param: _Optional[_Union[_caffe_pb2.PReLUParameter, _Mapping]] = ..., python_param: _Optional[_Union[_caffe_pb2.PythonParameter, _Mapping]] = ..., recurrent_param: _Optional[_Union[_caffe_pb2.RecurrentParameter, _Mapping]] = ..., reduction_param: _Optional[_Union[_caffe_pb2.ReductionParameter, _Mapping]] = ..., relu_param: _Optional[_Union[_caffe_pb2.ReLUParameter, _Mapping]] = ..., reshape_param: _Optional[_Union[_caffe_pb2.ReshapeParameter, _Mapping]] = ..., scale_param: _Optional[_Union[_caffe_pb2.ScaleParameter, _Mapping]] = ..., sigmoid_param: _Optional[_Union[_caffe_pb2.SigmoidParameter, _Mapping]] = ..., softmax_param: _Optional[_Union[_caffe_pb2.SoftmaxParameter, _Mapping]] = ..., spp_param: _Optional[_Union[_caffe_pb2.SPPParameter, _Mapping]] = ..., slice_param: _Optional[_Union[_caffe_pb2.SliceParameter, _Mapping]] = ..., swish_param: _Optional[_Union[_caffe_pb2.SwishParameter, _Mapping]] = ..., tanh_param: _Optional[_Union[_caffe_pb2.TanHParameter, _Mapping]] = ..., threshold_param: _Optional[_Union[_caffe_pb2.ThresholdParameter, _Mapping]] = ..., tile_param: _Optional[_Union[_caffe_pb2.TileParameter, _Mapping]] = ..., window_data_param: _Optional[_Union[_caffe_pb2.WindowDataParameter, _Mapping]] = ..., tiling_param: _Optional[_Union[TilingParameter, _Mapping]] = ..., drive_data_param: _Optional[_Union[DriveDataParameter, _Mapping]] = ...) -> None: ...

class LossParameter(_message.Message):
    __slots__ = ("ignore_label", "normalize")
    IGNORE_LABEL_FIELD_NUMBER: _ClassVar[int]
    NORMALIZE_FIELD_NUMBER: _ClassVar[int]
    ignore_label: int
    normalize: bool
    def __init__(self, ignore_label: _Optional[int] = ..., normalize: _Optional[bool] = ...) -> None: ...

class TilingParameter(_message.Message):
    __slots__ = ("tile_dim",)
    TILE_DIM_FIELD_NUMBER: _ClassVar[int]
    tile_dim: int
    def __init__(self, tile_dim: _Optional[int] = ...) -> None: ...

class DriveDataParameter(_message.Message):
    __slots__ = ("shrink_prob_factor", "unrecognize_factor", "crop_num", "random_crop_ratio", "resize", "scale", "cropped_height", "cropped_width", "tiling_width", "tiling_height", "label_resolution", "catalog_resolution", "catalog_number", "resize_max", "resize_min", "reco_max", "reco_min", "train_max", "train_min", "genlist_file", "gen_rate", "blur_max", "noise_max", "gamma_max", "k_max", "y0_max", "shrink_max", "slip_max", "gen_scale", "use_mask")
    SHRINK_PROB_FACTOR_FIELD_NUMBER: _ClassVar[int]
    UNRECOGNIZE_FACTOR_FIELD_NUMBER: _ClassVar[int]
    CROP_NUM_FIELD_NUMBER: _ClassVar[int]
    RANDOM_CROP_RATIO_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    CROPPED_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    CROPPED_WIDTH_FIELD_NUMBER: _ClassVar[int]
    TILING_WIDTH_FIELD_NUMBER: _ClassVar[int]
    TILING_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LABEL_RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    CATALOG_RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    CATALOG_NUMBER_FIELD_NUMBER: _ClassVar[int]
    RESIZE_MAX_FIELD_NUMBER: _ClassVar[int]
    RESIZE_MIN_FIELD_NUMBER: _ClassVar[int]
    RECO_MAX_FIELD_NUMBER: _ClassVar[int]
    RECO_MIN_FIELD_NUMBER: _ClassVar[int]
    TRAIN_MAX_FIELD_NUMBER: _ClassVar[int]
    TRAIN_MIN_FIELD_NUMBER: _ClassVar[int]
    GENLIST_FILE_FIELD_NUMBER: _ClassVar[int]
    GEN_RATE_FIELD_NUMBER: _ClassVar[int]
    BLUR_MAX_FIELD_NUMBER: _ClassVar[int]
    NOISE_MAX_FIELD_NUMBER: _ClassVar[int]
    GAMMA_MAX_FIELD_NUMBER: _ClassVar[int]
    K_MAX_FIELD_NUMBER: _ClassVar[int]
    Y0_MAX_FIELD_NUMBER: _ClassVar[int]
    SHRINK_MAX_FIELD_NUMBER: _ClassVar[int]
    SLIP_MAX_FIELD_NUMBER: _ClassVar[int]
    GEN_SCALE_FIELD_NUMBER: _ClassVar[int]
    USE_MASK_FIELD_NUMBER: _ClassVar[int]
    shrink_prob_factor: float
    unrecognize_factor: float
    crop_num: int
    random_crop_ratio: float
    resize: float
    scale: float
    cropped_height: int
    cropped_width: int
    tiling_width: int
    tiling_height: int
    label_resolution: int
    catalog_resolution: int
    catalog_number: int
    resize_max: float
    resize_min: float
    reco_max: float
    reco_min: float
    train_max: float
    train_min: float
    genlist_file: str
    gen_rate: float
    blur_max: float
    noise_max: float
    gamma_max: float
    k_max: float
    y0_max: float
    shrink_max: float
    slip_max: float
    gen_scale: float
    use_mask: bool
    def __init__(self, shrink_prob_factor: _Optional[float] = ..., unrecognize_factor: _Optional[float] = ..., crop_num: _Optional[int] = ..., random_crop_ratio: _Optional[float] = ..., resize: _Optional[float] = ..., scale: _Optional[float] = ..., cropped_height: _Optional[int] = ..., cropped_width: _Optional[int] = ..., tiling_width: _Optional[int] = ..., tiling_height: _Optional[int] = ..., label_resolution: _Optional[int] = ..., catalog_resolution: _Optional[int] = ..., catalog_number: _Optional[int] = ..., resize_max: _Optional[float] = ..., resize_min: _Optional[float] = ..., reco_max: _Optional[float] = ..., reco_min: _Optional[float] = ..., train_max: _Optional[float] = ..., train_min: _Optional[float] = ..., genlist_file: _Optional[str] = ..., gen_rate: _Optional[float] = ..., blur_max: _Optional[float] = ..., noise_max: _Optional[float] = ..., gamma_max: _Optional[float] = ..., k_max: _Optional[float] = ..., y0_max: _Optional[float] = ..., shrink_max: _Optional[float] = ..., slip_max: _Optional[float] = ..., gen_scale: _Optional[float] = ..., use_mask: _Optional[bool] = ...) -> None: ...
