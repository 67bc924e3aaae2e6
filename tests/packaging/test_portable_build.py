"""The default build does not depend on the CPU of the machine that builds it.

On a CPU with AVX512-FP16 (Sapphire Rapids and later Xeons), `-march=native`
turns on -mavx512fp16, and g++ 12 cannot compile the Eigen in TensorFlow 2.21's
headers with it (PacketMathFP16.h: "expected initializer before '<'"). g++ can
target a CPU it does not run on, so these tests build as if on such a machine,
wherever CI lands: every compile command of the default build, with
`-march=native` read as `-march=sapphirerapids` (what it means there), must
compile. The flags of the earlier build (-march=native everywhere) fail here.
"""
import concurrent.futures
import os
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

from build_tools import build_cache, op_library

GXX = shutil.which("g++")
X86_64 = os.uname().machine == "x86_64"
pytestmark = pytest.mark.skipif(not (GXX and X86_64), reason="needs g++ targeting x86-64")

# What -march=native expands to on the build machine this test stands in for.
NATIVE_ON_SAPPHIRE_RAPIDS = "-march=sapphirerapids"


def as_on_sapphire_rapids(cmd):
    """A compile command as it would run there, checking syntax only."""
    out = []
    skip = False
    for arg in cmd:
        if skip:
            skip = False
        elif arg in ("-o", "-MF"):
            skip = True
        elif arg == "-MD":
            pass
        else:
            out.append(NATIVE_ON_SAPPHIRE_RAPIDS if arg == "-march=native" else arg)
    return out + ["-fsyntax-only"]


def compiles(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return proc.returncode == 0, proc.stderr[-3000:]


def test_the_bug_is_there_to_be_avoided(tmp_path):
    """The check below means something only while this g++ cannot compile
    TensorFlow's headers for that CPU."""
    source = tmp_path / "tf_header_only.cc"
    source.write_text('#include "tensorflow/core/framework/op_kernel.h"\n')
    ok, _ = compiles(["g++", "-c", str(source), "-O2", NATIVE_ON_SAPPHIRE_RAPIDS]
                     + tf.sysconfig.get_compile_flags() + ["-fsyntax-only"])
    if ok:
        pytest.skip("this g++ compiles TensorFlow's headers with -march=sapphirerapids")


def test_every_translation_unit_builds_as_on_a_sapphire_rapids_host(tmp_path):
    info = tmp_path / "build_info.cc"
    info.write_text("")
    jobs = op_library.cpu_jobs(str(tmp_path), tf.sysconfig.get_compile_flags(), str(info))
    assert not any("-march=native" in cmd for _, cmd in jobs), "the default build uses -march=native"
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(lambda job: (job[1][2],) + compiles(as_on_sapphire_rapids(job[1])),
                                jobs))
    failed = [f"{source}:\n{err}" for source, ok, err in results if not ok]
    assert not failed, "\n".join(failed)


def test_the_earlier_flags_fail_the_check():
    """-march=native, as the build used it before, is what fails there."""
    source = next(s for s in op_library.FRAMEWORK_SOURCES if '#include "tensorflow/' in open(s).read())
    cmd = ["g++", "-c", source, "-O3", "-march=native", "-fPIC", "-I" + op_library.ROOT] + \
        tf.sysconfig.get_compile_flags() + op_library.WARNINGS_OFF
    ok, err = compiles(as_on_sapphire_rapids(cmd))
    if ok:
        pytest.skip("this g++ compiles TensorFlow's headers with -march=sapphirerapids")
    assert "PacketMathFP16.h" in err
