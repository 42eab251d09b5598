"""An independent oracle for Caffe's net upgrade: ``upgrade_net_proto_text`` on messages.

A transcription of the *rules* of BVLC Caffe's ``src/caffe/util/upgrade_proto.cpp`` (master)
and ``tools/upgrade_net_proto_text.cpp``, working on ``caffe_pb2`` messages the way the C++
code works on ``caffe.pb.h`` ones: the text is parsed whole into a ``NetParameter``, every
rule that applies runs in Caffe's order, and the result is what Caffe would print (and read
back). Nothing here imports the project's upgrade pass or its type tables, so a wrong rule
there cannot hide behind a shared helper; only the generated schema is shared, which is the
real ``caffe.proto``.

Caffe's order (``UpgradeNetAsNeeded``): V0 -> V1 (padding layers folded first), data-layer
transform fields into ``transform_param``, V1 -> V2, top-level inputs -> an ``Input`` layer,
BatchNorm's three ``param`` blocks -> fixed statistics. The tool then runs the data upgrade
once more if the original net needed it (a no-op on V2 layers).
"""

from __future__ import annotations

from google.protobuf import text_format

from scnn_surgery.schema import caffe_pb2

V1 = caffe_pb2.V1LayerParameter
NetParameter = caffe_pb2.NetParameter


class CaffeFatal(Exception):
    """Where Caffe's code stops with LOG(FATAL) or a failed CHECK."""


# UpgradeV0LayerType: V0's lower-case type strings.
V0_LAYER_TYPES = {
    "accuracy": V1.ACCURACY,
    "bnll": V1.BNLL,
    "concat": V1.CONCAT,
    "conv": V1.CONVOLUTION,
    "data": V1.DATA,
    "dropout": V1.DROPOUT,
    "euclidean_loss": V1.EUCLIDEAN_LOSS,
    "flatten": V1.FLATTEN,
    "hdf5_data": V1.HDF5_DATA,
    "hdf5_output": V1.HDF5_OUTPUT,
    "im2col": V1.IM2COL,
    "images": V1.IMAGE_DATA,
    "infogain_loss": V1.INFOGAIN_LOSS,
    "innerproduct": V1.INNER_PRODUCT,
    "lrn": V1.LRN,
    "multinomial_logistic_loss": V1.MULTINOMIAL_LOGISTIC_LOSS,
    "pool": V1.POOLING,
    "relu": V1.RELU,
    "sigmoid": V1.SIGMOID,
    "softmax": V1.SOFTMAX,
    "softmax_loss": V1.SOFTMAX_LOSS,
    "split": V1.SPLIT,
    "tanh": V1.TANH,
    "window_data": V1.WINDOW_DATA,
}

# UpgradeV1LayerType: the V1 enum -> the V2 type string.
V1_LAYER_TYPES = {
    V1.NONE: "",
    V1.ABSVAL: "AbsVal",
    V1.ACCURACY: "Accuracy",
    V1.ARGMAX: "ArgMax",
    V1.BNLL: "BNLL",
    V1.CONCAT: "Concat",
    V1.CONTRASTIVE_LOSS: "ContrastiveLoss",
    V1.CONVOLUTION: "Convolution",
    V1.DECONVOLUTION: "Deconvolution",
    V1.DATA: "Data",
    V1.DROPOUT: "Dropout",
    V1.DUMMY_DATA: "DummyData",
    V1.EUCLIDEAN_LOSS: "EuclideanLoss",
    V1.ELTWISE: "Eltwise",
    V1.EXP: "Exp",
    V1.FLATTEN: "Flatten",
    V1.HDF5_DATA: "HDF5Data",
    V1.HDF5_OUTPUT: "HDF5Output",
    V1.HINGE_LOSS: "HingeLoss",
    V1.IM2COL: "Im2col",
    V1.IMAGE_DATA: "ImageData",
    V1.INFOGAIN_LOSS: "InfogainLoss",
    V1.INNER_PRODUCT: "InnerProduct",
    V1.LRN: "LRN",
    V1.MEMORY_DATA: "MemoryData",
    V1.MULTINOMIAL_LOGISTIC_LOSS: "MultinomialLogisticLoss",
    V1.MVN: "MVN",
    V1.POOLING: "Pooling",
    V1.POWER: "Power",
    V1.RELU: "ReLU",
    V1.SIGMOID: "Sigmoid",
    V1.SIGMOID_CROSS_ENTROPY_LOSS: "SigmoidCrossEntropyLoss",
    V1.SILENCE: "Silence",
    V1.SOFTMAX: "Softmax",
    V1.SOFTMAX_LOSS: "SoftmaxWithLoss",
    V1.SPLIT: "Split",
    V1.SLICE: "Slice",
    V1.TANH: "TanH",
    V1.WINDOW_DATA: "WindowData",
    V1.THRESHOLD: "Threshold",
}

