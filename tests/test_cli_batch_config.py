"""``batch --config`` end to end for every verb: each verb's own keys work alone, with no
command-line option, and a value the verb cannot run without may come from either."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import scnn_surgery as ss
from scnn_surgery.batch import config_keys
from scnn_surgery.options import declared_fields
from scnn_surgery.verbs import REGISTRY, options_class

from .conftest import RunCli
from .verbs.enginecheck import random_weights

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TINY = """name: "tiny"
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 1 dim: 8 dim: 12 dim: 12 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 16 kernel_size: 3 pad: 1 } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
  convolution_param { num_output: 16 kernel_size: 3 pad: 1 } }
layer { name: "drop" type: "Dropout" bottom: "conv2" top: "conv2" }
layer { name: "fc" type: "InnerProduct" bottom: "conv2" top: "fc"
  inner_product_param { num_output: 4 } }
"""

V1 = """name: "v1"
layers { name: "data" type: DATA top: "data" top: "label"
  data_param { source: "train_lmdb" batch_size: 4 } }
layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 } }
layers { name: "relu" type: RELU bottom: "conv" top: "conv" }
"""

FRAGMENT = """layer { name: "g/conv" type: "Convolution" bottom: "x" top: "g/conv"
  convolution_param { num_output: 16 kernel_size: 1 } }
layer { name: "g/relu" type: "ReLU" bottom: "g/conv" top: "g/out" }
"""

INSERT_FLAGS = (
    "--after", "conv1", "--height", "12", "--width", "12", "--channel", "16",
    "--kernel-width", "3", "--directions", "DU", "--prefix", "s_", "--top", "scnn_out",
    "--init-std", "0.1", "--no-share-weights", "--lr-mult", "2", "--upgrade",
    "--reduce-channels", "8",
)  # fmt: skip


def with_scnn(text: str) -> str:
    """TINY with the module INSERT_FLAGS makes, for strip."""
    options = ss.InsertOptions(after="conv1", height=12, width=12, channels=16, prefix="s_")
    return ss.dumps(ss.insert(ss.loads(text), options).net)


@dataclass(frozen=True)
class Case:
    """A model, a config table of the verb's own settings, and the same as flags."""

    source: str
    table: str  # {tmp} is the test's directory
    flags: tuple[str, ...]


# The options every verb shares have tests of their own; a verb's own are all here.
SHARED = {"phase", "shapes", "shape_rules", "proto"}
CASES = {
    "insert": Case(
        TINY,
        'after = "conv1"\nheight = 12\nwidth = 12\nchannel = 16\nkernel_width = 3\n'
        'directions = "DU"\nprefix = "s_"\ntop = "scnn_out"\ninit_std = 0.1\n'
        "share_weights = false\nlr_mult = 2\nupgrade = true\nreduce_channels = 8\n",
        INSERT_FLAGS,
    ),
    "splice": Case(
        TINY,
        'after = "conv1"\nbinds = { x = "conv1" }\noutput = "g/out"\nbranch = false\n'
        'replace = true\nprefix = "p_"\n',
        ("--after", "conv1", "--bind", "x=conv1", "--fragment-output", "g/out", "--replace",
         "--prefix", "p_"),
    ),
    "strip": Case(with_scnn(TINY), 'prefix = "s_"\n', ("--prefix", "s_")),
    "remove": Case(TINY, 'layers = ["drop", "bn1"]\n', ("drop", "bn1")),
    "upgrade": Case(V1, 'shapes = { data = ["?", 3, 8, 8] }\n', ("--shape", "data=?,3,8,8")),
    "rename": Case(TINY, 'renames = { conv2 = "head" }\n', ("conv2=head",)),
    "retarget": Case(
        TINY,
        "inputs = { data = [1, 8, 24, 24] }\nreshape_weights = true\nrescale = true\n",
        ("--input", "data=1,8,24,24", "--reshape-weights", "--rescale"),
    ),
    "fold-bn": Case(TINY, 'only = ["bn1"]\nweights = "{tmp}/trained.bin"\n', ("--only", "bn1")),
    "export": Case(
        TINY,
        'opset = 13\ndynamic_batch = true\nexternal_data = true\nweights = "{tmp}/trained.bin"\n',
        ("--opset", "13", "--dynamic-batch", "--external-data"),
    ),
}


