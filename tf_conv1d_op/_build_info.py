"""The build info embedded in the op library (no TensorFlow import here).

build_tools/op_library.py writes it into the .so between these markers, so it
travels with the library and can be read before loading it, which a library
built for another TensorFlow may not survive.
"""
import json

INFO_BEGIN, INFO_END = "TF_CONV1D_OP_BUILD_INFO_BEGIN", "TF_CONV1D_OP_BUILD_INFO_END"


def embed_source(info):
    """C++ source that defines the info string."""
    literal = json.dumps(INFO_BEGIN + json.dumps(info) + INFO_END)
    return ('extern "C" __attribute__((used, visibility("default"))) const char '
            f"tf_conv1d_op_build_info[] = {literal};\n")


def read(library_path):
    """The info dict from a built library, without loading it."""
    with open(library_path, "rb") as f:
        data = f.read()
    begin = data.find(INFO_BEGIN.encode())
    end = data.find(INFO_END.encode(), begin)
    if begin < 0 or end < 0:
        raise ValueError(f"{library_path} carries no tf_conv1d_op build info")
    return json.loads(data[begin + len(INFO_BEGIN):end].decode())