# The V1 parameter messages UpgradeV1LayerParameter copies whole, one `if` each in Caffe.
V1_COPIED_PARAMS = (
    "accuracy_param", "argmax_param", "concat_param", "contrastive_loss_param",
    "convolution_param", "data_param", "dropout_param", "dummy_data_param", "eltwise_param",
    "exp_param", "hdf5_data_param", "hdf5_output_param", "hinge_loss_param",
    "image_data_param", "infogain_loss_param", "inner_product_param", "lrn_param",
    "memory_data_param", "mvn_param", "pooling_param", "power_param", "relu_param",
    "sigmoid_param", "softmax_param", "slice_param", "tanh_param", "threshold_param",
    "window_data_param", "transform_param", "loss_param",
)  # fmt: skip

# The V1 data layers whose parameter message held the transformation fields.
DATA_LAYERS = {
    V1.DATA: "data_param",
    V1.IMAGE_DATA: "image_data_param",
    V1.WINDOW_DATA: "window_data_param",
}
TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")


# --- what needs upgrading -----------------------------------------------------------------


def needs_v0_to_v1(net: NetParameter) -> bool:
    return any(layer.HasField("layer") for layer in net.layers)


def needs_v1_to_v2(net: NetParameter) -> bool:
    return len(net.layers) > 0


def needs_data_upgrade(net: NetParameter) -> bool:
    for layer in net.layers:
        name = DATA_LAYERS.get(layer.type)
        if name is not None:
            param = getattr(layer, name)
            if any(param.HasField(f) for f in TRANSFORM_FIELDS):
                return True
    return False


def needs_input_upgrade(net: NetParameter) -> bool:
    return len(net.input) > 0


def needs_batch_norm_upgrade(net: NetParameter) -> bool:
    return any(layer.type == "BatchNorm" and len(layer.param) == 3 for layer in net.layer)


def needs_upgrade(net: NetParameter) -> bool:
    return (
        needs_v0_to_v1(net)
        or needs_v1_to_v2(net)
        or needs_data_upgrade(net)
        or needs_input_upgrade(net)
        or needs_batch_norm_upgrade(net)
    )


# --- V0 -> V1 -------------------------------------------------------------------------------


def upgrade_v0_padding_layers(net: NetParameter) -> NetParameter:
    """Padding layers removed; the conv or pool reading one takes its pad and its input."""
    out = NetParameter()
    out.CopyFrom(net)
    del out.layers[:]
    last_top: dict[str, int] = {name: -1 for name in net.input}
    for i, connection in enumerate(net.layers):
        v0 = connection.layer
        if v0.type != "padding":
            out.layers.add().CopyFrom(connection)
        for j, blob in enumerate(connection.bottom):
            if blob not in last_top:
                raise CaffeFatal(f"Unknown blob input {blob} to layer {j}")
            top_index = last_top[blob]
            if top_index == -1:
                continue
            source = net.layers[top_index]
            if source.layer.type == "padding":
                if v0.type not in ("conv", "pool"):
                    raise CaffeFatal(f"Padding layer input to non-conv/pool layer type {v0.type}")
                if len(connection.bottom) != 1 or len(source.bottom) != 1 or len(source.top) != 1:
                    raise CaffeFatal("padding: one bottom and one top each")
                target = out.layers[len(out.layers) - 1]
                target.layer.pad = source.layer.pad
                target.bottom[j] = source.bottom[0]
        for blob in connection.top:
            last_top[blob] = i
    return out