def test_every_verb_has_a_case() -> None:
    assert set(CASES) == set(REGISTRY)


@pytest.mark.parametrize("verb", list(REGISTRY))
def test_each_verb_s_config_keys_work_without_the_command_line(
    verb: str, tmp_path: Path, run_cli: RunCli
) -> None:
    """batch with the config alone writes what the verb's command writes with the flags."""
    if verb == "export":
        pytest.importorskip("onnx")
    case = CASES[verb]
    table = case.table.replace("{tmp}", str(tmp_path))
    keys = config_keys(verb)
    own = {item.name for item, _ in declared_fields(options_class(verb))} - SHARED
    assert own <= {keys[key].option for key in tomllib.loads(table)}
    sources, alone, out = tmp_path / "src", tmp_path / "alone", tmp_path / "out"
    sources.mkdir()
    alone.mkdir()
    model = sources / "net.prototxt"
    model.write_text(case.source)
    config = tmp_path / "c.toml"
    config.write_text(f'[models."**"]\n{table}')
    fragment = tmp_path / "fragment.prototxt"
    fragment.write_text(FRAGMENT)
    reads = [str(fragment)] if REGISTRY[verb].inputs else []
    given = ["--fragment", *reads] if reads else []
    written = alone / f"net{REGISTRY[verb].output_suffix or '.prototxt'}"
    weights: list[str] = []
    if REGISTRY[verb].needs_weights or REGISTRY[verb].reads_weights:  # export's too
        (tmp_path / "trained.bin").write_bytes(random_weights(ss.loads(case.source), 0))
        weights = ["--weights", str(tmp_path / "trained.bin")]
    if REGISTRY[verb].needs_weights:
        weights += ["--weights-out", str(alone / "net.caffemodel")]
    code, _, err = run_cli(verb, str(model), *reads, *case.flags, *weights, "-o", str(written))
    assert code == 0, err
    code, _, err = run_cli("batch", str(sources), "-o", str(out), "-j", "1", "--verb", verb,
                           "--config", str(config), *given)  # fmt: skip
    assert code == 0, err
    made = sorted(path.name for path in out.iterdir())
    assert made == sorted(path.name for path in alone.iterdir())
    for name in made:
        assert (out / name).read_bytes() == (alone / name).read_bytes(), name


@pytest.mark.parametrize(
    ("verb", "key", "flag"),
    [
        (verb, item.name, declared.flag)
        for verb in REGISTRY
        for item, declared in declared_fields(options_class(verb))
        if declared.needed
    ],
)
def test_a_value_the_verb_needs_is_asked_of_each_model(
    verb: str, key: str, flag: str, tmp_path: Path, run_cli: RunCli
) -> None:
    """From the command line or a table; a model neither gives it to is a usage error
    naming the model, before any work."""
    case = CASES[verb]
    sources = tmp_path / "src"
    sources.mkdir()
    for name in ("a", "b", "c"):
        (sources / f"{name}.prototxt").write_text(case.source)
    table = next(line for line in case.table.splitlines() if line.startswith(key))
    config = tmp_path / "c.toml"
    config.write_text(f'[models."a.prototxt"]\n{table}\n')
    out = tmp_path / "out"
    code, _, err = run_cli("batch", str(sources), "-o", str(out), "--verb", verb,
                           "--config", str(config))  # fmt: skip
    assert code == 2 and not out.exists()
    assert f"{sources / 'b.prototxt'} (and 1 more models): --verb {verb} needs {flag}" in err
    assert f"or as '{key}' in a config table matching the model" in err
