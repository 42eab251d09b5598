"""``--proto FILE``: a user's fork caffe.proto compiled by grpcio-tools' protoc."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from scnn_surgery import SurgeryError
from scnn_surgery.schema import DIALECTS, caffe_pb2, userproto
from scnn_surgery.schema.select import user_schema
from scnn_surgery.schema.userproto import PROTO_EXTRA, compile_proto, protoc_error

from .conftest import REPO_ROOT, RunCli, shared_path
from .forkproto import MY_PARAM_NET, write_fork_proto

PROTO = REPO_ROOT / "proto"
FORKS = sorted(set(DIALECTS) - {"bvlc"})


def file_proto(desc: object) -> descriptor_pb2.FileDescriptorProto:
    """A file descriptor as protoc's generator embeds it (without json_name)."""
    fdp = descriptor_pb2.FileDescriptorProto()
    desc.CopyToProto(fdp)  # type: ignore[attr-defined]
    for message in fdp.message_type:
        _strip_json_names(message)
    return fdp


def _strip_json_names(message: descriptor_pb2.DescriptorProto) -> None:
    for field in message.field:
        field.ClearField("json_name")
    for nested in message.nested_type:
        _strip_json_names(nested)


def test_bvlc_proto_gives_the_generated_schema_in_a_pool_of_its_own() -> None:
    schema = user_schema(PROTO / "caffe.proto")
    assert file_proto(schema.net.DESCRIPTOR.file) == file_proto(caffe_pb2.DESCRIPTOR)
    assert schema.net is not caffe_pb2.NetParameter  # package caffe, and no clash
    assert schema.net.DESCRIPTOR.file.pool is not descriptor_pool.Default()
    assert schema.layer().convolution_param.bias_term is True  # type: ignore[attr-defined]

    body = shared_path("zoo", "deploy", "bvlc_googlenet_deploy.prototxt").read_text()
    ours = text_format.Parse(body, schema.net())
    theirs = text_format.Parse(body, caffe_pb2.NetParameter())
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True
    )


def test_the_same_file_compiled_twice_does_not_clash() -> None:
    first = compile_proto(PROTO / "caffe.proto")
    second = compile_proto(PROTO / "caffe.proto")
    assert first.pool is not second.pool
    assert first.message_types_by_name["NetParameter"] is not (
        second.message_types_by_name["NetParameter"]
    )


@pytest.mark.parametrize("dialect", FORKS)
def test_imports_are_found_next_to_the_file(tmp_path: Path, dialect: str) -> None:
    shutil.copy(PROTO / "caffe.proto", tmp_path)
    shutil.copy(PROTO / "dialects" / f"{dialect}.proto", tmp_path)
    compiled = file_proto(user_schema(tmp_path / f"{dialect}.proto").net.DESCRIPTOR.file)
    expected = file_proto(DIALECTS[dialect].DESCRIPTOR)
    expected.name = compiled.name  # generated as dialects/<name>.proto
    assert compiled == expected


def test_what_protoc_accepts_works(tmp_path: Path) -> None:
    """Options, oneof, map, proto3, odd defaults: whatever protoc compiles."""
    source = tmp_path / "fork.proto"
    source.write_text(
        'syntax = "proto2";\npackage fork;\noption optimize_for = SPEED;\n'
        "enum Top { option allow_alias = true; A = 0; B = 1; C = 1; }\n"
        "message Outer {\n"
        "  optional string s = 1 [default = \"a\\\"b\\n\\x41\\101 'q'\"];\n"
        '  optional bytes b = 2 [default = "\\001\\xff"];\n'
        "  optional sint64 big = 3 [default = -9223372036854775808];\n"
        "  optional Top top = 4 [default = C];\n"
        "  optional float tiny = 5 [default = -inf, deprecated = true];\n"
        "  oneof choice { int32 x = 6; string y = 7; }\n"
        "  map<string, int32> counts = 8;\n"
        "  reserved 100 to 110;\n"
        "  extensions 1000 to max;\n"
        "}\n",
        encoding="utf-8",
    )
    compiled = compile_proto(source).message_types_by_name["Outer"]
    outer = message_factory.GetMessageClass(compiled)()
    assert outer.s == "a\"b\nAA 'q'"  # type: ignore[attr-defined]
    assert outer.b == b"\x01\xff"  # type: ignore[attr-defined]
    assert outer.big == -(2**63)  # type: ignore[attr-defined]
    assert outer.top == 1 and outer.tiny == float("-inf")  # type: ignore[attr-defined]


def test_a_relative_path_is_named_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bad.proto").write_text("message NetParameter {\n  optional int32 x = ;\n}\n")
    with pytest.raises(SurgeryError) as caught:
        user_schema("bad.proto")
    assert str(caught.value) == "bad.proto:2:22: Expected field number"


def test_an_error_in_an_import_names_the_imported_file(tmp_path: Path) -> None:
    (tmp_path / "base.proto").write_text("message Base {\n  optional Nope x = 1;\n}\n")
    main = tmp_path / "main.proto"
    main.write_text('syntax = "proto2";\nimport "base.proto";\nmessage NetParameter { }\n')
    with pytest.raises(SurgeryError) as caught:
        user_schema(main)
    assert str(caught.value).startswith(f"{tmp_path / 'base.proto'}:2:12: \"Nope\" is not defined")


def test_without_protoc_the_extra_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    monkeypatch.setattr(userproto.importlib.util, "find_spec", lambda name: None)
    proto = write_fork_proto(tmp_path, "no_protoc.proto")
    with pytest.raises(SurgeryError, match=r"--proto needs protoc from grpcio-tools: pip install"):
        compile_proto(proto)
    net = tmp_path / "net.prototxt"
    net.write_text(MY_PARAM_NET)
    code, out, err = run_cli("check", str(net), "--proto", str(proto))
    assert (code, out) == (1, "")
    assert err == (
        f"scnn-surgery: error: {proto}: --proto needs protoc from grpcio-tools: {PROTO_EXTRA}\n"
    )


def test_protoc_errors_become_one_line() -> None:
    source = Path("fork.proto")
    noise = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "W0000 00:00:1.5 12 parser.cc:659] No edition or syntax specified for fork.proto.\n"
    )
    two = noise + "fork.proto:2:25: Expected type name.\nfork.proto:2:25: Another.\n"
    assert protoc_error(two, source, 1) == "fork.proto:2:25: Expected type name (and 1 more)"
    warned = "fork.proto:1:1: warning: Import x is unused.\nnope.proto: File not found.\n"
    assert protoc_error(warned, source, 1) == "fork.proto: nope.proto: File not found"
    assert protoc_error(noise, source, -11) == "fork.proto: protoc failed (exit status -11)"