def _route(v0_type: str, routes: dict[str, str]) -> str | None:
    """The V1 parameter message a V0 field goes to for this layer type; None: Caffe logs
    'Unknown parameter' and drops it."""
    return routes.get(v0_type)


# V0 field -> (V1 field name inside the message, {V0 type: V1 parameter message}).
V0_FIELD_ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "num_output": ("num_output", {"conv": "convolution_param",
                                  "innerproduct": "inner_product_param"}),
    "biasterm": ("bias_term", {"conv": "convolution_param",
                               "innerproduct": "inner_product_param"}),
    "weight_filler": ("weight_filler", {"conv": "convolution_param",
                                        "innerproduct": "inner_product_param"}),
    "bias_filler": ("bias_filler", {"conv": "convolution_param",
                                    "innerproduct": "inner_product_param"}),
    "pad": ("pad", {"conv": "convolution_param", "pool": "pooling_param"}),
    "kernelsize": ("kernel_size", {"conv": "convolution_param", "pool": "pooling_param"}),
    "group": ("group", {"conv": "convolution_param"}),
    "stride": ("stride", {"conv": "convolution_param", "pool": "pooling_param"}),
    "dropout_ratio": ("dropout_ratio", {"dropout": "dropout_param"}),
    "local_size": ("local_size", {"lrn": "lrn_param"}),
    "alpha": ("alpha", {"lrn": "lrn_param"}),
    "beta": ("beta", {"lrn": "lrn_param"}),
    "k": ("k", {"lrn": "lrn_param"}),
    "source": ("source", {"data": "data_param", "hdf5_data": "hdf5_data_param",
                          "images": "image_data_param", "window_data": "window_data_param",
                          "infogain_loss": "infogain_loss_param"}),
    "batchsize": ("batch_size", {"data": "data_param", "hdf5_data": "hdf5_data_param",
                                 "images": "image_data_param",
                                 "window_data": "window_data_param"}),
    "rand_skip": ("rand_skip", {"data": "data_param", "images": "image_data_param"}),
    "shuffle_images": ("shuffle", {"images": "image_data_param"}),
    "new_height": ("new_height", {"images": "image_data_param"}),
    "new_width": ("new_width", {"images": "image_data_param"}),
    "concat_dim": ("concat_dim", {"concat": "concat_param"}),
    "det_fg_threshold": ("fg_threshold", {"window_data": "window_data_param"}),
    "det_bg_threshold": ("bg_threshold", {"window_data": "window_data_param"}),
    "det_fg_fraction": ("fg_fraction", {"window_data": "window_data_param"}),
    "det_context_pad": ("context_pad", {"window_data": "window_data_param"}),
    "det_crop_mode": ("crop_mode", {"window_data": "window_data_param"}),
}  # fmt: skip

# V0 fields that go to transform_param whatever the layer type.
V0_TRANSFORM = {"scale": "scale", "meanfile": "mean_file", "cropsize": "crop_size",
                "mirror": "mirror"}  # fmt: skip

# Caffe's own switch: V0 pool methods by name into PoolingParameter's.
V0_POOL = {
    caffe_pb2.V0LayerParameter.MAX: caffe_pb2.PoolingParameter.MAX,
    caffe_pb2.V0LayerParameter.AVE: caffe_pb2.PoolingParameter.AVE,
    caffe_pb2.V0LayerParameter.STOCHASTIC: caffe_pb2.PoolingParameter.STOCHASTIC,
}


