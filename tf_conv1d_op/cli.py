"""`python -m tf_conv1d_op info|bench|demo`: what the package contains, and
its benchmark and demo (which live in the package so a wheel user has them).

    info [--json]    versions, CUDA build, registered kernels (XLA's too), fused activations
    bench [ARGS...]  tf_conv1d_op.tools.benchmark.main(ARGS), the CPU benchmark
    demo [ARGS...]   tf_conv1d_op.tools.demo.main(ARGS)
"""
import argparse
import importlib
import json
import sys


# Subcommand -> the module whose main(argv) runs it; argv passes through.
PROGRAMS = {
    "bench": "tf_conv1d_op.tools.benchmark",
    "demo": "tf_conv1d_op.tools.demo",
}


def registered_kernels(op_name):
    """{device type: sorted dtype names} of the kernels registered for op_name."""
    import tensorflow as tf
    from tensorflow.python.framework import kernels

    devices = {}
    for kernel in kernels.get_registered_kernels_for_op(op_name).kernel:
        dtypes = devices.setdefault(kernel.device_type, set())
        for constraint in kernel.constraint:
            if constraint.name == "T":
                dtypes.update(tf.as_dtype(t).name for t in constraint.allowed_values.list.type)
    return {device: sorted(dtypes) for device, dtypes in sorted(devices.items())}


def describe():
    """Everything `info` reports, as a dict."""
    import tensorflow as tf

    import tf_conv1d_op
    from tf_conv1d_op import _library, _op_names, _xla_support

    build = tf_conv1d_op.build_info()
    return {
        "package_version": tf_conv1d_op.__version__,
        "library": _library.library_path(),
        "build": build,
        "cpu_levels": _library.cpu_levels(),
        "tensorflow_installed": tf.__version__,
        "gpus_visible": [d.name for d in tf.config.list_physical_devices("GPU")],
        "registered_kernels": {op: registered_kernels(op) for op in _op_names.ALL},
        "xla_kernels": dict(_xla_support.registered_xla_devices(),
                            built=bool(build.get("xla_kernels"))),
        "fused_activations": list(tf_conv1d_op.FUSED_ACTIVATIONS),
    }


def format_info(facts):
    build = facts["build"]
    if build.get("cuda"):
        cuda = (f"built for {', '.join(f'sm_{a}' for a in build['cuda_archs'])} "
                f"(CUDA toolkit {build['cuda_toolkit']}; runtime: {build['cuda_runtime']})")
    else:
        cuda = "not built (CPU kernels only)"
    lines = [
        f"tf_conv1d_op {facts['package_version']}",
        f"  library:            {facts['library']}",
        f"  built with:         {build.get('built_with', 'unknown')}, "
        f"package {build.get('package_version')}",
        f"  CPU levels:         compiled {', '.join(facts['cpu_levels']['compiled'])}; "
        f"this CPU supports {', '.join(facts['cpu_levels']['supported'])}; "
        f"in use: {facts['cpu_levels']['selected']}",
        f"  bfloat16 products:  {bfloat16_form(facts['cpu_levels'])}",
        f"  TensorFlow:         built for {build.get('tensorflow_version')}, "
        f"installed {facts['tensorflow_installed']}",
        f"  CUDA kernels:       {cuda}",
        f"  GPUs visible:       {', '.join(facts['gpus_visible']) or 'none'}",
        "  registered kernels:",
    ]
    for op, devices in facts["registered_kernels"].items():
        kinds = "; ".join(f"{device} ({', '.join(dtypes)})" for device, dtypes in devices.items())
        lines.append(f"    {op}: {kinds or 'none'}")
    lines.append(f"  XLA kernels:        {_xla_line(facts['xla_kernels'])}")
    lines.append(f"  fused activations:  {', '.join(facts['fused_activations'])}")
    return "\n".join(lines)


def bfloat16_form(levels):
    """What the CPU passes' bfloat16 products run on (cc/kernels/core/gemm_amx.h,
    bf16_pair_passes.h)."""
    if levels.get("bf16_amx"):
        return "AMX tiles"
    return "AVX512_BF16 dot products" if levels["bf16_dot"] else "float sums"


def _xla_line(xla):
    if xla["devices"]:
        return f"registered for {', '.join(xla['devices'])} (jit_compile compiles the op)"
    why = "not built into this library" if not xla["built"] else xla["error"] or "none found"
    return f"not registered ({why}): jit_compile cannot compile the op"


def run_program(module_name, argv):
    """module_name.main(argv), or a clear error if this install lacks it."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        print(f"tf_conv1d_op: {module_name} is not part of this installation",
              file=sys.stderr)
        return 2
    status = module.main(argv)
    return 0 if status is None else status


def parser():
    p = argparse.ArgumentParser(prog="python -m tf_conv1d_op", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="versions, CPU levels, CUDA build, kernels, activations")
    info.add_argument("--json", action="store_true", help="print the facts as JSON")
    for name, module in PROGRAMS.items():
        # No -h of its own: every argument, --help included, goes to the program.
        commands.add_parser(name, add_help=False, help=f"runs {module}.main(ARGS)")
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args, rest = parser().parse_known_args(argv)
    if args.command in PROGRAMS:
        return run_program(PROGRAMS[args.command], rest)
    if rest:
        parser().error(f"unrecognized arguments: {' '.join(rest)}")
    facts = describe()
    print(json.dumps(facts, indent=2) if args.json else format_info(facts))
    return 0
