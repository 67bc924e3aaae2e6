"""Offline stand-ins for rules_cc and rules_java, for Debian's bazel-bootstrap.

Bazel's own tools (@bazel_tools) load rules_cc and rules_java, which Bazel
fetches from the network (bazelisk, which needs the network anyway, is fine);
offline, Debian's bazel-bootstrap cannot. A Bazel without a release version (Debian's
reports "no_version") therefore gets local repositories whose .bzl files only
forward to the native rules, which is all @bazel_tools needs from them, and an
empty remote_coverage_tools that `bazel test` wants to exist (`bazel coverage`
is not supported offline). Release binaries (bazelisk) get nothing from here.
"""

def offline_rule_repositories():
    # "" only from a Bazel built without a release version, such as Debian's.
    if getattr(native, "bazel_version", "unknown") != "":
        return
    for name in ["rules_cc", "rules_java", "remote_coverage_tools"]:
        native.local_repository(
            name = name,
            path = "third_party/offline/" + name,
        )