def _set(message: object, name: str, value: object) -> None:
    """set_X for a singular field, add_X for a repeated one (convolution's pad, kernel_size
    and stride are repeated; pooling's are not), CopyFrom for a message."""
    descriptor = message.DESCRIPTOR.fields_by_name[name]  # type: ignore[attr-defined]
    if descriptor.message_type is not None:
        getattr(message, name).CopyFrom(value)
    elif descriptor.is_repeated:
        getattr(message, name).append(value)
    else:
        setattr(message, name, value)


def upgrade_v0_layer_parameter(connection: caffe_pb2.V1LayerParameter) -> V1:
    out = V1()
    out.bottom.extend(connection.bottom)
    out.top.extend(connection.top)
    if not connection.HasField("layer"):
        return out  # Caffe keeps only the blobs of an entry without a V0 layer
    v0 = connection.layer
    if v0.HasField("name"):
        out.name = v0.name
    if v0.HasField("type"):
        if v0.type not in V0_LAYER_TYPES:
            raise CaffeFatal(f"Unknown layer name: {v0.type}")
        out.type = V0_LAYER_TYPES[v0.type]
    for blob in v0.blobs:
        out.blobs.add().CopyFrom(blob)
    out.blobs_lr.extend(v0.blobs_lr)
    out.weight_decay.extend(v0.weight_decay)
    for v0_field, (v1_field, routes) in V0_FIELD_ROUTES.items():
        if v0.HasField(v0_field):
            target = _route(v0.type, routes)
            if target is not None:
                _set(getattr(out, target), v1_field, getattr(v0, v0_field))
    if v0.HasField("pool") and v0.type == "pool" and v0.pool in V0_POOL:
        out.pooling_param.pool = V0_POOL[v0.pool]
    for v0_field, transform_field in V0_TRANSFORM.items():
        if v0.HasField(v0_field):
            setattr(out.transform_param, transform_field, getattr(v0, v0_field))
    if v0.HasField("hdf5_output_param") and v0.type == "hdf5_output":
        out.hdf5_output_param.CopyFrom(v0.hdf5_output_param)
    return out


def upgrade_v0_net(original: NetParameter) -> NetParameter:
    padded = upgrade_v0_padding_layers(original)
    out = NetParameter()  # Clear(): only what follows survives
    if padded.HasField("name"):
        out.name = padded.name
    for connection in padded.layers:
        out.layers.add().CopyFrom(upgrade_v0_layer_parameter(connection))
    out.input.extend(padded.input)
    out.input_dim.extend(padded.input_dim)
    if padded.HasField("force_backward"):
        out.force_backward = padded.force_backward
    return out


# --- data transformation ----------------------------------------------------------------------


def upgrade_net_data_transformation(net: NetParameter) -> None:
    """The CONVERT_LAYER_TRANSFORM_PARAM macro: for every V1 data layer, mutable_X_param()
    and mutable_transform_param() (which mark both present), then each field moved."""
    for layer in net.layers:
        name = DATA_LAYERS.get(layer.type)
        if name is None:
            continue
        param = getattr(layer, name)
        param.SetInParent()
        layer.transform_param.SetInParent()
        for field in TRANSFORM_FIELDS:
            if param.HasField(field):
                setattr(layer.transform_param, field, getattr(param, field))
                param.ClearField(field)


# --- V1 -> V2 -------------------------------------------------------------------------------


