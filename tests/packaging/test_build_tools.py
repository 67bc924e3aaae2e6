"""The build's own machinery: the object cache (a second build with unchanged
sources and flags compiles nothing; a changed header or flag rebuilds what
depends on it), the one list of core sources, and scripts/bazel_test.sh's
notice where Bazel cannot be installed."""
import glob
import os
import shutil
import subprocess
import time

import pytest

from build_tools import build_cache, cpu_levels, op_library
from tests.support import REPO

ROOT = REPO
GXX = shutil.which("g++")


def compile_job(tmp_path, flags=()):
    obj = str(tmp_path / "unit.o")
    cmd = ["g++", "-c", str(tmp_path / "unit.cc"), "-o", obj, *flags,
           *build_cache.dependency_flags(obj)]
    return obj, cmd


@pytest.mark.skipif(GXX is None, reason="no g++")
def test_cache_rebuilds_exactly_what_changed(tmp_path):
    (tmp_path / "unit.h").write_text("inline int f() { return 1; }\n")
    (tmp_path / "unit.cc").write_text('#include "unit.h"\nint g() { return f(); }\n')
    obj, cmd = compile_job(tmp_path)
    assert not build_cache.up_to_date(obj, cmd)
    assert op_library.compile_all([(obj, cmd)]) == 1
    assert build_cache.up_to_date(obj, cmd)
    assert op_library.compile_all([(obj, cmd)]) == 0
    # Another flag, or a header newer than the object, makes it stale.
    assert not build_cache.up_to_date(obj, cmd[:-3] + ["-O2"] + cmd[-3:])
    later = time.time() + 5
    os.utime(tmp_path / "unit.h", (later, later))
    assert not build_cache.up_to_date(obj, cmd)
    assert op_library.compile_all([(obj, cmd)]) == 1
    os.remove(tmp_path / "unit.h")
    assert not build_cache.up_to_date(obj, cmd)


@pytest.mark.skipif(GXX is None, reason="no g++")
def test_a_write_cut_short_is_rebuilt(tmp_path):
    """A build killed while writing can leave a truncated output newer than its
    inputs; the next build must not take it for done."""
    (tmp_path / "unit.h").write_text("inline int f() { return 1; }\n")
    (tmp_path / "unit.cc").write_text('#include "unit.h"\nint g() { return f(); }\n')
    obj, cmd = compile_job(tmp_path)
    assert op_library.compile_all([(obj, cmd)]) == 1
    open(obj, "w").close()  # truncated, and newer than every input
    assert not build_cache.up_to_date(obj, cmd)
    assert op_library.compile_all([(obj, cmd)]) == 1
    assert os.path.getsize(obj) > 0
    # A command that dies part way leaves no record behind it.
    with pytest.raises(RuntimeError):
        op_library.run_and_record(obj, ["sh", "-c", f"echo partial > {obj}; exit 1"])
    assert os.path.getsize(obj) > 0
    assert not build_cache.up_to_date(obj, cmd)


def test_second_build_compiles_nothing(tmp_path):
    """The suite runs after scripts/run.sh built the library: building it again
    with the same sources and flags only copies the cached library."""
    built = op_library.build(str(tmp_path / "again.so"))
    assert (built.compiled, built.linked) == (0, False)
    assert os.path.getsize(tmp_path / "again.so") > 0


def test_the_source_lists_cover_the_core():
    core = {os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, cpu_levels.CORE, "*.cc"))
            if not p.endswith(".cu.cc")}
    listed = set(cpu_levels.SHARED_SOURCES) | set(cpu_levels.LEVEL_SOURCES)
    assert listed == core
    assert not set(cpu_levels.SHARED_SOURCES) & set(cpu_levels.LEVEL_SOURCES)


def test_levels_are_linked_lowest_first():
    order = cpu_levels.link_order({"avx512": ["c.o"], "baseline": ["a.o"], "avx2": ["b.o"]})
    expected = {"x86_64": ["a.o", "b.o", "c.o"]}.get(os.uname().machine, ["a.o"])
    assert order == expected


def run_bazel_test(tmp_path, **env):
    """scripts/bazel_test.sh as a user without root on a machine without Bazel."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
    (bin_dir / "id").chmod(0o755)
    os.symlink(shutil.which("dirname"), bin_dir / "dirname")
    environment = {"PATH": str(bin_dir), "PYTHON": "python", "HOME": str(tmp_path), **env}
    return subprocess.run([shutil.which("bash"), os.path.join(ROOT, "scripts", "bazel_test.sh")],
                          env=environment, capture_output=True, text=True, timeout=60)


def test_bazel_stage_is_skipped_with_a_notice_without_root_or_bazel(tmp_path):
    proc = run_bazel_test(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "NOTICE: skipping the Bazel build" in proc.stderr


def test_bazel_stage_is_mandatory_where_required(tmp_path):
    proc = run_bazel_test(tmp_path, TF_CONV1D_REQUIRE_BAZEL="1")
    assert proc.returncode == 1
    assert "no Bazel, and TF_CONV1D_REQUIRE_BAZEL=1" in proc.stderr