def upgrade_v1_layer_parameter(v1: V1) -> caffe_pb2.LayerParameter:
    out = caffe_pb2.LayerParameter()
    out.bottom.extend(v1.bottom)
    out.top.extend(v1.top)
    if v1.HasField("name"):
        out.name = v1.name
    for rule in v1.include:
        out.include.add().CopyFrom(rule)
    for rule in v1.exclude:
        out.exclude.add().CopyFrom(rule)
    if v1.HasField("type"):
        if v1.type not in V1_LAYER_TYPES:
            raise CaffeFatal(f"Unknown V1LayerParameter layer type: {v1.type}")
        out.type = V1_LAYER_TYPES[v1.type]
    for blob in v1.blobs:
        out.blobs.add().CopyFrom(blob)

    def param(i: int) -> caffe_pb2.ParamSpec:
        while len(out.param) <= i:
            out.param.add()
        return out.param[i]

    for i, name in enumerate(v1.param):
        param(i).name = name
    for i, mode in enumerate(v1.blob_share_mode):
        param(i).share_mode = {
            V1.STRICT: caffe_pb2.ParamSpec.STRICT,
            V1.PERMISSIVE: caffe_pb2.ParamSpec.PERMISSIVE,
        }[mode]
    for i, lr in enumerate(v1.blobs_lr):
        param(i).lr_mult = lr
    for i, decay in enumerate(v1.weight_decay):
        param(i).decay_mult = decay
    out.loss_weight.extend(v1.loss_weight)
    for name in V1_COPIED_PARAMS:
        if v1.HasField(name):
            getattr(out, name).CopyFrom(getattr(v1, name))
    return out  # a V0 `layer` left inside is ignored, as Caffe logs


def upgrade_v1_net(original: NetParameter) -> NetParameter:
    out = NetParameter()
    out.CopyFrom(original)
    del out.layers[:]
    del out.layer[:]  # Caffe ignores 'layer' entries given next to 'layers'
    for v1 in original.layers:
        out.layer.add().CopyFrom(upgrade_v1_layer_parameter(v1))
    return out


# --- inputs and BatchNorm -------------------------------------------------------------------


def upgrade_net_input(net: NetParameter) -> None:
    has_shape = len(net.input_shape) > 0
    has_dim = len(net.input_dim) > 0
    if has_shape or has_dim:
        layer = net.layer.add()
        layer.name = "input"
        layer.type = "Input"
        for i, name in enumerate(net.input):
            layer.top.append(name)
            shape = layer.input_param.shape.add()
            if has_shape:
                if i >= len(net.input_shape):
                    raise CaffeFatal("fewer input_shape than input")
                shape.CopyFrom(net.input_shape[i])
            else:
                if 4 * i + 4 > len(net.input_dim):
                    raise CaffeFatal("fewer than four input_dim per input")
                shape.dim.extend(net.input_dim[4 * i : 4 * i + 4])
        layer.input_param.SetInParent()
        # Swapped down to the front, keeping the others' order.
        moved = [net.layer[-1], *net.layer[:-1]]
        copies = [caffe_pb2.LayerParameter() for _ in moved]
        for copy, original in zip(copies, moved, strict=True):
            copy.CopyFrom(original)
        del net.layer[:]
        net.layer.extend(copies)
    del net.input[:]
    del net.input_shape[:]
    del net.input_dim[:]


def upgrade_net_batch_norm(net: NetParameter) -> None:
    for layer in net.layer:
        if layer.type == "BatchNorm" and len(layer.param) == 3:
            for spec in layer.param:
                spec.lr_mult = 0.0
                spec.decay_mult = 0.0


# --- the whole upgrade --------------------------------------------------------------------


def upgrade_net_as_needed(net: NetParameter) -> NetParameter:
    if needs_v0_to_v1(net):
        net = upgrade_v0_net(net)
    if needs_data_upgrade(net):
        upgrade_net_data_transformation(net)
    if needs_v1_to_v2(net):
        net = upgrade_v1_net(net)
    if needs_input_upgrade(net):
        upgrade_net_input(net)
    if needs_batch_norm_upgrade(net):
        upgrade_net_batch_norm(net)
    return net


def upgrade_net_proto_text(text: str) -> NetParameter:
    """What ``upgrade_net_proto_text IN OUT`` writes to OUT, read back as a message."""
    net = NetParameter()
    text_format.Parse(text, net)
    need_data_upgrade = needs_data_upgrade(net)
    if needs_upgrade(net):
        net = upgrade_net_as_needed(net)
    if need_data_upgrade:
        upgrade_net_data_transformation(net)
    written = text_format.MessageToString(net)  # WriteProtoToTextFile
    result = NetParameter()
    text_format.Parse(written, result)
    return result
